//! Property tests of the IRC parsing the channel relies on: server lines
//! (`proto::Message::parse`, `inbound::classify`, CTCP, mentions),
//! allowlist masks (`inbound::mask_matches`), outbound line building
//! (`proto::format`, `split::split_text`) and reading lines off the wire
//! (`lines::read_line_capped`). No input panics, loops or grows without
//! bound; what goes out is one line within IRC's 512 bytes.

use openclaw_irc::inbound::{classify, mask_matches, mentions, parse_ctcp};
use openclaw_irc::lines::{MAX_LINE, read_line_capped};
use openclaw_irc::proto::{Message, Prefix, format, irc_eq, irc_lower, sanitize};
use openclaw_irc::split::{privmsg_budget, split_text};
use proptest::prelude::*;

/// Text made of the characters IRC syntax gives meaning to, plus any.
fn irc_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            6 => prop::sample::select(vec![
                ":", " ", "!", "@", "#", "&", "+", "\u{1}", "\r", "\n", "\0", "*", "?", "[", "]",
                "\\", "~", "{", "}", "|", "^", "PRIVMSG", "NOTICE", "ACTION", "VERSION", "bot",
                "Bot", "alice", "~a", "host.example", "@time=1;x=y ", "é", "😀", "\u{301}",
            ]).prop_map(String::from),
            2 => any::<char>().prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

fn nick() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["bot", "Bot", "[bot]", "{bot}", "b", "", "é", "a-b"])
            .prop_map(String::from),
        "[a-zA-Z\\[\\]\\\\`_^{|}-]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn server_lines_parse_or_are_skipped(line in irc_text(), own in nick()) {
        if let Some(m) = Message::parse(&line) {
            prop_assert!(!m.command.is_empty());
            if let Some(i) = classify(&m, &own) {
                prop_assert!(!i.nick.is_empty());
                prop_assert!(!irc_eq(&i.nick, &own), "our own echo classified");
                prop_assert!(i.mentioned || !i.is_dm);
                let _ = i.sender_mask();
                let _ = i.reply_target();
            }
        }
        let _ = Prefix::parse(&line).mask();
        let _ = parse_ctcp(&line);
        let _ = mentions(&line, &own);
    }

    #[test]
    fn privmsg_lines_round_trip_through_format(target in "[#&]?[a-z]{1,8}", text in irc_text()) {
        // What we send is one line: no CR, LF or NUL survives formatting.
        let line = format("PRIVMSG", &[&target, &text]);
        prop_assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
        let m = Message::parse(&format!(":alice!~a@h {line}")).unwrap();
        let clean = sanitize(&text);
        prop_assert_eq!(m.command.as_str(), "PRIVMSG");
        prop_assert_eq!(m.param(0), target.as_str());
        prop_assert_eq!(m.param(1), clean.as_str());
    }

    #[test]
    fn masks_match_without_blowing_up(pattern in irc_text(), who in irc_text()) {
        let _ = mask_matches(&pattern, &who);
        // A run of stars is one star.
        let many = format!("{}a{}b", "*".repeat(50), "*".repeat(50));
        let long = "x".repeat(2000);
        let sender = format!("{long}!u@{long}");
        prop_assert!(!mask_matches(&many, &sender));
        prop_assert!(mask_matches("*", &who));
        prop_assert_eq!(irc_lower(&irc_lower(&who)), irc_lower(&who));
    }

    #[test]
    fn split_pieces_fit_and_keep_the_text(text in irc_text(), budget in 0usize..600) {
        let pieces = split_text(&text, budget);
        let b = budget.max(4);
        for p in &pieces {
            prop_assert!(!p.is_empty());
            prop_assert!(p.len() <= b, "{} bytes > {b}", p.len());
            prop_assert!(!p.contains(['\r', '\n']));
        }
        // Nothing but whitespace is lost.
        let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        prop_assert_eq!(squash(&pieces.concat()), squash(&text));
    }

    #[test]
    fn a_budgeted_line_fits_512_bytes(nick in "[a-z]{1,30}", user in "[a-z~]{1,12}", target in "#[a-z]{1,50}", text in irc_text()) {
        let b = privmsg_budget("PRIVMSG", &nick, &user, 63, &target);
        let host = "h".repeat(63);
        for piece in split_text(&sanitize(&text), b) {
            let line = format!(":{nick}!{user}@{host} PRIVMSG {target} :{piece}\r\n");
            prop_assert!(line.len() <= 512, "{}", line.len());
        }
    }

    #[test]
    fn wire_lines_are_bounded(chunks in prop::collection::vec(
        prop_oneof![
            Just(vec![b'\n']),
            Just(b"\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..64),
            (0usize..30_000).prop_map(|n| vec![b'x'; n]),
        ],
        0..12,
    )) {
        let input: Vec<u8> = chunks.concat();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut r = tokio::io::BufReader::with_capacity(4096, &input[..]);
            let mut buf = Vec::new();
            let mut total = 0;
            loop {
                let n = read_line_capped(&mut r, &mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                assert!(buf.len() <= MAX_LINE);
                assert!(n <= input.len() - total);
                total += n;
                let _ = Message::parse(&String::from_utf8_lossy(&buf));
            }
            assert_eq!(total, input.len(), "every byte consumed");
        });
    }
}

/// Regression: a server line with no newline made the reader's buffer
/// grow with every byte (`read_until` has no limit).
#[test]
fn an_endless_line_does_not_grow_the_buffer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let endless = vec![b'a'; 5_000_000];
        let mut r = tokio::io::BufReader::new(&endless[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf).await.unwrap(), 5_000_000);
        assert_eq!(buf.len(), MAX_LINE);
    });
}
