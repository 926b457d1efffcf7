//! `--mode websocket`: pingpong of one message over WebSocket, raw or as a
//! Socket.IO event, to measure what Socket.IO's envelope costs on the wire
//! and in round-trip time.
//!
//! ```text
//! connect() -> GET ... Upgrade: websocket -> 101        (RFC 6455 §4)
//!   raw:       text frame "PAYLOAD"                 -> the same frame back
//!   socketio:  (0 open <-, 40 ->, 40 <-)  then
//!              text frame 42["echo","PAYLOAD"]      -> the same event back
//!   socketio-ack: 42N["echo","PAYLOAD"]             -> the event, then 43N["PAYLOAD"]
//! ```
//!
//! Raw runs against `sockref serve --service websocket` (any path echoes),
//! Socket.IO against `--service socketio` (whose `echo` event comes back to
//! its sender, with the ack if one was asked) or any Socket.IO v5 server
//! with such a handler. Every message is checked byte for byte, frame
//! header included, and the bytes written and read for each measured
//! message are counted (the report's `wire` line): the payload, the frame
//! headers (2 to 14 bytes, RFC 6455 §5.2; a client's carry a 4-byte mask,
//! §5.3), and for Socket.IO the Engine.IO type `4`, the Socket.IO type `2`
//! (or `3` and the ack id) and the JSON array around the payload.
//! Heartbeats (a WebSocket ping, Engine.IO's `2`) are answered and left out
//! of the counts. Ack ids run 1 to 9 and start again, so that every message
//! has the same size (a real client's ids keep growing, one digit more
//! each tenfold).
//!
//! The payload is `--size` letters and digits, a different window each
//! message, so a text frame is valid UTF-8 and a JSON string needs no
//! escape. Connections run in lockstep rounds per thread, as pingpong does.

use std::io::{self, Write};
use std::ops::Range;
use std::str;
use std::time::{Duration, Instant};

use super::sockets::{bound, connect, lockstep, read_some};
use super::sync::Shared;
use super::tally::ThreadResult;
use crate::service::websocket::frame::{server_head, unmask, CLOSE, PING, PONG, TEXT};
use crate::service::websocket::{accept_key, base64};
use crate::transport::Stream;

/// How a bench message travels inside the WebSocket (`--framing`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The payload is the text frame's payload; the server echoes the frame.
    Raw,
    /// The payload is the argument of a Socket.IO `echo` event,
    /// `42["echo","PAYLOAD"]`, which comes back to its sender.
    SocketIo,
    /// The same event with an ack id; the round trip ends with the ack,
    /// `43N["PAYLOAD"]`, after the event.
    SocketIoAck,
}

impl Framing {
    /// The name `--framing` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Raw => "raw",
            Framing::SocketIo => "socketio",
            Framing::SocketIoAck => "socketio-ack",
        }
    }

    /// Every framing, in the order `--help` lists them.
    pub const ALL: [Framing; 3] = [Framing::Raw, Framing::SocketIo, Framing::SocketIoAck];

    /// The request target of the upgrade.
    fn path(self) -> &'static str {
        match self {
            Framing::Raw => "/",
            // engine.io-protocol, "Transports: WebSocket": no polling first.
            _ => "/socket.io/?EIO=4&transport=websocket",
        }
    }
}

/// The largest handshake response head read before giving up.
const MAX_HEAD: usize = 8 * 1024;

/// One WebSocket connection of the bench: the socket, the bytes read and
/// not yet used (`buf[at..end]`), and a mask generator.
pub(super) struct Ws {
    s: Stream,
    buf: Vec<u8>,
    at: usize,
    end: usize,
    rng: u64,
    out: Vec<u8>,
}

fn bad(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

impl Ws {
    /// Connects, upgrades (checking `Sec-WebSocket-Accept`, RFC 6455
    /// §4.2.2) and, for Socket.IO, takes the open packet and connects to
    /// the main namespace (socket.io-protocol, "Connection to a
    /// namespace").
    pub(super) fn open(shared: &Shared, seed: u64) -> io::Result<Ws> {
        let (timeout, end) = (shared.opts.timeout, Some(shared.setup_until));
        let s = connect(shared, end)?;
        let mut ws = Ws {
            s,
            buf: vec![0; 16 * 1024],
            at: 0,
            end: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            out: Vec::new(),
        };
        let framing = shared.opts.framing;
        let mut nonce = Vec::new();
        for _ in 0..2 {
            nonce.extend_from_slice(&ws.next().to_le_bytes());
        }
        let mut key = Vec::new();
        base64::encode(&nonce, &mut key);
        let key = String::from_utf8_lossy(&key).into_owned();
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            framing.path(),
            shared.addr,
        );
        ws.s.write_all(request.as_bytes())?;
        let head = ws.head(timeout, end)?;
        let accept = accept_key(key.as_bytes());
        let accept = str::from_utf8(&accept).unwrap_or_default();
        if !head.starts_with("HTTP/1.1 101 ") {
            return Err(bad("the upgrade was refused (no 101)"));
        }
        if !head.lines().any(|l| l.eq_ignore_ascii_case(&format!("sec-websocket-accept: {accept}")))
        {
            return Err(bad("Sec-WebSocket-Accept does not match the key"));
        }
        if framing != Framing::Raw {
            // engine.io-protocol, "Handshake": the server opens.
            let (op, p, _) = ws.frame(timeout, end)?;
            if op != TEXT || !ws.buf[p].starts_with(b"0{") {
                return Err(bad("no Engine.IO open packet"));
            }
            ws.send(b"40", timeout, end)?;
            let (op, p, _) = ws.frame(timeout, end)?;
            if op != TEXT || !ws.buf[p].starts_with(b"40") {
                return Err(bad("the Socket.IO CONNECT was refused"));
            }
        }
        Ok(ws)
    }

    /// xorshift64: the masks (RFC 6455 §5.3 asks for unpredictable ones
    /// to protect proxies; a load generator on loopback needs only that
    /// they change).
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Reads the response head; what follows it stays in the buffer.
    fn head(&mut self, timeout: Duration, end: Option<Instant>) -> io::Result<String> {
        loop {
            if let Some(n) = self.buf[..self.end].windows(4).position(|w| w == b"\r\n\r\n") {
                self.at = n + 4;
                return Ok(String::from_utf8_lossy(&self.buf[..n]).into_owned());
            }
            if self.end >= MAX_HEAD {
                return Err(bad("handshake response head too long"));
            }
            self.end += read_some(&mut self.s, &mut self.buf[self.end..MAX_HEAD], timeout, end)?;
        }
    }

    /// Builds a masked client frame, FIN set (RFC 6455 §5.2, §5.3), of
    /// `opcode` around `parts` (written one after another) into `out`.
    fn build(&mut self, opcode: u8, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mask = (self.next() as u32).to_be_bytes();
        // The server's header with the mask bit set: the same length forms.
        let (mut head, n) = server_head(opcode, len);
        head[1] |= 0x80;
        self.out.clear();
        self.out.extend_from_slice(&head[..n]);
        self.out.extend_from_slice(&mask);
        let payload = self.out.len();
        for part in parts {
            self.out.extend_from_slice(part);
        }
        // Masking is its own inverse (RFC 6455 §5.3): the server's word-wide
        // unmask, not a byte at a time.
        unmask(&mut self.out[payload..], mask, 0);
    }

    /// Writes one text frame; returns its bytes on the wire.
    fn send(&mut self, payload: &[u8], timeout: Duration, end: Option<Instant>) -> io::Result<u64> {
        self.build(TEXT, &[payload]);
        bound(&self.s, timeout, end)?;
        self.s.write_all(&self.out)?;
        Ok(self.out.len() as u64)
    }

    /// Makes sure `buf[at..]` holds `n` bytes, reading as needed.
    fn fill(&mut self, n: usize, timeout: Duration, end: Option<Instant>) -> io::Result<()> {
        if self.at + n > self.buf.len() {
            self.buf.copy_within(self.at..self.end, 0);
            self.end -= self.at;
            self.at = 0;
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
        }
        while self.end - self.at < n {
            self.end += read_some(&mut self.s, &mut self.buf[self.end..], timeout, end)?;
        }
        Ok(())
    }

    /// Reads one server frame (unmasked, RFC 6455 §5.1): its opcode, where
    /// its payload is in `buf`, and its bytes on the wire.
    fn frame(
        &mut self,
        timeout: Duration,
        end: Option<Instant>,
    ) -> io::Result<(u8, Range<usize>, u64)> {
        self.fill(2, timeout, end)?;
        let (b0, b1) = (self.buf[self.at], self.buf[self.at + 1]);
        if b1 & 0x80 != 0 || b0 & 0x80 == 0 {
            return Err(bad("a masked or fragmented server frame"));
        }
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        self.fill(2 + ext, timeout, end)?;
        let h = &self.buf[self.at..self.at + 2 + ext];
        let len = match ext {
            2 => usize::from(u16::from_be_bytes([h[2], h[3]])),
            8 => {
                let mut n = [0; 8];
                n.copy_from_slice(&h[2..10]);
                usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX)
            }
            _ => usize::from(b1 & 0x7F),
        };
        if len > super::MAX_SIZE + 64 {
            return Err(bad("a server frame longer than any echo"));
        }
        self.fill(2 + ext + len, timeout, end)?;
        let start = self.at + 2 + ext;
        self.at = start + len;
        Ok((b0 & 0x0F, start..start + len, (2 + ext + len) as u64))
    }

    /// Reads the next frame that is not a heartbeat, answering the
    /// heartbeats on the way (a ping with its pong, RFC 6455 §5.5.2;
    /// Engine.IO's `2` with `3`, engine.io-protocol "Heartbeat"), and
    /// checks that its payload is `expect`; returns its bytes on the wire.
    fn await_frame(
        &mut self,
        expect: &[&[u8]],
        socketio: bool,
        timeout: Duration,
        end: Option<Instant>,
    ) -> io::Result<u64> {
        loop {
            let (op, p, wire) = self.frame(timeout, end)?;
            match op {
                PING => {
                    let payload = self.buf[p].to_vec();
                    self.build(PONG, &[&payload]);
                    self.s.write_all(&self.out)?;
                }
                TEXT if socketio && &self.buf[p.clone()] == b"2" => {
                    self.send(b"3", timeout, end)?;
                }
                TEXT => {
                    let got = &self.buf[p];
                    let mut at = 0;
                    for part in expect {
                        if got.get(at..at + part.len()) != Some(part) {
                            return Err(bad("echo differs"));
                        }
                        at += part.len();
                    }
                    if at != got.len() {
                        return Err(bad("echo differs"));
                    }
                    return Ok(wire);
                }
                CLOSE => return Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                _ => return Err(bad("an unexpected frame")),
            }
        }
    }
}

/// The payloads: windows into letters and digits, a different start for
/// each message (62 of them), so a stale echo does not verify.
struct Text {
    pattern: Vec<u8>,
    size: usize,
}

impl Text {
    fn new(size: usize) -> Text {
        const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        Text { pattern: (0..size + 62).map(|i| ALNUM[i % 62]).collect(), size }
    }

    fn get(&self, seq: u64) -> &[u8] {
        let start = (seq % 62) as usize;
        &self.pattern[start..start + self.size]
    }
}

/// Opens this thread's connections; a failure is counted and skipped.
pub(super) fn open(n: usize, t: usize, shared: &Shared, r: &mut ThreadResult) -> Vec<Ws> {
    let mut socks = Vec::with_capacity(n);
    for i in 0..n {
        if shared.stopping() {
            break;
        }
        match Ws::open(shared, ((t as u64) << 32) + i as u64 + 1) {
            Ok(ws) => socks.push(ws),
            Err(e) => r.error(&e, true, shared),
        }
    }
    socks
}

/// Lockstep rounds, as pingpong (see [`lockstep`]): one message written
/// on every connection, then every answer read and checked.
pub(super) fn pingpong(socks: &mut Vec<Ws>, shared: &Shared, r: &mut ThreadResult) {
    let framing = shared.opts.framing;
    let socketio = framing != Framing::Raw;
    let text = Text::new(shared.opts.size);
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    // socket.io-protocol, "Packet encoding: Format": Engine.IO `4`
    // (message), Socket.IO `2` (event), the ack id, the array.
    let ack_id = |seq: u64| [b'1' + (seq % 9) as u8];
    let send = |ws: &mut Ws, seq: u64| {
        let payload = text.get(seq);
        let id = ack_id(seq);
        // Each arm's array is bound first: a temporary's lifetime is not
        // extended through a match arm before Rust 1.79 (rust-version).
        let raw: [&[u8]; 1] = [payload];
        let event: [&[u8]; 3] = [b"42[\"echo\",\"", payload, b"\"]"];
        let acked: [&[u8]; 5] = [b"42", &id, b"[\"echo\",\"", payload, b"\"]"];
        let parts: &[&[u8]] = match framing {
            Framing::Raw => &raw,
            Framing::SocketIo => &event,
            Framing::SocketIoAck => &acked,
        };
        ws.build(TEXT, parts);
        bound(&ws.s, timeout, end).and_then(|()| ws.s.write_all(&ws.out))?;
        Ok(ws.out.len() as u64)
    };
    let answer = |ws: &mut Ws, seq: u64| {
        let payload = text.get(seq);
        let raw: [&[u8]; 1] = [payload];
        let event: [&[u8]; 3] = [b"42[\"echo\",\"", payload, b"\"]"];
        let echo: &[&[u8]] = match framing {
            Framing::Raw => &raw,
            _ => &event,
        };
        let echo = ws.await_frame(echo, socketio, timeout, end)?;
        if framing != Framing::SocketIoAck {
            return Ok(echo);
        }
        // socket.io-protocol, "Acknowledgement": `3`, the id, the arguments.
        let id = ack_id(seq);
        let ack: &[&[u8]] = &[b"43", &id, b"[\"", payload, b"\"]"];
        Ok(echo + ws.await_frame(ack, socketio, timeout, end)?)
    };
    lockstep(socks, shared, r, true, send, answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_text_and_differ_message_to_message() {
        let t = Text::new(100);
        assert!(t.get(0).iter().all(u8::is_ascii_alphanumeric));
        assert_ne!(t.get(0), t.get(1));
        assert_eq!(t.get(0), t.get(62));
        assert_eq!(t.get(61).len(), 100);
    }

    /// The client frame, byte for byte as RFC 6455 §5.2-§5.3 spell it, at
    /// each length form's edges and across parts.
    #[test]
    fn client_frames_are_masked_with_the_shortest_length_form() -> io::Result<()> {
        let (s, _peer) = std::os::unix::net::UnixStream::pair()?;
        let mut ws =
            Ws { s: Stream::Unix(s), buf: Vec::new(), at: 0, end: 0, rng: 7, out: Vec::new() };
        for len in [0, 1, 125, 126, 0xFFFF, 0x10000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let (a, b) = payload.split_at(len / 3);
            // The mask `build` draws: the next xorshift64 step.
            let mut r = ws.rng;
            r ^= r << 13;
            r ^= r >> 7;
            r ^= r << 17;
            let mask = (r as u32).to_be_bytes();
            ws.build(TEXT, &[a, b]);
            let mut want = vec![0x81];
            match len {
                0..=125 => want.push(0x80 | len as u8),
                126..=0xFFFF => {
                    want.push(0x80 | 126);
                    want.extend_from_slice(&(len as u16).to_be_bytes());
                }
                _ => {
                    want.push(0x80 | 127);
                    want.extend_from_slice(&(len as u64).to_be_bytes());
                }
            }
            want.extend_from_slice(&mask);
            want.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            assert_eq!(ws.out, want, "len {len}");
        }
        Ok(())
    }

    #[test]
    fn framings_are_named_as_the_flag_takes_them() {
        let names: Vec<_> = Framing::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, ["raw", "socketio", "socketio-ack"]);
        assert_eq!(Framing::Raw.path(), "/");
        assert!(Framing::SocketIoAck.path().contains("EIO=4&transport=websocket"));
    }
}
