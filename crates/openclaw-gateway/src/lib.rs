//! openclaw-gateway
