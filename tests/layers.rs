//! `--trace` shows the protocols inside the bytes: under each `read()` and
//! `write()` of a WebSocket connection, the frames (RFC 6455 §5.2) and, for
//! Socket.IO, the Engine.IO packet and the Socket.IO packet inside each
//! frame; with a std-only client that masks its own frames.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{connect, Proc};

/// A masked client frame, FIN set (RFC 6455 §5.2, §5.3), short payload.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x11, 0x22, 0x33, 0x44];
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one unmasked server frame (up to 64 KiB): (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let len = match h[1] {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).unwrap();
            usize::from(u16::from_be_bytes(n))
        }
        n => usize::from(n),
    };
    assert!(len < 126 || h[1] == 126, "{h:?}");
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

/// Connects to `path` and reads the 101 head.
fn open(p: &Proc, path: &str) -> TcpStream {
    let mut s = connect(p.tcp());
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "closed in the head: {head:?}");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101 "),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// The trace's lines up to and including `close()` of connection `conn`
/// (every connection's lines, in the order printed).
fn trace_until_close(p: &mut Proc, conn: u32) -> Vec<String> {
    let end = format!("close()    conn={conn} ");
    let mut lines = Vec::new();
    while let Some(line) = p.next_line() {
        let done = line.starts_with(&end);
        lines.push(line);
        if done {
            return lines;
        }
    }
    panic!("no close() for conn {conn}: {lines:#?}");
}

/// The layer lines (indented under a read or write) of `lines`, with the
/// call they belong to in front: `read() | ws text ...`.
fn layered(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut call = "";
    for line in lines {
        if let Some(layer) = line.strip_prefix("           ") {
            out.push(format!("{call} {layer}"));
        } else {
            call = line.split_whitespace().next().unwrap_or_default();
        }
    }
    out
}

#[test]
fn a_socketio_exchange_is_traced_frame_by_engine_io_by_socket_io() {
    let mut p = Proc::start(&["--service", "socketio", "--trace"], 1);
    let mut s = open(&p, "/socket.io/?EIO=4&transport=websocket");
    let (op, open_packet) = read_frame(&mut s);
    assert_eq!((op, open_packet[0]), (1, b'0'));
    s.write_all(&frame(1, b"40")).unwrap();
    let (_, connected) = read_frame(&mut s);
    assert!(connected.starts_with(b"40{\"sid\":"), "{connected:?}");
    s.write_all(&frame(1, br#"421["echo","hi"]"#)).unwrap();
    assert_eq!(read_frame(&mut s), (1, br#"42["echo","hi"]"#.to_vec()));
    assert_eq!(read_frame(&mut s), (1, br#"431["hi"]"#.to_vec()));
    s.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(read_frame(&mut s), (8, 1000u16.to_be_bytes().to_vec()));
    drop(s);

    let lines = trace_until_close(&mut p, 1);
    let layers = layered(&lines);
    let sid_len = open_packet.len();
    let open_line = format!("write() ws text fin len={sid_len} | eio 0 open {{\"sid\":\"");
    let connect_len = connected.len();
    let expect: [&dyn Fn(&str) -> bool; 9] = [
        &|l| l == "read() http GET /socket.io/?EIO=4&transport=websocket HTTP/1.1",
        &|l| l == "write() http 101 Switching Protocols",
        &|l| l.starts_with(&open_line),
        &|l| l == "read() ws text fin mask len=2 | eio 4 message | sio 0 connect",
        &|l| {
            l.starts_with(&format!("write() ws text fin len={connect_len} | eio 4 message | sio 0 connect {{\"sid\":\""))
        },
        &|l| {
            l == r#"read() ws text fin mask len=16 | eio 4 message | sio 2 event id=1 ["echo","hi"]"#
        },
        &|l| l == r#"write() ws text fin len=15 | eio 4 message | sio 2 event ["echo","hi"]"#,
        &|l| l == r#"write() ws text fin len=9 | eio 4 message | sio 3 ack id=1 ["hi"]"#,
        &|l| l == "read() ws close fin mask len=2 code=1000",
    ];
    assert!(layers.len() > expect.len(), "{layers:#?}");
    for (i, ok) in expect.iter().enumerate() {
        assert!(
            ok(&layers[i]),
            "layer line {i}: {:?}\nall: {layers:#?}",
            layers[i]
        );
    }
    assert_eq!(
        layers[9], "write() ws close fin len=2 code=1000",
        "{layers:#?}"
    );
    // The call lines themselves are unchanged: the layers are extra lines.
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("read()     conn=1 bytes=22")),
        "{lines:#?}"
    );
}

#[test]
fn a_chat_room_fan_out_is_traced_on_the_receivers_connection() {
    let mut p = Proc::start(&["--service", "chat", "--trace"], 1);
    let mut a = open(&p, "/room/lab");
    let mut b = open(&p, "/room/lab");
    // b is in the room once it answers a ping: a pong frame proves b's
    // thread has joined (the join happens before its first read).
    b.write_all(&frame(9, b"p")).unwrap();
    assert_eq!(read_frame(&mut b), (10, b"p".to_vec()));
    a.write_all(&frame(9, b"p")).unwrap();
    assert_eq!(read_frame(&mut a), (10, b"p".to_vec()));
    a.write_all(&frame(1, b"hello room")).unwrap();
    assert_eq!(read_frame(&mut b), (1, b"hello room".to_vec()));
    a.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(read_frame(&mut a).0, 8);
    drop(a);

    let lines = trace_until_close(&mut p, 1);
    // a's message read on conn 1, written by a's thread into conn 2.
    let read_at = lines
        .iter()
        .position(|l| l.starts_with("read()     conn=1 bytes=16"));
    let read_at = read_at.unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        lines[read_at + 1],
        r#"           ws text fin mask len=10 "hello room""#
    );
    let write_at = lines[read_at..]
        .iter()
        .position(|l| l.starts_with("write()    conn=2 bytes=12"));
    let write_at = read_at + write_at.unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(
        lines[write_at + 1],
        r#"           ws text fin len=10 "hello room""#
    );
    assert!(layered(&lines).contains(&"read() ws ping fin mask len=1 \"p\"".to_string()));
}

#[test]
fn json_trace_carries_the_layers_as_one_string() {
    let mut p = Proc::start(&["--service", "websocket", "--trace=json"], 1);
    let mut s = open(&p, "/");
    s.write_all(&frame(1, b"hi")).unwrap();
    assert_eq!(read_frame(&mut s), (1, b"hi".to_vec()));
    s.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    assert_eq!(read_frame(&mut s).0, 8);
    drop(s);
    let mut lines = Vec::new();
    while let Some(line) = p.next_line() {
        let done = line.contains(r#""event":"close""#);
        lines.push(line);
        if done {
            break;
        }
    }
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(has(r#""layers":"http GET / HTTP/1.1""#), "{lines:#?}");
    assert!(
        has(r#""layers":"ws text fin mask len=2 \"hi\"""#),
        "{lines:#?}"
    );
    assert!(has(r#""layers":"ws text fin len=2 \"hi\"""#), "{lines:#?}");
}

#[test]
fn the_watch_page_draws_each_layer_of_a_socketio_event_as_a_box() {
    let Some(chromium) = common::tools::need_any_command(
        &["chromium", "chromium-browser", "google-chrome"],
        "chromium",
    ) else {
        return;
    };
    let mut p = Proc::start(&["--watch", "127.0.0.1:0", "--service", "socketio"], 1);
    let watch = loop {
        let line = p
            .next_line()
            .expect("sockref ended before its watching line");
        if let Some(url) = line.strip_prefix("watching http://") {
            break url.trim_end_matches('/').to_string();
        }
    };
    let mut s = open(&p, "/socket.io/?EIO=4&transport=websocket");
    read_frame(&mut s);
    s.write_all(&frame(1, b"40")).unwrap();
    read_frame(&mut s);
    s.write_all(&frame(1, br#"42["echo","hi"]"#)).unwrap();
    assert_eq!(read_frame(&mut s), (1, br#"42["echo","hi"]"#.to_vec()));

    // ?once: the page takes what the server kept, then its stream ends,
    // so that --virtual-time-budget can run out.
    let profile = std::env::temp_dir().join(format!("sockref-layers-{}", std::process::id()));
    let out = std::process::Command::new("timeout")
        .arg("120")
        .arg(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("http://{watch}/?once"))
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "chromium: {:?}", out.status);
    let frame = concat!(
        r#"<span class="frame"><span class="layer ws">ws text fin mask len=15</span>"#,
        r#"<span class="layer eio">eio 4 message</span>"#,
        r#"<span class="layer sio">sio 2 event ["echo","hi"]</span></span>"#,
    );
    assert!(dom.contains(frame), "{dom}");
    assert!(
        dom.contains(r#"<span class="layer http">http 101 Switching Protocols</span>"#),
        "{dom}"
    );
}
