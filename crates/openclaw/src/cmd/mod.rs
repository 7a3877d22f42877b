//! One module per command family. Each exposes clap argument types and a
//! `run(&Ctx, args) -> CliResult<u8>` returning the exit code.

pub mod agent;
pub mod browser;
pub mod channels;
pub mod completion;
pub mod config;
pub mod devices;
pub mod doctor;
pub mod gateway;
pub mod logs;
pub mod models;
pub mod onboard;
pub mod pairing;
pub mod profiles;
pub mod service;
pub mod setup;
