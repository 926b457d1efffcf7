//! Failures outside a service's own code: a panicking observer, limits that
//! would overflow the clock, the drain bounded by its own timeout.

mod common;
use common::*;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockref::{Event, Limits, Observer, Protocols, ServerBuilder};

/// Panics on every `shutdown()` event: the server's own code path after the
/// service returns, outside the service.
struct PanicsOnShutdown;

impl Observer for PanicsOnShutdown {
    fn event(&self, event: &Event<'_>) {
        if matches!(event, Event::ShutdownWrite { .. }) {
            panic!("observer fails on purpose");
        }
    }
}

#[test]
fn a_panicking_observer_loses_no_worker() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .builtin("hello")
        .unwrap()
        .workers(1)
        .observer(Arc::new(PanicsOnShutdown))
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    // With one worker, each of these is served only if the previous panic
    // left the worker's accept loop alive.
    for _ in 0..5 {
        assert_eq!(tcp_read_all(addr), b"Hello World!\0");
    }
    assert_eq!(server.active_connections(), 0);
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!((stats.accepted, stats.closed, stats.panics), (5, 5, 5));
}

#[test]
fn limits_too_large_for_the_clock_are_refused_not_panicked_on() {
    let limits = Limits {
        max_conn_time: Some(Duration::MAX),
        ..Limits::default()
    };
    let err = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .limits(limits)
        .start()
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("max_conn_time must be at most one year"),
        "{err}"
    );
    let zero = Limits {
        idle_timeout: Some(Duration::ZERO),
        ..Limits::default()
    };
    let err = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .limits(zero)
        .start()
        .err()
        .expect("refused");
    assert!(
        err.to_string()
            .contains("idle_timeout must be at least 1 ms"),
        "{err}"
    );
    // Waiting "for ever" is a valid grace period.
    let server = ServerBuilder::new().addr("127.0.0.1:0").start().unwrap();
    assert!(
        !server.wait(Some(Duration::from_millis(1))),
        "no stop asked"
    );
    let stats = server.shutdown(Duration::MAX);
    assert_eq!(stats.accepted, 0);
}

/// Records the error events of every connection.
#[derive(Default)]
struct Errors(Mutex<Vec<String>>);

impl Observer for Errors {
    fn event(&self, event: &Event<'_>) {
        if let Event::Error { call, error, .. } = event {
            self.0.lock().unwrap().push(format!("{call} {error}"));
        }
    }
}

#[test]
fn the_drain_after_a_reply_ends_by_its_own_timeout_even_with_max_conn_time() {
    let errors = Arc::new(Errors::default());
    let limits = Limits {
        workers: 1,
        idle_timeout: Some(Duration::from_secs(600)),
        max_conn_time: Some(Duration::from_secs(600)),
        drain_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .builtin("length")
        .unwrap()
        .limits(limits)
        .observer(errors.clone())
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    // Sends more than one read() takes and never closes: the server must
    // stop draining after drain_timeout, not after idle_timeout (600 s,
    // longer than any test may take).
    let mut s = connect(addr);
    s.write_all(&vec![b'q'; 5000]).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap(); // EOF: the server has closed
    assert!(reply.starts_with(b"1024 : q") || reply.ends_with(b"\0"));
    // The single worker is free again: a second client is served.
    assert_eq!(tcp_exchange(addr, b"hi\0"), b"2 : hi\0");
    drop(server);
    let errors = errors.0.lock().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e == "read() drain time after the reply ended"),
        "{errors:?}"
    );
}
