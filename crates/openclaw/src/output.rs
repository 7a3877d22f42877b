//! Output helpers shared by the commands.

use serde::Serialize;

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("openclaw: cannot encode JSON output: {e}"),
    }
}

pub use openclaw_ops::render::{human_duration, tilde};
