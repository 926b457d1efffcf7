//! WebSocket (RFC 6455): the opening handshake and an echo service on the
//! frames that follow it.
//!
//! After `accept()`, a WebSocket connection starts as an HTTP/1.1 request
//! asking to switch protocols (RFC 6455 §4); once the server answers `101`,
//! the same TCP stream carries frames (§5) until a close frame or the end of
//! the connection. This folder holds the pieces that know WebSocket and
//! nothing of HTTP parsing or sockets:
//!
//! - [`handshake`]: is this request an upgrade, and the `101` answer to it;
//! - [`frame`]: the framing and the echo loop ([`echo`]), over any
//!   `Read + Write`;
//! - [`sha1`] and [`base64`]: the two encodings `Sec-WebSocket-Accept`
//!   needs, so that `[dependencies]` stays empty.
//!
//! [`WebSocket`], the service, is the glue: it reads the request head with
//! the HTTP service's parser (one parser, not two), then calls [`check`],
//! [`response`] and [`echo`] in turn.

pub mod base64;
pub mod frame;
pub mod handshake;
pub mod sha1;

pub use frame::{echo, Buffers, Ending, READ_CHUNK};
pub use handshake::{accept_key, check, response, Refusal};

use std::io::{self, Write};

use super::http::head::{Framing, Method, Version};
use super::http::one_request;
use super::http::response::{server_and_date, Persist, Status};
use super::Service;
use crate::server::Conn;

/// The WebSocket echo service: the handshake, then every message back.
pub struct WebSocket;

impl Service for WebSocket {
    fn name(&self) -> &str {
        "websocket"
    }

    fn stream_only(&self) -> bool {
        true
    }

    fn busy(&self, reply: &mut Vec<u8>) {
        super::http::busy(reply);
    }

    // read() the upgrade request -> write() 101 -> read()/write() frames
    // until a close frame; the server then closes the connection.
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        let Some((mut wire, head)) = one_request(conn)? else {
            return Ok(());
        };
        // RFC 9112 §6.3: bytes announced as the request's content are not
        // frames; an upgrade that carries any is refused, so that no reader
        // could take them for either.
        if head.framing != Framing::None && head.framing != Framing::Length(0) {
            let why = "a WebSocket handshake carries no body (RFC 6455 §4.1)";
            wire.error(Status::BadRequest, why, Persist::Close, b"", head.method == Method::Head);
            return wire.flush(conn);
        }
        let method = wire.head_bytes()[head.raw.clone()].split(|&b| b == b' ').next();
        let fields = wire.fields();
        let checked = check(method.unwrap_or_default(), head.version == Version::Http11, &fields);
        drop(fields);
        let accept = match checked {
            Ok(accept) => accept,
            Err(refusal) => {
                let (status, why, persist) = match refusal {
                    Refusal::NotGet => (Status::MethodNotAllowed, "the handshake is a GET (RFC 6455 §4.1)", Persist::Close),
                    Refusal::NotUpgrade => (Status::UpgradeRequired, "this server speaks WebSocket: ask for Upgrade: websocket with Connection: Upgrade (RFC 6455 §4.2.1)", Persist::Default),
                    Refusal::BadVersion => (Status::UpgradeRequired, "the only version served is Sec-WebSocket-Version: 13 (RFC 6455 §4.4)", Persist::Default),
                    Refusal::BadKey => (Status::BadRequest, "Sec-WebSocket-Key must be the base64 of 16 bytes, once (RFC 6455 §4.2.1)", Persist::Close),
                };
                wire.error(status, why, persist, refusal.headers(), head.method == Method::Head);
                return wire.flush(conn);
            }
        };
        // RFC 9110 §15.2: a 1xx response has no Content-Length.
        let mut out = Vec::new();
        response(&accept, &mut out);
        server_and_date(&mut out);
        out.extend_from_slice(b"\r\n");
        conn.write_all(&out)?;
        // Frames sent right behind the handshake are already in the buffer.
        let max_message = conn.limits().ws_max_message;
        echo(conn, wire.after(&head), &mut Buffers::new(), max_message)?;
        Ok(())
    }
}
