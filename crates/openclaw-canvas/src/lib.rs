//! openclaw-canvas
