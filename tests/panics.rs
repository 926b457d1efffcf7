//! A handler that panics closes only its own connection: the pool keeps its
//! size and the server keeps serving.

mod common;
use common::*;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sockref::{tcp_handler, Protocols, ServerBuilder};

#[test]
fn every_tenth_connection_panics_the_rest_are_served() {
    static SEEN: AtomicU64 = AtomicU64::new(0);
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(4)
        .service(tcp_handler("flaky", |conn| {
            let n = SEEN.fetch_add(1, Ordering::SeqCst) + 1;
            if n % 10 == 0 {
                panic!("connection {n} panics on purpose");
            }
            let mut buf = [0u8; 64];
            let k = conn.read(&mut buf)?;
            conn.write_all(&buf[..k])
        }))
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let (mut served, mut cut) = (0, 0);
    for i in 0..1000u32 {
        let mut s = connect(addr);
        // Either may fail once a panicking handler has reset the connection.
        let _ = s.write_all(&i.to_be_bytes());
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut reply = Vec::new();
        // A panicking handler's connection is closed with the request
        // unread, so the client may see a reset instead of end of file.
        match s.read_to_end(&mut reply) {
            Ok(_) if reply == i.to_be_bytes() => served += 1,
            Ok(_) => {
                assert!(reply.is_empty(), "a panicking handler sends nothing");
                cut += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
                cut += 1;
            }
        }
    }
    assert_eq!((served, cut), (900, 100));
    assert_eq!(server.tcp_workers(), 4);
    // Pool size unchanged, shown by use rather than by a count: four
    // connections served at the same time need four live workers (with
    // one lost, the fourth echo would never come and the read times out).
    let mut held: Vec<_> = (0..4).map(|_| connect(addr)).collect();
    for (i, s) in held.iter_mut().enumerate() {
        s.write_all(&[i as u8]).unwrap();
    }
    for (i, s) in held.iter_mut().enumerate() {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).expect("all four workers alive");
        assert_eq!(b[0], i as u8);
    }
    drop(held);
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.panics, 100);
    assert_eq!(stats.accepted, 1004);
    assert_eq!(stats.closed, 1004);
}

#[test]
fn a_panicking_udp_handler_leaves_the_socket_serving() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Udp)
        .service(sockref::udp_handler("picky", |req, _peer| {
            if req == b"boom" {
                panic!("bad datagram");
            }
            Some(req.to_vec())
        }))
        .start()
        .unwrap();
    let addr = server.udp_addr().unwrap();
    let u = udp_client();
    u.send_to(b"boom", addr).unwrap();
    assert_eq!(udp_exchange(addr, b"fine"), b"fine");
    let stats = server.shutdown(Duration::from_secs(1));
    assert_eq!(stats.panics, 1);
}
