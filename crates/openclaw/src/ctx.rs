//! The invocation context: global flags, the environment, and the resolved
//! instance. Every command resolves its instance here, the same way the
//! gateway does, so a command never reports on or touches another instance.

use std::path::PathBuf;

use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Instance, InstancePaths};
use openclaw_state::{ConfigStore, Loaded};

use crate::error::{CliError, CliResult, exit};

pub struct Ctx {
    pub env: Env,
    pub paths: InstancePaths,
    /// `RUST_LOG`, a one-run log filter for the gateway (the only variable
    /// read besides `HOME` and `OPENCLAW_*`).
    pub rust_log: Option<String>,
}

impl Ctx {
    /// Builds the context from the process environment (the only place the
    /// CLI reads `OPENCLAW_*` variables).
    pub fn from_process(flags: GlobalFlags) -> CliResult<Ctx> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|h| !h.as_os_str().is_empty())
            .ok_or_else(|| {
                CliError::new("cannot find the home directory", "$HOME", "HOME is not set")
                    .hint("export HOME=/path/to/home, or set OPENCLAW_STATE_DIR")
            })?;
        let pairs = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let env = Env::from_pairs(home, pairs);
        let paths = openclaw_instance::resolve_paths(&flags, &env)
            .map_err(|e| CliError::usage("cannot select the instance", e))?;
        let rust_log = std::env::var("RUST_LOG").ok();
        Ok(Ctx {
            env,
            paths,
            rust_log,
        })
    }

    /// The host basics of this process's environment (HOME, PATH, user,
    /// locale, time zone, temp and runtime dirs; see
    /// `openclaw_ops::lifecycle::is_host_basic`): what a gateway started
    /// for another instance may inherit. Never a selector or a secret.
    pub fn host_basics(&self) -> Vec<(String, String)> {
        std::env::vars()
            .filter(|(k, _)| openclaw_ops::lifecycle::is_host_basic(k))
            .collect()
    }

    /// `openclaw --profile <p>` (or the env prefix) for hints, usable before
    /// the config is read.
    pub fn cli_prefix(&self) -> String {
        self.paths.cli_prefix()
    }

    pub fn command(&self, rest: &str) -> String {
        format!("{} {rest}", self.cli_prefix())
    }

    pub fn config_store(&self) -> ConfigStore {
        ConfigStore::new(self.paths.config_path.value.clone())
    }

    /// Reads and validates the config (None when the file does not exist).
    /// Unknown keys are printed as warnings on stderr.
    pub fn load_config(&self) -> CliResult<Option<Loaded>> {
        let loaded = self
            .config_store()
            .load()
            .map_err(|e| self.config_error(e))?;
        if let Some(l) = &loaded {
            for w in &l.parsed.warnings {
                eprintln!("openclaw: warning: {w}");
            }
        }
        Ok(loaded)
    }

    /// Turns a config load failure into a user-facing error; an invalid
    /// config's unknown-key warnings are printed first, and its location
    /// (`file:line:col`) becomes the error's "where".
    pub fn config_error(&self, e: openclaw_state::StateError) -> CliError {
        let hint = self.command("config validate");
        let openclaw_state::StateError::Config(ce) = &e else {
            return CliError::new(
                "cannot read config",
                self.paths.config_path.value.display(),
                e,
            )
            .hint(hint);
        };
        for w in &ce.warnings {
            eprintln!("openclaw: warning: {w}");
        }
        let mut location = ce.file.display().to_string();
        if let (Some(l), Some(c)) = (ce.line, ce.column) {
            location = format!("{location}:{l}:{c}");
        }
        let mut cause = match &ce.key_path {
            Some(k) => format!("{k}: {}", ce.message),
            None => ce.message.clone(),
        };
        for more in ce.issues().iter().skip(1) {
            cause.push_str(&format!(
                "\n  also: {}",
                more.key_path
                    .as_deref()
                    .map(|k| format!("{k}: "))
                    .unwrap_or_default()
            ));
            if let (Some(l), Some(c)) = (more.line, more.column) {
                cause.push_str(&format!("(line {l}:{c}) "));
            }
            cause.push_str(&more.message);
        }
        CliError::new("invalid config", location, cause).hint(hint)
    }

    /// The typed config (if there is a config file) and the resolved
    /// instance, from one read of the file.
    pub fn config_and_instance(
        &self,
        port_flag: Option<u16>,
    ) -> CliResult<(Option<openclaw_config::Config>, Instance)> {
        let loaded = self.load_config()?;
        let inst = self.instance_for(loaded.as_ref(), port_flag)?;
        Ok((loaded.map(|l| l.parsed.config), inst))
    }

    /// The resolved instance for a config the caller already loaded, with the
    /// command's `--port` flag (if it has one).
    pub fn instance_for(
        &self,
        loaded: Option<&Loaded>,
        port_flag: Option<u16>,
    ) -> CliResult<Instance> {
        let facts = loaded
            .map(|l| l.parsed.config.instance_facts())
            .unwrap_or_default();
        let inst = self.instance_with(&facts, port_flag)?;
        for note in &inst.ignored_env {
            eprintln!("openclaw: note: {note}");
        }
        Ok(inst)
    }

    pub fn instance_with(
        &self,
        facts: &ConfigFacts,
        port_flag: Option<u16>,
    ) -> CliResult<Instance> {
        let inst = openclaw_instance::resolve(&self.paths, facts, port_flag).map_err(|e| {
            CliError::new(
                "cannot resolve the instance's ports",
                self.paths.config_path.value.display(),
                e,
            )
            .code(exit::USAGE)
        })?;
        // Only an instance selected by its state dir alone has names that
        // depend on the other instances on the host.
        if inst.profile.is_none()
            && matches!(inst.state_dir.source, openclaw_instance::Source::Env(_))
        {
            let records = crate::hosts::records(&self.paths.home.value);
            let inst = crate::hosts::with_neighbours(inst, &records);
            // A service it installed keeps its name, whatever neighbour
            // appeared since.
            return Ok(openclaw_host::services::with_installed_names(self, inst));
        }
        Ok(inst)
    }
}
