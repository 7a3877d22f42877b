//! Extraction of the global instance flags (`--profile`, `--dev`) from argv.
//!
//! Like the original, these flags are taken out of the argument list before
//! the rest is parsed, so they work "anywhere before the subcommand" and
//! never collide with a subcommand's own flags.

use crate::{InstanceError, normalize_profile};

/// The instance-selecting global flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalFlags {
    /// The profile named by `--profile` (as typed) or `dev` for `--dev`.
    pub profile: Option<String>,
    /// `--dev` was given.
    pub dev: bool,
}

/// Splits `--profile <name>`, `--profile=<name>` and `--dev` out of `args`
/// (which include the program name at index 0). Only arguments before the
/// first non-flag word (the subcommand) are considered. Returns the flags and
/// the remaining arguments.
pub fn split_global_flags(args: &[String]) -> Result<(GlobalFlags, Vec<String>), InstanceError> {
    let mut flags = GlobalFlags::default();
    let mut profile_given = false;
    let mut rest = Vec::with_capacity(args.len());
    let mut iter = args.iter().enumerate().peekable();
    if let Some((_, prog)) = iter.next() {
        rest.push(prog.clone());
    }
    let mut in_prefix = true;
    while let Some((_, arg)) = iter.next() {
        if !in_prefix {
            rest.push(arg.clone());
            continue;
        }
        if arg == "--" || !arg.starts_with('-') {
            in_prefix = false;
            rest.push(arg.clone());
            continue;
        }
        if arg == "--dev" {
            flags.dev = true;
        } else if arg == "--profile" {
            match iter.peek() {
                Some((_, v)) if !v.starts_with('-') && !v.is_empty() => {
                    flags.profile = Some((*v).clone());
                    profile_given = true;
                    iter.next();
                }
                _ => return Err(InstanceError::MissingProfileValue),
            }
        } else if let Some(v) = arg.strip_prefix("--profile=") {
            if v.is_empty() {
                return Err(InstanceError::MissingProfileValue);
            }
            flags.profile = Some(v.to_string());
            profile_given = true;
        } else {
            rest.push(arg.clone());
        }
    }
    if flags.dev && profile_given {
        return Err(InstanceError::DevWithProfile);
    }
    if flags.dev {
        flags.profile = Some("dev".into());
    }
    if let Some(p) = &flags.profile {
        normalize_profile(p)?;
    }
    Ok((flags, rest))
}
