//! The trace: one event per socket call, in the order the C program makes
//! them, through the library's Observer and through `serve --trace[=json]`.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockref::trace::{text_line, Event, Observer, Proto};
use sockref::{Limits, Protocols, ServerBuilder};

/// An event, owned, reduced to what the tests compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rec {
    Listen(Proto),
    Accept(u64),
    Read(u64, usize),
    Write(u64, usize),
    Shutdown(u64),
    Error {
        conn: u64,
        call: String,
        kind: ErrorKind,
        text: String,
    },
    Close {
        conn: u64,
        bytes_in: u64,
        bytes_out: u64,
    },
    RecvFrom(SocketAddr, usize),
    SendTo(SocketAddr, usize),
    Other(String),
}

impl Rec {
    /// The connection an event belongs to (None for listener/UDP events).
    fn conn(&self) -> Option<u64> {
        match self {
            Rec::Accept(c)
            | Rec::Read(c, _)
            | Rec::Write(c, _)
            | Rec::Shutdown(c)
            | Rec::Error { conn: c, .. }
            | Rec::Close { conn: c, .. } => Some(*c),
            _ => None,
        }
    }
}

/// The observer a test (or a lab) writes: records every event, and its
/// text line, in arrival order.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Rec>>,
    lines: Mutex<Vec<String>>,
}

impl Observer for Recorder {
    fn event(&self, event: &Event<'_>) {
        let rec = match event {
            Event::Listen { proto, .. } => Rec::Listen(*proto),
            Event::Accept { conn, .. } => Rec::Accept(*conn),
            Event::Read { conn, bytes, .. } => Rec::Read(*conn, *bytes),
            Event::Write { conn, bytes, .. } => Rec::Write(*conn, *bytes),
            Event::ShutdownWrite { conn } => Rec::Shutdown(*conn),
            Event::Error { conn, call, error } => Rec::Error {
                conn: *conn,
                call: call.to_string(),
                kind: error.kind(),
                text: error.to_string(),
            },
            Event::Close {
                conn,
                bytes_in,
                bytes_out,
                ..
            } => Rec::Close {
                conn: *conn,
                bytes_in: *bytes_in,
                bytes_out: *bytes_out,
            },
            Event::RecvFrom { peer, bytes, .. } => Rec::RecvFrom(peer.inet().unwrap(), *bytes),
            Event::SendTo { peer, bytes, .. } => Rec::SendTo(peer.inet().unwrap(), *bytes),
            other => Rec::Other(text_line(other)),
        };
        self.events.lock().unwrap().push(rec);
        self.lines.lock().unwrap().push(text_line(event));
    }
}

impl Recorder {
    fn events(&self) -> Vec<Rec> {
        self.events.lock().unwrap().clone()
    }

    fn of_conn(&self, conn: u64) -> Vec<Rec> {
        self.events()
            .into_iter()
            .filter(|e| e.conn() == Some(conn))
            .collect()
    }
}

fn one_udp_worker() -> Limits {
    // One worker: the next datagram cannot be traced before the previous
    // reply's sendto(), so the order across datagrams is exact too.
    Limits {
        udp_workers: 1,
        ..Limits::default()
    }
}

#[test]
fn tcp_events_follow_the_c_sequence_per_connection() {
    let rec = Arc::new(Recorder::default());
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(2)
        .observer(rec.clone())
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    assert_eq!(tcp_exchange(addr, b"hello"), b"hello");
    assert_eq!(tcp_exchange(addr, b"second!"), b"second!");
    // Joins every worker: every event has been delivered once it returns.
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.closed, 2);

    assert_eq!(rec.events()[0], Rec::Listen(Proto::Tcp));
    for (conn, n) in [(1, 5), (2, 7)] {
        assert_eq!(
            rec.of_conn(conn),
            [
                Rec::Accept(conn),
                Rec::Read(conn, n),
                Rec::Write(conn, n),
                Rec::Read(conn, 0),
                Rec::Close {
                    conn,
                    bytes_in: n as u64,
                    bytes_out: n as u64
                },
            ],
            "connection {conn}"
        );
    }
    let lines = rec.lines.lock().unwrap().concat();
    assert!(lines.contains("read()     conn=1 bytes=5\n"), "{lines}");
    assert!(
        lines.contains("read()     conn=1 bytes=0 (EOF)\n"),
        "{lines}"
    );
    assert!(lines.contains("close()    conn=2 duration="), "{lines}");
    assert!(lines.contains(" in=7 out=7\n"), "{lines}");
}

#[test]
fn udp_events_are_recvfrom_then_sendto_per_datagram() {
    let rec = Arc::new(Recorder::default());
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Udp)
        .limits(one_udp_worker())
        .observer(rec.clone())
        .start()
        .unwrap();
    let addr = server.udp_addr().unwrap();
    let client = udp_client();
    let me = SocketAddr::from(([127, 0, 0, 1], client.local_addr().unwrap().port()));
    let mut buf = [0u8; 64];
    for msg in [&b"one"[..], b"three"] {
        client.send_to(msg, addr).unwrap();
        let (n, _) = client.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg);
    }
    drop(server);
    // The shutdown's wake-up datagrams arrive after the stop flag is set,
    // so they are not traced: these five are all.
    assert_eq!(
        rec.events(),
        [
            Rec::Listen(Proto::Udp),
            Rec::RecvFrom(me, 3),
            Rec::SendTo(me, 3),
            Rec::RecvFrom(me, 5),
            Rec::SendTo(me, 5),
        ]
    );
}

#[test]
fn a_timeout_is_an_error_event_naming_the_call() {
    let rec = Arc::new(Recorder::default());
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(1)
        .idle_timeout(Some(Duration::from_millis(200)))
        .observer(rec.clone())
        .start()
        .unwrap();
    // Say nothing: the server's read() times out and it closes.
    let mut silent = connect(server.tcp_addr().unwrap());
    let mut rest = Vec::new();
    silent.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.timed_out, 1);

    let events = rec.of_conn(1);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0], Rec::Accept(1));
    assert_eq!(
        events[1],
        Rec::Error {
            conn: 1,
            call: "read()".into(),
            kind: ErrorKind::TimedOut,
            text: "timed out after 0.200s".into(),
        }
    );
    assert!(matches!(
        events[2],
        Rec::Close {
            conn: 1,
            bytes_in: 0,
            bytes_out: 0
        }
    ));
    let lines = rec.lines.lock().unwrap().concat();
    assert!(
        lines.contains("read()     error conn=1: timed out after 0.200s\n"),
        "{lines}"
    );
}

#[test]
fn a_failing_handler_shows_why_its_connection_closed() {
    let rec = Arc::new(Recorder::default());
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(1)
        .observer(rec.clone())
        .service(sockref::tcp_handler("picky", |conn| {
            let mut b = [0u8; 8];
            let n = conn.read(&mut b)?;
            match &b[..n] {
                b"boom" => panic!("boom on purpose"),
                _ => Err(std::io::Error::other("refusing this request")),
            }
        }))
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    for word in [&b"boom"[..], b"nope"] {
        let mut s = connect(addr);
        s.write_all(word).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        assert!(reply.is_empty());
    }
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!((stats.closed, stats.panics, stats.io_errors), (2, 1, 1));
    let c1 = rec.of_conn(1);
    assert_eq!(c1[..2], [Rec::Accept(1), Rec::Read(1, 4)]);
    assert!(matches!(c1.last(), Some(Rec::Close { conn: 1, .. })));
    let panic_line = rec
        .lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l == "panic      conn=1 handler panicked: boom on purpose\n");
    assert!(panic_line);
    assert_eq!(
        rec.of_conn(2)[2],
        Rec::Error {
            conn: 2,
            call: "handler".into(),
            kind: ErrorKind::Other,
            text: "refusing this request".into(),
        }
    );
}

/// A JSON value, as much of JSON as the trace uses.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

/// Parses one flat JSON object (strings, numbers, booleans, null), the
/// whole line and nothing else: a trailing byte is an error, so two objects
/// on one line fail.
fn parse_object(line: &str) -> Result<BTreeMap<String, Json>, String> {
    let mut p = Parser {
        s: line.as_bytes(),
        i: 0,
    };
    let mut obj = BTreeMap::new();
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            let value = p.value()?;
            if obj.insert(key.clone(), value).is_some() {
                return Err(format!("duplicate key {key}"));
            }
            p.ws();
            match p.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                other => return Err(format!("expected , or }} at {}, got {other:?}", p.i)),
            }
        }
    }
    p.ws();
    if p.i != p.s.len() {
        return Err(format!("trailing bytes at {}", p.i));
    }
    Ok(obj)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let c = self.peek();
        self.i += 1;
        c
    }
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        match self.next() {
            Some(got) if got == c => Ok(()),
            got => Err(format!(
                "expected {:?} at {}, got {got:?}",
                c as char, self.i
            )),
        }
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.next() {
                Some(b'"') => break,
                Some(b'\\') => match self.next() {
                    Some(b'"') => out.push(b'"'),
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'/') => out.push(b'/'),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b't') => out.push(b'\t'),
                    Some(b'b') => out.push(8),
                    Some(b'f') => out.push(12),
                    Some(b'u') => {
                        let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u")?;
                        let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                        let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                        let c = char::from_u32(code).ok_or("bad \\u")?;
                        out.extend_from_slice(c.to_string().as_bytes());
                        self.i += 4;
                    }
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some(c) if c < 0x20 => return Err(format!("raw control byte {c}")),
                Some(c) => out.push(c),
                None => return Err("unterminated string".into()),
            }
        }
        String::from_utf8(out).map_err(|e| e.to_string())
    }
    fn value(&mut self) -> Result<Json, String> {
        match self.peek() {
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Json::Bool(true))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Json::Bool(false))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Json::Null)
            }
            _ => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                text.parse::<f64>()
                    .map(Json::Num)
                    .map_err(|_| format!("bad value at {start}: {text:?}"))
            }
        }
    }
}

fn s(obj: &BTreeMap<String, Json>, key: &str) -> String {
    match obj.get(key) {
        Some(Json::Str(v)) => v.clone(),
        other => panic!("{key}: expected a string, got {other:?} in {obj:?}"),
    }
}

fn n(obj: &BTreeMap<String, Json>, key: &str) -> f64 {
    match obj.get(key) {
        Some(Json::Num(v)) => *v,
        other => panic!("{key}: expected a number, got {other:?} in {obj:?}"),
    }
}

#[test]
fn the_json_checker_rejects_what_jq_would() {
    assert!(parse_object(r#"{"a":"x\"y","b":1.5,"c":true}"#).is_ok());
    assert!(parse_object(r#"{"a":1}{"b":2}"#).is_err());
    assert!(parse_object(r#"{"a":1,}"#).is_err());
    assert!(parse_object("{\"a\":\"raw\nnewline\"}").is_err());
    assert!(parse_object(r#"{"a":01x}"#).is_err());
}

#[test]
fn serve_trace_json_prints_one_object_per_line() {
    let mut p = Proc::start(
        &[
            "--trace=json",
            "--workers",
            "2",
            "--udp-workers",
            "1",
            "--max-connections",
            "1",
            "--max-datagrams",
            "1",
        ],
        2,
    );
    assert_eq!(udp_exchange(p.udp(), b"datagram"), b"datagram");
    assert_eq!(tcp_exchange(p.tcp(), b"hello"), b"hello");
    // Both counts reached: the server stops, prints its counters and exits,
    // so everything it traced is on stdout by the time we read EOF.
    assert!(p.child.wait().unwrap().success());
    let mut lines = p.lines.clone();
    while let Some(l) = p.next_line() {
        lines.push(l);
    }
    assert!(lines
        .last()
        .unwrap()
        .starts_with("stopped accepted=1 closed=1 "));

    let mut events = Vec::new();
    for line in &lines {
        if line.starts_with("listening ") || line.starts_with("stopped ") {
            continue;
        }
        let obj = parse_object(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(n(&obj, "ts_us") > 1.5e15, "a real timestamp: {line}");
        assert!(!s(&obj, "call").is_empty());
        events.push(obj);
    }
    let kinds: Vec<String> = events.iter().map(|e| s(e, "event")).collect();
    assert_eq!(kinds[..2], ["listen", "listen"], "{kinds:?}");
    assert_eq!(s(&events[0], "call"), "socket() + bind() + listen()");
    assert_eq!(n(&events[0], "backlog"), 128.0);
    assert_eq!(s(&events[0], "addr"), p.tcp().to_string());
    assert_eq!(s(&events[1], "call"), "socket() + bind()");

    let udp: Vec<_> = events
        .iter()
        .filter(|e| ["recvfrom", "sendto"].contains(&s(e, "event").as_str()))
        .filter(|e| n(e, "bytes") > 0.0)
        .collect();
    assert_eq!(udp.len(), 2, "{udp:?}");
    assert_eq!(s(udp[0], "call"), "recvfrom()");
    assert_eq!(s(udp[1], "call"), "sendto()");
    assert_eq!(s(udp[0], "peer"), s(udp[1], "peer"));
    assert_eq!((n(udp[0], "bytes"), n(udp[1], "bytes")), (8.0, 8.0));

    let conn: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.get("conn"), Some(Json::Num(c)) if *c == 1.0))
        .collect();
    let seq: Vec<(String, f64)> = conn
        .iter()
        .map(|e| {
            let bytes = match e.get("bytes") {
                Some(Json::Num(b)) => *b,
                _ => -1.0,
            };
            (s(e, "call"), bytes)
        })
        .collect();
    let want: Vec<(String, f64)> = [
        ("accept()", -1.0),
        ("read()", 5.0),
        ("write()", 5.0),
        ("read()", 0.0),
        ("close()", -1.0),
    ]
    .iter()
    .map(|(c, b)| (c.to_string(), *b))
    .collect();
    assert_eq!(seq, want);
    assert_eq!(conn[3].get("eof"), Some(&Json::Bool(true)));
    assert_eq!((n(conn[4], "in"), n(conn[4], "out")), (5.0, 5.0));
    // One thread serves the connection, so its clock only moves forward.
    let ts: Vec<f64> = conn.iter().map(|e| n(e, "ts_us")).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
}

#[test]
fn serve_trace_text_names_each_call() {
    let mut p = Proc::start(&["--trace", "--proto", "tcp", "--max-connections", "1"], 1);
    assert_eq!(tcp_exchange(p.tcp(), b"abc"), b"abc");
    assert!(p.child.wait().unwrap().success());
    let mut lines = p.lines.clone();
    while let Some(l) = p.next_line() {
        lines.push(l);
    }
    let calls: Vec<&str> = lines
        .iter()
        .filter(|l| !l.starts_with("listening ") && !l.starts_with("stopped "))
        .map(|l| l.as_str())
        .collect();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(
        calls[0],
        format!("socket() + bind() + listen() tcp {} backlog=128", p.tcp())
    );
    assert!(calls[1].starts_with("accept()   conn=1 peer=127.0.0.1:"));
    assert!(calls[1].contains(" worker="), "{}", calls[1]);
    assert_eq!(calls[2], "read()     conn=1 bytes=3");
    assert_eq!(calls[3], "write()    conn=1 bytes=3");
    assert_eq!(calls[4], "read()     conn=1 bytes=0 (EOF)");
    assert!(calls[5].starts_with("close()    conn=1 duration="));
    assert!(calls[5].ends_with("ms in=3 out=3"), "{}", calls[5]);
}
