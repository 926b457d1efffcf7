//! Whole messages out of the frame stream (RFC 6455 §5), one per call, for
//! the services that do something other than echo them (`chat`,
//! `socketio`).
//!
//! What it does: [`Reader::next`] reads until a message, a ping, a pong or
//! a close is complete, checks it by the same header rules as the echo
//! loop (`frame::head_is_valid`), and returns it; a broken rule comes back
//! as the status code to fail the connection with (RFC 6455 §7.1.7).
//! What it does not: write. The caller answers pings and closes itself,
//! because in a room other threads write to the same socket and every
//! frame must go out whole, under the member's lock (`service::fanout`).
//!
//! Unlike the echo loop, it pulls: the state lives in the reader, not on
//! the stack, so a `read()` that fails on a deadline (the heartbeat is due)
//! loses nothing, and the next call goes on where it stopped.
//!
//! Memory is bounded up front: a frame is held whole before it is looked
//! at, so the input buffer grows to at most `max` + 14 bytes, and a
//! fragmented message to at most `max` bytes; a length over `max` is
//! refused from the header alone (1009), before its payload is read.

use std::io::{self, ErrorKind, Read};
use std::ops::Range;

use super::frame::{
    extended_len, head_is_valid, payload_len, unmask, valid_close_code, BINARY, CLOSE,
    CONTINUATION, INVALID_DATA, MAX_CLIENT_HEAD, NO_STATUS, PING, PONG, PROTOCOL_ERROR, TEXT,
    TOO_BIG,
};

/// The input buffer a reader starts with; it grows (to `max` + 14) only
/// for a frame that does not fit.
const FIRST_BUF: usize = 4 * 1024;

/// What [`Reader::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole text message, checked to be UTF-8 (RFC 6455 §8.1).
    Text(&'a str),
    /// A whole binary message.
    Binary(&'a [u8]),
    /// A ping and its payload, which the pong must carry (§5.5.2).
    Ping(&'a [u8]),
    /// A pong (§5.5.3).
    Pong,
    /// A close frame, well formed (§5.5.1): its status code, or 1005 when
    /// it had none (§7.4.1). The caller answers it and stops reading.
    Close(u16),
    /// The client closed the TCP connection (a FIN, or the server's own
    /// `shutdown(SHUT_RD)`), maybe in the middle of a frame.
    End,
}

/// Why [`Reader::next`] returned no message.
#[derive(Debug)]
pub enum Failure {
    /// `read()` failed (a deadline, a reset); the reader can be called
    /// again after a timeout.
    Io(io::Error),
    /// The client broke a rule: fail the connection with this close code
    /// (1002, 1007 or 1009) and reason.
    Broke(u16, &'static str),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// A frame found whole in the buffer, as ranges (so that the search loop
/// does not hold a borrow of the buffer).
enum Found {
    Data(u8, Range<usize>),
    Message(u8),
    Ping(Range<usize>),
    Pong,
    Close(u16),
}

/// Reads messages from a client's frame stream; see the module docs.
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of the last frame returned, dropped at the next call (its
    /// payload is what the caller was lent).
    lent: usize,
    /// Bytes a frame needs before it can be parsed, once known.
    need: usize,
    /// The fragments of the open message, and its opcode (RFC 6455 §5.4).
    message: Vec<u8>,
    open: Option<u8>,
    max: usize,
}

impl Reader {
    /// A reader whose first bytes are `leftover` (what came in behind the
    /// handshake) and which refuses any message over `max` bytes.
    pub fn new(leftover: &[u8], max: usize) -> Reader {
        let mut buf = vec![0; FIRST_BUF.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(leftover);
        Reader {
            buf,
            start: 0,
            end: leftover.len(),
            lent: 0,
            need: 2,
            message: Vec::new(),
            open: None,
            max,
        }
    }

    /// Reads from `io` until the next message, ping, pong or close; see
    /// [`Incoming`] and [`Failure`].
    pub fn next<R: Read>(&mut self, io: &mut R) -> Result<Incoming<'_>, Failure> {
        self.start += std::mem::take(&mut self.lent);
        // A message gathered from fragments was lent last time.
        if self.open.is_none() {
            self.message.clear();
        }
        let found = loop {
            if let Some(found) = self.parse()? {
                break found;
            }
            self.make_room();
            let n = match io.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Incoming::End),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::Io(e)),
            };
            self.end += n;
        };
        Ok(match found {
            Found::Data(TEXT, r) => Incoming::Text(text(&self.buf[r])?),
            Found::Data(_, r) => Incoming::Binary(&self.buf[r]),
            Found::Message(TEXT) => Incoming::Text(text(&self.message)?),
            Found::Message(_) => Incoming::Binary(&self.message),
            Found::Ping(r) => Incoming::Ping(&self.buf[r]),
            Found::Pong => Incoming::Pong,
            Found::Close(code) => Incoming::Close(code),
        })
    }

    /// Finds the next whole frame in the buffer and handles it; `None`
    /// when more input is needed first. Fragments are gathered here.
    fn parse(&mut self) -> Result<Option<Found>, Failure> {
        loop {
            let data = &self.buf[self.start..self.end];
            if data.len() < 2 {
                self.need = 2;
                return Ok(None);
            }
            let (b0, b1) = (data[0], data[1]);
            // RFC 6455 §5.1, §5.2, §5.4, §5.5: the same rules as the echo.
            if !head_is_valid(b0, b1, self.open.is_some()) {
                return Err(Failure::Broke(PROTOCOL_ERROR, "frame header breaks RFC 6455 §5"));
            }
            let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
            let head = 2 + extended_len(b1) + 4;
            if data.len() < head {
                self.need = head;
                return Ok(None);
            }
            let len = payload_len(data);
            // RFC 6455 §5.2: the most significant bit of a 64-bit length is
            // 0 (as the echo checks); past it, the sum below could overflow.
            if len >> 63 != 0 {
                return Err(Failure::Broke(
                    PROTOCOL_ERROR,
                    "a 64-bit length with its top bit set (RFC 6455 §5.2)",
                ));
            }
            // RFC 6455 §7.4.1 (1009), judged on the header alone; control
            // frames are at most 125 bytes, which `head_is_valid` checked.
            if opcode < CLOSE && self.message.len() as u64 + len > self.max as u64 {
                return Err(Failure::Broke(TOO_BIG, "message over the size limit"));
            }
            // Within `max`, so it fits a usize.
            let total = head + len as usize;
            if data.len() < total {
                self.need = total;
                return Ok(None);
            }
            let mask = [data[head - 4], data[head - 3], data[head - 2], data[head - 1]];
            let payload = self.start + head..self.start + total;
            unmask(&mut self.buf[payload.clone()], mask, 0);
            self.need = 2;
            match opcode {
                PING => {
                    self.lent = total;
                    return Ok(Some(Found::Ping(payload)));
                }
                PONG => {
                    self.start += total;
                    return Ok(Some(Found::Pong));
                }
                CLOSE => {
                    let code = close_code(&self.buf[payload])?;
                    self.start += total;
                    return Ok(Some(Found::Close(code)));
                }
                // The common case, a message in one frame: lent in place.
                TEXT | BINARY if fin => {
                    self.lent = total;
                    return Ok(Some(Found::Data(opcode, payload)));
                }
                _ => {
                    if opcode != CONTINUATION {
                        self.open = Some(opcode);
                    }
                    self.message.extend_from_slice(&self.buf[payload]);
                    self.start += total;
                    if fin {
                        let opcode = self.open.take().unwrap_or(BINARY);
                        return Ok(Some(Found::Message(opcode)));
                    }
                }
            }
        }
    }

    /// Before a `read()`: moves the unread bytes to the front, and grows
    /// the buffer if the frame being read needs more room (never past
    /// `max` + the longest header, which `parse` has already checked).
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = self.need.max(self.end + 1).min(self.max + MAX_CLIENT_HEAD);
        if want > self.buf.len() {
            self.buf.resize(want.max((self.buf.len() * 2).min(self.max + MAX_CLIENT_HEAD)), 0);
        }
    }
}

/// RFC 6455 §8.1: a text message is UTF-8, or the connection fails (1007).
fn text(bytes: &[u8]) -> Result<&str, Failure> {
    std::str::from_utf8(bytes)
        .map_err(|_| Failure::Broke(INVALID_DATA, "text message is not UTF-8"))
}

/// RFC 6455 §5.5.1: a close body is empty, or a status code and a UTF-8
/// reason; the code must be one an endpoint may send (§7.4).
fn close_code(body: &[u8]) -> Result<u16, Failure> {
    match body {
        [] => Ok(NO_STATUS),
        [_] => Err(Failure::Broke(PROTOCOL_ERROR, "close body of one byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !valid_close_code(code) {
                return Err(Failure::Broke(PROTOCOL_ERROR, "close code not allowed"));
            }
            text(reason).map(|_| code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n <= 125 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&MASK);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        f
    }

    /// A reader over `input` handed out `chunk` bytes per read.
    struct Chunks(Cursor<Vec<u8>>, usize);

    impl Read for Chunks {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len());
            self.0.read(&mut buf[..n])
        }
    }

    /// Everything the reader makes of `input`, as strings, until the end
    /// or a failure.
    fn all(input: &[u8], max: usize, chunk: usize) -> Vec<String> {
        let mut r = Reader::new(b"", max);
        let mut io = Chunks(Cursor::new(input.to_vec()), chunk);
        let mut seen = Vec::new();
        loop {
            match r.next(&mut io) {
                Ok(Incoming::End) => return seen,
                Ok(Incoming::Text(t)) => seen.push(format!("text {t}")),
                Ok(Incoming::Binary(b)) => seen.push(format!("binary {}", b.len())),
                Ok(Incoming::Ping(p)) => seen.push(format!("ping {}", p.len())),
                Ok(Incoming::Pong) => seen.push("pong".into()),
                Ok(Incoming::Close(c)) => seen.push(format!("close {c}")),
                Err(Failure::Broke(code, _)) => {
                    seen.push(format!("fail {code}"));
                    return seen;
                }
                Err(Failure::Io(e)) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn messages_pings_and_closes_in_any_chunking() {
        let mut input = client(true, TEXT, "héllo".as_bytes());
        input.extend(client(false, TEXT, b"frag"));
        input.extend(client(true, PING, b"p"));
        input.extend(client(true, CONTINUATION, b"ment"));
        input.extend(client(true, BINARY, &[7; 70_000]));
        input.extend(client(true, PONG, b""));
        input.extend(client(true, CLOSE, &1000u16.to_be_bytes()));
        let want = ["text héllo", "ping 1", "text fragment", "binary 70000", "pong", "close 1000"];
        for chunk in [1, 2, 3, 7, 100, 1 << 20] {
            assert_eq!(all(&input, 100_000, chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn too_big_is_refused_from_the_header() {
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&(1u64 << 40).to_be_bytes());
        huge.extend_from_slice(&MASK);
        assert_eq!(all(&huge, 1000, 1 << 20), ["fail 1009"]);
        let mut parts = client(false, TEXT, &[b'a'; 600]);
        parts.extend(client(true, CONTINUATION, &[b'a'; 600]));
        assert_eq!(all(&parts, 1000, 1 << 20), ["fail 1009"]);
    }

    #[test]
    fn broken_rules_fail_with_their_codes() {
        assert_eq!(all(&client(true, TEXT, b"\xff"), 100, 64), ["fail 1007"]);
        assert_eq!(all(&client(true, 0x3, b""), 100, 64), ["fail 1002"]);
        assert_eq!(all(&client(true, CONTINUATION, b"x"), 100, 64), ["fail 1002"]);
        assert_eq!(all(&client(true, CLOSE, &[3]), 100, 64), ["fail 1002"]);
        assert_eq!(all(&client(true, CLOSE, &1005u16.to_be_bytes()), 100, 64), ["fail 1002"]);
        let unmasked = [0x81, 0x01, b'x'];
        assert_eq!(all(&unmasked, 100, 64), ["fail 1002"]);
        assert_eq!(all(&client(true, CLOSE, b""), 100, 64), ["close 1005"]);
    }

    #[test]
    fn a_timeout_loses_nothing() {
        /// Gives its bytes one at a time, failing with a timeout between.
        struct Stutter(Vec<u8>, usize, bool);
        impl Read for Stutter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.2 = !self.2;
                if self.2 {
                    return Err(io::Error::new(ErrorKind::TimedOut, "deadline"));
                }
                let Some(b) = self.0.get(self.1) else { return Ok(0) };
                buf[0] = *b;
                self.1 += 1;
                Ok(1)
            }
        }
        let mut io = Stutter(client(true, TEXT, b"patience"), 0, false);
        let mut r = Reader::new(b"", 100);
        let mut timeouts = 0;
        loop {
            match r.next(&mut io) {
                Err(Failure::Io(e)) if e.kind() == ErrorKind::TimedOut => timeouts += 1,
                Ok(Incoming::Text(t)) => {
                    assert_eq!(t, "patience");
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(timeouts, 14);
        loop {
            match r.next(&mut io) {
                Err(Failure::Io(e)) if e.kind() == ErrorKind::TimedOut => {}
                other => {
                    assert_eq!(other.ok(), Some(Incoming::End));
                    break;
                }
            }
        }
    }

    #[test]
    fn leftover_from_the_handshake_comes_first() {
        let frame = client(true, TEXT, b"early");
        let mut r = Reader::new(&frame, 100);
        let mut empty = Cursor::new(Vec::new());
        assert_eq!(r.next(&mut empty).ok(), Some(Incoming::Text("early")));
        assert_eq!(r.next(&mut empty).ok(), Some(Incoming::End));
    }
}
