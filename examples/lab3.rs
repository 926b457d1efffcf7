//! Lab 3, a UDP handler answering each datagram,
//! as a program you can talk to. The lab's doc test in
//! `src/labs.rs` starts the same server on port 0 and checks it; here it
//! listens until you stop it (Ctrl-C). `docs/labs.md` says what to type.
//!
//! ```text
//! cargo run --example lab3 -- --addr 127.0.0.1:9000
//! cargo run --example lab3 -- --help
//! ```
//!
//! `tests/labs.rs` checks that `server` below is the doc test's server,
//! line for line, and talks to it.

mod common;

use sockref::{udp_handler, Protocols, ServerBuilder};

/// The lab's server, as in its doc test, on `addr` (not yet started).
// Not formatted: the C line stays beside the Rust line that does the same.
#[rustfmt::skip]
pub fn server(addr: &str) -> ServerBuilder {
    ServerBuilder::new()                            // serv_sock = socket(PF_INET, SOCK_DGRAM, 0);
        .addr(addr)                                 // bind(serv_sock, &serv_addr, sizeof(serv_addr));
        .protocols(Protocols::Udp)
        .service(udp_handler("shout", |message, _from| {
                                                    // str_len = recvfrom(serv_sock, message, BUF_SIZE, 0,
                                                    //                    &clnt_adr, &clnt_adr_sz);
            Some(message.to_ascii_uppercase())      // sendto(serv_sock, message, str_len, 0,
        }))                                         //        &clnt_adr, clnt_adr_sz);
}

fn main() -> std::process::ExitCode {
    common::run("lab3", server)
}
