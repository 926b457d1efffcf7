//! Stopping through the library handle: in-flight connections finish within
//! the deadline, the rest are cut, every thread is joined.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sockref::{Protocols, ServerBuilder};

#[test]
fn shutdown_lets_an_in_flight_connection_finish() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Both)
        .workers(8)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let mut s = connect(addr);
    s.write_all(b"in flight").unwrap();
    let mut first = [0u8; 9];
    s.read_exact(&mut first).unwrap();

    // Shut down on another thread while the connection is still open; it
    // must wait for the client to finish.
    let (tx, rx) = mpsc::channel();
    let stopper = thread::spawn(move || {
        let stats = server.shutdown(Duration::from_secs(30));
        tx.send(()).unwrap();
        stats
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "waited for the client"
    );
    s.write_all(b" and done").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b" and done", "no reply lost during shutdown");
    let stats = stopper.join().unwrap();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.closed, 1);
    assert_eq!(stats.bytes_in, 18);
}

#[test]
fn shutdown_cuts_connections_still_open_at_the_deadline() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(4)
        .idle_timeout(None)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let idle: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    // Make sure all three are being served before stopping.
    for mut s in &idle {
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
    }
    let t = Instant::now();
    let stats = server.shutdown(Duration::from_millis(100));
    assert!(t.elapsed() < Duration::from_secs(10));
    assert_eq!(stats.closed, 3);
    for mut s in idle {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).unwrap_or(0), 0, "cut connection sees EOF");
    }
}

#[test]
fn the_port_is_free_again_after_shutdown() {
    let server = ServerBuilder::new().addr("127.0.0.1:0").start().unwrap();
    let addr = server.tcp_addr().unwrap();
    drop(server);
    std::net::TcpListener::bind(addr).expect("tcp port released");
    std::net::UdpSocket::bind(addr).expect("udp port released");
}
