//! Source positions of keys and values in JSON5 text.
//!
//! The json5 crate turns text into a `Value` but forgets where each value
//! was. This scanner walks the same (already syntax-checked) text and records,
//! for every key path, the 1-based line and column of its key and of its
//! value, so type errors and unknown-key warnings can point into the file.

use std::collections::HashMap;

use crate::path::PathSeg;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where a path's key and value start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The key (absent for the root and array elements).
    pub key: Option<Pos>,
    pub value: Pos,
}

/// Key path → positions. Later duplicates win, as they do in the parsed value.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    map: HashMap<Vec<PathSeg>, Span>,
}

impl Positions {
    /// Scans text. The text should already have parsed as JSON5; on
    /// malformed input the scanner stops early and keeps what it found.
    pub fn scan(text: &str) -> Positions {
        let mut s = Scanner {
            chars: text.chars().collect(),
            i: 0,
            line: 1,
            col: 1,
            out: Positions::default(),
        };
        let mut path = Vec::new();
        s.skip_ws();
        let _ = s.value(&mut path, None);
        s.out
    }

    /// The span of a path, or of its nearest ancestor that has one.
    pub fn nearest(&self, path: &[PathSeg]) -> Option<Span> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.map.get(&path[..n]).copied())
    }

    /// The exact span of a path.
    pub fn get(&self, path: &[PathSeg]) -> Option<Span> {
        self.map.get(path).copied()
    }
}

struct Scanner {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
    out: Positions,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        match c {
            '\r' if self.peek() == Some('\n') => {
                // CR LF counts as one line terminator; the LF advances.
                self.col += 1;
            }
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => {
                self.line += 1;
                self.col = 1;
            }
            _ => self.col += 1,
        }
        Some(c)
    }

    fn skip_ws(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                Some('/') => match self.chars.get(self.i + 1) {
                    Some('/') => {
                        while let Some(c) = self.peek() {
                            if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
                                break;
                            }
                            self.bump();
                        }
                    }
                    Some('*') => {
                        self.bump();
                        self.bump();
                        loop {
                            match self.bump() {
                                None => return,
                                Some('*') if self.peek() == Some('/') => {
                                    self.bump();
                                    break;
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => return,
                },
                _ => return,
            }
        }
    }

    /// Scans one value at the cursor (whitespace already skipped).
    fn value(&mut self, path: &mut Vec<PathSeg>, key: Option<Pos>) -> Option<()> {
        let value = self.pos();
        self.out.map.insert(path.clone(), Span { key, value });
        match self.peek()? {
            '{' => {
                self.bump();
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        '}' => {
                            self.bump();
                            return Some(());
                        }
                        ',' => {
                            self.bump();
                            continue;
                        }
                        _ => {}
                    }
                    let kpos = self.pos();
                    let start = self.i;
                    let k = self.key()?;
                    if self.i == start {
                        return None;
                    }
                    self.skip_ws();
                    if self.bump()? != ':' {
                        return None;
                    }
                    self.skip_ws();
                    path.push(PathSeg::Key(k));
                    let r = self.value(path, Some(kpos));
                    path.pop();
                    r?;
                }
            }
            '[' => {
                self.bump();
                let mut index = 0;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        ']' => {
                            self.bump();
                            return Some(());
                        }
                        ',' => {
                            self.bump();
                            continue;
                        }
                        _ => {}
                    }
                    path.push(PathSeg::Index(index));
                    let r = self.value(path, None);
                    path.pop();
                    r?;
                    index += 1;
                }
            }
            q @ ('"' | '\'') => {
                self.string(q)?;
                Some(())
            }
            _ => {
                // number, true/false/null, Infinity, NaN, hex...
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c.is_whitespace() || matches!(c, ',' | ']' | '}' | '/') {
                        break;
                    }
                    self.bump();
                }
                // malformed input: stop rather than loop without progress
                (self.i > start).then_some(())
            }
        }
    }

    fn key(&mut self) -> Option<String> {
        match self.peek()? {
            q @ ('"' | '\'') => self.string(q),
            _ => {
                let mut k = String::new();
                while let Some(c) = self.peek() {
                    if c == ':' || c.is_whitespace() || c == '/' {
                        break;
                    }
                    if c == '\\' {
                        self.bump();
                        k.push(self.unicode_escape()?);
                        continue;
                    }
                    k.push(c);
                    self.bump();
                }
                Some(k)
            }
        }
    }

    /// `\u` already consumed up to the backslash; reads `uXXXX`.
    fn unicode_escape(&mut self) -> Option<char> {
        if self.bump()? != 'u' {
            return None;
        }
        let mut code = 0u32;
        for _ in 0..4 {
            code = code * 16 + self.bump()?.to_digit(16)?;
        }
        if (0xD800..0xDC00).contains(&code) && self.peek() == Some('\\') {
            // surrogate pair
            let save = (self.i, self.line, self.col);
            self.bump();
            if let Some(lo) = self.unicode_escape_raw()
                && (0xDC00..0xE000).contains(&lo)
            {
                let c = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00);
                return char::from_u32(c);
            }
            (self.i, self.line, self.col) = save;
        }
        Some(char::from_u32(code).unwrap_or('\u{fffd}'))
    }

    fn unicode_escape_raw(&mut self) -> Option<u32> {
        if self.bump()? != 'u' {
            return None;
        }
        let mut code = 0u32;
        for _ in 0..4 {
            code = code * 16 + self.bump()?.to_digit(16)?;
        }
        Some(code)
    }

    /// Reads a quoted string (cursor on the opening quote) and decodes it.
    fn string(&mut self, q: char) -> Option<String> {
        self.bump();
        let mut s = String::new();
        loop {
            let c = self.bump()?;
            if c == q {
                return Some(s);
            }
            if c != '\\' {
                s.push(c);
                continue;
            }
            match self.peek()? {
                'u' => s.push(self.unicode_escape()?),
                'x' => {
                    self.bump();
                    let hi = self.bump()?.to_digit(16)?;
                    let lo = self.bump()?.to_digit(16)?;
                    s.push(char::from_u32(hi * 16 + lo)?);
                }
                '\r' => {
                    self.bump();
                    if self.peek() == Some('\n') {
                        self.bump();
                    }
                }
                '\n' | '\u{2028}' | '\u{2029}' => {
                    self.bump();
                }
                e => {
                    self.bump();
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'v' => '\u{b}',
                        '0' => '\0',
                        other => other,
                    });
                }
            }
        }
    }
}
