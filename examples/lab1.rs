//! Lab 1, the hello server (accept -> write -> close),
//! as a program you can talk to. The lab's doc test in
//! `src/labs.rs` starts the same server on port 0 and checks it; here it
//! listens until you stop it (Ctrl-C). `docs/labs.md` says what to type.
//!
//! ```text
//! cargo run --example lab1 -- --addr 127.0.0.1:9000
//! cargo run --example lab1 -- --help
//! ```
//!
//! `tests/labs.rs` checks that `server` below is the doc test's server,
//! line for line, and talks to it.

mod common;

use sockref::{tcp_handler, Protocols, ServerBuilder};
use std::io::Write;

/// The lab's server, as in its doc test, on `addr` (not yet started).
// Not formatted: the C line stays beside the Rust line that does the same.
#[rustfmt::skip]
pub fn server(addr: &str) -> ServerBuilder {
    ServerBuilder::new()                            // serv_sock = socket(PF_INET, SOCK_STREAM, 0);
        .addr(addr)                                 // bind(serv_sock, &serv_addr, sizeof(serv_addr));
        .protocols(Protocols::Tcp)                  // listen(serv_sock, 5);
        .service(tcp_handler("hello", |conn| {      // clnt_sock = accept(serv_sock, &clnt_addr, &sz);
            let _who = conn.peer();                 // inet_ntoa(clnt_addr.sin_addr)
            conn.write_all(b"Hello World!\0")       // write(clnt_sock, message, sizeof(message));
        }))                                         // close(clnt_sock);  (when the handler returns)
}

fn main() -> std::process::ExitCode {
    common::run("lab1", server)
}
