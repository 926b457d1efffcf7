//! The server: the afternoon read. Six files, in the order a request meets
//! them:
//!
//! | file | what | C calls |
//! |---|---|---|
//! | `builder.rs` | [`ServerBuilder`]: resolve, bind, start the workers | `getaddrinfo()`, `socket()`, `bind()`, `listen()` |
//! | `stream.rs` | one connection: accept -> service -> close | `accept()`, `read()`/`write()`, `shutdown()`, `close()` |
//! | `datagram.rs` | one datagram: recvfrom -> service -> sendto | `recvfrom()`, `sendto()` |
//! | `conn.rs` | [`Conn`]: the handler's `Read + Write`, counted and traced | `read()`, `write()` |
//! | `state.rs` | what threads share; one connection's books | |
//! | `handle.rs` | [`ServerHandle`]: addresses, counters, the stop | `shutdown()` |
//!
//! Both paths are written once for every address family: `transport`
//! gives them TCP or Unix-domain sockets behind the same calls. Hardening
//! (`guard/`) and panics (`pool`) are one call each from the paths; the
//! graceful stop's state (`guard::stop`) is kept in `state.rs`.

mod builder;
mod conn;
mod datagram;
mod handle;
mod state;
mod stream;

pub use crate::transport::Protocols;
pub use builder::ServerBuilder;
pub use conn::Conn;
pub use handle::{ServerHandle, StopSignal};
pub use state::Listening;
