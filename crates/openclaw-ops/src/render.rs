//! Text helpers shared by the CLI's reports.

use std::path::Path;

/// `~/x` for paths under `home`, for compact human output.
pub fn tilde(path: &Path, home: &Path) -> String {
    match path.strip_prefix(home) {
        Ok(rest) if rest.as_os_str().is_empty() => "~".into(),
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => path.display().to_string(),
    }
}

/// A short uptime: "42s", "3m7s", "5h2m", "2d4h".
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_table() {
        let home = Path::new("/home/u");
        for (path, want) in [
            ("/home/u", "~"),
            ("/home/u/.openclaw", "~/.openclaw"),
            ("/home/user2/x", "/home/user2/x"),
            ("/srv/oc", "/srv/oc"),
        ] {
            assert_eq!(tilde(Path::new(path), home), want, "{path}");
        }
    }

    #[test]
    fn human_duration_table() {
        for (secs, want) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m0s"),
            (187, "3m7s"),
            (3600, "1h0m"),
            (18120, "5h2m"),
            (86400, "1d0h"),
            (187200, "2d4h"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }
}
