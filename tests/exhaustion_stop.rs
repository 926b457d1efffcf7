//! Stopping a server whose process is out of descriptors: shutdown must not
//! need a new one. Alone in its own test binary, because it fills this
//! process's descriptor table on purpose.

use std::fs::File;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use sockref::{Protocols, ServerBuilder};

#[test]
fn shutdown_works_with_the_descriptor_table_full() {
    for protocols in [Protocols::Udp, Protocols::Tcp, Protocols::Both] {
        stop_when_full(protocols);
    }
}

fn stop_when_full(protocols: Protocols) {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(protocols)
        .workers(4)
        .start()
        .unwrap();
    // Fill the table: open /dev/null until EMFILE (bounded by the limit).
    let mut hog = Vec::new();
    let full = loop {
        match File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => break e,
        }
        assert!(hog.len() < 1_000_000, "no descriptor limit?");
    };
    assert_eq!(full.raw_os_error(), Some(24), "EMFILE: {full}");

    let (tx, rx) = mpsc::channel();
    let stopper = thread::spawn(move || {
        let stats = server.shutdown(Duration::from_millis(100));
        let _ = tx.send(());
        stats
    });
    let stopped = rx.recv_timeout(Duration::from_secs(30));
    drop(hog);
    // If shutdown hung, freeing the descriptors does not wake it either:
    // fail rather than join a thread that never ends.
    assert!(
        stopped.is_ok(),
        "{protocols:?}: shutdown hung with the descriptor table full"
    );
    let stats = stopper.join().unwrap();
    assert_eq!(stats.accepted, 0);
}
