//! Splitting outgoing text into IRC lines that fit the 512-byte limit.
//!
//! The limit applies to the line as other clients receive it, which the
//! server prefixes with our `:nick!user@host `. So the budget for the text is
//! 512 − CR LF − that prefix − `PRIVMSG <target> :`.

/// The longest host part we assume while our real one is unknown (the
/// DNS name limit is 255, but IRC servers cap hosts at 63).
pub const ASSUMED_HOST_LEN: usize = 63;

/// Bytes of text that fit in one `PRIVMSG target :text` line relayed with the
/// prefix `:nick!user@host `.
pub fn privmsg_budget(
    command: &str,
    nick: &str,
    user: &str,
    host_len: usize,
    target: &str,
) -> usize {
    let prefix = 1 + nick.len() + 1 + user.len() + 1 + host_len + 1;
    let fixed = prefix + command.len() + 1 + target.len() + 2 + 2;
    512usize.saturating_sub(fixed).max(16)
}

/// Splits `text` into pieces of at most `budget` bytes each: first at line
/// breaks, then at the last whitespace that leaves a piece at least half
/// full, else at the last UTF-8 character boundary. Empty lines are dropped;
/// no piece is empty.
pub fn split_text(text: &str, budget: usize) -> Vec<String> {
    let budget = budget.max(4);
    let mut out = Vec::new();
    for line in text.split(['\n', '\r']) {
        let mut rest = line.trim_end();
        while !rest.is_empty() {
            if rest.len() <= budget {
                out.push(rest.to_string());
                break;
            }
            let mut cut = budget;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if let Some(ws) = rest[..cut].rfind(char::is_whitespace)
                && ws >= budget / 2
            {
                cut = ws;
            }
            let piece = rest[..cut].trim_end();
            if !piece.is_empty() {
                out.push(piece.to_string());
            }
            rest = rest[cut..].trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_counts_prefix_command_target_and_crlf() {
        // ":bot!u@hhh PRIVMSG #r :" is 1+3+1+1+1+3+1 + 7+1+2+2 = 23, + CRLF = 25
        assert_eq!(privmsg_budget("PRIVMSG", "bot", "u", 3, "#r"), 512 - 25);
        let text = "x".repeat(2000);
        let b = privmsg_budget("PRIVMSG", "bot", "u", 3, "#r");
        for piece in split_text(&text, b) {
            let line = format!(":bot!u@hhh PRIVMSG #r :{piece}\r\n");
            assert!(line.len() <= 512, "{}", line.len());
        }
    }

    #[test]
    fn splits_on_utf8_boundaries_and_keeps_every_character() {
        let text = "é€😀".repeat(100); // 2+3+4 bytes each
        let pieces = split_text(&text, 50);
        assert!(pieces.len() > 1);
        for p in &pieces {
            assert!(p.len() <= 50);
        }
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn prefers_whitespace_and_splits_lines() {
        let pieces = split_text("hello world again\n\nsecond line", 12);
        assert_eq!(pieces, vec!["hello world", "again", "second line"]);
        // a word longer than the budget is cut hard
        assert_eq!(split_text("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert!(split_text("\n \n", 10).is_empty());
    }
}
