//! The request body (RFC 9112 §6-§7): exactly Content-Length bytes, or
//! chunks until the last one and its trailer, held whole up to
//! `limits::HTTP_MAX_BODY`.
//!
//! The connection's input buffer is read through [`Input`]: bytes that
//! arrived with the head are used first, then one `read()` at a time, so
//! the bytes after the body (the next pipelined request) stay in the buffer.

use std::io::{self, Read};

use super::head::{field, reject, Reject};
use super::response::Status;
use super::Wire;
use crate::limits::{HTTP_MAX_BODY, HTTP_MAX_FIELDS, HTTP_MAX_HEADER_SECTION};
use crate::server::Conn;

/// Why a body (or a head) could not be read whole.
pub enum Stop {
    /// The request is refused: answer this, then close.
    Refuse(Reject),
    /// The client closed its side before the message was complete.
    Closed,
    /// A call failed (the trace has it).
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Stop {
        Stop::Io(e)
    }
}

/// The connection's input: `read()` fills it, requests are parsed in it.
pub struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    max: usize,
}

impl Input {
    /// An empty buffer that starts at `first` bytes and may grow to `max`.
    pub fn new(first: usize, max: usize) -> Input {
        Input { buf: vec![0; first.min(max)], start: 0, end: 0, max }
    }

    /// The bytes read and not yet used.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks the first `n` bytes of [`Input::data`] used.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
    }

    /// One `read()` into the free space, after moving the unused bytes to
    /// the front, and doubling the buffer (up to its most) if they fill it.
    /// `Ok(0)` at end of file. The callers' limits keep what is unused
    /// smaller than the largest buffer; if it were not, this would be an
    /// error, not a bigger buffer.
    pub fn fill(&mut self, conn: &mut Conn<'_>) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= self.max {
                return Err(io::Error::other("input buffer full"));
            }
            self.buf.resize((self.buf.len() * 2).min(self.max), 0);
        }
        let n = conn.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Fills until at least `n` bytes are unused; `Closed` at end of file.
    fn want(&mut self, conn: &mut Conn<'_>, n: usize) -> Result<(), Stop> {
        while self.data().len() < n {
            if self.fill(conn)? == 0 {
                return Err(Stop::Closed);
            }
        }
        Ok(())
    }

    /// Moves the next `n` bytes of the stream into `out`.
    fn take(&mut self, conn: &mut Conn<'_>, mut n: usize, out: &mut Vec<u8>) -> Result<(), Stop> {
        loop {
            let here = n.min(self.data().len());
            out.extend_from_slice(&self.data()[..here]);
            self.consume(here);
            n -= here;
            if n == 0 {
                return Ok(());
            }
            self.want(conn, 1)?;
        }
    }

    /// Reads one CRLF-terminated line of at most `max` bytes; returns its
    /// length without the CRLF, which stays unconsumed for the caller.
    fn line(&mut self, conn: &mut Conn<'_>, max: usize, too_long: Reject) -> Result<usize, Stop> {
        let mut seen = 0;
        loop {
            let data = self.data();
            if let Some(lf) = data[seen..].iter().position(|&b| b == b'\n') {
                let lf = seen + lf;
                // The limit holds however the line was cut into reads.
                if lf > max + 1 {
                    return Err(Stop::Refuse(too_long));
                }
                // RFC 9112 §2.2 (and §7.1): CRLF, never a bare LF.
                if lf == 0 || data[lf - 1] != b'\r' {
                    return Err(Stop::Refuse(reject(
                        Status::BadRequest,
                        "a line ends in LF without CR (RFC 9112 §2.2)",
                    )));
                }
                return Ok(lf - 1);
            }
            seen = data.len();
            if seen > max + 1 {
                return Err(Stop::Refuse(too_long));
            }
            self.want(conn, seen + 1)?;
        }
    }
}

/// Longest chunk-size line, extensions included (RFC 9112 §7.1.1 sets no
/// limit; a server must set one).
const MAX_CHUNK_LINE: usize = 4096;

/// Most bytes of chunk extensions in one body: they are read and thrown
/// away, so without a bound of their own a client could send gigabytes
/// per request while its body stays under the body limit.
const MAX_CHUNK_EXTENSIONS: usize = 16 * 1024;

/// Reads the body `head` announced into `wire.body`. With
/// `Expect: 100-continue` and nothing of the body sent yet, first tells
/// the client to go on (RFC 9110 §10.1.1), after any responses it is
/// owed; a body announced too large is refused without it.
pub fn read(
    wire: &mut Wire,
    conn: &mut Conn<'_>,
    length: Option<u64>,
    expect: bool,
) -> Result<(), Stop> {
    wire.body.clear();
    if length.is_some_and(|n| n > HTTP_MAX_BODY as u64) {
        return Err(Stop::Refuse(too_large()));
    }
    if expect && wire.input.data().is_empty() {
        wire.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        wire.flush(conn)?;
    }
    // The body is bulk input: a client that trickles it is cut by the
    // minimum input rate (`guard::min_rate`), as a slow reader is on output.
    let (floor, default) = match conn.limits() {
        l if l.min_rate_in > 0 => (l.min_rate_in, l.min_rate_in),
        l => (l.min_rate_out, 0),
    };
    conn.set_min_rate_in(floor);
    let result = match length {
        Some(n) => wire.input.take(conn, n as usize, &mut wire.body),
        None => chunked(&mut wire.input, conn, &mut wire.body),
    };
    conn.set_min_rate_in(default);
    result
}

fn too_large() -> Reject {
    reject(Status::ContentTooLarge, "the body is over 1 MiB")
}

/// The chunked coding (RFC 9112 §7.1): `size[;ext] CRLF data CRLF` until
/// size 0, then trailer fields and an empty line.
fn chunked(input: &mut Input, conn: &mut Conn<'_>, body: &mut Vec<u8>) -> Result<(), Stop> {
    let malformed = reject(Status::BadRequest, "a malformed chunk (RFC 9112 §7.1)");
    let too_much = reject(Status::BadRequest, "over 16 KiB of chunk extensions in one body");
    let mut extensions = 0;
    loop {
        let len = input.line(conn, MAX_CHUNK_LINE, malformed)?;
        let line = &input.data()[..len];
        let size = chunk_size(line).ok_or(Stop::Refuse(malformed))?;
        extensions += line.iter().skip_while(|b| b.is_ascii_hexdigit()).count();
        if extensions > MAX_CHUNK_EXTENSIONS {
            return Err(Stop::Refuse(too_much));
        }
        input.consume(len + 2);
        if size == 0 {
            return trailer(input, conn);
        }
        if size > (HTTP_MAX_BODY - body.len()) as u64 {
            return Err(Stop::Refuse(too_large()));
        }
        input.take(conn, size as usize, body)?;
        input.want(conn, 2)?;
        if &input.data()[..2] != b"\r\n" {
            return Err(Stop::Refuse(malformed));
        }
        input.consume(2);
    }
}

/// `1*HEXDIG [ BWS ";" chunk-ext ]` (RFC 9112 §7.1, §7.1.1): the size, or
/// `None` if malformed or over 16 hex digits. Extensions are ignored, but
/// may hold no control characters.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return None;
    }
    let rest = &line[digits..];
    let ext = rest.iter().position(|&b| b != b' ' && b != b'\t').map(|at| &rest[at..]);
    match ext {
        None if rest.is_empty() => {}
        Some([b';', ext @ ..]) if ext.iter().all(|&b| b >= 0x20 && b != 0x7f || b == b'\t') => {}
        _ => return None,
    }
    let text = std::str::from_utf8(&line[..digits]).ok()?;
    u64::from_str_radix(text, 16).ok()
}

/// The trailer section after the last chunk (RFC 9112 §7.1.2): field
/// lines, checked as a head's are and bounded as one, then ignored.
fn trailer(input: &mut Input, conn: &mut Conn<'_>) -> Result<(), Stop> {
    let (mut fields, mut bytes) = (0, 0);
    let too_big = reject(
        Status::FieldsTooLarge,
        "the trailer section is over 16 KiB or 100 fields (RFC 6585 §5)",
    );
    loop {
        let len = input.line(conn, HTTP_MAX_HEADER_SECTION, too_big)?;
        if len == 0 {
            input.consume(2);
            return Ok(());
        }
        field(input.data(), 0..len).map_err(Stop::Refuse)?;
        input.consume(len + 2);
        (fields, bytes) = (fields + 1, bytes + len + 2);
        if fields > HTTP_MAX_FIELDS || bytes > HTTP_MAX_HEADER_SECTION {
            return Err(Stop::Refuse(too_big));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b"A;name=value"), Some(10));
        assert_eq!(chunk_size(b"A ; name"), Some(10));
        assert_eq!(chunk_size(b"ffffffffffffffff"), Some(u64::MAX));
        for bad in
            [&b""[..], b"x", b"-1", b"+1", b"0x1", b"1 2", b"12345678901234567", b"1;\x00", b" 1"]
        {
            assert_eq!(chunk_size(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
