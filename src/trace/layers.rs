//! Layers: the protocols inside the bytes of a traced `read()` or
//! `write()`, one on top of the other, so that a student sees a Socket.IO
//! event inside an Engine.IO packet inside a WebSocket frame inside the
//! bytes TCP moved:
//!
//! ```text
//! read()     conn=3 bytes=29
//!            ws text fin mask len=23 | eio 4 message | sio 2 event ["chat","hi"]
//! ```
//!
//! [`Layers`] is a describer that sits in an observer (`--trace`, the watch
//! page), never in a service: it follows each connection from the bytes
//! alone. An HTTP request line is named (`http GET /chat HTTP/1.1`); a
//! `101 Switching Protocols` in either direction turns the connection into
//! a WebSocket one, whose bytes from then on are cut into frames (RFC 6455
//! §5.2), however the reads split them; a connection whose upgrade request
//! asked for `/socket.io/` has its text frames read as Engine.IO v4
//! packets (engine.io-protocol, "Packet encoding: WebSocket") and its
//! Engine.IO messages as Socket.IO v5 packets (socket.io-protocol, "Packet
//! encoding: Format").
//!
//! Cost: nothing when no observer is installed (the server builds no
//! event, so nothing reaches here). When tracing, one pass over each
//! frame's header and at most
//! [`TRACE_LAYER_PREVIEW`](crate::limits::TRACE_LAYER_PREVIEW) bytes of its payload;
//! the rest of a payload is counted, not copied. Memory: one small entry
//! per connection that asked for an upgrade, dropped at its `close()`,
//! and at most [`TRACE_LAYER_CONNS`](crate::limits::TRACE_LAYER_CONNS) of them.
//!
//! What it does not do: judge. A broken frame is shown as far as it can
//! be read; the service decides what is wrong with it. It reads what the
//! protocols say the bytes mean, and is written apart from the services'
//! parsers (the trace is a leaf: it imports no service).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{escape_bytes, Event};
use crate::limits::{TRACE_LAYER_CONNS as LAYER_CONNS, TRACE_LAYER_PREVIEW as PAYLOAD_PREVIEW};

/// RFC 6455 §5.2: the longest frame header, with a 64-bit length and a mask.
const MAX_HEAD: usize = 2 + 8 + 4;

/// Follows connections through their layers; see the module docs. One per
/// observer; feed it every event, in the order they happen per connection.
#[derive(Debug, Default)]
pub struct Layers {
    conns: HashMap<u64, Wire>,
}

/// One connection that asked for an upgrade.
#[derive(Debug, Default)]
struct Wire {
    /// The upgrade request named `/socket.io/`: text frames are Engine.IO.
    socketio: bool,
    /// A 101 was seen: the bytes are frames.
    frames: bool,
    /// Frame state per direction: `read()` (0) and `write()` (1).
    dirs: [Cutter; 2],
}

/// Cuts one direction's byte stream into frames.
#[derive(Debug, Default)]
struct Cutter {
    head: [u8; MAX_HEAD],
    have: usize,
    frame: Option<Frame>,
}

/// A frame whose header has been read.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    len: u64,
    seen: u64,
    preview: Vec<u8>,
    described: bool,
}

impl Layers {
    /// A describer following no connection yet.
    pub fn new() -> Layers {
        Layers::default()
    }

    /// Connections followed now (those that asked for an upgrade and have
    /// not closed).
    pub fn followed(&self) -> usize {
        self.conns.len()
    }

    /// The layers inside `event`'s bytes, one line per frame (or HTTP
    /// message head) that ends or starts in them, joined by `\n`; empty
    /// when there is nothing to show. A `close()` forgets its connection.
    pub fn describe(&mut self, event: &Event<'_>) -> String {
        let mut out = String::new();
        match event {
            Event::Read { conn, data, .. } => self.bytes(*conn, 0, data, &mut out),
            Event::Write { conn, data, .. } => self.bytes(*conn, 1, data, &mut out),
            Event::Close { conn, .. } => {
                self.conns.remove(conn);
            }
            _ => {}
        }
        out
    }

    fn bytes(&mut self, conn: u64, dir: usize, data: &[u8], out: &mut String) {
        if data.is_empty() {
            return;
        }
        match self.conns.get_mut(&conn) {
            Some(wire) if wire.frames => {
                let socketio = wire.socketio;
                wire.dirs[dir].cut(data, socketio, out);
            }
            wire => {
                let Some(http) = http_head(data) else {
                    return;
                };
                out.push_str("http ");
                out.push_str(&http.line);
                if let Some(wire) = wire {
                    wire.frames |= http.switching;
                } else if (http.upgrade || http.switching) && self.conns.len() < LAYER_CONNS {
                    let wire =
                        Wire { socketio: http.socketio, frames: http.switching, ..Wire::default() };
                    self.conns.insert(conn, wire);
                }
            }
        }
    }
}

/// What the first line of an HTTP message says, as far as layers go.
struct HttpHead {
    /// The request or status line, escaped.
    line: String,
    /// A request asking for `Upgrade: websocket` (RFC 6455 §4.1).
    upgrade: bool,
    /// A request for Socket.IO's path.
    socketio: bool,
    /// A `101` status line (RFC 9110 §15.2.2).
    switching: bool,
}

/// An HTTP/1.x request or status line at the start of `data` (RFC 9112
/// §3, §4), or `None` for bytes that do not start one.
fn http_head(data: &[u8]) -> Option<HttpHead> {
    // Only the first 200 bytes are shown: look no further for the line's
    // end (a 64 KiB read of an echo is not scanned whole).
    let first = &data[..data.len().min(200)];
    let end = first.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &first[..end.unwrap_or(first.len())];
    let mut words = line.split(|&b| b == b' ');
    let first = words.next()?;
    let second = words.next()?;
    let status = first.starts_with(b"HTTP/1.");
    let request = !status
        && !first.is_empty()
        && first.iter().all(u8::is_ascii_uppercase)
        && words.next().is_some_and(|v| v.starts_with(b"HTTP/1."));
    if !status && !request {
        return None;
    }
    let shown = if status { &line[first.len() + 1..] } else { line };
    let head = &data[..data.len().min(8 * 1024)];
    let upgrade = request && contains_ignore_case(head, b"\nupgrade: websocket");
    Some(HttpHead {
        line: escape_bytes(shown),
        upgrade,
        socketio: request && second.starts_with(b"/socket.io"),
        switching: status && second == b"101",
    })
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

impl Cutter {
    /// Follows `data` through the frames; a line for each frame whose
    /// payload completes (or fills its preview) in it.
    fn cut(&mut self, mut data: &[u8], socketio: bool, out: &mut String) {
        loop {
            if self.frame.is_none() {
                data = self.header(data);
            }
            // No frame: its header is not whole yet, and `data` is used up.
            let Some(frame) = self.frame.as_mut() else {
                return;
            };
            let want = usize::try_from(frame.len - frame.seen).unwrap_or(usize::MAX);
            let take = want.min(data.len());
            let room = PAYLOAD_PREVIEW.saturating_sub(frame.preview.len()).min(take);
            for (i, &b) in data[..room].iter().enumerate() {
                // RFC 6455 §5.3: payload byte i is XORed with mask byte i mod 4.
                let at = (frame.seen % 4) as usize + i;
                frame.preview.push(frame.mask.map_or(b, |m| b ^ m[at % 4]));
            }
            frame.seen += take as u64;
            data = &data[take..];
            let done = frame.seen == frame.len;
            if !frame.described && (done || frame.preview.len() == PAYLOAD_PREVIEW) {
                frame.described = true;
                frame.describe(socketio, out);
            }
            if !done {
                // The payload goes on in the next read.
                return;
            }
            self.frame = None;
        }
    }

    /// Takes header bytes from `data` until the header is whole (RFC 6455
    /// §5.2: 2 bytes, then 0, 2 or 8 of length, then 4 of mask if the MASK
    /// bit is set); returns the rest.
    fn header<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        let need = |head: &[u8], have: usize| {
            if have < 2 {
                return 2;
            }
            let ext = match head[1] & 0x7F {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            2 + ext + if head[1] & 0x80 != 0 { 4 } else { 0 }
        };
        let mut data = data;
        loop {
            let want = need(&self.head, self.have);
            if self.have == want {
                break;
            }
            let Some((&b, rest)) = data.split_first() else {
                return data;
            };
            self.head[self.have] = b;
            self.have += 1;
            data = rest;
        }
        let h = &self.head[..self.have];
        let (len, at) = match h[1] & 0x7F {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => {
                let mut n = [0; 8];
                n.copy_from_slice(&h[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = (h[1] & 0x80 != 0).then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        self.have = 0;
        self.frame = Some(Frame {
            fin: h[0] & 0x80 != 0,
            opcode: h[0] & 0x0F,
            mask,
            len,
            seen: 0,
            preview: Vec::new(),
            described: false,
        });
        data
    }
}

impl Frame {
    /// `ws text fin mask len=23`, then what the payload carries.
    fn describe(&self, socketio: bool, out: &mut String) {
        if !out.is_empty() {
            out.push('\n');
        }
        // RFC 6455 §5.2 and §11.8: the opcodes.
        let kind = match self.opcode {
            0x0 => "cont",
            0x1 => "text",
            0x2 => "binary",
            0x8 => "close",
            0x9 => "ping",
            0xA => "pong",
            _ => "reserved",
        };
        let _ = write!(out, "ws {kind} {}", if self.fin { "fin" } else { "fin=0" });
        if self.mask.is_some() {
            out.push_str(" mask");
        }
        let _ = write!(out, " len={}", self.len);
        let p = &self.preview;
        let cut = self.len > p.len() as u64;
        match self.opcode {
            // RFC 6455 §5.5.1: a close body is a 2-byte status code, then a reason.
            0x8 if p.len() >= 2 => {
                let _ = write!(out, " code={}", u16::from_be_bytes([p[0], p[1]]));
                if p.len() > 2 {
                    let _ = write!(out, " {}", quoted(&p[2..], cut));
                }
            }
            0x1 if socketio => engine_io(p, cut, out),
            0x0..=0x2 | 0x9 | 0xA if !p.is_empty() => {
                let _ = write!(out, " {}", quoted(p, cut));
            }
            _ => {}
        }
    }
}

/// `"bytes"` escaped, with `...` after it when the payload was longer.
fn quoted(bytes: &[u8], cut: bool) -> String {
    format!("\"{}\"{}", escape_bytes(bytes), if cut { "..." } else { "" })
}

/// The payload, escaped, `...` when cut.
fn rest(bytes: &[u8], cut: bool) -> String {
    format!("{}{}", escape_bytes(bytes), if cut { "..." } else { "" })
}

/// ` | eio 4 message` and what the packet carries (engine.io-protocol,
/// "Protocol": the packet types).
fn engine_io(p: &[u8], cut: bool, out: &mut String) {
    let Some((&kind, data)) = p.split_first() else {
        out.push_str(" | eio (empty)");
        return;
    };
    let name = match kind {
        b'0' => "open",
        b'1' => "close",
        b'2' => "ping",
        b'3' => "pong",
        b'4' => "message",
        b'5' => "upgrade",
        b'6' => "noop",
        _ => "unknown",
    };
    let _ = write!(out, " | eio {} {name}", escape_bytes(&[kind]));
    if kind == b'4' {
        socket_io(data, cut, out);
    } else if !data.is_empty() {
        let _ = write!(out, " {}", rest(data, cut));
    }
}

/// ` | sio 2 event ["chat","hi"]`: a Socket.IO packet's type, namespace,
/// ack id and data (socket.io-protocol, "Packet encoding: Format":
/// `<type>[<attachments>-][<namespace>,][<ack id>][JSON]`).
fn socket_io(p: &[u8], cut: bool, out: &mut String) {
    let Some((&kind, mut data)) = p.split_first() else {
        out.push_str(" | sio (empty)");
        return;
    };
    let name = match kind {
        b'0' => "connect",
        b'1' => "disconnect",
        b'2' => "event",
        b'3' => "ack",
        b'4' => "connect_error",
        b'5' => "binary_event",
        b'6' => "binary_ack",
        _ => "unknown",
    };
    let _ = write!(out, " | sio {} {name}", escape_bytes(&[kind]));
    if matches!(kind, b'5' | b'6') {
        let n = data.iter().take_while(|b| b.is_ascii_digit()).count();
        if data.get(n) == Some(&b'-') {
            let _ = write!(out, " attachments={}", escape_bytes(&data[..n]));
            data = &data[n + 1..];
        }
    }
    if data.first() == Some(&b'/') {
        let end = data.iter().position(|&b| b == b',').unwrap_or(data.len());
        let _ = write!(out, " nsp={}", escape_bytes(&data[..end]));
        data = data.get(end + 1..).unwrap_or_default();
    }
    let n = data.iter().take_while(|b| b.is_ascii_digit()).count();
    if n > 0 {
        let _ = write!(out, " id={}", escape_bytes(&data[..n]));
        data = &data[n..];
    }
    if !data.is_empty() || cut {
        let _ = write!(out, " {}", rest(data, cut));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A client frame: FIN, `opcode`, masked with a fixed key (RFC 6455 §5.3).
    fn client(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    /// A server frame: FIN, `opcode`, unmasked, short length.
    fn server(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    }

    fn read(l: &mut Layers, data: &[u8]) -> String {
        l.describe(&Event::Read { conn: 7, bytes: data.len(), data })
    }

    fn write(l: &mut Layers, data: &[u8]) -> String {
        l.describe(&Event::Write { conn: 7, bytes: data.len(), data })
    }

    const SIO_UPGRADE: &[u8] = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n\
        Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";

    #[test]
    fn a_socketio_exchange_shows_each_layer_inside_the_frame() {
        let mut l = Layers::new();
        assert_eq!(
            read(&mut l, SIO_UPGRADE),
            "http GET /socket.io/?EIO=4&transport=websocket HTTP/1.1"
        );
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(write(&mut l, ok), "http 101 Switching Protocols");
        assert_eq!(
            write(&mut l, &server(1, b"0{\"sid\":\"a\"}")),
            r#"ws text fin len=12 | eio 0 open {"sid":"a"}"#
        );
        assert_eq!(
            read(&mut l, &client(1, b"40")),
            "ws text fin mask len=2 | eio 4 message | sio 0 connect"
        );
        // One frame split over three reads, the header itself cut in two:
        // described once, when its payload is whole.
        let event = client(1, br#"42["chat","hi"]"#);
        assert_eq!(read(&mut l, &event[..1]), "");
        assert_eq!(read(&mut l, &event[1..9]), "");
        let want = r#"ws text fin mask len=15 | eio 4 message | sio 2 event ["chat","hi"]"#;
        assert_eq!(read(&mut l, &event[9..]), want);
        // Two frames in one read: two lines.
        let mut two = client(1, br#"421["echo",1]"#);
        two.extend(client(1, b"3"));
        let want = "ws text fin mask len=13 | eio 4 message | sio 2 event id=1 [\"echo\",1]\n\
                    ws text fin mask len=1 | eio 3 pong";
        assert_eq!(read(&mut l, &two), want);
        let ack = server(1, b"431[1]");
        assert_eq!(write(&mut l, &ack), "ws text fin len=6 | eio 4 message | sio 3 ack id=1 [1]");
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend_from_slice(b"bye");
        assert_eq!(write(&mut l, &server(8, &close)), r#"ws close fin len=5 code=1000 "bye""#);
        assert_eq!(l.followed(), 1);
        let dur = Duration::ZERO;
        l.describe(&Event::Close { conn: 7, duration: dur, bytes_in: 0, bytes_out: 0 });
        assert_eq!(l.followed(), 0);
    }

    #[test]
    fn plain_websocket_frames_show_their_payload_and_a_long_one_is_cut() {
        let mut l = Layers::new();
        read(&mut l, b"GET /room/a HTTP/1.1\r\nupgrade: WebSocket\r\n\r\n");
        write(&mut l, b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
        assert_eq!(read(&mut l, &client(1, b"4 apples")), r#"ws text fin mask len=8 "4 apples""#);
        assert_eq!(read(&mut l, &client(9, b"")), "ws ping fin mask len=0");
        let long = vec![b'x'; 300];
        let frame = client(2, &long);
        // Described as soon as the preview is full, not again at the end.
        let first = read(&mut l, &frame[..100]);
        let shown = "x".repeat(PAYLOAD_PREVIEW);
        assert_eq!(first, format!("ws binary fin mask len=300 \"{shown}\"..."));
        assert_eq!(read(&mut l, &frame[100..]), "");
        assert_eq!(read(&mut l, &client(1, b"next")), r#"ws text fin mask len=4 "next""#);
    }

    #[test]
    fn connections_followed_are_bounded_and_forgotten_at_close() {
        let mut l = Layers::new();
        let upgrade = SIO_UPGRADE;
        for conn in 1..=LAYER_CONNS as u64 + 5 {
            l.describe(&Event::Read { conn, bytes: upgrade.len(), data: upgrade });
        }
        assert_eq!(l.followed(), LAYER_CONNS);
        // Past the bound the request line is still shown, the frames not.
        let last = LAYER_CONNS as u64 + 5;
        l.describe(&Event::Write { conn: last, bytes: 13, data: b"HTTP/1.1 101 " });
        let frame = client(1, b"40");
        assert_eq!(l.describe(&Event::Read { conn: last, bytes: frame.len(), data: &frame }), "");
        for conn in 1..=LAYER_CONNS as u64 {
            let dur = Duration::ZERO;
            l.describe(&Event::Close { conn, duration: dur, bytes_in: 0, bytes_out: 0 });
        }
        assert_eq!(l.followed(), 0);
    }

    #[test]
    fn plain_http_and_other_bytes_follow_nothing() {
        let mut l = Layers::new();
        assert_eq!(
            read(&mut l, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"),
            "http GET /plaintext HTTP/1.1"
        );
        assert_eq!(write(&mut l, b"HTTP/1.1 200 OK\r\n\r\nhi"), "http 200 OK");
        assert_eq!(read(&mut l, b"hello\n"), "");
        assert_eq!(read(&mut l, &client(1, b"x")), "");
        assert_eq!(l.followed(), 0);
    }
}
