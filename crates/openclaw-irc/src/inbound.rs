//! Turning a parsed PRIVMSG into what the channel layer needs.

use crate::proto::{Message, irc_lower, is_channel};

/// One message addressed to us: in a channel we are in, or a DM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub nick: String,
    pub user: String,
    pub host: String,
    /// The channel (`#room`) for channel messages; our own nick for DMs.
    pub target: String,
    pub text: String,
    pub is_dm: bool,
    /// Our current nick appears as a word in the text (always true in DMs).
    pub mentioned: bool,
    /// A CTCP ACTION (`/me ...`); `text` is the action text.
    pub is_action: bool,
}

impl Inbound {
    /// `nick!user@host`, the stable identity allowlists use.
    pub fn sender_mask(&self) -> String {
        format!("{}!{}@{}", self.nick, self.user, self.host)
    }

    /// Where an answer goes: the channel, or the sender's nick for a DM.
    pub fn reply_target(&self) -> &str {
        if self.is_dm { &self.nick } else { &self.target }
    }
}

/// A CTCP request inside a PRIVMSG (`\x01VERSION\x01`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ctcp {
    pub command: String,
    pub args: String,
}

pub fn parse_ctcp(text: &str) -> Option<Ctcp> {
    let inner = text.strip_prefix('\x01')?;
    let inner = inner.strip_suffix('\x01').unwrap_or(inner);
    let (command, args) = inner.split_once(' ').unwrap_or((inner, ""));
    Some(Ctcp {
        command: command.to_ascii_uppercase(),
        args: args.to_string(),
    })
}

fn is_nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

/// Whether `nick` appears in `text` as a whole word (IRC case mapping), as in
/// `bot: hi`, `hi bot`, `@bot, look`.
pub fn mentions(text: &str, nick: &str) -> bool {
    if nick.is_empty() {
        return false;
    }
    let text = irc_lower(text);
    let nick = irc_lower(nick);
    let mut from = 0;
    while let Some(i) = text[from..].find(&nick) {
        let start = from + i;
        let end = start + nick.len();
        let before_ok = text[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_nick_char(c));
        let after_ok = text[end..].chars().next().is_none_or(|c| !is_nick_char(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + nick.len().max(1);
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Classifies a PRIVMSG for the channel layer. `None` for anything that is
/// not a message to us (not a PRIVMSG, no sender, a CTCP request other than
/// ACTION, or our own echo).
pub fn classify(msg: &Message, own_nick: &str) -> Option<Inbound> {
    if msg.command != "PRIVMSG" || msg.params.len() < 2 {
        return None;
    }
    let prefix = msg.prefix.as_ref()?;
    if prefix.nick.is_empty() || irc_lower(&prefix.nick) == irc_lower(own_nick) {
        return None;
    }
    let target = msg.param(0).to_string();
    let mut text = msg.param(1).to_string();
    let mut is_action = false;
    if let Some(ctcp) = parse_ctcp(&text) {
        if ctcp.command != "ACTION" {
            return None;
        }
        is_action = true;
        text = ctcp.args;
    }
    let is_dm = !is_channel(&target);
    let mentioned = is_dm || mentions(&text, own_nick);
    Some(Inbound {
        nick: prefix.nick.clone(),
        user: prefix.user.clone(),
        host: prefix.host.clone(),
        target,
        text,
        is_dm,
        mentioned,
        is_action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(line: &str) -> Message {
        Message::parse(line).unwrap()
    }

    #[test]
    fn channel_message_with_and_without_mention() {
        let m = classify(
            &msg(":alice!~a@h PRIVMSG #room :Bot: what time is it?"),
            "bot",
        )
        .unwrap();
        assert!(!m.is_dm);
        assert!(m.mentioned);
        assert_eq!(m.reply_target(), "#room");
        assert_eq!(m.sender_mask(), "alice!~a@h");
        let m = classify(&msg(":alice!~a@h PRIVMSG #room :robots are fun"), "bot").unwrap();
        assert!(!m.mentioned);
        let m = classify(&msg(":alice!~a@h PRIVMSG #room :bot_ please"), "bot").unwrap();
        assert!(!m.mentioned, "bot_ is another nick");
    }

    #[test]
    fn dm_is_mentioned_and_replies_to_the_nick() {
        let m = classify(&msg(":alice!~a@h PRIVMSG bot :hi"), "bot").unwrap();
        assert!(m.is_dm && m.mentioned);
        assert_eq!(m.reply_target(), "alice");
        assert_eq!(m.text, "hi");
    }

    #[test]
    fn ctcp_requests_and_own_echo_are_not_messages() {
        assert!(classify(&msg(":alice!~a@h PRIVMSG bot :\x01VERSION\x01"), "bot").is_none());
        assert!(classify(&msg(":Bot!~b@h PRIVMSG #room :echo"), "bot").is_none());
        assert!(classify(&msg(":alice!~a@h NOTICE bot :hi"), "bot").is_none());
        let a = classify(
            &msg(":alice!~a@h PRIVMSG #room :\x01ACTION waves at bot\x01"),
            "bot",
        )
        .unwrap();
        assert!(a.is_action && a.mentioned);
        assert_eq!(a.text, "waves at bot");
        assert_eq!(
            parse_ctcp("\x01PING 123\x01"),
            Some(Ctcp {
                command: "PING".into(),
                args: "123".into()
            })
        );
    }

    #[test]
    fn mention_word_boundaries() {
        assert!(mentions("hey bot", "bot"));
        assert!(mentions("@BOT, hi", "bot"));
        assert!(mentions("robot bot", "bot"));
        assert!(!mentions("robot", "bot"));
        assert!(!mentions("bots", "bot"));
        assert!(mentions("é bot é", "bot"));
        assert!(mentions("[bot] hi", "[bot]"));
    }
}

/// Whether an allowlist entry matches a sender's `nick!user@host`: `"*"`,
/// or a mask with `*` (any run) and `?` (one character) wildcards, compared
/// under IRC case mapping. A bare nick (no `!`) matches only the nick; the
/// config accepts that form only with `dangerouslyAllowNameMatching`.
pub fn mask_matches(pattern: &str, sender_mask: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let pattern = irc_lower(pattern);
    let sender = irc_lower(sender_mask);
    if !pattern.contains('!') {
        let nick = sender.split('!').next().unwrap_or("");
        return glob(pattern.as_bytes(), nick.as_bytes());
    }
    glob(pattern.as_bytes(), sender.as_bytes())
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative wildcard match with backtracking to the last `*`.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod mask_tests {
    use super::mask_matches;

    #[test]
    fn masks_with_wildcards_and_case_mapping() {
        let alice = "Alice!~alice@host.example.org";
        assert!(mask_matches("*", alice));
        assert!(mask_matches("alice!~alice@host.example.org", alice));
        assert!(mask_matches("*!*@host.example.org", alice));
        assert!(mask_matches("alice!*@*.example.org", alice));
        assert!(mask_matches("al?ce!*@*", alice));
        assert!(!mask_matches("*!*@other.example.org", alice));
        assert!(!mask_matches("alice!~alice@host.example.org.evil", alice));
        assert!(!mask_matches("bob!*@*", alice));
        // bare nick: the nick only, never a host match
        assert!(mask_matches("ALICE", alice));
        assert!(!mask_matches("host.example.org", alice));
        assert!(mask_matches("[bot]!*@*", "{bot}!u@h"));
    }
}
