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
//! The glue that reads the request head with the HTTP parser and calls
//! [`check`], [`response`] and [`echo`] in turn is the service's job.

pub mod base64;
pub mod frame;
pub mod handshake;
pub mod sha1;

pub use frame::{echo, Buffers, Ending, MAX_MESSAGE, READ_CHUNK};
pub use handshake::{accept_key, check, response, Refusal};
