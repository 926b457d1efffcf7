//! Length: the textbook's second server. One `read()` of up to 1024 bytes,
//! then `sprintf(buf, "%d : %s", strlen(msg), msg)` written with its NUL.

use std::io::{self, Read, Write};

use super::{Reply, Service};
use crate::net::Endpoint;
use crate::server::Conn;

/// The C program's `BUFF_SIZE`: one `read()` of at most this many bytes.
pub const LENGTH_BUF: usize = 1024;

/// Builds the reply to `received`: `"<n> : <msg>\0"`, where `msg` is the
/// bytes up to the first NUL (what `%s` and `strlen` see) and `n` its length.
/// Input beyond [`LENGTH_BUF`] is ignored, as one `read()` would.
pub fn length_reply(received: &[u8], out: &mut Vec<u8>) {
    let received = &received[..received.len().min(LENGTH_BUF)];
    let msg = received.split(|&b| b == 0).next().unwrap_or_default();
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.extend_from_slice(b" : ");
    out.extend_from_slice(msg);
    out.push(0);
}

/// Length: replies to one read with the message's length and the message.
pub struct Length;

impl Service for Length {
    fn name(&self) -> &str {
        "length"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        let mut buf = [0u8; LENGTH_BUF];
        let n = conn.read(&mut buf)?;
        let mut reply = Vec::with_capacity(n + 8);
        length_reply(&buf[..n], &mut reply);
        conn.write_all(&reply)
    }

    fn serve_datagram(&self, request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        length_reply(request, reply);
        Reply::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        length_reply(input, &mut out);
        out
    }

    #[test]
    fn counts_bytes_up_to_the_first_nul() {
        assert_eq!(reply(b"hello\0junk"), b"5 : hello\0");
        assert_eq!(reply(b""), b"0 : \0");
        assert_eq!(reply(b"\0abc"), b"0 : \0");
        assert_eq!(reply("한글".as_bytes()), "6 : 한글\0".as_bytes());
    }

    #[test]
    fn ignores_what_one_read_would_not_see() {
        let big = vec![b'x'; 5000];
        let r = reply(&big);
        assert!(r.starts_with(b"1024 : xxx"));
        assert_eq!(r.len(), "1024 : ".len() + 1024 + 1);
    }
}
