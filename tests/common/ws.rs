//! A std-only WebSocket client for tests (RFC 6455): the upgrade to any
//! path, masked frames out, server frames in.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::connect;

/// Connects and upgrades at `target` (path and query); panics unless the
/// answer is `101`.
pub fn open(addr: SocketAddr, target: &str) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(upgrade_request(target).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

/// The upgrade request for `target`.
pub fn upgrade_request(target: &str) -> String {
    format!(
        "GET {target} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads one HTTP response head, up to its empty line.
pub fn read_head(s: &mut TcpStream) -> String {
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

/// A masked client frame, FIN set (RFC 6455 §5.2, §5.3).
pub fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
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

/// Sends a text message.
pub fn send_text(s: &mut TcpStream, text: &str) {
    s.write_all(&frame(1, text.as_bytes())).unwrap();
}

/// Reads one server frame: (opcode, payload); FIN set and unmasked.
pub fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[0] & 0xF0, 0x80, "FIN set, RSV clear");
    assert_eq!(h[1] & 0x80, 0, "a server frame is masked");
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
    (h[0] & 0x0f, payload)
}

/// Reads one text message.
pub fn read_text(s: &mut TcpStream) -> String {
    let (op, payload) = read_frame(s);
    assert_eq!(op, 1, "not text: {payload:?}");
    String::from_utf8(payload).unwrap()
}

/// Expects a close frame with `code` (returns its reason), then the end of
/// the connection.
pub fn expect_close(s: &mut TcpStream, code: u16) -> String {
    let (op, payload) = read_frame(s);
    assert_eq!(
        op,
        8,
        "not a close: {:?}",
        String::from_utf8_lossy(&payload)
    );
    assert!(payload.len() >= 2, "{payload:?}");
    let reason = String::from_utf8(payload[2..].to_vec()).unwrap();
    assert_eq!(
        u16::from_be_bytes([payload[0], payload[1]]),
        code,
        "reason: {reason}"
    );
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "bytes after the close: {rest:?}"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
    reason
}
