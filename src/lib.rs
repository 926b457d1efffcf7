//! # sockref: the C socket sequence, in Rust std, step by step
//!
//! A blocking TCP, UDP and Unix-domain server built on `std` alone: a fixed
//! pool of worker threads, each serving one connection at a time, in code
//! that follows the C textbook's sequence call for call:
//!
//! ```text
//! stream server:    socket() -> bind() -> listen() -> accept() -> read()/write() ... -> close()
//! datagram server:  socket() -> bind() -> recvfrom() -> sendto() ...
//! ```
//!
//! It serves the classic inetd services (echo, discard, chargen, daytime,
//! time: RFC 862-868) and the textbook's `hello` and `length` programs over
//! PF_INET, PF_INET6 and PF_LOCAL (`unix:PATH`), and it embeds in a few
//! lines, with a built-in service or a handler of your own.
//!
//! ## The C <-> Rust map
//!
//! | C call | Rust std | system calls std makes on Linux x86-64 (seen with `strace -f`) |
//! |---|---|---|
//! | `socket()`+`bind()`+`listen()` | `TcpListener::bind(addr)` | `socket`, `setsockopt(SO_REUSEADDR)`, `bind`, `listen(fd, 128)` |
//! | `accept()` | `listener.accept()` | `accept4(fd, ..., SOCK_CLOEXEC)` |
//! | `connect()` | `TcpStream::connect(addr)` | `socket`, `connect` |
//! | `read()` / `recv()` | `Read::read(&mut stream, buf)` | `recvfrom(fd, buf, len, 0, NULL, NULL)` (std calls `recv`) |
//! | `write()` / `send()` | `Write::write(&mut stream, buf)` (loop: `write_all`) | `sendto(fd, buf, len, MSG_NOSIGNAL, NULL, 0)` (std calls `send`; no `SIGPIPE`) |
//! | `shutdown()` | `stream.shutdown(Shutdown::Write)` | `shutdown(fd, SHUT_WR)` |
//! | `close()` | `drop(stream)` | `close` |
//! | `socket()`+`bind()` (UDP) | `UdpSocket::bind(addr)` | `socket`, `bind` |
//! | `recvfrom()` / `sendto()` | `socket.recv_from(buf)` / `socket.send_to(buf, peer)` | `recvfrom` / `sendto` |
//! | `socket()`+`bind()`+`listen()` (PF_LOCAL) | `UnixListener::bind(path)` | `socket(AF_UNIX, SOCK_STREAM)`, `bind`, `listen(fd, -1)` (= `somaxconn`) |
//! | `socket()`+`bind()` (PF_LOCAL datagram) | `UnixDatagram::bind(path)` | `socket(AF_UNIX, SOCK_DGRAM)`, `bind` |
//!
//! std fixes the TCP `listen()` backlog at 128 ([`limits::LISTEN_BACKLOG`]): the
//! kernel queues at most that many finished handshakes while every worker
//! is busy. `tests/syscalls.rs` checks this table against the real binary
//! under `strace -f`.
//!
//! Every call can be watched as it happens: `sockref serve --trace` prints
//! it, and an [`Observer`] of your own receives it (see [`trace`]). The
//! [`labs`] show handlers of your own beside the C they replace; [`client`]
//! is the textbook client.
//!
//! ## Embedding
//!
//! Start a server on a free port, talk to it, stop it and read its counters:
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//!
//! let server = sockref::ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(sockref::Protocols::Tcp)
//!     .builtin("echo")?
//!     .workers(4)
//!     .start()?;
//! let addr = server.tcp_addr().expect("serving TCP");
//!
//! let mut client = TcpStream::connect(addr)?;
//! client.write_all(b"ping")?;
//! client.shutdown(std::net::Shutdown::Write)?;
//! let mut reply = Vec::new();
//! client.read_to_end(&mut reply)?;
//! assert_eq!(reply, b"ping");
//! drop(client);
//!
//! let stats = server.shutdown(Duration::from_secs(5));
//! assert_eq!(stats.accepted, 1);
//! assert_eq!(stats.bytes_in, 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A handler of your own is a closure over the connection:
//!
//! ```
//! use std::io::Write;
//! let server = sockref::ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(sockref::Protocols::Tcp)
//!     .service(sockref::tcp_handler("greet", |conn| {
//!         // write(client_socket, msg, sizeof(msg));
//!         conn.write_all(b"Hello World!\0")
//!     }))
//!     .start()?;
//! # let mut s = std::net::TcpStream::connect(server.tcp_addr().unwrap())?;
//! # let mut v = Vec::new();
//! # std::io::Read::read_to_end(&mut s, &mut v)?;
//! # assert_eq!(v, b"Hello World!\0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//!
//! The afternoon read is `server/` (see its table): `builder` binds in C
//! order, `stream` is accept -> service -> close, `datagram` is recvfrom ->
//! service -> sendto, `conn` is the handler's `Read + Write`, `state` is what
//! threads share, `handle` stops it all. Around it:
//!
//! | module | what |
//! |---|---|
//! | [`transport`] | the seam: TCP or Unix-domain listener, stream and datagram socket |
//! | `guard` | hardening, one threat per file: deadlines, slow rates, per-address limits, accept back-off, overload, datagram filters, the graceful stop, wakers |
//! | [`pool`] | the fixed thread pool, and the one place a panic is caught |
//! | [`service`] | one file per service and the one table of them |
//! | [`trace`] | events named after the C calls, text and JSON sinks, a one-line `emit!` |
//! | [`net`] | addresses (`host:port`, `unix:PATH`), `getaddrinfo()`, error kinds, durations |
//! | [`clock`] | the UTC calendar of the daytime service and HTTP's `Date` |
//! | [`limits`] | every bound, with its default and why |
//! | [`cli`], [`client`], [`mod@bench`] | the command line, the textbook client, the load generator and `sockref compare` (bench::compare); each a folder split by concern |
//! | [`diagram`] | `sockref diagram`: a `--trace=json` run drawn as the textbook's two-column figure (text, Mermaid, SVG) |
//! | [`watch`] | `sockref serve --watch`: the calls live in a browser, as Server-Sent Events of the `--trace=json` lines |
//! | [`labs`] | handlers of your own beside the C they replace (doc tests) |
//!
//! Data flows one way: `cli` -> `server` -> `pool` -> `service`; `transport`,
//! `guard`, `trace`, `net`, `clock`, `limits` and `stats` are leaves that import
//! nothing of `server`. A service never touches a listener or the pool; the
//! pool knows nothing of sockets. [`client`] and [`mod@bench`] stand apart: they
//! use `net`, `transport` and `trace`, never the server; [`diagram`] reads
//! traces and imports nothing but the error type. [`watch`] is an observer
//! and a service (it reads requests with `service::http`), joined to a second,
//! small server in `main.rs`; nothing in `server` knows it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
pub mod check;
pub mod cli;
pub mod client;
pub mod clock;
pub mod diagram;
mod error;
mod guard;
pub mod labs;
pub mod limits;
pub mod net;
pub mod pool;
mod server;
pub mod service;
mod stats;
pub mod trace;
pub mod transport;
pub mod watch;

pub use error::Error;
pub use limits::{AcceptModel, Limits, Overload};
pub use net::{Address, Endpoint};
pub use server::{Conn, Listening, Protocols, ServerBuilder, ServerHandle, StopSignal};
pub use service::{builtin, tcp_handler, udp_handler, Reply, Service};
pub use stats::Stats;
pub use trace::{Event, Observer, Proto, TraceFormat, TraceWriter};
