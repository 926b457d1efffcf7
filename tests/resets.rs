//! 500 clients that connect and reset, mixed with normal clients: every
//! normal client is served, no worker is lost, stderr stays empty.
//!
//! Stable std has no `set_linger` (SO_LINGER is behind the unstable
//! `tcp_linger` feature), so a client resets the std way: it closes with
//! unread data in its receive queue, and the kernel answers that `close()`
//! with RST instead of FIN (RFC 2525 2.17; Linux does). Each resetting
//! client sends a byte, waits with `peek()` until the echo is queued
//! (unread), and drops the socket.

mod common;
use common::procfs::{counter, finish};
use common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

const WORKERS: usize = 16;
const RESETTERS: usize = 500;
const NORMAL: usize = 100;

fn connect_and_reset(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(b"r").unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.peek(&mut b).unwrap(), 1, "echo queued, unread");
    drop(s); // close() with unread data: RST
}

#[test]
fn resetting_clients_do_not_disturb_normal_ones_or_lose_workers() {
    let total = RESETTERS + NORMAL + WORKERS;
    let mut p = Proc::start(
        &[
            "--proto",
            "tcp",
            "--workers",
            &WORKERS.to_string(),
            "--max-connections",
            &total.to_string(),
        ],
        1,
    );
    let addr = p.tcp();
    let resetters: Vec<_> = (0..10)
        .map(|_| thread::spawn(move || (0..RESETTERS / 10).for_each(|_| connect_and_reset(addr))))
        .collect();
    let normal: Vec<_> = (0..4u64)
        .map(|t| {
            thread::spawn(move || {
                for i in 0..(NORMAL as u64 / 4) {
                    let data = random_bytes(t * 1000 + i, 1 + (i as usize * 97) % 5000);
                    assert_eq!(tcp_exchange(addr, &data), data, "normal client {t}/{i}");
                }
            })
        })
        .collect();
    for t in resetters.into_iter().chain(normal) {
        t.join().unwrap();
    }
    // No worker lost: all 16 serve at the same time. With one fewer, the
    // last echo below would never come (and the 10 s client timeout fails).
    let mut held: Vec<TcpStream> = (0..WORKERS).map(|_| connect(addr)).collect();
    for (i, s) in held.iter_mut().enumerate() {
        s.write_all(&[i as u8]).unwrap();
    }
    for (i, s) in held.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("every worker still serves");
        assert_eq!(b[0], i as u8);
    }
    drop(held);
    let (status, out, err) = finish(&mut p, Duration::from_secs(60));
    assert_eq!(status, Some(0));
    assert_eq!(err, "", "nothing on stderr");
    let stopped = out.last().expect("counters line");
    eprintln!("{stopped}");
    assert_eq!(counter(stopped, "accepted"), total as u64, "{stopped}");
    assert_eq!(counter(stopped, "closed"), total as u64, "{stopped}");
    assert_eq!(counter(stopped, "reset"), RESETTERS as u64, "{stopped}");
    assert_eq!(counter(stopped, "io_errors"), 0, "{stopped}");
    assert_eq!(counter(stopped, "panics"), 0, "{stopped}");
}

#[test]
fn a_reset_while_the_server_drains_after_its_reply_is_harmless() {
    // hello writes first and then drains: the client resets in the middle.
    let mut p = Proc::start(
        &[
            "--proto",
            "tcp",
            "--service",
            "hello",
            "--workers",
            "4",
            "--max-connections",
            "201",
        ],
        1,
    );
    let addr = p.tcp();
    for _ in 0..200 {
        let s = connect(addr);
        let mut b = [0u8; 1];
        assert_eq!(s.peek(&mut b).unwrap(), 1);
        drop(s);
    }
    assert_eq!(tcp_read_all(addr), b"Hello World!\0");
    let (status, out, err) = finish(&mut p, Duration::from_secs(60));
    assert_eq!(status, Some(0));
    assert_eq!(err, "", "nothing on stderr");
    let stopped = out.last().expect("counters line");
    assert_eq!(counter(stopped, "closed"), 201, "{stopped}");
    assert_eq!(counter(stopped, "panics"), 0, "{stopped}");
}
