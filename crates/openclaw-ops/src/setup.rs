//! `setup`'s base-port chooser.
//!
//! - A port that is pinned (`--port`, `OPENCLAW_GATEWAY_PORT`, or
//!   `gateway.port` in an existing config) is kept. A pinned flag or env
//!   port whose footprint overlaps another instance is refused, with the
//!   lowest free base port as the suggestion; an existing config's port is
//!   kept with a warning (doctor reports and fixes it).
//! - Otherwise the default profile (and `dev`) keep their default port
//!   when its footprint is clear of every other instance; every other case
//!   gets the lowest base port from 18789 whose whole footprint is free on
//!   this host and clear of every other instance, with a note saying why.

use openclaw_instance::{DEFAULT_PORT, Footprint, Instance, Overlap, Source, choose_base_port};

/// What the chooser knows about the instance being set up.
pub struct PortRequest<'a> {
    /// The instance resolved with the config's facts and the `--port` flag.
    pub current: &'a Instance,
    /// `--port` was given.
    pub flag_port: bool,
    /// The default profile or `dev` (whose default port is theirs to keep).
    pub default_profile: bool,
    /// Every other instance on the host that resolves: label and footprint.
    pub others: &'a [(String, Footprint)],
}

/// The chosen base port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortChoice {
    pub port: u16,
    /// Why this port, when it is not the obvious one.
    pub note: Option<String>,
    /// Collisions of an existing config's pinned port, kept anyway: the
    /// other instance's label and the overlap.
    pub warnings: Vec<(String, Overlap)>,
}

/// Why no port was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRefusal {
    /// The pinned (flag or env) port's footprint overlaps `label`'s.
    Overlaps {
        label: String,
        overlap: Box<Overlap>,
        port: u16,
        source: Source,
        /// The lowest free base port, if there is one.
        suggestion: Option<u16>,
    },
    /// Every base port from 18789 collides or is in use.
    NoFreeFootprint,
}

/// Chooses the base port. `footprint_of(base)` is the instance's footprint
/// at another base port (`None` past the end of the port space);
/// `is_free(port)` probes the host.
pub fn choose_port(
    req: &PortRequest<'_>,
    footprint_of: impl Fn(u16) -> Option<Footprint>,
    is_free: impl Fn(u16) -> bool,
) -> Result<PortChoice, PortRefusal> {
    let current = req.current;
    let all: Vec<Footprint> = req.others.iter().map(|(_, f)| f.clone()).collect();
    let source = &current.ports.gateway.source;
    let pinned = req.flag_port || !matches!(source, Source::Default | Source::ProfileDefault);

    if pinned {
        let port = current.ports.gateway.value;
        let fp = current.footprint();
        let mut warnings = Vec::new();
        for (label, other) in req.others {
            if let Some(o) = fp.overlaps(other).first() {
                if matches!(source, Source::Config(_)) {
                    warnings.push((label.clone(), o.clone()));
                    continue;
                }
                return Err(PortRefusal::Overlaps {
                    label: label.clone(),
                    overlap: Box::new(o.clone()),
                    port,
                    source: source.clone(),
                    suggestion: choose_base_port(DEFAULT_PORT, &all, &footprint_of, &is_free),
                });
            }
        }
        return Ok(PortChoice {
            port,
            note: None,
            warnings,
        });
    }

    let preferred = current.ports.gateway.value;
    if req.default_profile
        && footprint_of(preferred).is_some_and(|fp| all.iter().all(|o| fp.overlaps(o).is_empty()))
    {
        return Ok(PortChoice {
            port: preferred,
            note: None,
            warnings: vec![],
        });
    }
    let chosen = choose_base_port(DEFAULT_PORT, &all, &footprint_of, &is_free)
        .ok_or(PortRefusal::NoFreeFootprint)?;
    let note = (chosen != preferred || !req.others.is_empty()).then(|| {
        let names: Vec<&str> = req.others.iter().map(|(l, _)| l.as_str()).collect();
        if names.is_empty() {
            format!(
                "picked base port {chosen}: the lowest whose whole footprint is free on this host"
            )
        } else {
            format!(
                "picked base port {chosen}: the lowest whose whole footprint is free and clear of {}",
                names.join(", ")
            )
        }
    });
    Ok(PortChoice {
        port: chosen,
        note,
        warnings: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_instance::{ConfigFacts, Env, GlobalFlags, Purpose};

    const HOME: &str = "/home/u";

    /// `profile` resolved with `env`, a config port and a `--port` flag.
    fn resolve(
        profile: Option<&str>,
        env: &[(&str, &str)],
        config_port: Option<u16>,
        flag: Option<u16>,
    ) -> Instance {
        let (profile, dev) = match profile {
            Some("dev") => (Some("dev".to_string()), true),
            p => (p.map(str::to_string), false),
        };
        let mut e = Env::new(HOME);
        for (k, v) in env {
            e = e.with(k, v);
        }
        let paths = openclaw_instance::resolve_paths(&GlobalFlags { profile, dev }, &e).unwrap();
        let facts = ConfigFacts {
            gateway_port: config_port,
            ..Default::default()
        };
        openclaw_instance::resolve(&paths, &facts, flag).unwrap()
    }

    fn fp_at(profile: Option<&str>) -> impl Fn(u16) -> Option<Footprint> {
        let profile = profile.map(str::to_string);
        move |b| {
            let paths = openclaw_instance::resolve_paths(
                &GlobalFlags {
                    profile: profile.clone(),
                    dev: false,
                },
                &Env::new(HOME),
            )
            .ok()?;
            let facts = ConfigFacts {
                gateway_port: Some(b),
                ..Default::default()
            };
            openclaw_instance::resolve(&paths, &facts, Some(b))
                .ok()
                .map(|i| i.footprint())
        }
    }

    fn other(label: &str, base: u16) -> (String, Footprint) {
        (label.to_string(), fp_at(Some("other"))(base).unwrap())
    }

    struct Case {
        what: &'static str,
        profile: Option<&'static str>,
        env: &'static [(&'static str, &'static str)],
        config_port: Option<u16>,
        flag: Option<u16>,
        others: Vec<(String, Footprint)>,
        busy: &'static [u16],
        want: Result<(u16, bool, usize), &'static str>,
    }

    #[test]
    fn port_chooser_table() {
        let main = || vec![other("profile main", 18789)];
        let cases = [
            Case {
                what: "default profile alone keeps 18789, no note",
                profile: None,
                env: &[],
                config_port: None,
                flag: None,
                others: vec![],
                busy: &[],
                want: Ok((18789, false, 0)),
            },
            Case {
                what: "named profile alone: 18789 is the lowest free footprint, no note",
                profile: Some("main"),
                env: &[],
                config_port: None,
                flag: None,
                others: vec![],
                busy: &[],
                want: Ok((18789, false, 0)),
            },
            Case {
                what: "named profile next to main: clear of main's CDP range",
                profile: Some("rescue"),
                env: &[],
                config_port: None,
                flag: None,
                others: main(),
                busy: &[],
                want: Ok((18900, true, 0)),
            },
            Case {
                what: "a busy port in the candidate footprint pushes it on",
                profile: Some("rescue"),
                env: &[],
                config_port: None,
                flag: None,
                others: main(),
                busy: &[18950],
                want: Ok((18940, true, 0)),
            },
            Case {
                what: "default profile whose 18789 is main's: it moves too",
                profile: None,
                env: &[],
                config_port: None,
                flag: None,
                others: main(),
                busy: &[],
                want: Ok((18900, true, 0)),
            },
            Case {
                what: "dev keeps 19001 when clear",
                profile: Some("dev"),
                env: &[],
                config_port: None,
                flag: None,
                others: main(),
                busy: &[],
                want: Ok((19001, false, 0)),
            },
            Case {
                what: "--port clear of others is kept",
                profile: Some("rescue"),
                env: &[],
                config_port: None,
                flag: Some(20000),
                others: main(),
                busy: &[],
                want: Ok((20000, false, 0)),
            },
            Case {
                what: "--port overlapping main is refused",
                profile: Some("rescue"),
                env: &[],
                config_port: None,
                flag: Some(18795),
                others: main(),
                busy: &[],
                want: Err("overlap"),
            },
            Case {
                what: "env port overlapping main is refused",
                profile: Some("rescue"),
                env: &[("OPENCLAW_GATEWAY_PORT", "18789")],
                config_port: None,
                flag: None,
                others: main(),
                busy: &[],
                want: Err("overlap"),
            },
            Case {
                what: "an existing config's port is kept, with a warning",
                profile: Some("rescue"),
                env: &[],
                config_port: Some(18789),
                flag: None,
                others: main(),
                busy: &[],
                want: Ok((18789, false, 1)),
            },
            Case {
                what: "nothing free at all",
                profile: Some("rescue"),
                env: &[],
                config_port: None,
                flag: None,
                others: vec![],
                busy: &[18791],
                want: Err("none"),
            },
        ];
        for c in cases {
            let current = resolve(c.profile, c.env, c.config_port, c.flag);
            let req = PortRequest {
                current: &current,
                flag_port: c.flag.is_some(),
                default_profile: matches!(c.profile, None | Some("dev")),
                others: &c.others,
            };
            let busy = c.busy;
            // "nothing free": every footprint holds the busy browser port.
            let is_free = |p: u16| {
                if c.what == "nothing free at all" {
                    false
                } else {
                    !busy.contains(&p)
                }
            };
            let got = choose_port(&req, fp_at(c.profile), is_free);
            match (&got, &c.want) {
                (Ok(ch), Ok((port, noted, warnings))) => {
                    assert_eq!(ch.port, *port, "{}", c.what);
                    assert_eq!(ch.note.is_some(), *noted, "{}: {:?}", c.what, ch.note);
                    assert_eq!(ch.warnings.len(), *warnings, "{}", c.what);
                }
                (Err(PortRefusal::Overlaps { .. }), Err("overlap"))
                | (Err(PortRefusal::NoFreeFootprint), Err("none")) => {}
                _ => panic!("{}: got {got:?}", c.what),
            }
        }
    }

    #[test]
    fn a_refusal_names_the_overlap_and_suggests_a_free_base() {
        let current = resolve(Some("rescue"), &[], None, Some(18791));
        let others = vec![other("profile main", 18789)];
        let req = PortRequest {
            current: &current,
            flag_port: true,
            default_profile: false,
            others: &others,
        };
        match choose_port(&req, fp_at(Some("rescue")), |_| true) {
            Err(PortRefusal::Overlaps {
                label,
                overlap,
                port,
                source,
                suggestion,
            }) => {
                assert_eq!(label, "profile main");
                assert_eq!(port, 18791);
                assert_eq!(source, Source::Flag("--port".into()));
                assert_eq!(suggestion, Some(18900));
                assert_eq!(overlap.ours.purpose, Purpose::Gateway);
                assert_eq!(overlap.first_shared, 18791);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_note_names_the_other_instances() {
        let current = resolve(Some("rescue"), &[], None, None);
        let others = vec![other("profile main", 18789)];
        let req = PortRequest {
            current: &current,
            flag_port: false,
            default_profile: false,
            others: &others,
        };
        let ch = choose_port(&req, fp_at(Some("rescue")), |_| true).unwrap();
        assert_eq!(
            ch.note.as_deref(),
            Some(
                "picked base port 18900: the lowest whose whole footprint is free and clear of profile main"
            )
        );
    }
}
