//! Echo under the loads the issue names: 1 MiB with integrity check,
//! half-close, 200 concurrent clients, more clients than workers.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;

use sockref::{Protocols, ServerBuilder};

fn echo_server(workers: usize) -> sockref::ServerHandle {
    ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .builtin("echo")
        .unwrap()
        .workers(workers)
        .start()
        .unwrap()
}

/// Writes `data` from one thread while reading the echo on this one, so
/// neither side's socket buffer can fill and deadlock the exchange.
fn echo_through(addr: std::net::SocketAddr, data: &[u8]) -> Vec<u8> {
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let data_w = data.to_vec();
    let writer = thread::spawn(move || {
        w.write_all(&data_w).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut out = Vec::with_capacity(data.len());
    (&s).read_to_end(&mut out).unwrap();
    writer.join().unwrap();
    out
}

#[test]
fn one_mebibyte_of_random_data_comes_back_intact() {
    let server = echo_server(4);
    let data = random_bytes(42, 1 << 20);
    let back = echo_through(server.tcp_addr().unwrap(), &data);
    assert_eq!(back.len(), data.len());
    assert_eq!(fnv1a(&back), fnv1a(&data));
    assert!(back == data);
    let stats = server.shutdown(std::time::Duration::from_secs(5));
    assert_eq!(stats.bytes_in, 1 << 20);
    assert_eq!(stats.bytes_out, 1 << 20);
}

#[test]
fn after_half_close_the_server_finishes_sending_then_closes() {
    let server = echo_server(2);
    let mut s = connect(server.tcp_addr().unwrap());
    s.write_all(b"first ").unwrap();
    s.write_all(b"second").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap(); // returns only once the server closed
    assert_eq!(out, b"first second");
}

#[test]
fn two_hundred_concurrent_clients_each_get_their_own_bytes() {
    let server = echo_server(200);
    let addr = server.tcp_addr().unwrap();
    let clients: Vec<_> = (0..200u64)
        .map(|i| {
            thread::spawn(move || {
                let data = random_bytes(i + 1000, 10_000 + i as usize);
                let back = echo_through(addr, &data);
                assert_eq!(back, data, "client {i}");
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let stats = server.shutdown(std::time::Duration::from_secs(5));
    assert_eq!(stats.accepted, 200);
    assert_eq!(stats.closed, 200);
}

#[test]
fn more_clients_than_workers_are_all_served_in_turn() {
    let server = echo_server(3);
    let addr = server.tcp_addr().unwrap();
    let clients: Vec<_> = (0..30u64)
        .map(|i| {
            thread::spawn(move || {
                let data = format!("client {i}").into_bytes();
                assert_eq!(tcp_exchange(addr, &data), data);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(server.stats().closed, 30);
}

#[test]
fn udp_echo_keeps_each_datagram_whole() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Udp)
        .start()
        .unwrap();
    let addr = server.udp_addr().unwrap();
    for len in [0usize, 1, 512, 1472, 9000, 65_507] {
        let data = random_bytes(len as u64, len);
        assert_eq!(udp_exchange(addr, &data), data, "{len} bytes");
    }
    let stats = server.shutdown(std::time::Duration::from_secs(1));
    assert_eq!(stats.datagrams_in, 6);
    assert_eq!(stats.datagrams_out, 6);
}
