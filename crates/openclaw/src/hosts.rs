//! The host-wide view: every instance set up on this host, each resolved
//! from its own config only (`openclaw_host::hosts`).

pub use openclaw_host::hosts::*;
