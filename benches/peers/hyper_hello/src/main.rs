//! hyper_hello: the event-loop peer of sockref's HTTP rows. hyper 1's
//! HTTP/1.1 server on tokio's multi-thread runtime, one task per
//! connection, answering every request as sockref answers
//! `GET /plaintext`: `200 OK`, `Server`, `Date`, `Content-Type: text/plain`,
//! `Content-Length: 13`, body `Hello, World!`.
//!
//!     usage: hyper_hello PORT      listens on 127.0.0.1:PORT
//!
//! Made to be fair to both sides, not to win:
//! - `listen()` backlog 128, sockref's (std's `TcpListener::bind` passes
//!   128); tokio's own `TcpListener::bind` would pass 1024.
//! - One runtime worker per CPU this process may run on
//!   (`available_parallelism`, which follows `taskset`), tokio's default.
//! - Keep-alive on (hyper's default; RFC 9112 §9.3), and `pipeline_flush`:
//!   the responses to requests that arrived together go out in one
//!   `write()`, as sockref sends them.
//! - Header names as hyper writes them by default (lower case); hyper adds
//!   `date` itself, cached once a second as sockref caches it. Nagle left
//!   on, as sockref leaves it.
//!
//! Prints `listening tcp ADDR workers=N` once ready (PORT 0 picks a free
//! port and the line shows it). Exit codes: 1 runtime failure, 2 usage.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket};

/// sockref's backlog: what std's `TcpListener::bind` passes to `listen()`.
const BACKLOG: u32 = 128;
const BODY: &[u8] = b"Hello, World!";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [p] => p.parse::<u16>().ok(),
        _ => None,
    };
    let Some(port) = port else {
        eprintln!("usage: hyper_hello PORT");
        return ExitCode::from(2);
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail("runtime start", &e),
    };
    match runtime.block_on(serve(addr, workers)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((call, e)) => fail(call, &e),
    }
}

fn fail(call: &str, e: &io::Error) -> ExitCode {
    eprintln!("hyper_hello: {call} error: {e}");
    ExitCode::FAILURE
}

/// `e` with the address it concerns, as sockref words it:
/// `bind() error: 127.0.0.1:4000: Address already in use (os error 98)`.
fn at(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{addr}: {e}"))
}

/// The C sequence with the backlog chosen: socket(), setsockopt(SO_REUSEADDR),
/// bind(), listen(128).
fn listen(addr: SocketAddr) -> Result<TcpListener, (&'static str, io::Error)> {
    let sock = TcpSocket::new_v4().map_err(|e| ("socket()", e))?;
    sock.set_reuseaddr(true)
        .map_err(|e| ("setsockopt(SO_REUSEADDR)", e))?;
    sock.bind(addr).map_err(|e| ("bind()", at(addr, e)))?;
    sock.listen(BACKLOG).map_err(|e| ("listen()", e))
}

async fn serve(addr: SocketAddr, workers: usize) -> Result<(), (&'static str, io::Error)> {
    let listener = listen(addr)?;
    let local = listener.local_addr().map_err(|e| ("getsockname()", e))?;
    println!("listening tcp {local} backlog={BACKLOG} workers={workers}");
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::spawn(async move {
                    let http = http1::Builder::new()
                        .keep_alive(true)
                        .pipeline_flush(true)
                        .serve_connection(TokioIo::new(conn), service_fn(hello));
                    // A malformed request or a client gone mid-response ends
                    // this connection only.
                    let _ = http.await;
                });
            }
            // A client that gave up before accept(): nothing to do.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            // EMFILE and friends: pause rather than spin.
            Err(e) => {
                eprintln!("hyper_hello: accept() error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Every request, whatever its method and path, gets the plaintext answer.
async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}
