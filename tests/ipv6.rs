//! PF_INET6: the same server over `[::1]`, TCP and UDP on one port.

mod common;
use common::*;

use std::net::UdpSocket;
use std::time::Duration;

use sockref::{Protocols, ServerBuilder};

#[test]
fn tcp_and_udp_over_ipv6_loopback() {
    let server = ServerBuilder::new()
        .addr("[::1]:0")
        .protocols(Protocols::Both)
        .workers(2)
        .start()
        .expect("bind [::1]:0 (IPv6 loopback)");
    let tcp = server.tcp_addr().unwrap();
    let udp = server.udp_addr().unwrap();
    assert!(tcp.is_ipv6() && udp.is_ipv6());
    assert_eq!(tcp.port(), udp.port());

    let msg = random_bytes(6, 20_000);
    assert_eq!(tcp_exchange(tcp, &msg), msg);

    let u = UdpSocket::bind("[::1]:0").unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u.send_to(b"six", udp).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"six"[..], udp));

    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!((stats.accepted, stats.closed), (1, 1));
    assert_eq!((stats.datagrams_in, stats.datagrams_out), (1, 1));
}

#[test]
fn the_binary_prints_ipv6_listening_lines() {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(["serve", "--addr", "[::1]:0", "--workers", "3"]);
    let p = Proc::spawn(cmd, 2);
    assert!(p.tcp().is_ipv6());
    assert_eq!(
        p.lines[0],
        format!("listening tcp {} service=echo workers=3", p.tcp())
    );
    assert!(p.lines[0].starts_with("listening tcp [::1]:"));
    assert_eq!(udp_exchange_v6(p.udp(), b"hello"), b"hello");
}

fn udp_exchange_v6(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let u = UdpSocket::bind("[::1]:0").unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u.send_to(request, addr).unwrap();
    let mut buf = vec![0u8; 1024];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(from, addr);
    buf.truncate(n);
    buf
}
