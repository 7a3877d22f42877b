//! Reading the server's lines with a length limit.
//!
//! `read_until(b'\n')` keeps reading until a newline: a server (or anyone
//! on a plain-text connection) that never sends one makes the buffer grow
//! without bound (found by `tests/fuzz.rs`). IRC lines are at most 512
//! bytes, 8191 more with IRCv3 message tags; a longer line is cut at
//! [`MAX_LINE`] and the rest of it, up to its newline, is dropped.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest line kept: the IRCv3 tag limit (8191) plus the 512-byte line.
pub const MAX_LINE: usize = 8191 + 512;

/// Reads one line (up to and including `\n`) into `buf`, which is cleared
/// first and never holds more than [`MAX_LINE`] bytes; the excess of a
/// longer line is skipped. Returns the bytes consumed from the stream (0 at
/// end of stream), like `read_until`.
pub async fn read_line_capped<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    buf.clear();
    let mut consumed = 0;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr_newline(available) {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&available[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|c| *c == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_cut_and_the_next_line_is_intact() {
        let mut input = vec![b'x'; 1_000_000];
        input.extend_from_slice(b"\r\n:srv PING :tok\r\n");
        let mut r = tokio::io::BufReader::new(&input[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut buf).await.unwrap(), 1_000_002);
        assert_eq!(buf.len(), MAX_LINE);
        assert_eq!(read_line_capped(&mut r, &mut buf).await.unwrap(), 16);
        assert_eq!(buf, b":srv PING :tok\r\n");
        assert_eq!(read_line_capped(&mut r, &mut buf).await.unwrap(), 0);
        assert!(buf.is_empty());
    }
}
