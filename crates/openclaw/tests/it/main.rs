//! End-to-end tests of the real `openclaw` binary.
//!
//! One test binary. Every test gets its own temporary HOME, and every child
//! process runs with a cleared environment (PATH and HOME only, plus what the
//! test passes explicitly), so no OPENCLAW_* variable of the developer's shell
//! leaks in. The test process itself never sets environment variables.

mod agents;
mod browser;
mod completion;
mod gateway;
mod harness;
mod hostile;
mod logs;
mod ops;
mod security;
mod setup;
mod telegram;
