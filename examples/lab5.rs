//! Lab 5, half-close (read() returns 0, and the server still writes),
//! as a program you can talk to. The lab's doc test in
//! `src/labs.rs` starts the same server on port 0 and checks it; here it
//! listens until you stop it (Ctrl-C). `docs/labs.md` says what to type.
//!
//! ```text
//! cargo run --example lab5 -- --addr 127.0.0.1:9000
//! cargo run --example lab5 -- --help
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
        .service(tcp_handler("count", |conn| {
            let mut total = 0;
            let mut buf = [0u8; 1024];
            loop {
                let n = conn.read(&mut buf)?;       // str_len = read(clnt_sock, buf, BUF_SIZE);
                if n == 0 {                         // the client's FIN: nothing more will come
                    break;
                }
                total += n;
            }
            conn.write_all(format!("{total} bytes\n").as_bytes())   // and yet we write
        }))
}

fn main() -> std::process::ExitCode {
    common::run("lab5", server)
}
