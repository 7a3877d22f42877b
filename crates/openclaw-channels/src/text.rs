//! Reply text: splitting at a length limit, and Markdown → Telegram HTML.
//!
//! [`chunk`] splits on paragraph boundaries, then line boundaries, then
//! spaces; a fenced code block stays in one piece when it fits, and when it
//! does not, each piece is closed and reopened with the same fence so every
//! chunk renders on its own. [`to_telegram_html`] covers what models write
//! (fences, inline code, bold, italic, strike, links, headings) and escapes
//! everything else; when Telegram still refuses the entities the sender
//! gets the plain text (the caller retries without `parse_mode`).

/// Splits `text` into pieces of at most `limit` characters.
pub fn chunk(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(16);
    let text = text.trim_end();
    if text.chars().count() <= limit {
        return if text.trim().is_empty() {
            Vec::new()
        } else {
            vec![text.to_string()]
        };
    }
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let push_piece = |out: &mut Vec<String>, cur: &mut String, piece: &str, sep: &str| {
        let need = cur.chars().count() + sep.len() + piece.chars().count();
        if cur.is_empty() {
            cur.push_str(piece);
        } else if need <= limit {
            cur.push_str(sep);
            cur.push_str(piece);
        } else {
            out.push(std::mem::take(cur));
            cur.push_str(piece);
        }
    };
    for block in blocks(text) {
        if block.chars().count() <= limit {
            push_piece(&mut out, &mut cur, &block, "\n\n");
            continue;
        }
        // Too long for one message: split it by lines (re-fencing code).
        if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        // Re-fenced pieces carry the fence line and a closing fence: only
        // when that leaves room for content (a fence line as long as the
        // limit made every piece too long; found by tests/fuzz.rs).
        let fence = block
            .lines()
            .next()
            .filter(|l| l.trim_start().starts_with("```"))
            .filter(|l| l.chars().count() + 5 + 8 <= limit)
            .map(str::to_string);
        let (body, inner_limit) = match &fence {
            Some(f) => {
                let inner: Vec<&str> = block.lines().collect();
                let end =
                    if inner.len() > 1 && inner[inner.len() - 1].trim_start().starts_with("```") {
                        inner.len() - 1
                    } else {
                        inner.len()
                    };
                (
                    inner[1..end].join("\n"),
                    limit.saturating_sub(f.chars().count() + 5),
                )
            }
            None => (block.clone(), limit),
        };
        let mut piece = String::new();
        let mut pieces = Vec::new();
        for line in body.split('\n') {
            for part in split_long(line, inner_limit) {
                let need = piece.chars().count() + 1 + part.chars().count();
                if piece.is_empty() && pieces.is_empty() && need <= inner_limit + 1 {
                    piece.push_str(&part);
                } else if need <= inner_limit {
                    piece.push('\n');
                    piece.push_str(&part);
                } else {
                    pieces.push(std::mem::take(&mut piece));
                    piece.push_str(&part);
                }
            }
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
        for p in pieces {
            out.push(match &fence {
                Some(f) => format!("{f}\n{p}\n```"),
                None => p,
            });
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|c| !c.trim().is_empty());
    out
}

/// A line longer than `limit`, split at spaces when possible.
fn split_long(line: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest: Vec<char> = line.chars().collect();
    while rest.len() > limit {
        let cut = rest[..limit]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|p| *p > limit / 2)
            .unwrap_or(limit);
        out.push(rest[..cut].iter().collect());
        let skip = if rest.get(cut) == Some(&' ') { 1 } else { 0 };
        rest = rest[cut + skip..].to_vec();
    }
    out.push(rest.into_iter().collect());
    out
}

/// Paragraphs (separated by blank lines) and whole fenced code blocks.
fn blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut in_code = false;
    for line in text.split('\n') {
        let fence = line.trim_start().starts_with("```");
        if in_code {
            cur.push(line);
            if fence {
                in_code = false;
                out.push(cur.join("\n"));
                cur.clear();
            }
        } else if fence {
            if !cur.is_empty() {
                out.push(cur.join("\n"));
                cur.clear();
            }
            in_code = true;
            cur.push(line);
        } else if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(cur.join("\n"));
                cur.clear();
            }
        } else {
            cur.push(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur.join("\n"));
    }
    out
}

/// Escapes `& < >` for Telegram's HTML parse mode.
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

/// Markdown as models write it → Telegram HTML.
pub fn to_telegram_html(md: &str) -> String {
    let mut out = String::new();
    let mut lines = md.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        if !first {
            out.push('\n');
        }
        first = false;
        let t = line.trim_start();
        if let Some(lang) = t.strip_prefix("```") {
            let mut code = Vec::new();
            for l in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                code.push(l);
            }
            let lang = lang.trim();
            let body = escape_html(&code.join("\n"));
            if lang.is_empty()
                || !lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_#".contains(c))
            {
                out.push_str(&format!("<pre>{body}</pre>"));
            } else {
                out.push_str(&format!(
                    "<pre><code class=\"language-{lang}\">{body}</code></pre>"
                ));
            }
            continue;
        }
        let heading = t.trim_start_matches('#');
        if t.starts_with('#') && heading.starts_with(' ') {
            out.push_str(&format!("<b>{}</b>", inline(heading.trim())));
        } else {
            out.push_str(&inline(line));
        }
    }
    out
}

/// Inline spans: `code`, **bold**, __bold__, *italic*, _italic_, ~~strike~~,
/// [text](url).
fn inline(s: &str) -> String {
    let c: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..c.len().saturating_sub(pat.len() - 1)).find(|&j| c[j..j + pat.len()] == *pat)
    };
    while i < c.len() {
        let ch = c[i];
        if ch == '`'
            && let Some(end) = find(i + 1, &['`'])
        {
            let code: String = c[i + 1..end].iter().collect();
            out.push_str(&format!("<code>{}</code>", escape_html(&code)));
            i = end + 1;
            continue;
        }
        for (pat, tag) in [
            (&['*', '*'][..], "b"),
            (&['_', '_'][..], "b"),
            (&['~', '~'][..], "s"),
        ] {
            if c[i..].starts_with(pat)
                && let Some(end) = find(i + 2, pat)
                && end > i + 2
            {
                let inner: String = c[i + 2..end].iter().collect();
                out.push_str(&format!("<{tag}>{}</{tag}>", inline(&inner)));
                i = end + 2;
                break;
            }
        }
        if i >= c.len() || c[i] != ch {
            continue;
        }
        if (ch == '*' || ch == '_')
            && c.get(i + 1).is_some_and(|n| !n.is_whitespace())
            && (i == 0 || !c[i - 1].is_alphanumeric())
            && let Some(end) = find(i + 1, &[ch])
            && end > i + 1
            && !c[end - 1].is_whitespace()
            && c.get(end + 1).is_none_or(|n| !n.is_alphanumeric())
        {
            let inner: String = c[i + 1..end].iter().collect();
            out.push_str(&format!("<i>{}</i>", inline(&inner)));
            i = end + 1;
            continue;
        }
        if ch == '['
            && let Some(mid) = find(i + 1, &[']', '('])
            && let Some(end) = find(mid + 2, &[')'])
        {
            let label: String = c[i + 1..mid].iter().collect();
            let url: String = c[mid + 2..end].iter().collect();
            if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("tg://")
            {
                out.push_str(&format!(
                    "<a href=\"{}\">{}</a>",
                    escape_html(&url),
                    inline(&label)
                ));
                i = end + 1;
                continue;
            }
        }
        out.push_str(&escape_html(&ch.to_string()));
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(chunk("hello", 4000), vec!["hello"]);
        assert!(chunk("  \n", 4000).is_empty());
    }

    #[test]
    fn splits_on_paragraphs_then_lines_within_the_limit() {
        let para = |n: usize| "x".repeat(n);
        let text = format!("{}\n\n{}\n\n{}", para(30), para(30), para(30));
        let c = chunk(&text, 70);
        assert_eq!(c, vec![format!("{}\n\n{}", para(30), para(30)), para(30)]);
        let lines = (0..10)
            .map(|i| format!("line {i} ...."))
            .collect::<Vec<_>>()
            .join("\n");
        for piece in chunk(&lines, 40) {
            assert!(piece.chars().count() <= 40, "{piece:?}");
            assert!(!piece.starts_with('\n') && !piece.ends_with('\n'));
        }
        let long = "word ".repeat(100);
        let c = chunk(&long, 64);
        assert!(c.iter().all(|p| p.chars().count() <= 64));
        assert_eq!(c.join(" ").split_whitespace().count(), 100);
    }

    #[test]
    fn code_blocks_stay_whole_or_are_refenced() {
        let code = "```rust\nfn a() {}\nfn b() {}\n```";
        let text = format!("{}\n\n{code}\n\nafter", "p".repeat(50));
        let c = chunk(&text, 60);
        assert!(c.iter().any(|p| p.contains(code)), "{c:?}");
        let big = format!(
            "```py\n{}\n```",
            (0..40)
                .map(|i| format!("print({i})"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let c = chunk(&big, 100);
        assert!(c.len() > 1);
        for p in &c {
            assert!(p.starts_with("```py\n") && p.ends_with("\n```"), "{p:?}");
            assert!(p.chars().count() <= 100, "{}", p.len());
        }
        let all: Vec<String> = c
            .iter()
            .flat_map(|p| {
                p.lines()
                    .filter(|l| !l.starts_with("```"))
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(all.len(), 40);
    }

    #[test]
    fn markdown_to_html() {
        assert_eq!(to_telegram_html("a < b & c"), "a &lt; b &amp; c");
        assert_eq!(
            to_telegram_html("**bold** and *it* and `x<y`"),
            "<b>bold</b> and <i>it</i> and <code>x&lt;y</code>"
        );
        assert_eq!(
            to_telegram_html("~~no~~ [site](https://e.com/?a=1&b=2)"),
            "<s>no</s> <a href=\"https://e.com/?a=1&amp;b=2\">site</a>"
        );
        assert_eq!(to_telegram_html("# Title\ntext"), "<b>Title</b>\ntext");
        assert_eq!(
            to_telegram_html("```rust\nlet a = 1 < 2;\n```\nend"),
            "<pre><code class=\"language-rust\">let a = 1 &lt; 2;</code></pre>\nend"
        );
        assert_eq!(
            to_telegram_html("snake_case_name and 2*3*4"),
            "snake_case_name and 2*3*4"
        );
        assert_eq!(
            to_telegram_html("[x](javascript:alert)"),
            "[x](javascript:alert)"
        );
    }

    /// Regression (tests/fuzz.rs): a fence line nearly as long as the limit
    /// made every re-fenced piece longer than the limit.
    #[test]
    fn a_long_fence_line_is_not_repeated_past_the_limit() {
        let text = format!("```{}\n{}\n```", "x".repeat(60), "code ".repeat(40));
        for limit in [16, 40, 70, 100] {
            for c in chunk(&text, limit) {
                assert!(c.chars().count() <= limit, "{limit}: {c:?}");
            }
        }
        // A short fence is still repeated in every piece.
        let text = format!("```rust\n{}\n```", "let x = 1;\n".repeat(30));
        let pieces = chunk(&text, 60);
        assert!(pieces.len() > 1);
        assert!(
            pieces
                .iter()
                .all(|p| p.starts_with("```rust\n") && p.ends_with("\n```"))
        );
    }
}
