//! Lab 2, echo with a plain read/write loop,
//! as a program you can talk to. The lab's doc test in
//! `src/labs.rs` starts the same server on port 0 and checks it; here it
//! listens until you stop it (Ctrl-C). `docs/labs.md` says what to type.
//!
//! ```text
//! cargo run --example lab2 -- --addr 127.0.0.1:9000
//! cargo run --example lab2 -- --help
//! ```
//!
//! `tests/labs.rs` checks that `server` below is the doc test's server,
//! line for line, and talks to it.

mod common;

use sockref::{tcp_handler, Protocols, ServerBuilder};
use std::io::{Read, Write};

/// The lab's server, as in its doc test, on `addr` (not yet started).
// Not formatted: the C line stays beside the Rust line that does the same.
#[rustfmt::skip]
pub fn server(addr: &str) -> ServerBuilder {
    ServerBuilder::new()
        .addr(addr)
        .protocols(Protocols::Tcp)
        .service(tcp_handler("my-echo", |conn| {
            let mut message = [0u8; 1024];          // char message[BUF_SIZE];
            loop {
                let n = conn.read(&mut message)?;   // str_len = read(clnt_sock, message, BUF_SIZE);
                if n == 0 {                         // if (str_len == 0)
                    return Ok(());                  //     break;  (then close(clnt_sock))
                }
                conn.write_all(&message[..n])?;     // write(clnt_sock, message, str_len);
            }
        }))
}

fn main() -> std::process::ExitCode {
    common::run("lab2", server)
}
