//! Three labs: your own handler in the server, beside the C you know.
//!
//! A handler is the part between `accept()` and `close()` (TCP) or between
//! `recvfrom()` and `sendto()` (UDP). The server does the rest: `socket()`,
//! `bind()`, `listen()`, `accept()`, the timeouts, and `close()` when the
//! handler returns. Each handler gets the connection ([`Conn`]: `read`,
//! `write`, `peer()`) or the datagram and its sender's address.
//!
//! Every lab below is a doc test: `cargo test --doc labs` compiles and runs
//! them. The C lines are the textbook's, in the comment beside the Rust line
//! that does the same.
//!
//! # Lab 1: the hello server (accept -> write -> close)
//!
//! ```
//! use std::io::{Read, Write};
//! use sockref::{tcp_handler, Protocols, ServerBuilder};
//!
//! let server = ServerBuilder::new()               // serv_sock = socket(PF_INET, SOCK_STREAM, 0);
//!     .addr("127.0.0.1:0")                        // bind(serv_sock, &serv_addr, sizeof(serv_addr));
//!     .protocols(Protocols::Tcp)                  // listen(serv_sock, 5);
//!     .service(tcp_handler("hello", |conn| {      // clnt_sock = accept(serv_sock, &clnt_addr, &sz);
//!         let _who = conn.peer();                 // inet_ntoa(clnt_addr.sin_addr)
//!         conn.write_all(b"Hello World!\0")       // write(clnt_sock, message, sizeof(message));
//!     }))                                         // close(clnt_sock);  (when the handler returns)
//!     .start()?;
//!
//! // The client side, to check: connect(), read() until the server closes.
//! let mut sock = std::net::TcpStream::connect(server.tcp_addr().unwrap())?;
//! let mut message = Vec::new();
//! sock.read_to_end(&mut message)?;
//! assert_eq!(message, b"Hello World!\0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 2: echo with a plain read/write loop
//!
//! ```
//! use std::io::{Read, Write};
//! use sockref::{tcp_handler, Protocols, ServerBuilder};
//!
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .service(tcp_handler("my-echo", |conn| {
//!         let mut message = [0u8; 1024];          // char message[BUF_SIZE];
//!         loop {
//!             let n = conn.read(&mut message)?;   // str_len = read(clnt_sock, message, BUF_SIZE);
//!             if n == 0 {                         // if (str_len == 0)
//!                 return Ok(());                  //     break;  (then close(clnt_sock))
//!             }
//!             conn.write_all(&message[..n])?;     // write(clnt_sock, message, str_len);
//!         }
//!     }))
//!     .start()?;
//!
//! let mut sock = std::net::TcpStream::connect(server.tcp_addr().unwrap())?;
//! sock.write_all(b"ping")?;
//! sock.shutdown(std::net::Shutdown::Write)?;      // no more to send: read() returns 0 over there
//! let mut reply = Vec::new();
//! sock.read_to_end(&mut reply)?;
//! assert_eq!(reply, b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 3: a UDP handler answering each datagram
//!
//! ```
//! use std::net::UdpSocket;
//! use sockref::{udp_handler, Protocols, ServerBuilder};
//!
//! let server = ServerBuilder::new()               // serv_sock = socket(PF_INET, SOCK_DGRAM, 0);
//!     .addr("127.0.0.1:0")                        // bind(serv_sock, &serv_addr, sizeof(serv_addr));
//!     .protocols(Protocols::Udp)
//!     .service(udp_handler("shout", |message, _from| {
//!                                                 // str_len = recvfrom(serv_sock, message, BUF_SIZE, 0,
//!                                                 //                    &clnt_adr, &clnt_adr_sz);
//!         Some(message.to_ascii_uppercase())      // sendto(serv_sock, message, str_len, 0,
//!     }))                                         //        &clnt_adr, clnt_adr_sz);
//!     .start()?;
//!
//! let sock = UdpSocket::bind("127.0.0.1:0")?;
//! sock.send_to(b"hello", server.udp_addr().unwrap())?;
//! let mut reply = [0u8; 64];
//! let (n, _) = sock.recv_from(&mut reply)?;
//! assert_eq!(&reply[..n], b"HELLO");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Returning `None` sends nothing back, as a C server that skips `sendto()`.
//!
//! # Your handler cannot break the server
//!
//! A handler that panics, returns early or returns an error ends only its own
//! connection: the server closes it, counts it, and keeps serving. The trace
//! says why. Here an [`Observer`] of your own collects the trace lines (a lab
//! can count calls the same way):
//!
//! ```
//! use std::io::{self, Read, Write};
//! use std::sync::{Arc, Mutex};
//! use sockref::trace::{text_line, Event, Observer};
//! use sockref::{tcp_handler, Protocols, ServerBuilder};
//!
//! #[derive(Default)]
//! struct Lines(Mutex<Vec<String>>);
//! impl Observer for Lines {
//!     fn event(&self, event: &Event<'_>) {
//!         self.0.lock().unwrap().push(text_line(event));
//!     }
//! }
//!
//! let lines = Arc::new(Lines::default());
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .observer(lines.clone())
//!     .service(tcp_handler("fragile", |conn| {
//!         let mut word = [0u8; 16];
//!         let n = conn.read(&mut word)?;
//!         match &word[..n] {
//!             b"panic" => panic!("the student's bug"),
//!             b"error" => Err(io::Error::other("bad request")),
//!             b"quit" => Ok(()),                  // early return, input left unread
//!             other => conn.write_all(other),
//!         }
//!     }))
//!     .start()?;
//! let addr = server.tcp_addr().unwrap();
//!
//! for word in ["panic", "error", "quit", "still serving"] {
//!     let mut sock = std::net::TcpStream::connect(addr)?;
//!     sock.write_all(word.as_bytes())?;
//!     sock.shutdown(std::net::Shutdown::Write)?;
//!     let mut reply = Vec::new();
//!     let _ = sock.read_to_end(&mut reply);       // the first three just close
//! #   if word == "still serving" { assert_eq!(reply, b"still serving"); }
//! }
//! let stats = server.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!((stats.accepted, stats.closed, stats.panics), (4, 4, 1));
//!
//! let trace = lines.0.lock().unwrap().concat();
//! assert!(trace.contains("panic      conn=1 handler panicked: the student's bug\n"));
//! assert!(trace.contains("handler    error conn=2: bad request\n"));
//! assert!(trace.contains("shutdown() conn=3 how=SHUT_WR\n"));   // quit: the server half-closes
//! assert!(trace.contains("write()    conn=4 bytes=13\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Connection numbers follow `accept()` order; the four clients above
//! connect one after the other, so they are 1 to 4.
//!
//! [`Conn`]: crate::Conn
//! [`Observer`]: crate::Observer
