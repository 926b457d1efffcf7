//! WebSocket (RFC 6455): the opening handshake and its accept key, the echo
//! of text and binary messages (fragmented, and with 16- and 64-bit
//! lengths), ping and pong, the closing handshake, and the connection
//! failed with the right close code on a frame that breaks the rules.
//!
//! The handshake goes over the HTTP checks' [`Wire`]; the key each probe
//! sends is fresh, and the accept it wants is the service's own
//! `accept_key` (its SHA-1 and base64). The opcodes, close codes and the
//! message limit are the service's (`frame`); frames the probes send are
//! masked as a client's must be, unless the rule is about an unmasked one.
//!
//! Where RFC 6455 lets a server fail a connection by closing it without a
//! close frame (§7.1.7 says SHOULD send one), a plain close is reported as
//! `NOTE`; a wrong close code, or a frame taken as if nothing were wrong,
//! is a failure.
//!
//! What it does not do: extensions (permessage-deflate), subprotocols.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::common::{after_a_reset, while_one_idles};
use super::http::{Unread, Wire};
use super::{preview, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::End;
use crate::limits::{DEFAULT_WS_MAX_MESSAGE, MAX_WS_MESSAGE};
use crate::service::websocket::accept_key;
use crate::service::websocket::base64;
use crate::service::websocket::frame::{
    BINARY, CLOSE, CONTINUATION, INVALID_DATA, MAX_CONTROL, PING, PONG, PROTOCOL_ERROR, TEXT,
    TOO_BIG,
};

/// The WebSocket checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "websocket.tcp.handshake",
        rule: "an upgrade request is answered 101 with Upgrade: websocket and Connection: Upgrade",
        cite: "RFC 6455 §4.2.2",
        hostile: false,
        run: handshake,
    },
    Check {
        name: "websocket.tcp.accept",
        rule: "Sec-WebSocket-Accept is base64(SHA-1(key + GUID)) of the key sent",
        cite: "RFC 6455 §4.2.2, §1.3",
        hostile: false,
        run: accept,
    },
    Check {
        name: "websocket.tcp.text",
        rule: "a text message comes back as the same text message",
        cite: "RFC 6455 §5.6",
        hostile: false,
        run: text,
    },
    Check {
        name: "websocket.tcp.binary",
        rule: "binary messages holding all 256 byte values come back unchanged",
        cite: "RFC 6455 §5.6",
        hostile: false,
        run: binary,
    },
    Check {
        name: "websocket.tcp.lengths",
        rule: "messages of 126 and 70,000 bytes (16- and 64-bit lengths) come back whole",
        cite: "RFC 6455 §5.2",
        hostile: false,
        run: lengths,
    },
    Check {
        name: "websocket.tcp.fragmented",
        rule: "a text message in three frames comes back as that one message",
        cite: "RFC 6455 §5.4",
        hostile: false,
        run: fragmented,
    },
    Check {
        name: "websocket.tcp.interleaved-ping",
        rule: "a ping between the fragments of a message is answered, and the message comes back whole",
        cite: "RFC 6455 §5.4",
        hostile: false,
        run: interleaved_ping,
    },
    Check {
        name: "websocket.tcp.ping",
        rule: "a ping is answered with a pong carrying the same payload",
        cite: "RFC 6455 §5.5.2",
        hostile: false,
        run: ping,
    },
    Check {
        name: "websocket.tcp.server-unmasked",
        rule: "frames from the server are not masked",
        cite: "RFC 6455 §5.1",
        hostile: false,
        run: server_unmasked,
    },
    Check {
        name: "websocket.tcp.client-unmasked",
        rule: "an unmasked client frame fails the connection (close 1002)",
        cite: "RFC 6455 §5.1",
        hostile: false,
        run: client_unmasked,
    },
    Check {
        name: "websocket.tcp.close",
        rule: "a close frame is answered with a close frame, then the server closes (§7.1.1)",
        cite: "RFC 6455 §5.5.1",
        hostile: false,
        run: close,
    },
    Check {
        name: "websocket.tcp.invalid-utf8",
        rule: "a text message that is not UTF-8 fails the connection (close 1007)",
        cite: "RFC 6455 §8.1",
        hostile: false,
        run: invalid_utf8,
    },
    Check {
        name: "websocket.tcp.too-big",
        rule: "a frame announcing 4 GiB fails the connection (close 1009) before its payload",
        cite: "RFC 6455 §7.4.1, §10.4",
        hostile: false,
        run: too_big,
    },
    Check {
        name: "websocket.tcp.reserved-opcode",
        rule: "a frame with a reserved opcode (0x3) fails the connection (close 1002)",
        cite: "RFC 6455 §5.2",
        hostile: false,
        run: reserved_opcode,
    },
    Check {
        name: "websocket.tcp.control-too-long",
        rule: "a ping with 126 bytes of payload fails the connection (close 1002)",
        cite: "RFC 6455 §5.5",
        hostile: false,
        run: control_too_long,
    },
    Check {
        name: "websocket.tcp.concurrent",
        rule: "a second client is echoed while a first one is connected and idle",
        cite: "UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "websocket.tcp.reserved-bits",
        rule: "a frame with RSV1 set, no extension agreed, fails the connection (close 1002)",
        cite: "RFC 6455 §5.2",
        hostile: true,
        run: reserved_bits,
    },
    Check {
        name: "websocket.tcp.orphan-continuation",
        rule: "a continuation frame with no message to continue fails the connection (close 1002)",
        cite: "RFC 6455 §5.4",
        hostile: true,
        run: orphan_continuation,
    },
    Check {
        name: "websocket.tcp.bad-close-code",
        rule: "a close frame with code 1005 (never sent) fails the connection (close 1002)",
        cite: "RFC 6455 §7.4.1",
        hostile: true,
        run: bad_close_code,
    },
    Check {
        name: "websocket.tcp.bad-key",
        rule: "a handshake whose Sec-WebSocket-Key is not 16 bytes of base64 is refused (400)",
        cite: "RFC 6455 §4.2.1",
        hostile: true,
        run: bad_key,
    },
    Check {
        name: "websocket.tcp.reset",
        rule: "a client that resets with pongs unread leaves the server serving",
        cite: "RFC 9293 §3.10.7.4",
        hostile: true,
        run: reset,
    },
];

/// A fresh `Sec-WebSocket-Key`: base64 of 16 bytes no two probes share
/// (a server that answers every key with the RFC's example accept fails).
fn new_key() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&t.to_be_bytes());
    nonce[8..].copy_from_slice(&(n ^ 0x5eed_0f50_c4e7).to_be_bytes());
    let mut key = Vec::new();
    base64::encode(&nonce, &mut key);
    String::from_utf8_lossy(&key).into_owned()
}

/// The opening handshake's request (RFC 6455 §4.1).
fn upgrade(key: &str) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

const HANDSHAKE_HINT: &str = "the opening handshake is an HTTP/1.1 GET with Upgrade: websocket; answer \"HTTP/1.1 101 Switching Protocols\\r\\n\" with Upgrade: websocket, Connection: Upgrade and Sec-WebSocket-Accept (RFC 6455 §4.2.2), then frames";

/// Connects and sends an upgrade request with `key`; the response.
fn opening<'c>(ctx: &'c Ctx, key: &str) -> Result<(Wire<'c>, super::http::Response), Failure> {
    let req = upgrade(key);
    let mut w = Wire::open(ctx)?;
    w.send(&req)?;
    let r = w.response(false).map_err(|u| {
        Failure::new(preview(&req), u.got, "101 Switching Protocols", HANDSHAKE_HINT)
    })?;
    Ok((w, r))
}

/// An open WebSocket: the handshake answered 101 (the rest of its rules are
/// `handshake`'s and `accept`'s), and what `sent` says so far.
fn established(ctx: &Ctx) -> Result<Wire<'_>, Failure> {
    let key = new_key();
    let (w, r) = opening(ctx, &key)?;
    if r.status != 101 {
        return Err(Failure::new(
            "an upgrade request (RFC 6455 §4.1)",
            r.show(),
            "101 Switching Protocols, then frames",
            HANDSHAKE_HINT,
        ));
    }
    Ok(w)
}

fn handshake(ctx: &Ctx) -> Outcome {
    let key = new_key();
    let (_, r) = opening(ctx, &key)?;
    let ok = r.status == 101
        && r.has_token("upgrade", "websocket")
        && r.has_token("connection", "upgrade");
    if ok {
        return Ok(Verdict::Pass);
    }
    let fields: Vec<String> = ["upgrade", "connection"]
        .iter()
        .map(|n| {
            format!(
                "{n}: {}",
                r.value(n).map_or("(none)".into(), |v| String::from_utf8_lossy(v).into_owned())
            )
        })
        .collect();
    Err(Failure::new(
        preview(&upgrade(&key)),
        format!("{}, {}", r.show(), fields.join(", ")),
        "101 with Upgrade: websocket and Connection: Upgrade",
        HANDSHAKE_HINT,
    ))
}

fn accept(ctx: &Ctx) -> Outcome {
    let key = new_key();
    let (_, r) = opening(ctx, &key)?;
    let want = accept_key(key.as_bytes());
    let got: Vec<&[u8]> = r.values("sec-websocket-accept").collect();
    if got == [&want[..]] {
        return Ok(Verdict::Pass);
    }
    let shown = if got.is_empty() {
        "no Sec-WebSocket-Accept".to_string()
    } else {
        got.iter()
            .map(|g| format!("Sec-WebSocket-Accept: {}", String::from_utf8_lossy(g)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Failure::new(
        format!("Sec-WebSocket-Key: {key}"),
        format!("{}, {shown}", r.show()),
        format!("Sec-WebSocket-Accept: {}", String::from_utf8_lossy(&want)),
        "the accept is base64 of the 20-byte binary SHA-1 of the key exactly as sent (not decoded, not trimmed of '=') followed by 258EAFA5-E914-47DA-95CA-C5AB0DC85B11 (RFC 6455 §4.2.2); a hex digest, or base64 of the hex text, is wrong",
    ))
}

/// A client frame (RFC 6455 §5.2): FIN, opcode, the length in its minimal
/// form, and the payload masked with `mask` (none: an unmasked frame).
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n <= 125 => f.push(m | n as u8),
        n if n <= usize::from(u16::MAX) => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// The longest payload the 7-bit length holds (RFC 6455 §5.2).
const SHORT: usize = 125;

/// RFC 6455 §5.7's example mask.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with FIN set.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, payload, Some(MASK))
}

/// A frame as received.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    masked: bool,
    /// Unmasked.
    payload: Vec<u8>,
}

/// What came from the server.
#[derive(Debug)]
enum Got {
    /// A whole data message (fragments reassembled), its opcode, and
    /// whether any of its frames was masked.
    Message(u8, Vec<u8>, bool),
    /// A control frame.
    Control(Frame),
}

const FRAME_HINT: &str = "after the 101, everything is frames: 2 bytes (FIN, opcode; mask bit, 7-bit length), a 16- or 64-bit length for 126 and 127, then the payload (RFC 6455 §5.2)";

/// Reads one frame.
fn read_frame(w: &mut Wire<'_>, until: Instant) -> Result<Frame, Unread> {
    if !w.need(2, until) {
        return Err(w.short("a frame", FRAME_HINT));
    }
    let (b0, b1) = (w.buf[0], w.buf[1]);
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let is_masked = b1 & 0x80 != 0;
    let head = 2 + ext + if is_masked { 4 } else { 0 };
    if !w.need(head, until) {
        return Err(w.short("a frame header", FRAME_HINT));
    }
    let len = match ext {
        0 => u64::from(b1 & 0x7f),
        2 => u64::from(u16::from_be_bytes([w.buf[2], w.buf[3]])),
        _ => w.buf[2..10].iter().fold(0u64, |n, &b| n << 8 | u64::from(b)),
    };
    if len > MAX_WS_MESSAGE as u64 {
        let got = format!("a frame header announcing {len} bytes: {}", preview(&w.buf[..head]));
        return Err(Unread { got, hint: FRAME_HINT, silent_close: false });
    }
    let len = len as usize;
    if !w.need(head + len, until) {
        return Err(w.short(&format!("a frame of {len} bytes"), FRAME_HINT));
    }
    let mut payload = w.buf[head..head + len].to_vec();
    if is_masked {
        let k = [w.buf[head - 4], w.buf[head - 3], w.buf[head - 2], w.buf[head - 1]];
        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= k[i % 4]);
    }
    w.buf.drain(..head + len);
    Ok(Frame { fin: b0 & 0x80 != 0, opcode: b0 & 0x0f, masked: is_masked, payload })
}

/// The next message (its frames reassembled, RFC 6455 §5.4) or control
/// frame, within the wait.
fn next(w: &mut Wire<'_>, ctx: &Ctx) -> Result<Got, Unread> {
    let until = Instant::now() + ctx.wait;
    let mut message: Option<(u8, Vec<u8>, bool)> = None;
    loop {
        let f = read_frame(w, until)?;
        if f.opcode >= CLOSE {
            if message.is_none() || f.opcode != PONG {
                return Ok(Got::Control(f));
            }
            continue;
        }
        let (op, mut data, any_masked) = match message.take() {
            Some(m) => m,
            None => (f.opcode, Vec::new(), false),
        };
        data.extend_from_slice(&f.payload);
        if f.fin {
            return Ok(Got::Message(op, data, any_masked || f.masked));
        }
        message = Some((op, data, any_masked || f.masked));
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        CONTINUATION => "continuation",
        TEXT => "text",
        BINARY => "binary",
        CLOSE => "close",
        PING => "ping",
        PONG => "pong",
        _ => "reserved",
    }
}

/// The close code of a close frame's payload, if it has one.
fn close_code(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}

fn show(g: &Got) -> String {
    match g {
        Got::Message(op, data, _) => format!("a {} message {}", opcode_name(*op), preview(data)),
        Got::Control(f) if f.opcode == CLOSE => match close_code(&f.payload) {
            Some(c) => format!("a close frame with code {c}"),
            None => "a close frame without a code".to_string(),
        },
        Got::Control(f) => format!("a {} frame {}", opcode_name(f.opcode), preview(&f.payload)),
    }
}

/// Sends `frames` (one write each) on an open WebSocket and wants `want`'s
/// message back.
fn echoes(ctx: &Ctx, frames: &[Vec<u8>], what: &str, op: u8, want: &[u8], hint: &str) -> Outcome {
    let mut w = established(ctx)?;
    for f in frames {
        w.send(f)?;
    }
    let wanted = format!("a {} message {}", opcode_name(op), preview(want));
    match next(&mut w, ctx) {
        Ok(Got::Message(o, data, _)) if o == op && data == want => Ok(Verdict::Pass),
        Ok(g) => Err(Failure::new(what, show(&g), wanted, hint)),
        Err(u) => Err(Failure::new(what, u.got, wanted, hint)),
    }
}

const ECHO_HINT: &str = "unmask the payload (byte i XOR mask[i % 4], RFC 6455 §5.3) and send it back in a frame of the same opcode, with FIN set, unmasked, and its length in the 7-, 16- or 64-bit form";

fn text_echo(ctx: &Ctx) -> Outcome {
    let msg = "hello, websocket \u{2713}".as_bytes();
    let what = format!("a masked text frame {}", preview(msg));
    echoes(ctx, &[masked(TEXT, msg)], &what, TEXT, msg, ECHO_HINT)
}

fn text(ctx: &Ctx) -> Outcome {
    text_echo(ctx)
}

fn binary(ctx: &Ctx) -> Outcome {
    // Three messages of at most 125 bytes: the 7-bit length only (the
    // longer forms are `lengths`' rule).
    let all: Vec<u8> = (0..=255u8).collect();
    for msg in all.chunks(SHORT) {
        let what = format!("a masked binary frame {}", preview(msg));
        echoes(ctx, &[masked(BINARY, msg)], &what, BINARY, msg, "a binary message is bytes: a NUL or 0xff is data (no strlen(), no C strings); send back the same bytes with opcode 0x2")?;
    }
    Ok(Verdict::Pass)
}

fn lengths(ctx: &Ctx) -> Outcome {
    let hint = "lengths of 126 to 65,535 bytes take the 16-bit form (7-bit field 126, then 2 bytes, network order) and longer ones the 64-bit form (127, then 8 bytes) in both directions (RFC 6455 §5.2); read the whole payload, over as many read()s as it takes";
    for n in [126usize, 70_000] {
        let msg: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let what = format!("a masked binary frame of {n} bytes");
        echoes(ctx, &[masked(BINARY, &msg)], &what, BINARY, &msg, hint)?;
    }
    Ok(Verdict::Pass)
}

fn fragmented(ctx: &Ctx) -> Outcome {
    let frames = vec![
        frame(false, TEXT, b"frag", Some(MASK)),
        frame(false, CONTINUATION, b"ment", Some(MASK)),
        frame(true, CONTINUATION, b"ed", Some(MASK)),
    ];
    let what = "a text message in three frames, \"frag\" (FIN 0), \"ment\" (continuation, FIN 0), \"ed\" (continuation, FIN 1), one write() each";
    echoes(ctx, &frames, what, TEXT, b"fragmented", "a message may come in several frames (RFC 6455 §5.4): the first has the opcode and FIN 0, the next are continuations (opcode 0), the last has FIN 1; gather them and answer the whole message")
}

fn ping(ctx: &Ctx) -> Outcome {
    let payload = b"are you there?";
    let what = format!("a masked ping {}", preview(payload));
    let want = format!("a pong {}", preview(payload));
    let hint = "a ping MUST be answered with a pong (opcode 0xA) carrying the ping's payload (RFC 6455 §5.5.2, §5.5.3), unmasked, as soon as practical";
    let mut w = established(ctx)?;
    w.send(&masked(PING, payload))?;
    match next(&mut w, ctx) {
        Ok(Got::Control(f)) if f.opcode == PONG && f.payload == payload => Ok(Verdict::Pass),
        Ok(g) => Err(Failure::new(what, show(&g), want, hint)),
        Err(u) => Err(Failure::new(what, u.got, want, hint)),
    }
}

fn interleaved_ping(ctx: &Ctx) -> Outcome {
    let frames = [
        frame(false, TEXT, b"inter", Some(MASK)),
        masked(PING, b"between"),
        frame(true, CONTINUATION, b"leaved", Some(MASK)),
    ];
    let what = "a text message in two frames, \"inter\" (FIN 0) and \"leaved\" (continuation, FIN 1), with a ping \"between\" sent between them";
    let want = "a pong \"between\" and the text message \"interleaved\", in either order";
    let hint = "control frames may come between the fragments of a message (RFC 6455 §5.4): answer the ping at once and keep gathering the message; a ping is not a continuation and does not end or restart the message";
    let mut w = established(ctx)?;
    w.send(&frames.concat())?;
    let mut got = Vec::new();
    let (mut pong, mut message) = (false, false);
    while !(pong && message) {
        match next(&mut w, ctx) {
            Ok(Got::Control(f)) if f.opcode == PONG && f.payload == b"between" && !pong => {
                pong = true;
                got.push(show(&Got::Control(f)));
            }
            Ok(Got::Message(TEXT, data, m)) if data == b"interleaved" && !message => {
                message = true;
                got.push(show(&Got::Message(TEXT, data, m)));
            }
            Ok(g) => {
                got.push(show(&g));
                return Err(Failure::new(what, got.join(", "), want, hint));
            }
            Err(u) => {
                got.push(u.got);
                return Err(Failure::new(what, got.join(", then "), want, hint));
            }
        }
    }
    Ok(Verdict::Pass)
}

fn server_unmasked(ctx: &Ctx) -> Outcome {
    let msg = b"mask check";
    let what = format!("a masked text frame {}", preview(msg));
    let mut w = established(ctx)?;
    w.send(&masked(TEXT, msg))?;
    match next(&mut w, ctx) {
        Ok(Got::Message(_, _, false)) => Ok(Verdict::Pass),
        Ok(Got::Message(_, _, true)) => Err(Failure::new(what, "the echo in a masked frame (the mask bit set)", "unmasked frames", "a server MUST NOT mask the frames it sends (RFC 6455 §5.1): clear the mask bit and send the payload as it is; only clients mask")),
        Ok(g) => Err(Failure::new(what, show(&g), "the echo, in unmasked frames", ECHO_HINT)),
        Err(u) => Err(Failure::new(what, u.got, "the echo, in unmasked frames", ECHO_HINT)),
    }
}

/// Sends `bad` on an open WebSocket: the server must fail the connection
/// with a close frame carrying `code` (a plain close is a NOTE).
fn fails_with(ctx: &Ctx, bad: &[u8], what: &str, code: u16, hint: &str) -> Outcome {
    let mut w = established(ctx)?;
    // The server may close before it has read it all.
    let _ = w.send_some(bad, ctx.quiet);
    let want = format!("a close frame with code {code}, then the close");
    match next(&mut w, ctx) {
        Ok(Got::Control(f)) if f.opcode == CLOSE && close_code(&f.payload) == Some(code) => {
            Ok(Verdict::Pass)
        }
        Ok(g) => Err(Failure::new(what, show(&g), want, hint)),
        Err(u) if u.silent_close => Ok(Verdict::Note(format!(
            "the server closed without a close frame: RFC 6455 §7.1.7 says it SHOULD send one with code {code} first, as sockref does"
        ))),
        Err(u) => Err(Failure::new(what, u.got, want, hint)),
    }
}

fn client_unmasked(ctx: &Ctx) -> Outcome {
    let bad = frame(true, TEXT, b"not masked", None);
    fails_with(ctx, &bad, "an unmasked text frame \"not masked\"", PROTOCOL_ERROR, "every frame from a client is masked (RFC 6455 §5.1); a server that takes an unmasked one must instead fail the connection: send a close frame with 1002 (protocol error) and close")
}

fn close(ctx: &Ctx) -> Outcome {
    let mut body = 1000u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"bye");
    let what = "a masked close frame with code 1000 and reason \"bye\"";
    let want = "a close frame (code 1000, echoed), then the server's close";
    let hint = "on a close frame, answer with a close frame (typically echoing its code, RFC 6455 §5.5.1), then close the TCP connection: the server closes first (§7.1.1)";
    let mut w = established(ctx)?;
    w.send(&masked(CLOSE, &body))?;
    let g = next(&mut w, ctx).map_err(|u| Failure::new(what, u.got, want, hint))?;
    if !matches!(&g, Got::Control(f) if f.opcode == CLOSE) {
        return Err(Failure::new(what, show(&g), want, hint));
    }
    let (extra, end) = w.rest(ctx.wait);
    if extra.is_empty() && matches!(end, End::Eof | End::Reset) {
        return Ok(Verdict::Pass);
    }
    let then = if extra.is_empty() { "the connection stayed open".into() } else { preview(&extra) };
    Err(Failure::new(what, format!("{}, then {then}", show(&g)), want, hint))
}

fn invalid_utf8(ctx: &Ctx) -> Outcome {
    let bad = masked(TEXT, b"caf\xc3 \xff\xfe");
    fails_with(ctx, &bad, "a masked text frame \"caf\\xc3 \\xff\\xfe\" (not UTF-8)", INVALID_DATA, "a text message MUST be valid UTF-8 (RFC 6455 §8.1): check it (the whole message, once reassembled) and fail the connection with close code 1007 if it is not; use binary (0x2) for arbitrary bytes")
}

fn too_big(ctx: &Ctx) -> Outcome {
    // A binary frame header announcing 4 GiB, then its first kilobyte.
    let mut bad = vec![0x80 | BINARY, 0x80 | 127];
    bad.extend_from_slice(&(1u64 << 32).to_be_bytes());
    bad.extend_from_slice(&MASK);
    bad.extend_from_slice(&[b'x'; 1024]);
    let what = format!("a masked binary frame header announcing 4294967296 bytes (sockref's limit: {DEFAULT_WS_MAX_MESSAGE} by default, at most {MAX_WS_MESSAGE}), then 1024 of them");
    fails_with(ctx, &bad, &what, TOO_BIG, "judge a frame's length from its header, before reading or allocating its payload: past the server's limit, fail the connection with close code 1009 (message too big, RFC 6455 §7.4.1); a server that waits for 4 GiB, or malloc()s it, can be made to use any memory (§10.4)")
}

fn reserved_opcode(ctx: &Ctx) -> Outcome {
    fails_with(ctx, &masked(0x3, b"x"), "a masked frame with opcode 0x3 (reserved)", PROTOCOL_ERROR, "opcodes 0x3-0x7 and 0xB-0xF are reserved (RFC 6455 §5.2): a frame with one fails the connection with close code 1002, it is not ignored or echoed")
}

fn control_too_long(ctx: &Ctx) -> Outcome {
    let bad = masked(PING, &[b'p'; MAX_CONTROL + 1]);
    fails_with(ctx, &bad, "a masked ping with 126 bytes of payload (16-bit length)", PROTOCOL_ERROR, "control frames (close, ping, pong) carry at most 125 bytes and are never fragmented (RFC 6455 §5.5): a longer one fails the connection with close code 1002")
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, text_echo)
}

fn reserved_bits(ctx: &Ctx) -> Outcome {
    let mut bad = masked(TEXT, b"rsv");
    bad[0] |= 0x40;
    fails_with(ctx, &bad, "a masked text frame with RSV1 set", PROTOCOL_ERROR, "RSV1-3 are zero unless an extension agreed in the handshake gives them a meaning (RFC 6455 §5.2): with none agreed, a set bit fails the connection with close code 1002")
}

fn orphan_continuation(ctx: &Ctx) -> Outcome {
    let bad = masked(CONTINUATION, b"orphan");
    fails_with(ctx, &bad, "a masked continuation frame, FIN 1, with no message open", PROTOCOL_ERROR, "a continuation frame continues a message begun by a text or binary frame with FIN 0 (RFC 6455 §5.4); with none open it fails the connection with close code 1002")
}

fn bad_close_code(ctx: &Ctx) -> Outcome {
    let bad = masked(CLOSE, &1005u16.to_be_bytes());
    fails_with(ctx, &bad, "a masked close frame with code 1005", PROTOCOL_ERROR, "1005, 1006 and 1015 MUST NOT be sent in a close frame (RFC 6455 §7.4.1): a close carrying one is a protocol error, answered with close code 1002")
}

fn bad_key(ctx: &Ctx) -> Outcome {
    let req = upgrade("not-a-key").into_iter().collect::<Vec<u8>>();
    let mut w = Wire::open(ctx)?;
    w.send(&req)?;
    let hint = "Sec-WebSocket-Key is base64 of a 16-byte nonce (24 characters, RFC 6455 §4.1): a handshake without a valid one is refused with an HTTP error such as 400 (§4.2.1), not upgraded";
    match w.response(false) {
        Ok(r) if r.status == 400 => Ok(Verdict::Pass),
        Ok(r) if r.status != 101 && r.status / 100 == 4 => {
            Ok(Verdict::Note(format!("refused with {} where sockref answers 400", r.status)))
        }
        Ok(r) => Err(Failure::new(preview(&req), r.show(), "400 Bad Request", hint)),
        Err(u) => Err(Failure::new(preview(&req), u.got, "400 Bad Request", hint)),
    }
}

fn reset(ctx: &Ctx) -> Outcome {
    let mut req = upgrade(&new_key());
    for _ in 0..2000 {
        req.extend_from_slice(&masked(PING, &[b'p'; MAX_CONTROL]));
    }
    after_a_reset(ctx, &req, text_echo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_built_as_rfc6455_says() {
        // RFC 6455 §5.7: a masked text "Hello".
        assert_eq!(
            masked(TEXT, b"Hello"),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(frame(true, TEXT, b"Hello", None), [0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        assert_eq!(&frame(true, BINARY, &[0; 256], None)[..4], [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(&frame(true, BINARY, &[0; 65536], None)[..2], [0x82, 0x7f]);
    }

    #[test]
    fn keys_are_fresh_and_valid() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert_eq!(base64::decode(a.as_bytes()).map(|n| n.len()), Some(16));
    }
}
