//! tiny_http_hello: the other blocking design in sockref's HTTP rows.
//! tiny_http 0.12 accepts on one thread, reads each connection's requests
//! on a thread of its own pool (one per open connection; the pool grows
//! without bound), and queues them for the THREADS handler threads started
//! here, which answer every request as sockref answers `GET /plaintext`:
//! `200 OK`, `Server`, `Date`, `Content-Type: text/plain`,
//! `Content-Length: 13`, body `Hello, World!`.
//!
//!     usage: tiny_http_hello PORT [THREADS]   listens on 127.0.0.1:PORT
//!
//! Made to be fair to both sides, not to win:
//! - `listen()` backlog 128, as sockref: both bind with std's
//!   `TcpListener::bind`.
//! - Threads: tiny_http itself gives each connection a thread that reads its
//!   requests, as sockref's pool gives each connection a worker. The THREADS
//!   handlers only build and write responses and never wait for a client, so
//!   the default is one per CPU this process may run on
//!   (`available_parallelism`, which follows `taskset`): more only adds
//!   wake-ups (26 handlers against 2, `wrk -t1 -c10`: 57-61k against
//!   76-80k req/s on a 2-CPU machine).
//! - Keep-alive on (tiny_http's default for HTTP/1.1; RFC 9112 §9.3); tiny_http
//!   adds `Server` and `Date` itself.
//!
//! Known, and left as it is: tiny_http 0.12's connection pool
//! (`src/util/task_pool.rs`) queues a new connection instead of starting a
//! thread for it while it counts an idle thread, and the count drops only
//! once the woken thread runs; so when connections arrive in a burst while a
//! pool thread is idle, all but one wait in the queue until some connection
//! closes (with keep-alive clients, for the whole run). No setting avoids it
//! (the pool is internal, with 4 threads kept idle for good); seen here, 2 to
//! 6 of 10 connections opened together were never answered.
//!
//! Prints `listening tcp ADDR threads=N` once ready (PORT 0 picks a free
//! port and the line shows it). Exit codes: 1 runtime failure, 2 usage.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;

use tiny_http::{Header, Response, Server};

const BODY: &[u8] = b"Hello, World!";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default_threads = || thread::available_parallelism().map_or(1, |n| n.get());
    let parsed = match args.as_slice() {
        [p] => p.parse::<u16>().ok().map(|p| (p, default_threads())),
        [p, t] => p
            .parse::<u16>()
            .ok()
            .zip(t.parse::<usize>().ok().filter(|&t| t > 0)),
        _ => None,
    };
    let Some((port, threads)) = parsed else {
        eprintln!("usage: tiny_http_hello PORT [THREADS]   (THREADS >= 1)");
        return ExitCode::from(2);
    };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = match Server::http(addr) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("tiny_http_hello: socket()/bind()/listen() error: {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Ok(content_type) = Header::from_bytes(&b"Content-Type"[..], &b"text/plain"[..]) else {
        eprintln!("tiny_http_hello: the Content-Type header did not parse");
        return ExitCode::FAILURE;
    };
    let local = server
        .server_addr()
        .to_ip()
        .map_or_else(|| format!("port {port}"), |a| a.to_string());
    let mut handlers = Vec::with_capacity(threads);
    for _ in 0..threads {
        let server = Arc::clone(&server);
        let content_type = content_type.clone();
        let spawned = thread::Builder::new()
            .name("handler".into())
            .spawn(move || {
                for request in server.incoming_requests() {
                    let response = Response::from_data(BODY).with_header(content_type.clone());
                    // A client gone mid-response ends that connection only.
                    let _ = request.respond(response);
                }
            });
        match spawned {
            Ok(h) => handlers.push(h),
            Err(e) => {
                eprintln!("tiny_http_hello: pthread_create() error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("listening tcp {local} backlog=128 threads={threads}");
    for h in handlers {
        // A handler ends only if it panicked: the server is broken, so stop.
        if h.join().is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
