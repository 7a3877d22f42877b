//! openclaw-agent
