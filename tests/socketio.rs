//! `--service socketio`: Socket.IO v5 over Engine.IO v4, WebSocket only.
//! The official clients (Node's `socket.io-client` 4.x, `python-socketio`)
//! connect, emit with an ack, hear each other, keep the heartbeat over
//! several ping timeouts and disconnect; polling is refused with 400; a
//! std-only client checks each packet rule and its close code.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};

use common::ws::{expect_close, frame, open, read_frame, read_head, read_text, send_text};
use common::{connect, tools, Proc};

const NODE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node");

/// A server with a short heartbeat (200 ms interval, 300 ms timeout) and
/// a 64 KiB maxPayload (`--max-message`).
fn server() -> Proc {
    Proc::start(
        &[
            "--service",
            "socketio",
            "--ping-interval",
            "0.2",
            "--ping-timeout",
            "0.3",
            "--max-message",
            "65536",
        ],
        1,
    )
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out: Output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{stdout}");
    stdout
}

#[test]
fn the_official_node_client_connects_acks_hears_pings_and_disconnects() {
    if tools::need_node_module("socket.io-client").is_none() {
        return;
    }
    let p = server();
    let script = format!("{NODE_DIR}/socketio_client.js");
    let port = p.tcp().port().to_string();
    let mut cmd = Command::new("timeout");
    cmd.current_dir(NODE_DIR)
        .args(["60", "node", &script, &port, "300"]);
    let stdout = run(&mut cmd, "node socketio_client.js");
    for line in [
        "polling refused: xhr poll error (HTTP 400)",
        "connected two",
        "ack and broadcast",
        "echo",
        "heartbeat kept (pings: 2+)",
        "namespace refused: Invalid namespace",
        "disconnected: io client disconnect",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

#[test]
fn python_socketio_connects_acks_hears_pings_and_disconnects() {
    if !tools::need_python_module("socketio", "python-socketio[client]") {
        return;
    }
    let p = server();
    let script = format!(
        "{}/tests/python/socketio_client.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let port = p.tcp().port().to_string();
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "python3", &script, &port, "0.3"]);
    let stdout = run(&mut cmd, "python3 socketio_client.py");
    for line in [
        "polling refused: Unexpected status code 400",
        "connected two",
        "ack and broadcast",
        "echo",
        "heartbeat kept",
        "disconnected",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

/// The HTTP answer to a plain GET of `target`.
fn get(addr: SocketAddr, target: &str) -> String {
    let mut s = connect(addr);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    head + &body
}

#[test]
fn polling_and_engine_io_3_are_refused_with_400_saying_what_to_use() {
    let p = server();
    let polling = get(p.tcp(), "/socket.io/?EIO=4&transport=polling&t=PXbc1");
    assert!(polling.starts_with("HTTP/1.1 400 "), "{polling}");
    assert!(
        polling.contains(r#"transports: ["websocket"]"#),
        "{polling}"
    );
    let v3 = get(p.tcp(), "/socket.io/?EIO=3&transport=polling");
    assert!(
        v3.starts_with("HTTP/1.1 400 ") && v3.contains("EIO=4"),
        "{v3}"
    );
    let elsewhere = get(p.tcp(), "/chat?EIO=4&transport=websocket");
    assert!(elsewhere.starts_with("HTTP/1.1 404 "), "{elsewhere}");
}

/// Upgrades, reads the open packet and connects to `/`.
fn client(p: &Proc) -> TcpStream {
    let mut s = engine(p);
    send_text(&mut s, "40");
    let connect = read_text(&mut s);
    assert!(connect.starts_with(r#"40{"sid":""#), "{connect}");
    s
}

/// Upgrades and reads the open packet, without connecting.
fn engine(p: &Proc) -> TcpStream {
    let mut s = open(p.tcp(), "/socket.io/?EIO=4&transport=websocket");
    let open = read_text(&mut s);
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
    for field in [
        r#""upgrades":[]"#,
        r#""pingInterval":200"#,
        r#""pingTimeout":300"#,
        r#""maxPayload":65536"#,
    ] {
        assert!(open.contains(field), "{field}: {open}");
    }
    s
}

/// Reads packets, answering pings, until one that is not a ping.
fn next_packet(s: &mut TcpStream) -> String {
    loop {
        let text = read_text(s);
        if text != "2" {
            return text;
        }
        send_text(s, "3");
    }
}

#[test]
fn events_acks_and_echo_on_the_wire() {
    let p = server();
    let mut a = client(&p);
    let mut b = client(&p);
    send_text(&mut a, r#"42["echo",{"n":1}]"#);
    assert_eq!(next_packet(&mut a), r#"42["echo",{"n":1}]"#);
    send_text(&mut a, r#"4217["chat","hi",[1,2]]"#);
    assert_eq!(next_packet(&mut a), "4317[\"hi\",[1,2]]");
    assert_eq!(next_packet(&mut b), r#"42["chat","hi",[1,2]]"#);
    // An event with no arguments is acked with an empty array.
    send_text(&mut b, r#"425["bare"]"#);
    assert_eq!(next_packet(&mut b), "435[]");
    assert_eq!(next_packet(&mut a), r#"42["bare"]"#);
    // Unknown namespace: CONNECT_ERROR, and the session goes on.
    send_text(&mut a, "40/admin,");
    assert_eq!(
        next_packet(&mut a),
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    // Leave the namespace (41), then Engine.IO close (1).
    send_text(&mut b, "41");
    // An Engine.IO ping's pong comes after the 41 has been handled.
    send_text(&mut b, "2sync");
    assert_eq!(next_packet(&mut b), "3sync");
    send_text(&mut a, r#"42["after"]"#);
    send_text(&mut a, "1");
    expect_close(&mut a, 1000);
    // b left: it heard nothing more but its own pings, and can close.
    b.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    loop {
        let (op, payload) = read_frame(&mut b);
        match op {
            1 => assert_eq!(payload, b"2", "b heard an event after 41"),
            8 => break,
            _ => panic!("opcode {op}"),
        }
    }
}

#[test]
fn a_client_that_stops_answering_pings_is_closed_with_1011() {
    let p = server();
    let mut s = client(&p);
    assert_eq!(read_text(&mut s), "2");
    let reason = expect_close(&mut s, 1011);
    assert!(reason.contains("pingTimeout"), "{reason}");
}

#[test]
fn each_broken_rule_gets_a_clear_close_and_harms_no_one_else() {
    let p = server();
    let mut bystander = client(&p);
    let cases: [(&str, &[u8], u8, u16, &str); 9] = [
        (
            "event before CONNECT",
            br#"42["x"]"#,
            1,
            1008,
            "before CONNECT",
        ),
        ("unknown Engine.IO type", b"9", 1, 1008, "Engine.IO"),
        ("open from a client", b"0", 1, 1008, "server's packet"),
        ("unknown Socket.IO type", b"47", 1, 1008, "Socket.IO"),
        (
            "binary event",
            br#"451-["x",{"_placeholder":true,"num":0}]"#,
            1,
            1003,
            "binary",
        ),
        ("binary frame", b"\x04\x01\x02", 2, 1003, "binary"),
        ("payload not an array", br#"42{"x":1}"#, 1, 1008, "array"),
        ("name not a string", b"42[1]", 1, 1008, "name"),
        ("broken JSON", br#"42["x",]"#, 1, 1008, "JSON"),
    ];
    for (what, packet, opcode, code, says) in cases {
        let mut s = if what == "event before CONNECT" {
            engine(&p)
        } else {
            client(&p)
        };
        s.write_all(&frame(opcode, packet)).unwrap();
        let reason = loop {
            let (op, payload) = read_frame(&mut s);
            if op == 8 {
                let got = u16::from_be_bytes([payload[0], payload[1]]);
                assert_eq!(got, code, "{what}");
                break String::from_utf8(payload[2..].to_vec()).unwrap();
            }
            assert_eq!(payload, b"2", "{what}: unexpected packet");
        };
        assert!(reason.contains(says), "{what}: {reason}");
    }
    // Over maxPayload: 1009 (RFC 6455 §7.4.1).
    let mut s = client(&p);
    let big = format!(r#"42["x","{}"]"#, "y".repeat(65536));
    s.write_all(&frame(1, big.as_bytes())).unwrap();
    loop {
        let (op, payload) = read_frame(&mut s);
        if op == 8 {
            assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
            break;
        }
    }
    // The bystander heard none of it and still works.
    send_text(&mut bystander, r#"421["echo","fine"]"#);
    assert_eq!(next_packet(&mut bystander), r#"42["echo","fine"]"#);
    assert_eq!(next_packet(&mut bystander), r#"431["fine"]"#);
}
