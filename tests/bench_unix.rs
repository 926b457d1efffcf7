//! `sockref bench unix:PATH` against small Unix-domain echo servers made
//! here (std `UnixListener` and `UnixDatagram`), through the library and
//! the binary: every mode makes exactly the requests asked for
//! (`--requests`, never a duration, so nothing depends on timing), the
//! report names the server `unix:PATH`, and the UDP mode's client socket
//! files are gone afterwards.

mod common;
use common::field;

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use sockref::bench::{BenchOptions, Mode, Report, Stop};

/// A socket path of this test process's own, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(what: &str) -> TempPath {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "sockref-benchtest-{}-{what}-{n}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        TempPath(p)
    }

    fn addr(&self) -> String {
        format!("unix:{}", self.0.display())
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A Unix-domain stream echo server: one thread per connection, echoing
/// to EOF. Dropping it stops the accept loop (woken by one connection)
/// and removes the socket file.
struct StreamEcho {
    path: TempPath,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl StreamEcho {
    fn start() -> StreamEcho {
        let path = TempPath::new("stream");
        let listener = UnixListener::bind(&path.0).expect("bind");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let acceptor = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n @ 1..) = conn.read(&mut buf) {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        StreamEcho {
            path,
            stop,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for StreamEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = UnixStream::connect(&self.path.0);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// A Unix-domain datagram echo server: each datagram goes back to the
/// path it came from (an unnamed sender gets nothing, as from sockref).
struct DatagramEcho {
    path: TempPath,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl DatagramEcho {
    fn start() -> DatagramEcho {
        let path = TempPath::new("dgram");
        let sock = UnixDatagram::bind(&path.0).expect("bind");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let worker = thread::spawn(move || {
            let mut buf = [0u8; 65_536];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(to) = from.as_pathname() {
                    let _ = sock.send_to(&buf[..n], to);
                }
            }
        });
        DatagramEcho {
            path,
            stop,
            worker: Some(worker),
        }
    }
}

impl Drop for DatagramEcho {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(waker) = UnixDatagram::unbound() {
            let _ = waker.send_to(b"", &self.path.0);
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

fn options(addr: String, mode: Mode, stop: Stop) -> BenchOptions {
    BenchOptions {
        addr,
        mode,
        stop,
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(10),
        progress: false,
        ..BenchOptions::default()
    }
}

fn run(opts: &BenchOptions) -> Report {
    sockref::bench::run(opts).expect("bench run")
}

fn bin(addr: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockref"))
        .args(["bench", addr, "--warmup", "0", "--quiet", "--timeout", "10"])
        .args(args)
        .output()
        .expect("run sockref bench")
}

#[test]
fn pingpong_over_a_unix_stream_makes_exactly_the_requests_asked_for() {
    let server = StreamEcho::start();
    let opts = BenchOptions {
        conns: 4,
        threads: 2,
        ..options(server.path.addr(), Mode::Pingpong, Stop::Requests(400))
    };
    let r = run(&opts);
    assert_eq!(r.requests, 400);
    assert_eq!(r.error_count(), 0, "{:?}", r.errors);
    assert_eq!(r.hist.count(), 400);
    let table = r.human();
    let title = format!("pingpong stream {}  conns=4", server.path.addr());
    assert!(table.contains(&title), "{table}");
    let json = r.json();
    let addr = format!("\"addr\":\"{}\"", server.path.addr());
    assert!(json.contains(&addr), "{json}");
}

#[test]
fn large_payloads_over_a_unix_stream_are_verified() {
    let server = StreamEcho::start();
    let opts = BenchOptions {
        conns: 2,
        size: 100_000,
        ..options(server.path.addr(), Mode::Pingpong, Stop::Requests(20))
    };
    let r = run(&opts);
    assert_eq!(r.requests, 20);
    assert_eq!(r.error_count(), 0, "{:?}", r.errors);
}

#[test]
fn churn_over_a_unix_stream_from_the_command_line() {
    let server = StreamEcho::start();
    let o = bin(
        &server.path.addr(),
        &[
            "--mode",
            "churn",
            "--threads",
            "2",
            "--requests",
            "60",
            "--json",
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(field(&out, "requests"), 60.0, "{out}");
    assert_eq!(field(&out, "errors"), 0.0, "{out}");
    assert!(out.contains("\"unit\":\"conn/s\""), "{out}");
    let addr = format!("\"addr\":\"{}\"", server.path.addr());
    assert!(out.contains(&addr), "{out}");
}

#[test]
fn the_table_names_the_unix_server() {
    let server = StreamEcho::start();
    let o = bin(&server.path.addr(), &["--conns", "1", "--requests", "50"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let title = format!("sockref bench: pingpong stream {}", server.path.addr());
    for line in [&title[..], "requests     50 in", "errors       0"] {
        assert!(out.contains(line), "table lacks {line:?}: {out}");
    }
}

#[test]
fn idle_holds_every_unix_connection() {
    let server = StreamEcho::start();
    let opts = BenchOptions {
        conns: 5,
        threads: 2,
        ..options(
            server.path.addr(),
            Mode::Idle,
            Stop::Duration(Duration::ZERO),
        )
    };
    let r = run(&opts);
    assert_eq!(r.held, 5, "{:?}", r.errors);
    assert_eq!(r.requests, 5);
    assert_eq!(r.error_count(), 0, "{:?}", r.errors);
}

#[test]
fn udp_mode_over_a_unix_datagram_socket_and_its_files_are_removed() {
    let server = DatagramEcho::start();
    let opts = BenchOptions {
        threads: 3,
        ..options(server.path.addr(), Mode::Udp, Stop::Requests(300))
    };
    let r = run(&opts);
    // A Unix datagram socket does not drop: a full queue blocks the sender.
    assert_eq!(r.requests, 300, "{:?}", r.errors);
    assert_eq!(r.error_count(), 0, "{:?}", r.errors);
    assert_eq!(r.stale, 0);
    assert!(r
        .human()
        .contains(&format!("udp dgram {}", server.path.addr())));
    // Each client thread bound a file of its own; none is left behind.
    // (This is the only test here whose bench binds client files.)
    let prefix = format!("sockref-bench-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_unix_socket_nobody_listens_on_is_refused_and_exits_1() {
    // A socket file whose listener has gone: connect() is refused.
    let path = TempPath::new("stale");
    drop(UnixListener::bind(&path.0).expect("bind"));
    let o = bin(&path.addr(), &["--conns", "3", "--requests", "5", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(field(&out, "refused"), 3.0, "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no request succeeded"), "{err}");
}
