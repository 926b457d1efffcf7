//! UDP echo over loopback, in process: one 64-byte datagram to a sockref
//! echo server and its echo back per iteration (`sendto()` + `recvfrom()`
//! on each side).
//!
//! `cargo bench --bench udp_echo`.

use std::net::UdpSocket;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

fn round_trip(c: &mut Criterion) {
    let server = sockref::ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(sockref::Protocols::Udp)
        .builtin("echo")
        .and_then(|b| b.start())
        .expect("start the echo server");
    let addr = server.udp_addr().expect("udp");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let out = [0x5a; 64];
    let mut back = [0; 128];
    c.bench_function("udp_echo/round_trip/64", |b| {
        b.iter(|| {
            sock.send(&out).expect("send");
            let n = sock.recv(&mut back).expect("recv");
            assert_eq!(n, out.len());
        })
    });
    server.shutdown(Duration::from_secs(1));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = round_trip }
criterion_main!(benches);
