//! UDP reflection: datagrams from source ports below 1024 get no reply and
//! are counted (echo <-> chargen loops, CERT CA-1996-01); `--udp-rate N`
//! drops and counts what a peer sends beyond N a second.
//!
//! Binding a port below 1024 needs root (or CAP_NET_BIND_SERVICE); without
//! it the low-port test says so and skips. A datagram *from the server's
//! own address* cannot be produced from a test with std alone: that port is
//! taken by the server, and std offers neither SO_REUSEADDR for UDP nor raw
//! sockets to forge a source. That rule is proven by the unit test
//! `guard::datagram::tests::refuses_low_ports_and_itself` on the function
//! the receive loop calls.

mod common;
use common::procfs::wait_until;
use common::*;

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sockref::{Limits, Protocols, ServerBuilder, ServerHandle};

fn udp_server(limits: Limits) -> ServerHandle {
    ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Udp)
        .limits(limits)
        .start()
        .unwrap()
}

/// A socket on 127.0.0.1 at a port below 1024, or why not.
fn low_port_socket() -> Result<UdpSocket, std::io::Error> {
    let mut last = None;
    for port in (900..1024).rev() {
        match UdpSocket::bind(("127.0.0.1", port)) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| ErrorKind::AddrInUse.into()))
}

#[test]
fn datagrams_from_low_source_ports_get_no_reply_and_are_counted() {
    let low = match low_port_socket() {
        Ok(s) => s,
        Err(e) => {
            tools::need(
                &format!("root, to bind a UDP port below 1024 ({e})"),
                false,
                "run the tests as root (as .ci/run does)",
            );
            return;
        }
    };
    let server = udp_server(Limits::default());
    let addr = server.udp_addr().unwrap();
    for i in 0..10u8 {
        low.send_to(&[i], addr).unwrap();
    }
    assert!(
        wait_until(Duration::from_secs(30), || server.stats().dropped_datagrams
            == 10),
        "{}",
        server.stats()
    );
    // Dropped before the service ran: nothing was sent, to anyone.
    assert_eq!(server.stats().datagrams_out, 0);
    low.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        low.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "no reply queued"
    );
    // An ordinary port is answered.
    assert_eq!(udp_exchange(addr, b"ok"), b"ok");
    let stats = server.shutdown(Duration::from_secs(1));
    assert_eq!((stats.dropped_datagrams, stats.datagrams_out), (10, 1));

    // --allow-low-ports turns the rule off.
    let open = udp_server(Limits {
        udp_allow_low_ports: true,
        ..Limits::default()
    });
    low.set_nonblocking(false).unwrap();
    low.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    low.send_to(b"low", open.udp_addr().unwrap()).unwrap();
    let (n, _) = low.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"low");
}

#[test]
fn the_rate_limit_drops_and_counts_what_a_peer_sends_beyond_it() {
    const RATE: u32 = 10;
    const SENT: u64 = 1000;
    let server = udp_server(Limits {
        udp_rate: Some(RATE),
        ..Limits::default()
    });
    let addr = server.udp_addr().unwrap();
    let u = udp_client();
    let t = Instant::now();
    // In batches of 50, each received before the next is sent, so the
    // socket's receive buffer never overflows and every datagram counts.
    for batch in 0..SENT / 50 {
        for i in 0..50 {
            u.send_to(&(batch * 50 + i).to_be_bytes(), addr).unwrap();
        }
        // datagrams_in is counted before the verdict: wait for the verdicts.
        assert!(wait_until(Duration::from_secs(30), || {
            let s = server.stats();
            s.datagrams_out + s.rate_limited == (batch + 1) * 50
        }));
    }
    let secs = t.elapsed().as_secs();
    let stats = server.stats();
    // However slow this machine, at most RATE per started second pass.
    let allowed = u64::from(RATE) * (secs + 1);
    eprintln!(
        "rate limit: {} answered, {} dropped in {secs} s",
        stats.datagrams_out, stats.rate_limited
    );
    assert!(
        stats.datagrams_out >= 1 && stats.datagrams_out <= allowed,
        "{stats}"
    );
    assert_eq!(stats.datagrams_out + stats.rate_limited, SENT, "{stats}");
    // The replies that were sent did arrive, and nothing else.
    let mut buf = [0u8; 16];
    for _ in 0..stats.datagrams_out {
        u.recv_from(&mut buf).expect("every counted reply arrives");
    }
    u.set_nonblocking(true).unwrap();
    assert!(
        u.recv_from(&mut buf).is_err(),
        "no reply beyond the counted ones"
    );
    // Another peer address has its own budget.
    let other = UdpSocket::bind("127.0.0.2:0").unwrap();
    other.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    other.send_to(b"mine", addr).unwrap();
    let (n, _) = other.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"mine");
}
