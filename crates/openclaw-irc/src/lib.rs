//! IRC client transport for the gateway's IRC channel: protocol parsing,
//! registration, keepalive, flood control, line splitting, CTCP, NickServ,
//! TLS (rustls) and reconnect with backoff. No policy lives here: the
//! channel layer decides who may talk to the agent.

pub mod client;
pub mod flood;
pub mod inbound;
pub mod lines;
pub mod proto;
pub mod split;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{ConnState, IrcConfig, IrcError, IrcEvent, IrcHandle, IrcStatus, NickServ, spawn};
pub use inbound::Inbound;
