//! What tracing costs: a 64-byte TCP echo round trip on one persistent
//! connection, with no observer (`trace_off`: the server only tests an
//! `Option`) and with an observer that receives every event and discards
//! it (`trace_on`: building the events and the dynamic call, without any
//! output cost). The difference is the price of the hooks themselves.
//!
//! `cargo bench --bench trace`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sockref::{Event, Observer};

/// Looks at every event (so it cannot be optimised away) and drops it.
struct Discard;

impl Observer for Discard {
    fn event(&self, event: &Event<'_>) {
        std::hint::black_box(event);
    }
}

fn run(c: &mut Criterion, name: &str, observer: Option<Arc<dyn Observer>>) {
    let mut builder = sockref::ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(sockref::Protocols::Tcp)
        .builtin("echo")
        .expect("echo")
        .workers(2);
    if let Some(obs) = observer {
        builder = builder.observer(obs);
    }
    let server = builder.start().expect("start the echo server");
    let mut s = TcpStream::connect(server.tcp_addr().expect("tcp")).expect("connect");
    s.set_nodelay(true).expect("TCP_NODELAY");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let out = [0x5a; 64];
    let mut back = [0; 64];
    c.bench_function(name, |b| {
        b.iter(|| {
            s.write_all(&out).expect("write");
            s.read_exact(&mut back).expect("read");
        })
    });
    drop(s);
    server.shutdown(Duration::from_secs(1));
}

fn trace_cost(c: &mut Criterion) {
    run(c, "trace/trace_off", None);
    run(c, "trace/trace_on", Some(Arc::new(Discard)));
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = trace_cost }
criterion_main!(benches);
