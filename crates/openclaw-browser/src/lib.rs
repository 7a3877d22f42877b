//! openclaw-browser
