//! `--service websocket`: the handshake (RFC 6455 §4) and its refusals,
//! then the echo of messages, pings and closes (§5), and every protocol
//! error's close code, with a std-only client that masks its own frames.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{bin, connect, Proc};

/// RFC 6455 §1.3's example key and the accept value it must produce.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn server() -> Proc {
    Proc::start(&["--service", "websocket"], 1)
}

fn handshake_request(extra: &str) -> String {
    format!(
        "GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Reads one HTTP response head (up to the empty line) and returns it.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).unwrap(),
            1,
            "closed inside the head: {head:?}"
        );
        head.push(b[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Connects and upgrades; returns the open WebSocket.
fn open(p: &Proc) -> TcpStream {
    let mut s = connect(p.tcp());
    s.write_all(handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n")).as_bytes())
        .unwrap();
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nSec-WebSocket-Accept: {ACCEPT}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("\r\nUpgrade: websocket\r\n") && head.contains("\r\nConnection: Upgrade\r\n")
    );
    assert!(head.contains("\r\nServer: sockref\r\n") && head.contains("\r\nDate: "));
    assert!(!head.contains("Content-Length") && !head.contains("Sec-WebSocket-Extensions"));
    s
}

/// A masked client frame (RFC 6455 §5.2, §5.3).
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n < 65536 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Reads one server frame: (fin, opcode, payload). Server frames are
/// never masked (§5.1).
fn read_frame(s: &mut TcpStream) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "a server frame is masked");
    assert_eq!(h[0] & 0x70, 0, "RSV bits set");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
}

/// Expects a close frame with `code`, then the end of the connection.
fn expect_close(s: &mut TcpStream, code: u16) {
    let (fin, op, payload) = read_frame(s);
    assert_eq!((fin, op), (true, 8));
    assert!(payload.len() >= 2, "{payload:?}");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the close: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn text_and_binary_messages_come_back_whole() {
    let p = server();
    let mut s = open(&p);
    s.write_all(&frame(true, 1, "héllo".as_bytes())).unwrap();
    assert_eq!(read_frame(&mut s), (true, 1, "héllo".as_bytes().to_vec()));
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.write_all(&frame(true, 2, &big)).unwrap();
    assert_eq!(read_frame(&mut s), (true, 2, big));
    s.write_all(&frame(true, 2, &[])).unwrap();
    assert_eq!(read_frame(&mut s), (true, 2, vec![]));
    s.write_all(&frame(true, 8, &1000u16.to_be_bytes()))
        .unwrap();
    expect_close(&mut s, 1000);
}

#[test]
fn fragments_are_reassembled_and_pings_answered_in_between() {
    let p = server();
    let mut s = open(&p);
    let mut batch = frame(false, 1, b"frag");
    batch.extend(frame(true, 9, b"are you there"));
    batch.extend(frame(false, 0, b"men"));
    batch.extend(frame(true, 10, b"unsolicited pong: ignored"));
    batch.extend(frame(true, 0, b"ted"));
    s.write_all(&batch).unwrap();
    assert_eq!(read_frame(&mut s), (true, 10, b"are you there".to_vec()));
    assert_eq!(read_frame(&mut s), (true, 1, b"fragmented".to_vec()));
    s.write_all(&frame(true, 8, &[])).unwrap();
    let (_, op, payload) = read_frame(&mut s);
    assert_eq!((op, payload.len()), (8, 0));
}

#[test]
fn frames_right_behind_the_handshake_are_served() {
    let p = server();
    let mut s = connect(p.tcp());
    let mut bytes = handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n")).into_bytes();
    bytes.extend(frame(true, 1, b"early"));
    s.write_all(&bytes).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    assert_eq!(read_frame(&mut s), (true, 1, b"early".to_vec()));
}

#[test]
fn each_protocol_error_closes_with_its_code() {
    let p = server();
    let unmasked = {
        let mut f = frame(true, 1, b"hi");
        f[1] &= 0x7f;
        f.drain(2..6);
        // Unmask the payload again: it is sent in the clear.
        f[2..].copy_from_slice(b"hi");
        f
    };
    let mut rsv = frame(true, 1, b"hi");
    rsv[0] |= 0x40;
    let mut too_long_64 = vec![0x82, 0xff];
    too_long_64.extend_from_slice(&(1u64 << 40).to_be_bytes());
    too_long_64.extend_from_slice(&[1, 2, 3, 4]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked", unmasked, 1002),
        ("rsv bit", rsv, 1002),
        ("unknown opcode", frame(true, 3, b""), 1002),
        ("control over 125", frame(true, 9, &[0; 126]), 1002),
        ("fragmented control", frame(false, 9, b"x"), 1002),
        ("continuation first", frame(true, 0, b"x"), 1002),
        (
            "new message inside one",
            [frame(false, 1, b"a"), frame(true, 1, b"b")].concat(),
            1002,
        ),
        ("invalid utf-8", frame(true, 1, &[0xc3, 0x28]), 1007),
        (
            "utf-8 cut across fragments, never finished",
            [frame(false, 1, &[0xe2, 0x82]), frame(true, 0, b"")].concat(),
            1007,
        ),
        ("over 1 MiB", frame(true, 2, &vec![0; (1 << 20) + 1]), 1009),
        ("over 1 MiB by header alone", too_long_64, 1009),
        (
            "fragments over 1 MiB",
            [
                frame(false, 2, &vec![0; 1 << 19]),
                frame(false, 0, &vec![0; 1 << 19]),
                frame(true, 0, b"x"),
            ]
            .concat(),
            1009,
        ),
        (
            "close code 1005 sent",
            frame(true, 8, &1005u16.to_be_bytes()),
            1002,
        ),
        ("close with one byte", frame(true, 8, &[3]), 1002),
    ];
    for (what, bytes, code) in cases {
        let mut s = open(&p);
        // The server may close before taking all of a large frame.
        let _ = s.write_all(&bytes);
        let (fin, op, payload) = read_frame(&mut s);
        assert_eq!((fin, op), (true, 8), "{what}");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code, "{what}");
    }
    // UTF-8 split across fragments but whole in the end is fine.
    let mut s = open(&p);
    s.write_all(&[frame(false, 1, &[0xe2, 0x82]), frame(true, 0, &[0xac])].concat())
        .unwrap();
    assert_eq!(read_frame(&mut s), (true, 1, "€".as_bytes().to_vec()));
}

#[test]
fn handshake_refusals() {
    let p = server();
    let refused = |request: String| {
        let mut s = connect(p.tcp());
        s.write_all(request.as_bytes()).unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        String::from_utf8(all).unwrap()
    };
    let no_key = refused(handshake_request(""));
    assert!(no_key.starts_with("HTTP/1.1 400 "), "{no_key}");
    let short_key = refused(handshake_request("Sec-WebSocket-Key: c2hvcnQ=\r\n"));
    assert!(short_key.starts_with("HTTP/1.1 400 "), "{short_key}");
    let v8 = refused(
        handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n"))
            .replace("Version: 13", "Version: 8"),
    );
    assert!(
        v8.starts_with("HTTP/1.1 426 ") && v8.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{v8}"
    );
    let plain = refused("GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_string());
    assert!(
        plain.starts_with("HTTP/1.1 426 ") && plain.contains("\r\nUpgrade: websocket\r\n"),
        "{plain}"
    );
    let post = refused("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n".to_string());
    assert!(
        post.starts_with("HTTP/1.1 405 ") && post.contains("\r\nAllow: GET\r\n"),
        "{post}"
    );
    // The HTTP parser's own refusals apply before the handshake's.
    let bad = refused("GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_string());
    assert!(bad.starts_with("HTTP/1.1 400 "), "{bad}");
    for r in [no_key, v8, plain, post] {
        let length: usize = r
            .split("Content-Length: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(r.len() - r.find("\r\n\r\n").unwrap() - 4, length, "{r}");
    }
}

#[test]
fn over_a_unix_stream_socket_and_stream_only() {
    let dir = std::env::temp_dir().join(format!("sockref-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--service", "websocket", "--addr"])
        .arg(format!("unix:{}", path.display()));
    let p = Proc::spawn(cmd, 1);
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    let mut bytes = handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n")).into_bytes();
    bytes.extend(frame(true, 1, b"over unix"));
    bytes.extend(frame(true, 8, &1000u16.to_be_bytes()));
    s.write_all(&bytes).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(all.starts_with(b"HTTP/1.1 101 "));
    assert_eq!(
        &all[end..],
        [&[0x81, 9][..], b"over unix", &[0x88, 2, 0x03, 0xe8]].concat()
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(bin())
        .args(["--service", "websocket", "--proto", "udp"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_upgrade_with_a_body_is_refused_not_switched() {
    let p = server();
    for framing in ["Content-Length: 14\r\n", "Transfer-Encoding: chunked\r\n"] {
        let mut s = connect(p.tcp());
        let body = frame(true, 1, b"smuggled");
        let req = handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n{framing}"));
        s.write_all(&[req.as_bytes(), &body].concat()).unwrap();
        // RFC 9112 §6.3: those bytes are the request's content, not frames.
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 400 "), "{framing}: {head}");
    }
}

#[test]
fn a_handshake_split_across_reads_does_not_shorten_the_session() {
    let p = Proc::start(
        &[
            "--service",
            "websocket",
            "--header-timeout",
            "3",
            "--idle-timeout",
            "60",
        ],
        1,
    );
    let mut s = connect(p.tcp());
    let req = handshake_request(&format!("Sec-WebSocket-Key: {KEY}\r\n"));
    let (a, b) = req.as_bytes().split_at(20);
    s.write_all(a).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    s.write_all(b).unwrap();
    assert!(read_head(&mut s).starts_with("HTTP/1.1 101 "));
    std::thread::sleep(std::time::Duration::from_millis(3500));
    s.write_all(&frame(true, 1, b"still there?")).unwrap();
    assert_eq!(read_frame(&mut s), (true, 1, b"still there?".to_vec()));
}

/// A binary message in frames of `piece` bytes (one frame if that is its
/// whole length).
fn frames_of(message: &[u8], piece: usize) -> Vec<u8> {
    let parts: Vec<&[u8]> = message.chunks(piece).collect();
    let last = parts.len() - 1;
    let mut bytes = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        bytes.extend(frame(i == last, if i == 0 { 2 } else { 0 }, part));
    }
    bytes
}

#[test]
fn max_message_lets_a_4_mib_message_through_and_the_default_refuses_it() {
    let message: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    // --max-message 8 MiB: one frame, then four fragments of 1 MiB, each
    // echoed as one message.
    let p = Proc::start(&["--service", "websocket", "--max-message", "8388608"], 1);
    let mut s = open(&p);
    for piece in [message.len(), 1 << 20] {
        s.write_all(&frames_of(&message, piece)).unwrap();
        let (fin, op, echoed) = read_frame(&mut s);
        assert_eq!((fin, op, echoed.len()), (true, 2, message.len()));
        assert!(echoed == message, "the echo differs (frames of {piece})");
    }
    s.write_all(&frame(true, 8, &1000u16.to_be_bytes()))
        .unwrap();
    expect_close(&mut s, 1000);
    // The default, 1 MiB: the same message, whole or in fragments, gets
    // 1009 (RFC 6455 §7.4.1) once its header (or the fragment that
    // passes 1 MiB) arrives.
    let p = server();
    for piece in [message.len(), 1 << 19] {
        let mut s = open(&p);
        // The server stops reading once it has refused; the rest of the
        // write may fail.
        let _ = s.write_all(&frames_of(&message, piece));
        let (fin, op, payload) = read_frame(&mut s);
        assert_eq!((fin, op), (true, 8), "frames of {piece}");
        assert_eq!(payload, 1009u16.to_be_bytes(), "frames of {piece}");
    }
}

#[test]
fn max_message_over_64_mib_or_zero_is_a_usage_error_naming_the_flag() {
    for bad in ["0", "67108865", "8MiB"] {
        let out = Command::new(bin())
            .args(["serve", "--service", "websocket", "--max-message", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "--max-message: '{bad}' is not a number from 1 to 67108864"
            )),
            "{bad}: {err}"
        );
    }
}
