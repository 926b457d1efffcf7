//! The handler that cannot break the server (panic, error, early return),
//! as a program you can talk to. The lab's doc test in
//! `src/labs.rs` starts the same server on port 0 and checks it; here it
//! listens until you stop it (Ctrl-C). `docs/labs.md` says what to type.
//!
//! ```text
//! cargo run --example fragile -- --addr 127.0.0.1:9000
//! cargo run --example fragile -- --help
//! ```
//!
//! `tests/labs.rs` checks that `server` below is the doc test's server,
//! line for line, and talks to it.

mod common;

use sockref::{tcp_handler, Protocols, ServerBuilder};
use std::io::{self, Read, Write};

/// The lab's server, as in its doc test, on `addr` (not yet started).
// Not formatted: the C line stays beside the Rust line that does the same.
#[rustfmt::skip]
pub fn server(addr: &str) -> ServerBuilder {
    ServerBuilder::new()
        .addr(addr)
        .protocols(Protocols::Tcp)
        .service(tcp_handler("fragile", |conn| {
            let mut word = [0u8; 16];
            let n = conn.read(&mut word)?;
            match &word[..n] {
                b"panic" => panic!("the student's bug"),
                b"error" => Err(io::Error::other("bad request")),
                b"quit" => Ok(()),                  // early return, input left unread
                other => conn.write_all(other),
            }
        }))
}

fn main() -> std::process::ExitCode {
    common::run("fragile", server)
}
