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
pub mod reader;
pub mod sha1;

pub use frame::{echo, Buffers, Ending, READ_CHUNK};
pub use handshake::{accept_key, check, response, Refusal};

use std::io::{self, Write};

use super::http::head::{Framing, Method, Version};
use super::http::one_request;
use super::http::response::{head as page_head, server_and_date, Persist, Status};
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
        upgrade(
            conn,
            |_| Ok(()),
            |conn, (), leftover| {
                let max_message = conn.limits().ws_max_message;
                echo(conn, leftover, &mut Buffers::new(), max_message).map(drop)
            },
        )
    }
}

/// The request target of an upgrade request, for a service to route on.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The path, without the query (`/` for an empty one).
    pub path: &'a [u8],
    /// The query, without its `?` (empty if none).
    pub query: &'a [u8],
}

/// A service's refusal of a request target, answered instead of `101`.
pub type Refused = (Status, &'static str);

/// The opening handshake every WebSocket service shares: `read()` the
/// request with the HTTP service's parser, let `route` look at its target
/// (a refusal is answered with its status and reason, before any upgrade
/// rule is checked: a Socket.IO polling request learns that polling is not
/// served, not that it lacks `Upgrade`), check the upgrade (RFC 6455
/// §4.2.1), `write()` the `101`, then run `then` on the frames with the
/// bytes that came in behind the request.
pub(crate) fn upgrade<T>(
    conn: &mut Conn<'_>,
    route: impl FnOnce(&Target<'_>) -> Result<T, Refused>,
    then: impl FnOnce(&mut Conn<'_>, T, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    upgrade_or_page(conn, None, route, then)
}

/// [`upgrade`], and for a plain `GET` of a routed path without
/// `Upgrade: websocket` (a browser's address bar), `page` as
/// `text/html` instead of the `426`: a page whose script then opens the
/// WebSocket (the chat room's), sent with the page's own header fields
/// (its Content-Security-Policy names its inline script by hash).
pub(crate) fn upgrade_or_page<T>(
    conn: &mut Conn<'_>,
    page: Option<(&str, &[u8])>,
    route: impl FnOnce(&Target<'_>) -> Result<T, Refused>,
    then: impl FnOnce(&mut Conn<'_>, T, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let Some((mut wire, head)) = one_request(conn)? else {
        return Ok(());
    };
    let head_only = head.method == Method::Head;
    let bytes = wire.head_bytes();
    let path = match &bytes[head.path.clone()] {
        b"" => b"/".as_slice(),
        p => p,
    };
    // The query is not in `head.path`: take it from the request line.
    let line = bytes[head.raw.clone()].split(|&b| b == b'\r').next().unwrap_or_default();
    let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
    let query = target.iter().position(|&b| b == b'?').map_or(&b""[..], |q| &target[q + 1..]);
    let routed = route(&Target { path, query });
    let value = match routed {
        Ok(value) => value,
        Err((status, why)) => {
            wire.error(status, why, Persist::Close, b"", head_only);
            return wire.flush(conn);
        }
    };
    // RFC 9112 §6.3: bytes announced as the request's content are not
    // frames; an upgrade that carries any is refused, so that no reader
    // could take them for either.
    if head.framing != Framing::None && head.framing != Framing::Length(0) {
        let why = "a WebSocket handshake carries no body (RFC 6455 §4.1)";
        wire.error(Status::BadRequest, why, Persist::Close, b"", head_only);
        return wire.flush(conn);
    }
    let method = wire.head_bytes()[head.raw.clone()].split(|&b| b == b' ').next();
    let fields = wire.fields();
    let checked = check(method.unwrap_or_default(), head.version == Version::Http11, &fields);
    drop(fields);
    let accept = match (checked, page) {
        (Ok(accept), _) => accept,
        (Err(Refusal::NotUpgrade), Some((body, fields))) => {
            let mut out = Vec::with_capacity(body.len() + 400);
            let html = Some("text/html; charset=utf-8");
            page_head(&mut out, Status::Ok, html, body.len(), Persist::Close, fields);
            if !head_only {
                out.extend_from_slice(body.as_bytes());
            }
            return conn.write_all(&out);
        }
        (Err(refusal), _) => {
            let (status, why, persist) = match refusal {
                Refusal::NotGet => (Status::MethodNotAllowed, "the handshake is a GET (RFC 6455 §4.1)", Persist::Close),
                Refusal::NotUpgrade => (Status::UpgradeRequired, "this server speaks WebSocket: ask for Upgrade: websocket with Connection: Upgrade (RFC 6455 §4.2.1)", Persist::Default),
                Refusal::BadVersion => (Status::UpgradeRequired, "the only version served is Sec-WebSocket-Version: 13 (RFC 6455 §4.4)", Persist::Default),
                Refusal::BadKey => (Status::BadRequest, "Sec-WebSocket-Key must be the base64 of 16 bytes, once (RFC 6455 §4.2.1)", Persist::Close),
            };
            wire.error(status, why, persist, refusal.headers(), head_only);
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
    then(conn, value, wire.after(&head))
}
