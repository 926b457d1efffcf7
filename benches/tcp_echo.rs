//! TCP echo over loopback, in process: what one request costs.
//!
//! - `tcp_echo/round_trip/{64,1024,16384}`: one persistent connection to a
//!   sockref echo server; each iteration writes SIZE bytes and reads them
//!   all back (client and server on this machine, so the figure is the
//!   whole loopback round trip: two `write()`, two `read()`, two wake-ups).
//! - `tcp_echo/churn`: the textbook client's whole life per iteration:
//!   `connect()`, write 64 bytes, read them back, `close()`; the server
//!   side pays `accept()`, two socket options and its `close()`.
//!
//! `cargo bench --bench tcp_echo`. For throughput under many connections
//! use `sockref bench` instead (see BENCHMARKS.md).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn echo_server() -> sockref::ServerHandle {
    sockref::ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(sockref::Protocols::Tcp)
        .builtin("echo")
        .and_then(|b| b.workers(4).start())
        .expect("start the echo server")
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

fn round_trip(c: &mut Criterion) {
    let server = echo_server();
    let addr = server.tcp_addr().expect("tcp");
    let mut group = c.benchmark_group("tcp_echo/round_trip");
    for size in [64usize, 1024, 16 * 1024] {
        let mut s = client(addr);
        let out = vec![0x5a; size];
        let mut back = vec![0; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| {
                s.write_all(&out).expect("write");
                s.read_exact(&mut back).expect("read");
            })
        });
    }
    group.finish();
    server.shutdown(Duration::from_secs(1));
}

fn churn(c: &mut Criterion) {
    let server = echo_server();
    let addr = server.tcp_addr().expect("tcp");
    let out = [0x5a; 64];
    let mut back = [0; 64];
    c.bench_function("tcp_echo/churn", |b| {
        b.iter(|| {
            let mut s = client(addr);
            s.write_all(&out).expect("write");
            s.read_exact(&mut back).expect("read");
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

criterion_group! { name = benches; config = config(); targets = round_trip, churn }
criterion_main!(benches);
