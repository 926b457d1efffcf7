//! Hostile input: every service gets random binary, NUL and 0xFF bytes, a
//! 1 MiB line, a 5,000-byte `length` message, zero-length and 65,507-byte
//! datagrams. It answers each as its RFC says, stays up, and answers the
//! next client correctly. A seeded random-input test then drives the
//! services' input handling directly, many cases, no network.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use sockref::service::{
    chargen_pattern, length_reply, CHARGEN_UDP_LEN, HELLO_MSG, LENGTH_BUF, SERVICE_NAMES,
};
use sockref::Reply;

/// The payloads every service gets over TCP.
fn tcp_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut line = vec![b'L'; 1 << 20];
    line.push(b'\n');
    vec![
        ("random binary", random_bytes(99, 65_536)),
        ("NUL bytes", vec![0u8; 10_000]),
        ("0xFF bytes", vec![0xFF; 10_000]),
        ("1 MiB line", line),
        ("5,000-byte message", vec![b'm'; 5000]),
        ("nothing", Vec::new()),
    ]
}

/// Sends `payload` (from a second thread) while reading the reply; for
/// chargen, which never stops, reads 64 KiB and hangs up.
fn tcp_hostile(addr: SocketAddr, service: &str, payload: &[u8]) -> Vec<u8> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let data = payload.to_vec();
    let writer = thread::spawn(move || {
        // chargen never reads, so its writer may be cut short: fine.
        let _ = w.write_all(&data);
        let _ = w.shutdown(Shutdown::Write);
    });
    let mut out = Vec::new();
    if service == "chargen" {
        out.resize(65_536, 0);
        (&s).read_exact(&mut out).unwrap();
        let _ = s.shutdown(Shutdown::Both);
    } else {
        (&s).read_to_end(&mut out)
            .expect("reply arrives whole, no reset");
    }
    writer.join().unwrap();
    out
}

/// Checks a `length` reply: `"<n> : <msg>\0"` with n = msg's length, msg
/// the bytes of `input` up to its first NUL, within one 1024-byte read.
fn check_length_reply(reply: &[u8], input: &[u8], what: &str) {
    assert_eq!(reply.last(), Some(&0), "{what}: ends with NUL");
    let body = &reply[..reply.len() - 1];
    let sep = body
        .windows(3)
        .position(|w| w == b" : ")
        .unwrap_or_else(|| panic!("{what}: no ' : ' in {:?}", String::from_utf8_lossy(body)));
    let n: usize = std::str::from_utf8(&body[..sep]).unwrap().parse().unwrap();
    let msg = &body[sep + 3..];
    assert_eq!(n, msg.len(), "{what}: count matches");
    assert!(n <= LENGTH_BUF, "{what}: one read of at most 1024");
    assert!(!msg.contains(&0), "{what}: stops at NUL");
    assert!(input.starts_with(msg), "{what}: msg is the input's start");
}

/// What service `name` must answer to `payload` over TCP.
fn check_tcp(name: &str, payload: &[u8], reply: &[u8], what: &str) {
    match name {
        "echo" => assert!(reply == payload, "{what}: echo differs"),
        "discard" => assert!(reply.is_empty(), "{what}"),
        "chargen" => assert!(reply == chargen_pattern(reply.len()), "{what}"),
        "daytime" => {
            assert!(
                reply.ends_with(b"\r\n") && reply.len() > 20,
                "{what}: {reply:?}"
            );
            assert!(reply.is_ascii(), "{what}");
        }
        "time" => assert_eq!(reply.len(), 4, "{what}"),
        "hello" => assert_eq!(reply, HELLO_MSG, "{what}"),
        "length" => check_length_reply(reply, payload, what),
        // Nothing sent, nothing answered; anything else is one response
        // (an error, for these payloads), whole, then the close.
        "http" | "websocket" | "chat" | "socketio" if payload.is_empty() => {
            assert!(reply.is_empty(), "{what}")
        }
        "http" | "websocket" | "chat" | "socketio" => check_one_http_response(reply, what),
        other => panic!("unknown service {other}"),
    }
}

/// Exactly one HTTP response, whole: its head, then Content-Length bytes.
fn check_one_http_response(reply: &[u8], what: &str) {
    let text = String::from_utf8_lossy(reply);
    assert!(text.starts_with("HTTP/1.1 "), "{what}: {text}");
    let end = text
        .find("\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: {text}"))
        + 4;
    let length: usize = text
        .split("\r\nContent-Length: ")
        .nth(1)
        .and_then(|v| v.split("\r\n").next()?.parse().ok())
        .unwrap_or_else(|| panic!("{what}: {text}"));
    assert_eq!(
        reply.len(),
        end + length,
        "{what}: one response, whole: {text}"
    );
}

/// What service `name` must answer to a datagram (`None`: no reply).
fn check_udp(name: &str, request: &[u8], reply: Option<&[u8]>, what: &str) {
    match (name, reply) {
        ("echo", Some(r)) => assert!(r == request, "{what}"),
        ("discard", None) => {}
        ("chargen", Some(r)) => assert_eq!(r, chargen_pattern(CHARGEN_UDP_LEN), "{what}"),
        ("daytime", Some(r)) => assert!(r.ends_with(b"\r\n") && r.is_ascii(), "{what}"),
        ("time", Some(r)) => assert_eq!(r.len(), 4, "{what}"),
        ("hello", Some(r)) => assert_eq!(r, HELLO_MSG, "{what}"),
        ("length", Some(r)) => check_length_reply(r, request, what),
        (name, r) => panic!("{what}: {name} answered {:?}", r.map(<[u8]>::len)),
    }
}

#[test]
fn every_service_survives_hostile_tcp_and_udp_input_and_serves_the_next_client() {
    for name in SERVICE_NAMES {
        // HTTP and WebSocket have no datagram form.
        let stream_only = sockref::builtin(name).unwrap().stream_only();
        let proto = if stream_only { "tcp" } else { "both" };
        // A generous drain time: the test must not depend on this machine
        // moving 1 MiB through loopback within the default second.
        let mut p = Proc::start(
            &[
                "--service",
                name,
                "--proto",
                proto,
                "--workers",
                "4",
                "--drain-timeout",
                "30",
            ],
            if stream_only { 1 } else { 2 },
        );
        for (what, payload) in tcp_payloads() {
            let what = format!("{name} tcp {what}");
            let reply = tcp_hostile(p.tcp(), name, &payload);
            check_tcp(name, &payload, &reply, &what);
        }
        let datagrams: [(&str, Vec<u8>); 5] = [
            ("empty", Vec::new()),
            ("65,507 bytes", random_bytes(7, 65_507)),
            ("NUL", vec![0u8; 1000]),
            ("0xFF", vec![0xFF; 1000]),
            ("random", random_bytes(8, 1472)),
        ];
        let u = udp_client();
        for (what, d) in datagrams.iter().filter(|_| !stream_only) {
            let what = format!("{name} udp {what}");
            u.send_to(d, p.udp()).unwrap();
            if name == "discard" {
                check_udp(name, d, None, &what);
                continue;
            }
            let mut buf = vec![0u8; 65_536];
            let (n, _) = u
                .recv_from(&mut buf)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            check_udp(name, d, Some(&buf[..n]), &what);
        }
        // Still up, and right for an ordinary client.
        assert!(
            p.child.try_wait().unwrap().is_none(),
            "{name} still running"
        );
        let hello = if name == "http" {
            b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()
        } else {
            b"hello\r\n".to_vec()
        };
        let reply = tcp_hostile(p.tcp(), name, &hello);
        check_tcp(name, &hello, &reply, &format!("{name} next client"));
        if name == "http" {
            assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n") && reply.ends_with(b"Hello, World!"));
        }
        if name != "discard" && !stream_only {
            check_udp(
                name,
                b"next",
                Some(&udp_exchange(p.udp(), b"next")),
                &format!("{name} next datagram"),
            );
        }
        let _ = p.child.kill();
    }
}

/// xorshift64*: a small seeded generator, so every failure is reproducible
/// from the case number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Inputs shaped like trouble: mostly short, some near the limits,
    /// drawn from all bytes, or only NUL/0xFF/CR/LF.
    fn input(&mut self) -> Vec<u8> {
        let len = match self.next() % 8 {
            0 => 0,
            1 => LENGTH_BUF - 1 + (self.next() % 3) as usize,
            2 => 65_507 - (self.next() % 16) as usize,
            3 => (self.next() % 65_508) as usize,
            _ => (self.next() % 2048) as usize,
        };
        let alphabet: &[u8] = match self.next() % 4 {
            0 => &[0, 0xFF, b'\r', b'\n'],
            1 => &[0],
            _ => &[],
        };
        (0..len)
            .map(|_| {
                let r = self.next();
                if alphabet.is_empty() {
                    r as u8
                } else {
                    alphabet[(r % alphabet.len() as u64) as usize]
                }
            })
            .collect()
    }
}

#[test]
fn seeded_random_inputs_drive_every_service_without_a_panic() {
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let services: Vec<_> = SERVICE_NAMES
        .iter()
        .map(|n| (*n, sockref::builtin(n).unwrap()))
        .filter(|(_, s)| !s.stream_only())
        .collect();
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    for case in 0..3000 {
        let input = rng.input();
        let what = format!("case {case} ({} bytes)", input.len());

        let mut out = Vec::new();
        length_reply(&input, &mut out);
        check_length_reply(&out, &input, &what);
        let msg = input[..input.len().min(LENGTH_BUF)]
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default();
        assert_eq!(
            out.len(),
            msg.len().to_string().len() + 3 + msg.len() + 1,
            "{what}"
        );

        for (name, service) in &services {
            let mut reply = Vec::new();
            let answer = service.serve_datagram(&input, &peer.into(), &mut reply);
            let what = format!("{name} {what}");
            match answer {
                Reply::Send => check_udp(name, &input, Some(&reply), &what),
                Reply::Nothing => check_udp(name, &input, None, &what),
            }
            assert!(reply.len() <= 65_507, "{what}: reply fits one datagram");
        }
    }
}
