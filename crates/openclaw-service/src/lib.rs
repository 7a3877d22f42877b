//! openclaw-service
