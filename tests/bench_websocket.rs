//! `sockref bench --mode websocket`: the same message echoed over a raw
//! WebSocket (`--service websocket`) and as a Socket.IO event (`--service
//! socketio`), with and without an ack; every run completes exactly the
//! requests asked for, and the bytes on the wire per message differ by
//! exactly Socket.IO's envelope. Counts only, never timing.

mod common;
use common::*;

use std::net::SocketAddr;
use std::process::Command;

/// Runs the websocket mode against `addr`: `--requests 40` on 2
/// connections, 64-byte payloads; returns the JSON report.
fn run(addr: SocketAddr, framing: &str, size: usize) -> String {
    let o = Command::new(bin())
        .args(["bench", &addr.to_string(), "--mode", "websocket"])
        .args(["--framing", framing, "--size", &size.to_string()])
        .args(["--conns", "2", "--requests", "40", "--warmup", "0"])
        .args(["--quiet", "--timeout", "10", "--json"])
        .output()
        .expect("run sockref bench");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(field(&out, "requests"), 40.0, "{out}");
    assert_eq!(field(&out, "errors"), 0.0, "{out}");
    assert!(out.contains(&format!("\"framing\":\"{framing}\"")), "{out}");
    assert_eq!(field(&out, "wire_messages"), 40.0, "{out}");
    out
}

/// Bytes per message, out (client to server) and in.
fn wire(json: &str) -> (f64, f64) {
    (
        field(json, "wire_out_per_msg"),
        field(json, "wire_in_per_msg"),
    )
}

#[test]
fn socketio_costs_exactly_its_envelope_more_than_raw_websocket() {
    let raw = Proc::start(&["--service", "websocket"], 1);
    let sio = Proc::start(&["--service", "socketio"], 1);
    for size in [64, 200] {
        let s = size as f64;
        // RFC 6455 §5.2: a 2-byte header (4 from 126 bytes on), and the
        // client's 4-byte mask (§5.3).
        let head = |len: f64| if len < 126.0 { 2.0 } else { 4.0 };
        let (out, inb) = wire(&run(raw.tcp(), "raw", size));
        assert_eq!((out, inb), (head(s) + 4.0 + s, head(s) + s), "raw {size}");

        // Engine.IO `4` + Socket.IO `2` + `["echo","` + `"]`: 2 + 9 + 2 bytes.
        let env = 13.0;
        let (out, inb) = wire(&run(sio.tcp(), "socketio", size));
        let expect = (head(s + env) + 4.0 + s + env, head(s + env) + s + env);
        assert_eq!((out, inb), expect, "socketio {size}");

        // With an ack: one more byte out (the id, 1 to 9), and the ack
        // frame back: `43` + id + `["` + payload + `"]`.
        let (out, inb) = wire(&run(sio.tcp(), "socketio-ack", size));
        let ack = s + 7.0;
        assert_eq!(
            out,
            head(s + env + 1.0) + 4.0 + s + env + 1.0,
            "ack out {size}"
        );
        assert_eq!(inb, expect.1 + head(ack) + ack, "ack in {size}");
    }
}

#[test]
fn the_table_shows_the_wire_line_and_framing_is_refused_elsewhere() {
    let raw = Proc::start(&["--service", "websocket"], 1);
    let o = Command::new(bin())
        .args(["bench", &raw.tcp().to_string(), "--mode", "websocket"])
        .args([
            "--conns",
            "1",
            "--requests",
            "5",
            "--warmup",
            "0",
            "--quiet",
        ])
        .output()
        .expect("run sockref bench");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("wire B/msg   out 70.0  in 66.0  (framing raw, payload 64 B each way)"),
        "{out}"
    );
    let o = Command::new(bin())
        .args(["bench", "127.0.0.1:9", "--framing", "socketio"])
        .output()
        .expect("run sockref bench");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--framing: only the websocket mode"), "{err}");
}

#[test]
fn a_socketio_run_against_a_plain_websocket_server_fails_clearly() {
    let raw = Proc::start(&["--service", "websocket"], 1);
    let o = Command::new(bin())
        .args(["bench", &raw.tcp().to_string(), "--mode", "websocket"])
        .args(["--framing", "socketio", "--conns", "1", "--requests", "5"])
        .args(["--warmup", "0", "--quiet", "--timeout", "2", "--json"])
        .output()
        .expect("run sockref bench");
    let out = String::from_utf8_lossy(&o.stdout);
    // The echo server's first frame is no Engine.IO open packet: the
    // connection is counted as an error, and no request succeeds (exit 1).
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(field(&out, "requests"), 0.0, "{out}");
    assert!(field(&out, "errors") >= 1.0, "{out}");
}
