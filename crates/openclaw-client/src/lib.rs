//! openclaw-client
