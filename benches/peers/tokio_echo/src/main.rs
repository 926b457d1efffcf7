//! tokio_echo: the event-loop peer of sockref's echo rows. One task per
//! TCP connection on tokio's multi-thread runtime, each looping read() ->
//! write_all() with a 16 KiB buffer until the client closes; with `--udp`,
//! one task looping recv_from() -> send_to() with a 64 KiB buffer.
//!
//!     usage: tokio_echo PORT [--udp]      listens on 127.0.0.1:PORT
//!
//! Made to be fair to both sides, not to win:
//! - `listen()` backlog 128, sockref's (std's `TcpListener::bind` passes
//!   128); tokio's own `TcpListener::bind` would pass 1024.
//! - One runtime worker per CPU this process may run on
//!   (`available_parallelism`, which follows `taskset`): 1 when compare pins
//!   servers to one CPU, 2 unpinned on a 2-CPU machine. That is tokio's own
//!   default, written out so that the startup line can state it.
//! - SO_REUSEADDR as std sets it; Nagle left on, as sockref leaves it.
//!
//! Prints `listening tcp|udp ADDR workers=N` once ready (PORT 0 picks a free
//! port and the line shows it). Exit codes: 1 runtime failure, 2 usage.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, UdpSocket};

/// sockref's backlog: what std's `TcpListener::bind` passes to `listen()`.
const BACKLOG: u32 = 128;
/// The C peer's read buffer.
const TCP_BUF: usize = 16 * 1024;
/// Any UDP payload fits, so `recvfrom()` never truncates.
const UDP_BUF: usize = 65_536;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, udp) = match args.as_slice() {
        [p] => (p.parse::<u16>().ok(), false),
        [p, flag] if flag == "--udp" => (p.parse::<u16>().ok(), true),
        _ => (None, false),
    };
    let Some(port) = port else {
        eprintln!("usage: tokio_echo PORT [--udp]");
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
    let run = runtime.block_on(async move {
        if udp {
            udp_echo(addr, workers).await
        } else {
            tcp_echo(addr, workers).await
        }
    });
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err((call, e)) => fail(call, &e),
    }
}

fn fail(call: &str, e: &io::Error) -> ExitCode {
    eprintln!("tokio_echo: {call} error: {e}");
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

async fn tcp_echo(addr: SocketAddr, workers: usize) -> Result<(), (&'static str, io::Error)> {
    let listener = listen(addr)?;
    let local = listener.local_addr().map_err(|e| ("getsockname()", e))?;
    println!("listening tcp {local} backlog={BACKLOG} workers={workers}");
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::spawn(echo_conn(conn));
            }
            // A client that gave up before accept(): nothing to do.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            // EMFILE and friends: pause rather than spin, as the C peer does.
            Err(e) => {
                eprintln!("tokio_echo: accept() error: {e}");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
}

/// Echoes everything the client sends; a read or write error ends the
/// connection like end of file does.
async fn echo_conn(mut conn: tokio::net::TcpStream) {
    let mut buf = vec![0u8; TCP_BUF];
    loop {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn udp_echo(addr: SocketAddr, workers: usize) -> Result<(), (&'static str, io::Error)> {
    let sock = UdpSocket::bind(addr)
        .await
        .map_err(|e| ("bind()", at(addr, e)))?;
    let local = sock.local_addr().map_err(|e| ("getsockname()", e))?;
    println!("listening udp {local} workers={workers}");
    let mut buf = vec![0u8; UDP_BUF];
    loop {
        let (n, peer) = sock
            .recv_from(&mut buf)
            .await
            .map_err(|e| ("recvfrom()", e))?;
        // A datagram that cannot go back (e.g. ICMP unreachable left over from
        // a gone client) is dropped, as UDP does; the server goes on.
        let _ = sock.send_to(&buf[..n], peer).await;
    }
}
