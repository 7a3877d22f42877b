//! A nesting limit in front of the JSON5 parser.
//!
//! The json5 crate parses recursively with no depth limit, and the checks
//! after it (the position scanner, serde, dropping the `Value`) recurse as
//! well: text nested some ten thousand levels deep overflowed the stack and
//! aborted the process (found by `tests/fuzz.rs`). No config is nested more
//! than a dozen levels, so text nested deeper than [`MAX_DEPTH`] is refused
//! before it reaches the parser, with the position of the bracket that went
//! too deep.

/// Deepest nesting of `{` / `[` accepted (serde_json's default limit).
pub const MAX_DEPTH: usize = 128;

/// `Err((line, column))` (1-based, columns in characters) of the first
/// bracket nested deeper than [`MAX_DEPTH`]; brackets inside strings and
/// comments do not count. Never fails on text within the limit, whatever
/// else is wrong with it (that is the parser's to report).
pub fn check_depth(text: &str) -> Result<(), (usize, usize)> {
    #[derive(PartialEq)]
    enum St {
        Code,
        Str(char),
        StrEscape(char),
        LineComment,
        BlockComment,
    }
    let mut st = St::Code;
    let mut depth = 0usize;
    let (mut line, mut col) = (1usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        match st {
            St::Code => match c {
                '"' | '\'' => st = St::Str(c),
                '/' if chars.peek() == Some(&'/') => st = St::LineComment,
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    col += 1;
                    st = St::BlockComment;
                }
                '{' | '[' => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err((line, col));
                    }
                }
                '}' | ']' => depth = depth.saturating_sub(1),
                _ => {}
            },
            St::Str(q) => match c {
                '\\' => st = St::StrEscape(q),
                c if c == q => st = St::Code,
                _ => {}
            },
            St::StrEscape(q) => st = St::Str(q),
            St::LineComment => {
                if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
                    st = St::Code;
                }
            }
            St::BlockComment => {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    col += 1;
                    st = St::Code;
                }
            }
        }
        if c == '\n' {
            line += 1;
            col = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_outside_strings_and_comments() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(check_depth(&deep(MAX_DEPTH)), Ok(()));
        assert_eq!(check_depth(&deep(MAX_DEPTH + 1)), Err((1, MAX_DEPTH + 1)));
        let quoted = format!("{{a: \"{}\", b: '{}'}}", "[".repeat(500), "{".repeat(500));
        assert_eq!(check_depth(&quoted), Ok(()));
        let escaped = format!("{{a: \"\\\"{}\"}}", "[".repeat(500));
        assert_eq!(check_depth(&escaped), Ok(()));
        let commented = format!("// {}\n/* {} */ {{}}", "[".repeat(500), "{".repeat(500));
        assert_eq!(check_depth(&commented), Ok(()));
        let later = format!("{{\n  a: 1,\n  b: {}", "{".repeat(200));
        // `  b: ` then the 128th bracket of line 3 is the 129th level.
        assert_eq!(check_depth(&later), Err((3, 5 + MAX_DEPTH)));
    }
}
