//! Shutdown under load: the library handle stops a server holding 100 live
//! connections, each in mid-conversation, within its deadline; it joins
//! every thread it started and loses no reply to a request it read. Alone
//! in its own test binary so that the thread count is this test's only.

mod common;
use common::*;

use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sockref::{Protocols, ServerBuilder};

const CLIENTS: usize = 100;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn shutdown_with_a_hundred_busy_connections_meets_its_deadline_and_loses_no_reply() {
    let before = threads();
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Both)
        .workers(128)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let talking = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|i| {
            let talking = Arc::clone(&talking);
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let mut s = connect(addr);
                    let mut received = 0u64;
                    // Ping-pong 8-byte requests until the server closes.
                    for round in 0..u64::MAX {
                        let req = (i << 32 | round).to_be_bytes();
                        if s.write_all(&req).is_err() {
                            break;
                        }
                        let mut got = 0;
                        let mut reply = [0u8; 8];
                        while got < 8 {
                            match s.read(&mut reply[got..]) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => got += n,
                            }
                        }
                        received += got as u64;
                        assert_eq!(&reply[..got], &req[..got], "client {i}: own bytes");
                        if round == 0 {
                            talking.wait();
                        }
                        if got < 8 {
                            break;
                        }
                    }
                    received
                })
                .unwrap()
        })
        .collect();
    talking.wait(); // all 100 connections are being served
    assert_eq!(server.active_connections(), CLIENTS);

    let grace = Duration::from_millis(500);
    let t = Instant::now();
    let stats = server.shutdown(grace);
    let took = t.elapsed();
    let received: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    eprintln!("shutdown with {CLIENTS} busy connections took {took:?} (grace {grace:?}); {stats}");
    // Generous: the deadline is the grace plus the time to cut and join.
    assert!(took < grace + Duration::from_secs(10), "took {took:?}");
    assert_eq!(stats.accepted, CLIENTS as u64);
    assert_eq!(stats.closed, CLIENTS as u64);
    assert_eq!(stats.panics, 0);
    assert_eq!(
        stats.bytes_in, stats.bytes_out,
        "every byte read was echoed: {stats}"
    );
    assert_eq!(
        received, stats.bytes_out,
        "every byte echoed reached its client"
    );
    assert_eq!(threads(), before, "every server thread joined");
}
