//! openclaw-agent: the agent runtime as a library.
//!
//! - [`provider`]: streaming model clients for `openai-completions` and
//!   `anthropic-messages`, key resolution, retries and clear errors.
//! - [`tools`]: workspace-confined file tools, opt-in `exec`, `browser`.
//! - [`session`]: append-only JSONL transcripts plus an index.
//! - [`agent`]: system prompt, bounded tool loop, and [`Agent::run_turn`],
//!   which the gateway's `chat.send` / `agent` RPCs call.
//!
//! The library reads no environment variables: env-named API keys are
//! resolved through a lookup closure the caller supplies.

pub mod agent;
pub mod fsio;
pub mod provider;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tools;

pub use agent::{
    Agent, AgentError, AgentEvent, AgentSpec, INTERRUPTED, ModelSelection, RunStatus, RuntimeFacts,
    TurnError, TurnResult, run_turn,
};
pub use provider::{
    Api, ApiKeySource, ClientSettings, ErrorKind, KeyResolver, ModelClient, ModelRef,
    ProviderConfig, ProviderError, RetryPolicy, Secret, Timeouts,
};
pub use session::{SessionPreview, SessionStore, SessionSummary, TranscriptRecord};
pub use tokio_util::sync::CancellationToken;
pub use tools::{
    BrowserTool, Caller, ExecSettings, INSTANCE_TOOLS, InstanceTools, ToolOutcome, Toolbox,
    instance_tool_specs,
};

/// `s` on one line (whitespace runs folded to a space), cut to `n`
/// characters with an ellipsis: for error excerpts, previews and logs.
pub fn excerpt(s: &str, n: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > n {
        format!("{}…", flat.chars().take(n).collect::<String>())
    } else {
        flat
    }
}
