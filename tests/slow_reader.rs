//! A client writes 10 MB to echo and never reads: the echo fills its
//! receive buffer, the worker blocks in `write()`, and the write timeout
//! (SO_SNDTIMEO = the idle timeout) frees it. Other clients are served
//! meanwhile (spare workers) and after (no spare worker).

mod common;
use common::procfs::wait_until;
use common::*;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sockref::{Event, Observer, Protocols, ServerBuilder, ServerHandle};

/// Counts `write()` calls that failed: the timeout must hit a write.
#[derive(Default)]
struct WriteErrors(AtomicU64);

impl Observer for WriteErrors {
    fn event(&self, event: &Event<'_>) {
        if let Event::Error {
            call: "write()", ..
        } = event
        {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn server(workers: usize, idle: Duration, obs: Arc<WriteErrors>) -> ServerHandle {
    ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(workers)
        .idle_timeout(Some(idle))
        .observer(obs)
        .start()
        .unwrap()
}

/// Writes 10 MB and never reads, then keeps the connection open, unread,
/// until `release` (the kernel may absorb all 10 MB in socket buffers on a
/// machine with large ones; holding on keeps the server's echo blocked
/// either way). Returns how many bytes the kernel took and whether a
/// write failed because the server gave up on the connection.
fn never_reader(addr: SocketAddr, release: Receiver<()>) -> JoinHandle<(usize, bool)> {
    thread::spawn(move || {
        let mut s = connect(addr);
        s.set_write_timeout(Some(Duration::from_secs(120))).unwrap();
        let data = vec![b'z'; 10_000_000];
        let mut sent = 0;
        while sent < data.len() {
            match s.write(&data[sent..(sent + 65_536).min(data.len())]) {
                Ok(n) => sent += n,
                Err(_) => return (sent, true),
            }
        }
        let _ = release.recv_timeout(Duration::from_secs(120));
        (sent, false)
    })
}

#[test]
fn with_a_spare_worker_another_client_is_served_meanwhile() {
    let obs = Arc::new(WriteErrors::default());
    // A long idle timeout: the non-reader holds its worker for the whole
    // exchange below, however slow this machine is.
    let server = server(2, Duration::from_secs(60), Arc::clone(&obs));
    let addr = server.tcp_addr().unwrap();
    let (release, held) = channel();
    let hog = never_reader(addr, held);
    assert!(wait_until(Duration::from_secs(30), || server
        .active_connections()
        == 1));
    let data = random_bytes(7, 100_000);
    assert_eq!(tcp_exchange(addr, &data), data);
    let stats = server.stats();
    assert_eq!((stats.closed, stats.timed_out), (1, 0), "{stats}");
    assert_eq!(
        server.active_connections(),
        1,
        "the non-reader still holds its worker"
    );
    let stats = server.shutdown(Duration::ZERO);
    assert_eq!(stats.closed, 2, "shutdown cut the non-reader");
    let _ = release.send(());
    hog.join().unwrap();
}

#[test]
fn without_a_spare_worker_the_write_timeout_frees_it_for_the_next_client() {
    let obs = Arc::new(WriteErrors::default());
    let server = server(1, Duration::from_secs(2), Arc::clone(&obs));
    let addr = server.tcp_addr().unwrap();
    let (release, held) = channel();
    let hog = never_reader(addr, held);
    assert!(wait_until(Duration::from_secs(30), || server
        .active_connections()
        == 1));
    let t = Instant::now();
    let data = random_bytes(8, 100_000);
    assert_eq!(tcp_exchange(addr, &data), data);
    eprintln!("slow reader: next client served after {:?}", t.elapsed());
    let _ = release.send(());
    let (sent, failed) = hog.join().unwrap();
    eprintln!("slow reader: kernel took {sent} of 10,000,000 bytes, then error={failed}");
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(stats.timed_out, 1, "{stats}");
    assert_eq!(stats.closed, 2, "{stats}");
    assert_eq!(
        obs.0.load(Ordering::Relaxed),
        1,
        "the timeout hit a write()"
    );
}
