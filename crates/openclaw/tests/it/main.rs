//! End-to-end tests of the real `openclaw` binary.
//!
//! One test binary. Every test gets its own temporary HOME, and every child
//! process runs with a cleared environment (PATH and HOME only, plus what the
//! test passes explicitly), so no OPENCLAW_* variable of the developer's shell
//! leaks in. The test process itself never sets environment variables.

mod agents;
mod browser;
mod chan;
mod completion;
mod control_ui;
mod devices;
mod gateway;
mod harden;
mod harness;
mod hostile;
mod irc;
mod logs;
mod matrix;
mod onboard;
mod ops;
mod reload;
mod rescue;
mod security;
mod setup;
mod telegram;
