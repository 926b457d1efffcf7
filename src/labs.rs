//! Labs: your own handler in the server, beside the C you know (1 to 3),
//! then five experiments to watch on the watch page or in a drawn trace
//! (4 to 8).
//!
//! A handler is the part between `accept()` and `close()` (TCP) or between
//! `recvfrom()` and `sendto()` (UDP). The server does the rest: `socket()`,
//! `bind()`, `listen()`, `accept()`, the timeouts, and `close()` when the
//! handler returns. Each handler gets the connection ([`Conn`]: `read`,
//! `write`, `peer()`) or the datagram and its sender's address.
//!
//! Every lab below is a doc test: `cargo test --doc labs` compiles and runs
//! them. The C lines are the textbook's, in the comment beside the Rust line
//! that does the same. Labs 1, 2, 3, 5 and the failing handler are also
//! programs you can talk to, with the same server code (`examples/lab1.rs`
//! ..., `cargo run --example lab1 -- --addr 127.0.0.1:9000`); `docs/labs.md`
//! says what to type and what you should see.
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
//! # Watching the calls: five experiments
//!
//! The labs below are experiments to watch rather than code to write. Each says what to
//! run, what to look for on the watch page (`--watch`, see docs/watch.md)
//! or in a drawn trace (`sockref diagram`), and why it happens. Open
//! `http://127.0.0.1:8080/` beside your terminals. Each ends with a doc test that checks the
//! same fact through an [`Observer`], so the claim stays true.
//!
//! # Lab 4: one worker, two clients (the listen() backlog)
//!
//! Run the server with a single worker, then two clients in two more terminals:
//!
//! ```sh
//! sockref serve --workers 1 --watch 127.0.0.1:8080
//! nc 127.0.0.1 4000
//! nc 127.0.0.1 4000
//! ```
//!
//! Type a line into each `nc`. **Look for:** lane #1 shows `accept()`, `read()`, `write()`;
//! the second client gets no lane and no echo, although its `connect()` succeeded. Now end the
//! first `nc` (Ctrl-C): #1 shows `read() = 0 · FIN` and `close()`, and at once lane #2 appears,
//! with `accept()` and a `read()` of the line you typed long before. **Why:** the kernel
//! finished the second client's handshake and queued it in the `listen()` backlog (128 deep,
//! `limits::LISTEN_BACKLOG`); its bytes waited in the kernel too. `accept()` takes one
//! finished connection off that queue, and the only worker calls it again only after
//! `close()`.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{Shutdown, TcpStream};
//! use std::sync::{Arc, Mutex};
//! use sockref::trace::{Event, Observer};
//! use sockref::{Protocols, ServerBuilder};
//!
//! #[derive(Default)]
//! struct Calls(Mutex<Vec<String>>);
//! impl Observer for Calls {
//!     fn event(&self, event: &Event<'_>) {
//!         let call = match event {
//!             Event::Accept { conn, .. } => format!("accept {conn}"),
//!             Event::Close { conn, .. } => format!("close {conn}"),
//!             _ => return,
//!         };
//!         self.0.lock().unwrap().push(call);
//!     }
//! }
//!
//! let calls = Arc::new(Calls::default());
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .workers(1)
//!     .observer(calls.clone())
//!     .start()?;
//! let addr = server.tcp_addr().unwrap();
//!
//! let mut first = TcpStream::connect(addr)?;
//! first.write_all(b"one")?;
//! first.read_exact(&mut [0u8; 3])?;               // the worker is serving the first client
//! let mut second = TcpStream::connect(addr)?;     // connect() succeeds: the backlog holds it
//! second.write_all(b"two")?;                      // and the kernel holds its bytes
//! drop(first);                                    // close(): the worker is free again
//! let mut echo = [0u8; 3];
//! second.read_exact(&mut echo)?;
//! assert_eq!(&echo, b"two");
//! second.shutdown(Shutdown::Write)?;
//! second.read_to_end(&mut Vec::new())?;
//! server.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!(*calls.0.lock().unwrap(), ["accept 1", "close 1", "accept 2", "close 2"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 5: half-close (read() returns 0, the other way stays open)
//!
//! The handler below counts the bytes it reads until `read()` returns 0, and only then
//! answers, as a "count the bytes" server in C would. Run it as a program
//! (`examples/lab5.rs`), send it 5,000 bytes with a client that half-closes when its input
//! ends, and draw both sides' traces:
//!
//! ```sh
//! cargo run --example lab5 -- --trace=json --max-connections 1 > server.jsonl
//! head -c 5000 /dev/zero | sockref client 127.0.0.1:9000 --trace=json 2> client.jsonl
//! sockref diagram server.jsonl --client client.jsonl
//! ```
//!
//! **Look for:** the client's `shutdown(SHUT_WR)` and the FIN it sends; the server's
//! `read()`s of the 5,000 bytes, then `read() = 0 (EOF)`, and only after that its
//! `write() = 11`, which the client, its own sending side closed, still reads
//! (`5000 bytes`). **Why:** `shutdown(SHUT_WR)` closes one direction only. The server
//! learns of it as a `read()` that returns 0, and may still `write()`.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{Shutdown, TcpStream};
//! use std::sync::{Arc, Mutex};
//! use sockref::trace::{Event, Observer};
//! use sockref::{tcp_handler, Protocols, ServerBuilder};
//!
//! #[derive(Default)]
//! struct Calls(Mutex<Vec<String>>);
//! impl Observer for Calls {
//!     fn event(&self, event: &Event<'_>) {
//!         let call = match event {
//!             Event::Read { bytes: 0, .. } => "read 0".to_string(),
//!             Event::Write { bytes, .. } => format!("write {bytes}"),
//!             _ => return,
//!         };
//!         self.0.lock().unwrap().push(call);
//!     }
//! }
//!
//! let calls = Arc::new(Calls::default());
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .observer(calls.clone())
//!     .service(tcp_handler("count", |conn| {
//!         let mut total = 0;
//!         let mut buf = [0u8; 1024];
//!         loop {
//!             let n = conn.read(&mut buf)?;       // str_len = read(clnt_sock, buf, BUF_SIZE);
//!             if n == 0 {                         // the client's FIN: nothing more will come
//!                 break;
//!             }
//!             total += n;
//!         }
//!         conn.write_all(format!("{total} bytes\n").as_bytes())   // and yet we write
//!     }))
//!     .start()?;
//!
//! let mut sock = TcpStream::connect(server.tcp_addr().unwrap())?;
//! sock.write_all(&[b'x'; 5000])?;
//! sock.shutdown(Shutdown::Write)?;                // shutdown(sock, SHUT_WR);
//! let mut answer = String::new();
//! sock.read_to_string(&mut answer)?;              // still reading after our FIN
//! assert_eq!(answer, "5000 bytes\n");
//! server.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!(*calls.0.lock().unwrap(), ["read 0", "write 11"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 6: UDP has no connection (many peers, one socket, no accept())
//!
//! With the server from Lab 4 (or any), send three datagrams from three sockets:
//!
//! ```sh
//! for i in 1 2 3; do echo "student $i" | nc -u -w1 127.0.0.1 4000; done
//! ```
//!
//! **Look for:** no new lane and no `accept()`: the UDP panel shows three peers (three source
//! ports), each datagram an arrow into the one socket (`recvfrom()`) and one back
//! (`sendto()`); the `accepted` counter does not move. **Why:** a datagram socket has no
//! connections. One socket, bound once, receives from anyone; `recvfrom()` says who sent each
//! datagram, and `sendto()` names the peer every time.
//!
//! ```
//! use std::collections::HashSet;
//! use std::net::UdpSocket;
//! use std::sync::{Arc, Mutex};
//! use sockref::trace::{Event, Observer};
//! use sockref::{Protocols, ServerBuilder};
//!
//! #[derive(Default)]
//! struct Peers(Mutex<(HashSet<String>, usize)>);
//! impl Observer for Peers {
//!     fn event(&self, event: &Event<'_>) {
//!         let mut seen = self.0.lock().unwrap();
//!         match event {
//!             Event::RecvFrom { peer, .. } => {
//!                 seen.0.insert(peer.to_string());
//!             }
//!             Event::Accept { .. } => seen.1 += 1,
//!             _ => {}
//!         }
//!     }
//! }
//!
//! let peers = Arc::new(Peers::default());
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Udp)
//!     .observer(peers.clone())
//!     .start()?;
//! for i in 1..=3 {
//!     let sock = UdpSocket::bind("127.0.0.1:0")?;    // a new peer: a new source port
//!     let message = format!("student {i}");
//!     sock.send_to(message.as_bytes(), server.udp_addr().unwrap())?;
//!     let mut reply = [0u8; 64];
//!     let (n, _) = sock.recv_from(&mut reply)?;
//!     assert_eq!(&reply[..n], message.as_bytes());
//! }
//! let stats = server.shutdown(std::time::Duration::from_secs(5));
//! let (seen, accepts) = &*peers.0.lock().unwrap();
//! assert_eq!((seen.len(), *accepts, stats.accepted, stats.datagrams_in), (3, 0, 0, 3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 7: a client that stops reading (the slow-reader rule)
//!
//! Serve chargen, which writes for as long as the client reads, and connect a client whose
//! output nobody reads (`sleep` never reads its pipe, so `nc` stops reading the socket):
//!
//! ```sh
//! sockref serve --service chargen --idle-timeout 2 --watch 127.0.0.1:8080
//! nc 127.0.0.1 4000 | sleep 600
//! ```
//!
//! **Look for:** the lane fills with `write()`s (`+N earlier`), then they stop; about two
//! seconds later a red `timeout in write()` and `close()`; the `timeouts` counter turns red.
//! **Why:** once the client's receive buffer and the server's send buffer are full,
//! `write()` blocks. A worker blocked for ever is a worker lost, so the server requires a
//! client to take at least `--min-rate-out` bytes a second (16 KiB) with one idle timeout of
//! credit, and cuts one that does not (`guard::min_rate`).
//!
//! ```
//! use std::net::TcpStream;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use sockref::trace::{Event, Observer};
//! use sockref::{Protocols, ServerBuilder};
//!
//! #[derive(Default)]
//! struct Cut(Mutex<Option<(&'static str, std::io::ErrorKind)>>);
//! impl Observer for Cut {
//!     fn event(&self, event: &Event<'_>) {
//!         if let Event::Error { call, error, .. } = event {
//!             self.0.lock().unwrap().get_or_insert((*call, error.kind()));   // the first failure
//!         }
//!     }
//! }
//!
//! let cut = Arc::new(Cut::default());
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .builtin("chargen")?
//!     .idle_timeout(Some(Duration::from_secs(1)))
//!     .max_connections(1)                         // ask to stop once it is closed
//!     .observer(cut.clone())
//!     .start()?;
//! let never_reads = TcpStream::connect(server.tcp_addr().unwrap())?;
//! assert!(server.wait(Some(Duration::from_secs(60))), "the server cut it");
//! let stats = server.shutdown(Duration::from_secs(5));
//! assert_eq!(stats.timed_out, 1);
//! assert_eq!(*cut.0.lock().unwrap(), Some(("write()", std::io::ErrorKind::TimedOut)));
//! drop(never_reads);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Lab 8: a browser's request bytes, and keep-alive (HTTP)
//!
//! Serve HTTP and open `http://127.0.0.1:4000/` in a browser; then try `curl` with two
//! addresses, which it fetches over one connection:
//!
//! ```sh
//! sockref serve --service http --watch 127.0.0.1:8080
//! curl -v http://127.0.0.1:4000/ http://127.0.0.1:4000/plaintext
//! ```
//!
//! **Look for:** the browser shows its own request head: the route `/` answers with the
//! bytes it read. On the watch page, that lane's `read()` is those bytes
//! (`“GET / HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n…”`; click the lane for all of it), then one
//! `write()` for the whole response. The lane stays open after the answer: the browser
//! keeps the connection for its next request (often `/favicon.ico`, a second `read()` on the
//! same lane), until it closes or the idle timeout (30 s) ends it. A lane with only
//! `accept()`, `read() = 0 · FIN` and `close()` is a spare connection the browser opened in
//! case it needed one, and closed unused. `curl` says
//! `Re-using existing connection`: two requests, one `accept()`, then `read() = 0 · FIN`
//! when curl exits. **Why:** HTTP/1.1 connections persist unless a side says
//! `Connection: close` (RFC 9112 §9.3): a `connect()` and `accept()` saved per request.
//!
//! ```
//! use std::io::{BufRead, BufReader, Read, Write};
//! use std::net::TcpStream;
//! use sockref::{Protocols, ServerBuilder};
//!
//! /// One response: its head, then exactly Content-Length bytes of body.
//! fn response(from: &mut BufReader<TcpStream>) -> std::io::Result<String> {
//!     let (mut length, mut line) = (0, String::new());
//!     while line != "\r\n" {
//!         line.clear();
//!         from.read_line(&mut line)?;
//!         if let Some(v) = line.strip_prefix("Content-Length: ") {
//!             length = v.trim().parse().unwrap();
//!         }
//!     }
//!     let mut body = vec![0u8; length];
//!     from.read_exact(&mut body)?;
//!     Ok(String::from_utf8(body).unwrap())
//! }
//!
//! let server = ServerBuilder::new()
//!     .addr("127.0.0.1:0")
//!     .protocols(Protocols::Tcp)
//!     .builtin("http")?
//!     .start()?;
//! let sock = TcpStream::connect(server.tcp_addr().unwrap())?;
//! let mut from = BufReader::new(sock.try_clone()?);
//! let mut to = sock;
//! let head = "GET / HTTP/1.1\r\nHost: lab\r\nUser-Agent: lab8\r\n\r\n";
//! to.write_all(head.as_bytes())?;
//! assert_eq!(response(&mut from)?, head);         // the bytes the server read
//! to.write_all(b"GET /plaintext HTTP/1.1\r\nHost: lab\r\n\r\n")?;
//! assert_eq!(response(&mut from)?, "Hello, World!");  // same connection
//! drop((to, from));
//! let stats = server.shutdown(std::time::Duration::from_secs(5));
//! assert_eq!(stats.accepted, 1);                  // two requests, one accept()
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Conn`]: crate::Conn
//! [`Observer`]: crate::Observer
