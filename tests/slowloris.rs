//! Slowloris: 40 clients try to hold all 16 workers. A fresh client still
//! gets its echo (idle timeout, connection deadline) or a clean `busy`
//! (`--overload reject`), never a hang.

mod common;
use common::procfs::{counter, finish};
use common::*;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sockref::{Limits, Overload, Protocols, ServerBuilder};

const WORKERS: &str = "16";
const ATTACKERS: usize = 40;

/// A fresh client's echo, with a read timeout far above any bound the
/// server promises: the test fails on a hang, it does not measure speed.
fn fresh_echo(addr: SocketAddr) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(b"fresh client").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("fresh client read");
    (out, t.elapsed())
}

#[test]
fn silent_clients_are_cut_by_the_idle_timeout_and_a_fresh_client_is_served() {
    let mut p = Proc::start(
        &[
            "--proto",
            "tcp",
            "--workers",
            WORKERS,
            "--idle-timeout",
            "1",
            "--max-connections",
            "41",
        ],
        1,
    );
    let silent: Vec<TcpStream> = (0..ATTACKERS).map(|_| connect(p.tcp())).collect();
    let (reply, waited) = fresh_echo(p.tcp());
    assert_eq!(reply, b"fresh client");
    eprintln!("slowloris (silent, idle 1 s): fresh client served after {waited:?}");
    // Every silent client was closed by the server, none by this test.
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).expect("server closes a silent client"), 0);
    }
    let (status, out, err) = finish(&mut p, Duration::from_secs(60));
    assert_eq!(status, Some(0), "{err}");
    let stopped = out.last().expect("counters line");
    assert_eq!(counter(stopped, "timed_out"), ATTACKERS as u64, "{stopped}");
    assert_eq!(counter(stopped, "closed"), 41, "{stopped}");
}

#[test]
fn drip_feeding_clients_are_cut_by_max_conn_time_and_a_fresh_client_is_served() {
    let mut p = Proc::start(
        &[
            "--proto",
            "tcp",
            "--workers",
            WORKERS,
            "--idle-timeout",
            "30",
            "--max-conn-time",
            "2",
            "--max-connections",
            "41",
        ],
        1,
    );
    let addr = p.tcp();
    let conns: Vec<TcpStream> = (0..ATTACKERS).map(|_| connect(addr)).collect();
    for c in &conns {
        c.set_nonblocking(true).unwrap();
    }
    // One byte per connection every 200 ms: well inside the 30 s idle
    // timeout, so only the whole-connection deadline can end them.
    let dripper = thread::spawn(move || {
        let mut live: Vec<Option<TcpStream>> = conns.into_iter().map(Some).collect();
        let started = Instant::now();
        let mut closed_by_server = 0;
        while started.elapsed() < Duration::from_secs(120) {
            for slot in live.iter_mut() {
                let Some(s) = slot else { continue };
                let mut sink = [0u8; 64];
                let ended = loop {
                    match s.read(&mut sink) {
                        Ok(0) => break true,
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                        Err(_) => break true,
                    }
                };
                if ended || s.write(b".").is_err() {
                    *slot = None;
                    closed_by_server += 1;
                }
            }
            if live.iter().all(Option::is_none) {
                break;
            }
            thread::sleep(Duration::from_millis(200));
        }
        closed_by_server
    });
    let (reply, waited) = fresh_echo(addr);
    assert_eq!(reply, b"fresh client");
    eprintln!("slowloris (drip, max-conn-time 2 s): fresh client served after {waited:?}");
    let (status, out, err) = finish(&mut p, Duration::from_secs(90));
    // The dripper stops by itself once it has seen every connection end.
    let closed_by_server = dripper.join().unwrap();
    assert_eq!(status, Some(0), "{err}");
    let stopped = out.last().expect("counters line");
    assert_eq!(closed_by_server, ATTACKERS, "every drip client was cut");
    assert_eq!(counter(stopped, "timed_out"), ATTACKERS as u64, "{stopped}");
}

/// Reads until end of file, accepting nothing but `busy\r\n`.
fn read_busy(s: &mut TcpStream) {
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("a refusal is a clean close");
    assert_eq!(out, b"busy\r\n");
}

#[test]
fn with_overload_reject_a_fresh_client_gets_busy_at_once() {
    let mut p = Proc::start(
        &[
            "--proto",
            "tcp",
            "--workers",
            WORKERS,
            "--overload",
            "reject",
            "--idle-timeout",
            "0",
        ],
        1,
    );
    let addr = p.tcp();
    // One at a time, so which ones are served is certain: each attacker
    // sends one byte and reads one back: its echo ('x', it now holds a
    // worker) or the 'b' of busy.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..ATTACKERS {
        let mut s = connect(addr);
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        match &b {
            b"x" => held.push(s),
            b"b" => {
                let mut rest = Vec::new();
                s.read_to_end(&mut rest).unwrap();
                assert_eq!(rest, b"usy\r\n");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((held.len(), refused), (16, ATTACKERS - 16));
    // The fresh client writes its request first: the refusal must still
    // arrive whole, not be destroyed by a reset.
    let t = Instant::now();
    let mut s = connect(addr);
    s.write_all(b"hello, anyone there?").unwrap();
    read_busy(&mut s);
    eprintln!(
        "slowloris (reject): fresh client refused after {:?}",
        t.elapsed()
    );
    // Freeing one worker lets the next client in.
    drop(held.pop());
    let mut served = false;
    for _ in 0..100 {
        let mut s = connect(addr);
        s.write_all(b"y").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        if &b == b"y" {
            served = true;
            break;
        }
    }
    assert!(served, "a freed worker serves again");
    assert!(p.child.try_wait().unwrap().is_none(), "server still up");
}

#[test]
fn with_overload_reject_a_burst_no_larger_than_the_pool_is_never_refused() {
    // A fresh server each round, so every worker is idle when the burst
    // comes: refusing any of these 16 clients would be refusing with a
    // worker free.
    for round in 0..10 {
        let server = ServerBuilder::new()
            .addr("127.0.0.1:0")
            .protocols(Protocols::Tcp)
            .limits(Limits {
                workers: 16,
                overload: Overload::Reject,
                ..Limits::default()
            })
            .start()
            .unwrap();
        let addr = server.tcp_addr().unwrap();
        // All 16 connect at once; each holds its connection until all 16
        // have their echo, so 16 workers are busy at the same time.
        let go = Arc::new(Barrier::new(16));
        let done = Arc::new(Barrier::new(16));
        let clients: Vec<_> = (0..16u8)
            .map(|i| {
                let (go, done) = (Arc::clone(&go), Arc::clone(&done));
                thread::spawn(move || {
                    go.wait();
                    let mut s = connect(addr);
                    s.write_all(&[b'A' + i]).unwrap();
                    let mut b = [0u8; 1];
                    let got = s.read_exact(&mut b).map(|()| b[0]);
                    done.wait();
                    got
                })
            })
            .collect();
        let got: Vec<u8> = clients
            .into_iter()
            .map(|c| c.join().unwrap().expect("read"))
            .collect();
        let want: Vec<u8> = (0..16u8).map(|i| b'A' + i).collect();
        let stats = server.shutdown(Duration::from_secs(5));
        assert_eq!(got, want, "round {round}: {stats}");
        assert_eq!(stats.rejected, 0, "round {round}");
    }
}
