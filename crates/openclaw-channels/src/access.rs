//! Who may talk to the bot, and which agent session answers.
//!
//! Rules (the same for every channel):
//! - DMs: `disabled` ignores all; `open` admits anyone only when `allowFrom`
//!   holds `"*"` (otherwise only the listed senders); `allowlist` admits
//!   `allowFrom` plus senders approved through pairing; `pairing` (default)
//!   admits the same and answers anyone else with a pairing code (their
//!   message is not processed).
//! - Groups: `disabled` ignores all; `allowlist` (default) admits senders in
//!   `groupAllowFrom` (pairing approvals do not count: pairing grants DMs
//!   only); `open` admits anyone. In an admitted group the bot answers only
//!   when mentioned or replied to, unless `requireMention` is false.
//! - Allowlist entries match a sender id exactly (Telegram user ids, Matrix
//!   `@user:server`), or as IRC `nick!user@host` masks with `*`/`?`
//!   wildcards ([`SenderMatch`]). A group's own `allowFrom` (IRC and Matrix
//!   `groups.<room>.allowFrom`) replaces `groupAllowFrom` for that group.
//! - Routing: the first `bindings` entry whose `match.peer` matches wins,
//!   then an exact `match.accountId` (omitted = the default account), then
//!   `accountId: "*"`; otherwise agent `main`. Session keys are
//!   `<channel>:dm:<senderId>` and `<channel>:group:<chatId>`.

use openclaw_config::channels::{Binding, DmPolicy, GroupPolicy, PeerKind};

use crate::{ChatKind, DEFAULT_ACCOUNT, Inbound};

/// How an allowlist entry is compared with a sender id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SenderMatch {
    /// The same string (Telegram ids, Matrix user ids); `"*"` is anyone.
    #[default]
    Exact,
    /// An IRC `nick!user@host` mask, `*`/`?` wildcards, IRC case mapping
    /// (`openclaw_irc::inbound::mask_matches`).
    IrcMask,
}

impl SenderMatch {
    /// The rule of a channel: IRC masks for `irc`, exact ids elsewhere.
    pub fn for_channel(channel: &str) -> SenderMatch {
        if channel == "irc" {
            SenderMatch::IrcMask
        } else {
            SenderMatch::Exact
        }
    }

    /// Whether two sender ids name the same sender (no wildcards: a
    /// recorded id is literal). IRC compares under IRC case mapping.
    pub fn same(self, a: &str, b: &str) -> bool {
        match self {
            SenderMatch::Exact => a == b,
            SenderMatch::IrcMask => openclaw_config::channels_net::irc_eq(a, b),
        }
    }

    /// Whether the allowlist entry `pattern` admits `sender`.
    pub fn matches(self, pattern: &str, sender: &str) -> bool {
        match self {
            SenderMatch::Exact => pattern == "*" || pattern == sender,
            SenderMatch::IrcMask => openclaw_irc::inbound::mask_matches(pattern, sender),
        }
    }
}

/// The access settings of one channel account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub dm_policy: DmPolicy,
    pub allow_from: Vec<String>,
    pub group_policy: GroupPolicy,
    pub group_allow_from: Vec<String>,
    pub matcher: SenderMatch,
}

/// What to do with an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Drop it (the reason is for the log).
    Ignore(&'static str),
    /// Unknown DM sender under `pairing`: start (or keep) a pairing request.
    Pair,
    /// Hand it to the agent.
    Run {
        agent_id: String,
        session_key: String,
    },
}

fn listed(list: &[String], sender: &str) -> bool {
    list.iter().any(|s| s == sender)
}

/// Decides for `m`. `approved` says whether pairing approved the sender;
/// `require_mention` is the group's setting (ignored for DMs).
pub fn decide(
    access: &Access,
    bindings: &[Binding],
    m: &Inbound,
    approved: bool,
    require_mention: bool,
) -> Decision {
    decide_with(access, bindings, m, approved, require_mention, None)
}

/// [`decide`], with the group's own sender allowlist when it has one (it
/// replaces `groupAllowFrom` for that group).
pub fn decide_with(
    access: &Access,
    bindings: &[Binding],
    m: &Inbound,
    approved: bool,
    require_mention: bool,
    group_allow_from: Option<&[String]>,
) -> Decision {
    let admits = |list: &[String]| list.iter().any(|p| access.matcher.matches(p, &m.sender_id));
    match m.chat_kind {
        ChatKind::Direct => {
            let wildcard = listed(&access.allow_from, "*");
            let allowed = admits(&access.allow_from);
            let ok = match access.dm_policy {
                DmPolicy::Disabled => return Decision::Ignore("DMs are disabled (dmPolicy)"),
                DmPolicy::Open => wildcard || allowed,
                DmPolicy::Allowlist | DmPolicy::Pairing => allowed || wildcard || approved,
            };
            if ok {
                route(bindings, m)
            } else if access.dm_policy == DmPolicy::Pairing {
                Decision::Pair
            } else {
                Decision::Ignore("sender not in allowFrom")
            }
        }
        ChatKind::Group => {
            let ok = match access.group_policy {
                GroupPolicy::Disabled => return Decision::Ignore("groups are disabled"),
                GroupPolicy::Open => true,
                GroupPolicy::Allowlist => {
                    admits(group_allow_from.unwrap_or(&access.group_allow_from))
                }
            };
            if !ok {
                return Decision::Ignore("sender not in groupAllowFrom");
            }
            if require_mention && !m.mentioned && !m.reply_to_bot {
                return Decision::Ignore("not mentioned (requireMention)");
            }
            route(bindings, m)
        }
    }
}

/// The session key of a message.
pub fn session_key(m: &Inbound) -> String {
    match m.chat_kind {
        ChatKind::Direct => format!("{}:dm:{}", m.channel, m.sender_id),
        ChatKind::Group => format!("{}:group:{}", m.channel, m.chat_id),
    }
}

/// The agent and session for an admitted message.
pub fn route(bindings: &[Binding], m: &Inbound) -> Decision {
    let mine: Vec<&Binding> = bindings
        .iter()
        .filter(|b| b.match_.channel == m.channel)
        .collect();
    let account_ok = |b: &Binding| match b.match_.account_id.as_deref() {
        None => m.account == DEFAULT_ACCOUNT,
        Some("*") => true,
        Some(a) => a == m.account,
    };
    let (peer_kind, peer_id) = match m.chat_kind {
        ChatKind::Direct => (PeerKind::Direct, &m.sender_id),
        ChatKind::Group => (PeerKind::Group, &m.chat_id),
    };
    let by_peer = mine.iter().find(|b| {
        account_ok(b)
            && b.match_
                .peer
                .as_ref()
                .is_some_and(|p| p.kind == peer_kind && &p.id == peer_id)
    });
    let exact = || {
        mine.iter().find(|b| {
            b.match_.peer.is_none() && b.match_.account_id.as_deref() != Some("*") && account_ok(b)
        })
    };
    let any = || {
        mine.iter()
            .find(|b| b.match_.peer.is_none() && b.match_.account_id.as_deref() == Some("*"))
    };
    let agent_id = by_peer
        .or_else(exact)
        .or_else(any)
        .map(|b| b.agent_id.clone())
        .unwrap_or_else(|| "main".to_string());
    Decision::Run {
        agent_id,
        session_key: session_key(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_config::channels::{BindingMatch, BindingPeer};

    fn dm(sender: &str) -> Inbound {
        Inbound {
            channel: "telegram".into(),
            account: "default".into(),
            chat_id: sender.into(),
            chat_kind: ChatKind::Direct,
            sender_id: sender.into(),
            sender_name: None,
            text: "hi".into(),
            reply_to_bot: false,
            mentioned: false,
        }
    }

    fn group(sender: &str, mentioned: bool, reply: bool) -> Inbound {
        Inbound {
            chat_id: "-100".into(),
            chat_kind: ChatKind::Group,
            mentioned,
            reply_to_bot: reply,
            ..dm(sender)
        }
    }

    fn access(dm: DmPolicy, allow: &[&str], gp: GroupPolicy, gallow: &[&str]) -> Access {
        Access {
            dm_policy: dm,
            allow_from: allow.iter().map(|s| s.to_string()).collect(),
            group_policy: gp,
            group_allow_from: gallow.iter().map(|s| s.to_string()).collect(),
            matcher: SenderMatch::Exact,
        }
    }

    fn run(agent: &str, key: &str) -> Decision {
        Decision::Run {
            agent_id: agent.into(),
            session_key: key.into(),
        }
    }

    #[test]
    fn dm_policies() {
        use DmPolicy::*;
        let g = GroupPolicy::Allowlist;
        let cases = [
            (Pairing, vec![], false, Decision::Pair),
            (Pairing, vec![], true, run("main", "telegram:dm:5")),
            (Pairing, vec!["5"], false, run("main", "telegram:dm:5")),
            (
                Allowlist,
                vec![],
                false,
                Decision::Ignore("sender not in allowFrom"),
            ),
            (Allowlist, vec![], true, run("main", "telegram:dm:5")),
            (Open, vec!["*"], false, run("main", "telegram:dm:5")),
            // open with concrete ids admits only those, and approvals do not widen it
            (
                Open,
                vec!["6"],
                true,
                Decision::Ignore("sender not in allowFrom"),
            ),
            (
                Disabled,
                vec!["5"],
                true,
                Decision::Ignore("DMs are disabled (dmPolicy)"),
            ),
        ];
        for (p, allow, approved, want) in cases {
            let a = access(p, &allow, g, &[]);
            assert_eq!(
                decide(&a, &[], &dm("5"), approved, true),
                want,
                "{p:?} {allow:?} {approved}"
            );
        }
    }

    #[test]
    fn groups_need_allowlist_and_mention() {
        let a = access(DmPolicy::Pairing, &[], GroupPolicy::Allowlist, &["5"]);
        let key = "telegram:group:-100";
        assert_eq!(
            decide(&a, &[], &group("5", true, false), false, true),
            run("main", key)
        );
        assert_eq!(
            decide(&a, &[], &group("5", false, true), false, true),
            run("main", key)
        );
        assert_eq!(
            decide(&a, &[], &group("5", false, false), false, true),
            Decision::Ignore("not mentioned (requireMention)")
        );
        assert_eq!(
            decide(&a, &[], &group("5", false, false), false, false),
            run("main", key)
        );
        // pairing approval grants DMs only
        assert_eq!(
            decide(&a, &[], &group("6", true, false), true, true),
            Decision::Ignore("sender not in groupAllowFrom")
        );
        let open = access(DmPolicy::Pairing, &[], GroupPolicy::Open, &[]);
        assert_eq!(
            decide(&open, &[], &group("6", true, false), false, true),
            run("main", key)
        );
        let off = access(DmPolicy::Pairing, &[], GroupPolicy::Disabled, &["5"]);
        assert!(matches!(
            decide(&off, &[], &group("5", true, false), false, true),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn bindings_route_by_peer_then_account() {
        let b = |agent: &str, account: Option<&str>, peer: Option<(PeerKind, &str)>| Binding {
            agent_id: agent.into(),
            match_: BindingMatch {
                channel: "telegram".into(),
                account_id: account.map(str::to_string),
                peer: peer.map(|(kind, id)| BindingPeer {
                    kind,
                    id: id.into(),
                }),
            },
        };
        let bindings = vec![
            b("any", Some("*"), None),
            b("acct", None, None),
            b("peer", None, Some((PeerKind::Direct, "7"))),
        ];
        assert_eq!(route(&bindings, &dm("7")), run("peer", "telegram:dm:7"));
        assert_eq!(route(&bindings, &dm("8")), run("acct", "telegram:dm:8"));
        let other = Inbound {
            account: "work".into(),
            ..dm("8")
        };
        assert_eq!(route(&bindings, &other), run("any", "telegram:dm:8"));
        let irc = Inbound {
            channel: "irc".into(),
            ..dm("7")
        };
        assert_eq!(route(&bindings, &irc), run("main", "irc:dm:7"));
    }

    #[test]
    fn irc_masks_and_per_group_allowlists() {
        let mut a = access(
            DmPolicy::Allowlist,
            &["alice!*@*.example.org"],
            GroupPolicy::Allowlist,
            &["bob!*@*"],
        );
        a.matcher = SenderMatch::IrcMask;
        let irc = |sender: &str, kind: ChatKind| Inbound {
            channel: "irc".into(),
            chat_id: if kind == ChatKind::Group {
                "#room".into()
            } else {
                "alice".into()
            },
            chat_kind: kind,
            mentioned: true,
            ..dm(sender)
        };
        let alice = "Alice!~a@host.example.org";
        assert_eq!(
            decide(&a, &[], &irc(alice, ChatKind::Direct), false, true),
            run("main", &format!("irc:dm:{alice}"))
        );
        assert_eq!(
            decide(
                &a,
                &[],
                &irc("alice!~a@evil.net", ChatKind::Direct),
                false,
                true
            ),
            Decision::Ignore("sender not in allowFrom")
        );
        // groupAllowFrom admits bob; the group's own list replaces it
        assert!(matches!(
            decide(&a, &[], &irc("bob!b@h", ChatKind::Group), false, true),
            Decision::Run { .. }
        ));
        let own = vec!["carol!*@*".to_string()];
        assert_eq!(
            decide_with(
                &a,
                &[],
                &irc("bob!b@h", ChatKind::Group),
                false,
                true,
                Some(&own)
            ),
            Decision::Ignore("sender not in groupAllowFrom")
        );
        assert!(matches!(
            decide_with(
                &a,
                &[],
                &irc("carol!c@h", ChatKind::Group),
                false,
                true,
                Some(&own)
            ),
            Decision::Run { .. }
        ));
        // exact matching (Telegram, Matrix) is not a glob
        assert!(!SenderMatch::Exact.matches("@a*:hs", "@ab:hs"));
        assert!(SenderMatch::Exact.matches("*", "@ab:hs"));
    }
}
