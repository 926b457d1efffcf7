//! Socket-call events, named after the C calls, and the sinks that print them.
//!
//! Every socket call the server (or the client) makes is reported to an
//! [`Observer`] as an [`Event`], with the values a student would print in C:
//! the descriptor's connection number, the byte count, the peer, the error.
//! `--trace` prints them as text, `--trace=json` as JSON lines; a library user
//! can implement [`Observer`] to count calls or assert on their order.
//!
//! With no observer installed the server checks one `Option` per call and
//! builds no event, so tracing off costs nothing measurable.
//!
//! What it does not do: decide anything. Events are reports, never requests.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::limits::TRACE_PREVIEW;
use crate::net::Endpoint;

pub mod layers;

use layers::Layers;

/// `emit!(observer, Event::...)`: reports an event to an optional observer
/// in one line at the call site. The event is built only when an observer
/// is installed, so tracing off costs one branch.
macro_rules! emit {
    ($observer:expr, $event:expr) => {
        if let Some(observer) = $observer {
            observer.event(&$event);
        }
    };
}
pub(crate) use emit;

/// Transport of a socket: address family and type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// TCP (`PF_INET`/`PF_INET6`, `SOCK_STREAM`).
    Tcp,
    /// UDP (`PF_INET`/`PF_INET6`, `SOCK_DGRAM`).
    Udp,
    /// Unix-domain stream (`PF_LOCAL`, `SOCK_STREAM`).
    Unix,
    /// Unix-domain datagram (`PF_LOCAL`, `SOCK_DGRAM`).
    Unixgram,
}

impl Proto {
    /// True for the connection-oriented (`SOCK_STREAM`) kinds.
    pub fn is_stream(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Unix)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Unix => "unix",
            Proto::Unixgram => "unixgram",
        })
    }
}

/// One socket call (or its failure), as it happens.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// `socket() + bind() + listen()` for TCP, `socket() + bind()` for UDP
    /// (the server's sockets, and the client's UDP socket on port 0).
    Listen {
        /// Which protocol.
        proto: Proto,
        /// The bound address (real port when 0 was asked), or path.
        addr: &'a Endpoint,
        /// `listen()` backlog (stream sockets only; 0 for datagrams).
        backlog: u32,
    },
    /// `socket() + connect()` by the client.
    Connect {
        /// Server address.
        peer: &'a Endpoint,
        /// Local address the kernel chose.
        local: &'a Endpoint,
    },
    /// `accept()` returned a new connection.
    Accept {
        /// Connection number, counting from 1.
        conn: u64,
        /// Client address.
        peer: &'a Endpoint,
        /// Worker thread that will serve it.
        worker: usize,
    },
    /// `accept()` failed; `backoff` is the pause before the next try.
    AcceptError {
        /// The OS error.
        error: &'a io::Error,
        /// Zero for errors retried at once.
        backoff: Duration,
    },
    /// A worker was free to accept again after descriptors ran out.
    AcceptRecovered {
        /// Failed attempts in the episode.
        failures: u64,
    },
    /// `read()` returned (0 bytes = end of file).
    Read {
        /// Connection number.
        conn: u64,
        /// Bytes read.
        bytes: usize,
        /// The bytes read (`bytes` of them), for a preview.
        data: &'a [u8],
    },
    /// `write()` returned.
    Write {
        /// Connection number.
        conn: u64,
        /// Bytes written.
        bytes: usize,
        /// The bytes written (`bytes` of them), for a preview.
        data: &'a [u8],
    },
    /// `shutdown(SHUT_WR)`: the server sent FIN and now only drains input.
    ShutdownWrite {
        /// Connection number.
        conn: u64,
    },
    /// A call on a connection failed; `call` names it (`"read()"`, ...), or
    /// is `"handler"` when a service returned an error of its own (one not
    /// from a failed call), so the trace always says why a connection closed.
    Error {
        /// Connection number (0 for the listener or a UDP socket).
        conn: u64,
        /// The C call that failed.
        call: &'static str,
        /// The OS error (timeouts are `TimedOut` with a clear message).
        error: &'a io::Error,
    },
    /// The connection's handler panicked; the connection is closed.
    Panic {
        /// Connection number.
        conn: u64,
        /// The panic message.
        message: &'a str,
    },
    /// Accepted, told `busy`, closed: overload policy `reject`, or the
    /// per-address cap (`--max-per-ip`).
    Reject {
        /// Connection number.
        conn: u64,
        /// Client address.
        peer: &'a Endpoint,
        /// Which limit: `all workers busy` or `per-IP limit reached`.
        reason: &'a str,
    },
    /// `close()` of an accepted connection.
    Close {
        /// Connection number.
        conn: u64,
        /// Time from `accept()` to `close()`.
        duration: Duration,
        /// Bytes read over the connection's life.
        bytes_in: u64,
        /// Bytes written over the connection's life.
        bytes_out: u64,
    },
    /// `recvfrom()` returned a datagram.
    RecvFrom {
        /// Sender.
        peer: &'a Endpoint,
        /// Datagram length.
        bytes: usize,
        /// The datagram, for a preview.
        data: &'a [u8],
    },
    /// `sendto()` sent a datagram.
    SendTo {
        /// Destination.
        peer: &'a Endpoint,
        /// Datagram length.
        bytes: usize,
        /// The datagram, for a preview.
        data: &'a [u8],
    },
    /// A datagram was received but not answered.
    Drop {
        /// Sender.
        peer: &'a Endpoint,
        /// Datagram length.
        bytes: usize,
        /// Why: `"low source port"`, `"own address"` or `"rate limit"`.
        reason: &'static str,
    },
}

impl Event<'_> {
    /// The C call this event reports, as a student would write it.
    pub fn call(&self) -> &'static str {
        match self {
            Event::Listen { proto, .. } if proto.is_stream() => "socket() + bind() + listen()",
            Event::Listen { .. } => "socket() + bind()",
            Event::Connect { .. } => "socket() + connect()",
            Event::Accept { .. } | Event::AcceptError { .. } | Event::AcceptRecovered { .. } => {
                "accept()"
            }
            Event::Read { .. } => "read()",
            Event::Write { .. } => "write()",
            Event::ShutdownWrite { .. } => "shutdown()",
            Event::Error { call, .. } => call,
            Event::Panic { .. } => "panic",
            Event::Reject { .. } => "reject",
            Event::Close { .. } => "close()",
            Event::RecvFrom { .. } | Event::Drop { .. } => "recvfrom()",
            Event::SendTo { .. } => "sendto()",
        }
    }
}

/// One `read()` or `write()`, as the server's `Conn` and the client both
/// make it: retried on EINTR, as the C loop would. The caller reports it
/// (with [`io_event`]) once the call has let go of the buffer, so that the
/// event can show the bytes; a failure is returned for the caller to name.
pub(crate) fn io_call(mut op: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

/// The event for a `read()` (`write` false) or `write()` that moved `data`.
pub(crate) fn io_event(conn: u64, write: bool, data: &[u8]) -> Event<'_> {
    let bytes = data.len();
    if write {
        Event::Write { conn, bytes, data }
    } else {
        Event::Read { conn, bytes, data }
    }
}

/// Receives every event. Must be cheap and must not block for long: it runs
/// on the thread making the call, between two system calls.
pub trait Observer: Send + Sync {
    /// Called once per event, in the order the calls happen on that thread.
    fn event(&self, event: &Event<'_>);
}

/// Hands every event to two observers in turn: `--trace` and `--watch`
/// at once. Each still sees the events in the order they happen.
pub struct Tee(pub Arc<dyn Observer>, pub Arc<dyn Observer>);

impl Observer for Tee {
    fn event(&self, event: &Event<'_>) {
        self.0.event(event);
        self.1.event(event);
    }
}

/// Output format of the built-in trace sinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// One aligned human-readable line per event.
    Text,
    /// One JSON object per line, with a microsecond timestamp (`jq` friendly).
    Json,
}

/// Writes events to any `Write` (stdout for `--trace`), one line each,
/// with the protocol layers inside a read's or write's bytes
/// ([`layers`]) under it. A mutex keeps lines from different workers
/// whole, and the layers of one connection in order.
pub struct TraceWriter<W: Write + Send> {
    format: TraceFormat,
    out: Mutex<(W, Layers)>,
}

impl<W: Write + Send> TraceWriter<W> {
    /// A sink in `format` writing to `out`.
    pub fn new(format: TraceFormat, out: W) -> Self {
        TraceWriter { format, out: Mutex::new((out, Layers::new())) }
    }
}

impl<W: Write + Send> Observer for TraceWriter<W> {
    fn event(&self, event: &Event<'_>) {
        let mut guard = match self.out.lock() {
            Ok(out) => out,
            Err(poisoned) => poisoned.into_inner(),
        };
        let (out, layers) = &mut *guard;
        let inside = layers.describe(event);
        let line = match self.format {
            TraceFormat::Text => text_line_layered(event, &inside),
            TraceFormat::Json => json_line_layered(event, &inside),
        };
        // A closed stdout (e.g. `| head`) must not take the server down.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Formats one event the way `--trace` prints it (with trailing newline).
pub fn text_line(event: &Event<'_>) -> String {
    text_line_layered(event, "")
}

/// [`text_line`], followed by one indented line for each line of `inside`
/// (what [`Layers::describe`] found in the event's bytes).
pub fn text_line_layered(event: &Event<'_>, inside: &str) -> String {
    let detail = match event {
        Event::Listen { proto, addr, backlog } if proto.is_stream() => {
            format!("{proto} {addr} backlog={backlog}")
        }
        Event::Listen { proto, addr, .. } => format!("{proto} {addr}"),
        Event::Connect { peer, local } => format!("peer={peer} local={local}"),
        Event::Accept { conn, peer, worker } => {
            format!("conn={conn} peer={peer} worker={worker}")
        }
        Event::AcceptError { error, backoff } => {
            if backoff.is_zero() {
                format!("error: {error} (retrying)")
            } else {
                format!("error: {error} (backing off {})", ms(*backoff))
            }
        }
        Event::AcceptRecovered { failures } => {
            format!("recovered after {failures} failed attempts")
        }
        Event::Read { conn, bytes: 0, .. } => format!("conn={conn} bytes=0 (EOF)"),
        Event::Read { conn, bytes, .. } | Event::Write { conn, bytes, .. } => {
            format!("conn={conn} bytes={bytes}")
        }
        Event::ShutdownWrite { conn } => format!("conn={conn} how=SHUT_WR"),
        Event::Error { conn, error, .. } => format!("error conn={conn}: {error}"),
        Event::Panic { conn, message } => format!("conn={conn} handler panicked: {message}"),
        Event::Reject { conn, peer, reason } => format!("conn={conn} peer={peer} {reason}"),
        Event::Close { conn, duration, bytes_in, bytes_out } => {
            format!("conn={conn} duration={} in={bytes_in} out={bytes_out}", ms(*duration))
        }
        Event::RecvFrom { peer, bytes, .. } | Event::SendTo { peer, bytes, .. } => {
            format!("peer={peer} bytes={bytes}")
        }
        Event::Drop { peer, bytes, reason } => {
            format!("peer={peer} bytes={bytes} dropped: {reason}")
        }
    };
    let mut line = String::with_capacity(64);
    let _ = writeln!(line, "{:<10} {detail}", event.call());
    for layer in inside.lines() {
        let _ = writeln!(line, "{:<10} {layer}", "");
    }
    line
}

/// Formats one event as a JSON object on one line (with trailing newline).
pub fn json_line(event: &Event<'_>) -> String {
    json_line_layered(event, "")
}

/// [`json_line`], with `"layers"`: what [`Layers::describe`] found in the
/// event's bytes, one frame per line of the string (none when empty).
pub fn json_line_layered(event: &Event<'_>, inside: &str) -> String {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
    let mut j = Json(String::with_capacity(96));
    j.0.push('{');
    j.num("ts_us", ts);
    j.str("call", event.call());
    match event {
        Event::Listen { proto, addr, backlog } => {
            j.str("event", "listen");
            j.str("proto", &proto.to_string());
            j.str("addr", &addr.to_string());
            if proto.is_stream() {
                j.num("backlog", *backlog);
            }
        }
        Event::Connect { peer, local } => {
            j.str("event", "connect");
            j.str("peer", &peer.to_string());
            j.str("local", &local.to_string());
        }
        Event::Accept { conn, peer, worker } => {
            j.str("event", "accept");
            j.num("conn", *conn);
            j.str("peer", &peer.to_string());
            j.num("worker", *worker);
        }
        Event::AcceptError { error, backoff } => {
            j.str("event", "accept_error");
            j.str("error", &error.to_string());
            j.num("backoff_us", backoff.as_micros());
        }
        Event::AcceptRecovered { failures } => {
            j.str("event", "accept_recovered");
            j.num("failures", *failures);
        }
        Event::Read { conn, bytes, data } => {
            j.str("event", "read");
            j.num("conn", *conn);
            j.num("bytes", *bytes);
            j.bool("eof", *bytes == 0);
            j.preview(data);
        }
        Event::Write { conn, bytes, data } => {
            j.str("event", "write");
            j.num("conn", *conn);
            j.num("bytes", *bytes);
            j.preview(data);
        }
        Event::ShutdownWrite { conn } => {
            j.str("event", "shutdown");
            j.num("conn", *conn);
            j.str("how", "SHUT_WR");
        }
        Event::Error { conn, call, error } => {
            j.str("event", "error");
            j.num("conn", *conn);
            j.str("failed", call);
            j.str("error", &error.to_string());
            j.bool("timeout", error.kind() == io::ErrorKind::TimedOut);
        }
        Event::Panic { conn, message } => {
            j.str("event", "panic");
            j.num("conn", *conn);
            j.str("message", message);
        }
        Event::Reject { conn, peer, reason } => {
            j.str("event", "reject");
            j.num("conn", *conn);
            j.str("peer", &peer.to_string());
            j.str("reason", reason);
        }
        Event::Close { conn, duration, bytes_in, bytes_out } => {
            j.str("event", "close");
            j.num("conn", *conn);
            j.num("duration_us", duration.as_micros());
            j.num("in", *bytes_in);
            j.num("out", *bytes_out);
        }
        Event::RecvFrom { peer, bytes, data } => {
            j.str("event", "recvfrom");
            j.str("peer", &peer.to_string());
            j.num("bytes", *bytes);
            j.preview(data);
        }
        Event::SendTo { peer, bytes, data } => {
            j.str("event", "sendto");
            j.str("peer", &peer.to_string());
            j.num("bytes", *bytes);
            j.preview(data);
        }
        Event::Drop { peer, bytes, reason } => {
            j.str("event", "drop");
            j.str("peer", &peer.to_string());
            j.num("bytes", *bytes);
            j.str("reason", reason);
        }
    }
    if !inside.is_empty() {
        j.str("layers", inside);
    }
    j.0.push_str("}\n");
    j.0
}

/// A tiny JSON object writer: enough for flat objects of strings and numbers.
struct Json(String);

impl Json {
    fn sep(&mut self) {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
    }
    fn key(&mut self, k: &str) {
        self.sep();
        self.0.push('"');
        self.0.push_str(k);
        self.0.push_str("\":");
    }
    fn num(&mut self, k: &str, v: impl fmt::Display) {
        self.key(k);
        let _ = write!(self.0, "{v}");
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.0.push_str(if v { "true" } else { "false" });
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        escape_json_into(&mut self.0, v);
    }
    /// `"data"`: the first [`TRACE_PREVIEW`] bytes as [`escape_bytes`]
    /// shows them, and `"cut":true` when there were more. Nothing for none.
    fn preview(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let shown = &data[..data.len().min(TRACE_PREVIEW)];
        self.str("data", &escape_bytes(shown));
        if shown.len() < data.len() {
            self.bool("cut", true);
        }
    }
}

/// Bytes as a C string literal would show them: printable ASCII as it is,
/// `\n`, `\r`, `\t`, `\\`, and `\xNN` for every other byte, so that a
/// preview of binary or hostile input is one plain line of text.
pub fn escape_bytes(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len());
    for &b in data {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// Appends `s` as a quoted JSON string.
pub fn escape_json_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_name_the_c_call() {
        let peer = Endpoint::Inet(([127, 0, 0, 1], 53122).into());
        let l = text_line(&Event::Accept { conn: 1, peer: &peer, worker: 3 });
        assert_eq!(l, "accept()   conn=1 peer=127.0.0.1:53122 worker=3\n");
        let l = text_line(&Event::Read { conn: 1, bytes: 0, data: b"" });
        assert_eq!(l, "read()     conn=1 bytes=0 (EOF)\n");
        let path = Endpoint::Unix(Some("/tmp/s.sock".into()));
        let l = text_line(&Event::Listen { proto: Proto::Unix, addr: &path, backlog: 128 });
        assert_eq!(l, "socket() + bind() + listen() unix /tmp/s.sock backlog=128\n");
        let l = text_line(&Event::Listen { proto: Proto::Unixgram, addr: &path, backlog: 0 });
        assert_eq!(l, "socket() + bind() unixgram /tmp/s.sock\n");
    }

    #[test]
    fn json_escapes_and_is_one_line() {
        let e = io::Error::other("a \"quoted\"\nline");
        let l = json_line(&Event::Error { conn: 4, call: "read()", error: &e });
        assert_eq!(l.matches('\n').count(), 1);
        assert!(l.contains(r#""error":"a \"quoted\"\nline""#), "{l}");
        assert!(l.starts_with("{\"ts_us\":"));
    }

    #[test]
    fn json_previews_the_bytes_escaped_and_cut() {
        let l = json_line(&Event::Read { conn: 2, bytes: 7, data: b"hi\r\n\0\\\"" });
        assert!(l.contains(r#""bytes":7,"eof":false,"data":"hi\\r\\n\\x00\\\\\""}"#), "{l}");
        let long = [b'a'; TRACE_PREVIEW + 1];
        let l = json_line(&Event::Write { conn: 2, bytes: long.len(), data: &long });
        let shown = "a".repeat(TRACE_PREVIEW);
        assert!(l.contains(&format!(r#""data":"{shown}","cut":true}}"#)), "{l}");
        let l = json_line(&Event::Read { conn: 2, bytes: 0, data: b"" });
        assert!(l.ends_with("\"eof\":true}\n"), "{l}");
    }
}
