//! Shutdown drain: turns in flight when the gateway is asked to stop get a
//! short deadline to finish; the rest are interrupted.
//!
//! An interrupted turn stops at once, records its partial answer and an
//! `error` record of kind `interrupted` in its transcript
//! (`openclaw_agent::INTERRUPTED`), and ends with `chat` state `aborted`.
//! Channels hook in through `AgentHub::interrupt_token`: a turn of theirs
//! that comes back interrupted did not answer its inbound message, so they
//! leave that message unhandled and answer it after the restart.

use std::time::Duration;

use crate::agents::AgentHub;
use crate::log::GatewayLog;

/// How long turns in flight get to finish after a stop request.
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(5);
/// After the interrupt: how long the cut-off turns get to write their
/// transcripts (a hang guard; they stop at once).
const RECORD_GRACE: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(20);

/// Waits up to `deadline` for every run to finish, then interrupts the
/// rest and waits (bounded) until they have recorded that. Returns how many
/// were interrupted.
pub(crate) async fn drain(hub: &AgentHub, log: &GatewayLog, deadline: Duration) -> usize {
    let running = hub.unfinished_runs();
    if running == 0 {
        return 0;
    }
    log.info(&format!(
        "shutdown: waiting up to {} ms for {running} turn(s) in flight",
        deadline.as_millis()
    ));
    if wait_idle(hub, deadline).await {
        return 0;
    }
    let cut = hub.unfinished_runs();
    log.warn(&format!(
        "shutdown: interrupting {cut} turn(s) still running after {} ms; their transcripts record them as interrupted",
        deadline.as_millis()
    ));
    hub.interrupt_token().cancel();
    wait_idle(hub, RECORD_GRACE).await;
    cut
}

async fn wait_idle(hub: &AgentHub, limit: Duration) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while hub.unfinished_runs() > 0 {
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}
