//! What is running: the live owner of a state dir and a quick health probe
//! (`openclaw_host::live`).

pub use openclaw_host::live::*;
