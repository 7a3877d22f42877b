//! Secrets given to a command: `--<name> VALUE` (visible in the process
//! list and shell history: warned about) or `--<name>-file PATH`, where
//! `PATH` is a regular file (a symlink is refused) or `-` for stdin.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{CliError, CliResult};

/// A secret from the command line, a file or stdin. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(s: impl Into<String>) -> Self {
        SecretValue(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Reads the secret of `--<flag>` / `--<flag>-file` (clap makes them
/// conflict). A literal value gets the warning of
/// `openclaw_ops::onboard::argv_secret_warning` on stderr.
pub fn read(
    flag: &str,
    literal: Option<&str>,
    file: Option<&Path>,
) -> CliResult<Option<SecretValue>> {
    if let Some(v) = literal {
        eprintln!(
            "openclaw: warning: {}",
            openclaw_ops::onboard::argv_secret_warning(flag)
        );
        let v = v.trim();
        if v.is_empty() {
            return Err(CliError::usage(
                format!("{flag} is empty"),
                format!("give the secret, or use {flag}-file <path>"),
            ));
        }
        return Ok(Some(SecretValue::new(v)));
    }
    let Some(path) = file else {
        return Ok(None);
    };
    let file_flag = format!("{flag}-file");
    if path.as_os_str() == "-" {
        let mut raw = String::new();
        std::io::stdin()
            .read_to_string(&mut raw)
            .map_err(|e| CliError::new(format!("cannot read {file_flag}"), "stdin", e))?;
        let t = raw.trim();
        if t.is_empty() {
            return Err(CliError::usage(
                format!("invalid {file_flag}"),
                "stdin held nothing",
            ));
        }
        return Ok(Some(SecretValue::new(t)));
    }
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| CliError::new(format!("cannot read {file_flag}"), path.display(), e))?;
    if !meta.file_type().is_file() {
        return Err(CliError::usage(
            format!("invalid {file_flag}"),
            format!(
                "{} is not a regular file (symlinks are refused)",
                path.display()
            ),
        ));
    }
    let raw = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read {file_flag}"), path.display(), e))?;
    let t = raw.trim();
    if t.is_empty() {
        return Err(CliError::usage(
            format!("invalid {file_flag}"),
            format!("{} is empty", path.display()),
        ));
    }
    Ok(Some(SecretValue::new(t)))
}

/// Stages a secret for `path` (mode 0600, its directory 0700): written in
/// full beside it, put in place only with the config write that names it
/// (`openclaw_state::StagedFiles`). Returns the directory when this call
/// created it.
pub fn stage(
    staged: &mut openclaw_state::StagedFiles,
    path: &Path,
    secret: &SecretValue,
) -> CliResult<Option<PathBuf>> {
    let mut created = None;
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            created = Some(dir.to_path_buf());
        }
        openclaw_state::ensure_state_dir(dir)
            .map_err(|e| CliError::new("cannot create the credentials dir", dir.display(), e))?;
    }
    staged
        .stage(
            path,
            format!("{}\n", secret.expose()).as_bytes(),
            openclaw_state::FILE_MODE,
        )
        .map_err(|e| CliError::new("cannot write a credentials file", path.display(), e))?;
    Ok(created)
}
