//! openclaw-state
