//! openclaw-protocol
