//! Integrity under load: 500 connections at once, each echoing 256 KiB of
//! its own random data. Every byte comes back, in order, on the connection
//! that sent it (full comparison and FNV-1a hash, per connection).

mod common;
use common::procfs::ensure_nofile;
use common::*;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use sockref::{Protocols, ServerBuilder};

const CLIENTS: usize = 500;
const BYTES: usize = 256 * 1024;

#[test]
fn five_hundred_concurrent_echoes_of_distinct_data_come_back_intact() {
    // Client socket + its clone, server connection, and the descriptor
    // each idle acceptor reserves: four per client, plus slack.
    ensure_nofile(4 * CLIENTS as u64 + 256);
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(CLIENTS)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    // Everyone connects first, then all stream at once.
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let start = Arc::clone(&start);
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let data = random_bytes(0x5EED_0000 + i as u64, BYTES);
                    let s = connect(addr);
                    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                    s.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
                    start.wait();
                    // Write on a second thread while this one reads, so
                    // neither side's buffers can fill and stall the echo.
                    let mut w = s.try_clone().unwrap();
                    let sent = data.clone();
                    let writer = thread::Builder::new()
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            w.write_all(&sent).unwrap();
                            w.shutdown(Shutdown::Write).unwrap();
                        })
                        .unwrap();
                    let mut back = Vec::with_capacity(BYTES);
                    (&s).read_to_end(&mut back).unwrap();
                    writer.join().unwrap();
                    assert_eq!(back.len(), BYTES, "client {i}: length");
                    assert_eq!(fnv1a(&back), fnv1a(&data), "client {i}: hash");
                    assert!(back == data, "client {i}: bytes");
                })
                .unwrap()
        })
        .collect();
    for c in clients {
        c.join().expect("a client failed");
    }
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.accepted, CLIENTS as u64);
    assert_eq!(stats.closed, CLIENTS as u64);
    assert_eq!(stats.bytes_in, (CLIENTS * BYTES) as u64);
    assert_eq!(stats.bytes_out, (CLIENTS * BYTES) as u64);
    assert_eq!(
        stats.reset + stats.timed_out + stats.io_errors,
        0,
        "{stats}"
    );
}
