//! The minimum rate (`guard::min_rate`): a client that stops reading frees
//! its worker about one idle timeout after its last progress, however the
//! kernel trickles its window; a slow-but-steady reader is kept; input
//! trickled below the input floor is cut, counted and traced.
//!
//! Assertions are on what happened (which call failed, with which limit,
//! which client was served), never on how fast: the times are printed for
//! docs/limits.md and bounded only against a hang.

mod common;
use common::procfs::wait_until;
use common::*;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sockref::{Event, Limits, Observer, Protocols, ServerBuilder, ServerHandle};

/// Generous: a test fails on a hang, it does not measure speed.
const HANG: Duration = Duration::from_secs(60);

/// Each connection's failed calls and how long it was open.
#[derive(Default)]
struct Log {
    errors: Mutex<Vec<(u64, &'static str, String)>>,
    closes: Mutex<Vec<(u64, Duration)>>,
}

impl Observer for Log {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::Error { conn, call, error } => {
                let mut e = self.errors.lock().unwrap();
                e.push((*conn, *call, error.to_string()));
            }
            Event::Close { conn, duration, .. } => {
                self.closes.lock().unwrap().push((*conn, *duration))
            }
            _ => {}
        }
    }
}

impl Log {
    fn error_of(&self, conn: u64) -> Option<(&'static str, String)> {
        let errors = self.errors.lock().unwrap();
        errors
            .iter()
            .find(|e| e.0 == conn)
            .map(|e| (e.1, e.2.clone()))
    }

    fn duration_of(&self, conn: u64) -> Option<Duration> {
        let closes = self.closes.lock().unwrap();
        closes.iter().find(|c| c.0 == conn).map(|c| c.1)
    }
}

fn server(service: &str, workers: usize, limits: Limits, log: &Arc<Log>) -> ServerHandle {
    ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .builtin(service)
        .unwrap()
        .limits(Limits {
            workers,
            idle_timeout: Some(Duration::from_secs(2)),
            ..limits
        })
        .observer(Arc::clone(log) as Arc<dyn Observer>)
        .start()
        .unwrap()
}

/// A chargen client that reads `n` bytes: it was served.
fn chargen_serves(addr: SocketAddr, n: usize) -> Duration {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(HANG)).unwrap();
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("the fresh client is served");
    assert!(buf
        .iter()
        .all(|b| (b' '..=b'~').contains(b) || *b == b'\r' || *b == b'\n'));
    t.elapsed()
}

/// The cut of connection `conn` was a `write()` failing on the idle timeout
/// or the minimum rate, and the trace says which.
fn assert_cut_writing(log: &Log, conn: u64) {
    let (call, msg) = log.error_of(conn).expect("the non-reader's cut is traced");
    assert_eq!(call, "write()", "{msg}");
    assert!(
        msg.starts_with("below the minimum rate of 16384 bytes/s") || msg == "timed out after 2s",
        "{msg}"
    );
}

#[test]
fn a_chargen_client_that_never_reads_frees_the_only_worker() {
    let log = Arc::new(Log::default());
    let server = server("chargen", 1, Limits::default(), &log);
    let addr = server.tcp_addr().unwrap();
    let t = Instant::now();
    let hog = connect(addr); // never reads
    assert!(wait_until(HANG, || server.active_connections() == 1));
    let waited = chargen_serves(addr, 10_000);
    eprintln!(
        "non-reading chargen client (idle timeout 2 s, 1 worker): cut after {:?}; \
         fresh client served {waited:?} after it connected, {:?} after the non-reader",
        log.duration_of(1),
        t.elapsed()
    );
    assert_cut_writing(&log, 1);
    drop(hog);
    let stats = server.shutdown(Duration::ZERO);
    assert_eq!(stats.timed_out, 1, "{stats}");
}

#[test]
fn ten_megabytes_sent_to_echo_and_never_read_free_the_only_worker() {
    let log = Arc::new(Log::default());
    let server = server("echo", 1, Limits::default(), &log);
    let addr = server.tcp_addr().unwrap();
    let hog = thread::spawn(move || {
        let mut s = connect(addr);
        s.set_write_timeout(Some(HANG)).unwrap();
        let data = vec![b'z'; 10_000_000];
        // Fails once the server gives up (reset); never reads.
        let _ = s.write_all(&data);
        s
    });
    assert!(wait_until(HANG, || server.active_connections() == 1));
    let data = random_bytes(9, 100_000);
    assert_eq!(tcp_exchange(addr, &data), data, "the next client is served");
    eprintln!(
        "10 MB to echo, never read (idle timeout 2 s): cut after {:?}",
        log.duration_of(1)
    );
    assert_cut_writing(&log, 1);
    drop(hog.join().unwrap());
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.timed_out, 1, "{stats}");
}

#[test]
fn thirty_six_non_readers_on_sixteen_workers_then_a_fresh_client_is_served() {
    let log = Arc::new(Log::default());
    let server = server("chargen", 16, Limits::default(), &log);
    let addr = server.tcp_addr().unwrap();
    let t = Instant::now();
    let hogs: Vec<TcpStream> = (0..36).map(|_| connect(addr)).collect();
    assert!(wait_until(HANG, || server.active_connections() == 16));
    let waited = chargen_serves(addr, 10_000);
    eprintln!(
        "36 non-readers, 16 workers, idle timeout 2 s: fresh client served {waited:?} after \
         it connected ({:?} after the first non-reader)",
        t.elapsed()
    );
    // Every non-reader ahead of the fresh client was cut, each on a write.
    assert!(
        wait_until(HANG, || server.stats().timed_out >= 36),
        "{}",
        server.stats()
    );
    for conn in 1..=36 {
        assert_cut_writing(&log, conn);
    }
    drop(hogs);
    let stats = server.shutdown(Duration::ZERO);
    assert_eq!(stats.timed_out, 36, "{stats}");
}

#[test]
fn a_steady_reader_of_64_kib_a_second_is_never_cut() {
    let log = Arc::new(Log::default());
    let server = server("chargen", 1, Limits::default(), &log);
    let addr = server.tcp_addr().unwrap();
    // 16 KiB every 250 ms for 10 s. Stable std cannot set SO_RCVBUF: this
    // reader keeps the kernel's default receive buffer (128 KiB on Linux,
    // which paced reads never make it grow).
    let mut s = connect(addr);
    s.set_read_timeout(Some(HANG)).unwrap();
    let started = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0usize;
    for step in 1..=40u32 {
        s.read_exact(&mut buf)
            .expect("a steady reader is never cut");
        total += buf.len();
        if let Some(rest) =
            (started + step * Duration::from_millis(250)).checked_duration_since(Instant::now())
        {
            thread::sleep(rest); // the client's pace, not a wait for the server
        }
    }
    eprintln!(
        "steady reader: {total} bytes in {:?}, still open",
        started.elapsed()
    );
    assert_eq!(total, 40 * 16 * 1024);
    assert_eq!(server.active_connections(), 1, "still served");
    assert_eq!(server.stats().timed_out, 0);
    assert_eq!(log.error_of(1), None);
    s.shutdown(Shutdown::Both).unwrap();
    drop(s);
    server.shutdown(Duration::from_secs(5));
}

/// Sends one byte every 100 ms (10 bytes/s) until a write fails, the server
/// having closed; returns how long that took.
fn trickle(addr: SocketAddr) -> Duration {
    let mut s = connect(addr);
    let t = Instant::now();
    while t.elapsed() < HANG {
        if s.write_all(b"t").is_err() {
            return t.elapsed();
        }
        thread::sleep(Duration::from_millis(100)); // the client's pace
    }
    panic!("a trickling client was never cut");
}

#[test]
fn input_trickled_below_the_floor_is_cut_counted_and_traced() {
    let limits = Limits {
        min_rate_in: 16 * 1024,
        ..Limits::default()
    };
    let limits = Arc::new(limits);
    let runs: Vec<_> = ["discard", "echo", "length"]
        .into_iter()
        .map(|service| {
            let limits = Arc::clone(&limits);
            thread::spawn(move || {
                let log = Arc::new(Log::default());
                let server = server(service, 1, (*limits).clone(), &log);
                let took = trickle(server.tcp_addr().unwrap());
                let stats = server.shutdown(Duration::from_secs(5));
                (service, took, log.error_of(1), stats)
            })
        })
        .collect();
    for run in runs {
        let (service, took, error, stats) = run.join().unwrap();
        eprintln!("trickle into {service}: writes failed after {took:?}; {error:?}");
        let (call, msg) = error.expect("the cut is traced");
        assert_eq!(call, "read()", "{service}: {msg}");
        match service {
            // length answers the first byte; its drain ends the rest.
            "length" => assert_eq!(msg, "drain time after the reply ended"),
            _ => assert!(
                msg.starts_with("below the minimum rate of 16384 bytes/s"),
                "{msg}"
            ),
        }
        assert_eq!(stats.timed_out, 1, "{service}: {stats}");
    }
}
