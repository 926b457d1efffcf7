//! The thread pool's own cost, without sockets.
//!
//! - `pool/handoff`: `execute` of an empty job on a rendezvous pool (queue
//!   0, as the TCP server uses): the caller returns once a sleeping worker
//!   has taken the job, so this is one hand-off between threads, wake-up
//!   included.
//! - `pool/round_trip`: the same job, and wait until it has run (the job
//!   answers over a channel): hand-off there and back, what the `handoff`
//!   accept model adds to each new connection.
//!
//! `cargo bench --bench pool`.

use std::sync::mpsc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use sockref::pool::ThreadPool;

fn handoff(c: &mut Criterion) {
    let pool = ThreadPool::new(
        2,
        0,
        "bench",
        64 * 1024,
        std::sync::Arc::new(|_, _: &str| {}),
    )
    .expect("start pool");
    c.bench_function("pool/handoff", |b| {
        b.iter(|| pool.execute(|_| {}).expect("execute"))
    });
    let (tx, rx) = mpsc::channel::<()>();
    c.bench_function("pool/round_trip", |b| {
        b.iter(|| {
            let tx = tx.clone();
            pool.execute(move |_| {
                let _ = tx.send(());
            })
            .expect("execute");
            rx.recv().expect("job ran");
        })
    });
    pool.join();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! { name = benches; config = config(); targets = handoff }
criterion_main!(benches);
