//! IRC message syntax (RFC 1459 / RFC 2812, IRCv3 tags skipped): parsing one
//! inbound line and formatting one outbound line.

/// The source of a message: `nick!user@host`, or a server name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prefix {
    pub nick: String,
    pub user: String,
    pub host: String,
}

impl Prefix {
    pub fn parse(s: &str) -> Prefix {
        let (nick, rest) = match s.find('!') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => match s.find('@') {
                Some(i) => (&s[..i], &s[i..]),
                None => (s, ""),
            },
        };
        let (user, host) = match rest.find('@') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        Prefix {
            nick: nick.to_string(),
            user: user.to_string(),
            host: host.to_string(),
        }
    }

    /// `nick!user@host`, the stable identity allowlists match against.
    pub fn mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }
}

/// One parsed IRC line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub prefix: Option<Prefix>,
    /// Upper-cased command or three-digit numeric.
    pub command: String,
    pub params: Vec<String>,
}

impl Message {
    /// Parses one line (without CR LF). `None` for an empty or command-less
    /// line.
    pub fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_end_matches(['\r', '\n']);
        if let Some(tagged) = rest.strip_prefix('@') {
            rest = tagged.split_once(' ').map(|(_, r)| r).unwrap_or("");
        }
        rest = rest.trim_start_matches(' ');
        let mut prefix = None;
        if let Some(p) = rest.strip_prefix(':') {
            let (p, r) = p.split_once(' ').unwrap_or((p, ""));
            prefix = Some(Prefix::parse(p));
            rest = r.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_string());
                break;
            }
            let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(p.to_string());
            rest = r;
        }
        Some(Message {
            prefix,
            command: command.to_ascii_uppercase(),
            params,
        })
    }

    pub fn param(&self, i: usize) -> &str {
        self.params.get(i).map(String::as_str).unwrap_or("")
    }

    pub fn nick(&self) -> &str {
        self.prefix.as_ref().map(|p| p.nick.as_str()).unwrap_or("")
    }
}

/// Removes CR, LF and NUL, which would end or corrupt a line (an injection
/// vector when text comes from a model or a user).
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .filter(|c| *c != '\0')
        .collect()
}

/// Formats `COMMAND p1 p2 :last` (the last parameter always trailing when it
/// could need it). Parameters are sanitized.
pub fn format(command: &str, params: &[&str]) -> String {
    let mut out = command.to_string();
    for (i, p) in params.iter().enumerate() {
        let p = sanitize(p);
        out.push(' ');
        let last = i + 1 == params.len();
        if last && (p.is_empty() || p.contains(' ') || p.starts_with(':')) {
            out.push(':');
        }
        out.push_str(&p);
    }
    out
}

/// RFC 1459 case mapping; the one definition lives in `openclaw-config`
/// (doctor's login key needs it too, and the config is below this crate).
pub use openclaw_config::channels_net::{irc_eq, irc_lower};

pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefix_command_params_and_trailing() {
        let m =
            Message::parse(":alice!~al@host.example PRIVMSG #room :hello there: you\r\n").unwrap();
        assert_eq!(
            m.prefix,
            Some(Prefix {
                nick: "alice".into(),
                user: "~al".into(),
                host: "host.example".into()
            })
        );
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#room", "hello there: you"]);
        assert_eq!(m.prefix.unwrap().mask(), "alice!~al@host.example");
    }

    #[test]
    fn parses_server_prefix_numeric_tags_and_no_trailing() {
        let m = Message::parse("@time=x :irc.test 433 * bot :Nickname already in use").unwrap();
        assert_eq!(m.command, "433");
        assert_eq!(m.nick(), "irc.test");
        assert_eq!(m.param(1), "bot");
        let m = Message::parse("ping 12345").unwrap();
        assert_eq!(m.command, "PING");
        assert_eq!(m.params, vec!["12345"]);
        assert!(Message::parse("").is_none());
        assert!(Message::parse(":only.prefix").is_none());
    }

    #[test]
    fn format_uses_trailing_when_needed_and_strips_line_breaks() {
        assert_eq!(format("JOIN", &["#room"]), "JOIN #room");
        assert_eq!(format("PRIVMSG", &["#r", "a b"]), "PRIVMSG #r :a b");
        assert_eq!(format("PRIVMSG", &["#r", ":x"]), "PRIVMSG #r ::x");
        assert_eq!(format("PRIVMSG", &["#r", ""]), "PRIVMSG #r :");
        assert_eq!(
            format("PRIVMSG", &["#r", "a\r\nQUIT :bye"]),
            "PRIVMSG #r :a  QUIT :bye"
        );
    }

    #[test]
    fn rfc1459_casemapping() {
        assert!(irc_eq("Bot[1]", "bot{1}"));
        assert_eq!(irc_lower("A\\B~[]"), "a|b^{}");
    }
}
