//! WebSocket (RFC 6455): the opening handshake and an echo service on the
//! frames that follow it. (In progress: the pieces arrive one by one.)

pub mod base64;
pub mod handshake;
pub mod sha1;

pub use handshake::{accept_key, check, response, Refusal};
