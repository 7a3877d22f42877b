//! openclaw-state

pub mod owner;
