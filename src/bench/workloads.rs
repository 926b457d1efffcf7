//! The workloads, each the textbook client's life in a loop, as one
//! client thread runs it: [`client`] sets up (connects, or binds), checks
//! in at the starting gate, and drives its mode until the run stops.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use super::sockets::{bound, connect, lockstep, read_echo, still_open, ClientDatagram};
use super::sync::{Arrival, Gate, Shared};
use super::tally::{describe, kind, one_at_a_time, shown, ThreadResult};
use super::{http, websocket};
use super::{Mode, Stop};
use crate::transport::Stream;

/// The bytes request number `seq` sends: a window into a pattern that does
/// not repeat within 251 bytes, starting at a different place each time, so
/// an echo of an earlier request does not verify.
pub(super) struct Payload {
    pattern: Vec<u8>,
    size: usize,
}

impl Payload {
    pub(super) fn new(size: usize) -> Self {
        Payload { pattern: (0..size + 251).map(|i| (i % 251) as u8).collect(), size }
    }

    pub(super) fn get(&self, seq: u64) -> &[u8] {
        let start = (seq % 251) as usize;
        &self.pattern[start..start + self.size]
    }
}

/// Client thread `t`, with `conns` connections (pingpong, idle): sets up,
/// waits at the gate, runs the mode.
pub(super) fn client(t: usize, conns: usize, shared: &Shared, gate: &Gate) -> ThreadResult {
    let mut ready = Arrival::new(gate);
    let mut r = ThreadResult::default();
    match shared.opts.mode {
        Mode::Pingpong => {
            let mut socks = open(conns, shared, &mut r);
            ready.arrive();
            pingpong(&mut socks, shared, &mut r);
        }
        Mode::Idle => {
            let socks = open(conns, shared, &mut r);
            let socks = echo_once(socks, shared, &mut r);
            ready.arrive();
            idle(socks, shared, &mut r);
        }
        Mode::Churn => {
            ready.arrive();
            churn(t, shared, &mut r);
        }
        Mode::Http => {
            let socks = open(conns, shared, &mut r);
            ready.arrive();
            http::keep_alive(socks, shared, &mut r);
        }
        Mode::HttpClose => {
            ready.arrive();
            http::close_each(shared, &mut r);
        }
        Mode::WebSocket => {
            let mut socks = websocket::open(conns, t, shared, &mut r);
            ready.arrive();
            websocket::pingpong(&mut socks, shared, &mut r);
        }
        Mode::Udp => {
            let sock = ClientDatagram::open(shared);
            ready.arrive();
            match sock {
                Ok(s) => udp(t, &s, shared, &mut r),
                Err(e) => r.error(&e, true, shared),
            }
        }
    }
    r.finish();
    r
}

/// Opens this thread's connections; each failure is counted and skipped.
/// All must be open by `setup_until`: an attempt after that fails at once
/// as a `timeout`, so that a server that stops accepting cannot hold the
/// run for one timeout per connection.
fn open(n: usize, shared: &Shared, r: &mut ThreadResult) -> Vec<Stream> {
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        if shared.stopping() {
            break;
        }
        match connect(shared, Some(shared.setup_until)) {
            Ok(s) => socks.push(s),
            // Setting up is part of every run: always counted.
            Err(e) => r.error(&e, true, shared),
        }
    }
    socks
}

/// Lockstep rounds of echoes (see [`lockstep`]): a request written on
/// every connection, then every echo read back.
fn pingpong(socks: &mut Vec<Stream>, shared: &Shared, r: &mut ThreadResult) {
    let payload = Payload::new(shared.opts.size);
    let mut buf = vec![0u8; shared.opts.size];
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    lockstep(
        socks,
        shared,
        r,
        false,
        |s, seq| bound(s, timeout, end).and_then(|()| s.write_all(payload.get(seq))).map(|()| 0),
        |s, seq| read_echo(s, &mut buf, payload.get(seq), timeout, end).map(|()| 0),
    );
}

/// The textbook client, again and again: connect, write, read, close.
fn churn(t: usize, shared: &Shared, r: &mut ThreadResult) {
    let payload = Payload::new(shared.opts.size);
    let mut buf = vec![0u8; shared.opts.size];
    let mut seq = t as u64;
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    one_at_a_time(shared, r, |_, r| {
        let expect = payload.get(seq);
        seq += 1;
        let result = connect(shared, end).and_then(|mut s| {
            s.write_all(expect)?;
            read_echo(&mut s, &mut buf, expect, timeout, end)
            // close(): the client closes first, so TIME_WAIT stays here.
        });
        result.map_err(|e| {
            r.note(|| describe(&e));
            kind(&e)
        })
    });
}

/// One datagram in flight: send, wait for the echo carrying this sequence
/// number (the first 8 bytes), count it lost after the timeout. An echo of
/// an earlier, already-lost datagram is `stale` and skipped.
fn udp(t: usize, s: &ClientDatagram, shared: &Shared, r: &mut ThreadResult) {
    let size = shared.opts.size.max(8);
    let mut out = Payload::new(size).get(t as u64).to_vec();
    let mut buf = vec![0u8; size + 1];
    // Thread number in the top bits: no two threads send the same sequence.
    let mut seq = (t as u64) << 48;
    let mut backoff = Duration::ZERO;
    one_at_a_time(shared, r, |now, r| {
        seq += 1;
        out[..8].copy_from_slice(&seq.to_be_bytes());
        if let Err(e) = s.send(&out) {
            // A send that keeps failing fails at once: without a pause
            // the thread would spin at full CPU, taking it from the server
            // and counting errors by the million. 1 ms, doubling to 100 ms.
            backoff = (backoff * 2).clamp(Duration::from_millis(1), Duration::from_millis(100));
            thread::sleep(backoff);
            r.note(|| format!("send() error: {}", describe(&e)));
            return Err(kind(&e));
        }
        backoff = Duration::ZERO;
        await_echo(s, &out, &mut buf, now + shared.opts.timeout, r)
    });
}

/// Waits until `deadline` for the echo of `out`, skipping (and counting)
/// stale echoes; the error is the name the failure is counted under.
pub(super) fn await_echo(
    s: &ClientDatagram,
    out: &[u8],
    buf: &mut [u8],
    deadline: Instant,
    r: &mut ThreadResult,
) -> Result<(), &'static str> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Err("lost");
        }
        match s.recv(buf) {
            Ok(n) if n >= 8 && buf[..8] != out[..8] => r.stale += 1,
            Ok(n) if buf[..n] == *out => return Ok(()),
            Ok(n) => {
                r.note(|| {
                    format!(
                        "the reply is not the echo of the datagram: sent {}, got {}",
                        shown(out),
                        shown(&buf[..n])
                    )
                });
                return Err("mismatch");
            }
            Err(e) if matches!(kind(&e), "timeout") => {
                r.note(|| "no echo of a datagram within --timeout".to_string());
                return Err("lost");
            }
            Err(e) => {
                r.note(|| match e.kind() {
                    // ICMP port unreachable, reported on the connected socket.
                    std::io::ErrorKind::ConnectionRefused => {
                        format!("recv() error: {e}: nothing listens on that UDP port")
                    }
                    _ => format!("recv() error: {}", describe(&e)),
                });
                return Err(kind(&e));
            }
        }
    }
}

/// Idle mode's setup: one echo on every connection, so the server has
/// demonstrably accepted and is serving it. All requests are written
/// first, then the echoes read, all within one timeout: a server serving
/// fewer connections than were opened answers the rest with `timeout`
/// errors after one timeout, not one timeout each. The latency recorded
/// for each runs from the first write, so it includes the other writes and
/// the echoes read before it. Returns the connections that echoed.
fn echo_once(mut socks: Vec<Stream>, shared: &Shared, r: &mut ThreadResult) -> Vec<Stream> {
    let payload = Payload::new(shared.opts.size);
    let expect = payload.get(0);
    let mut buf = vec![0u8; shared.opts.size];
    let timeout = shared.opts.timeout;
    let end = Some(Instant::now() + timeout);
    let started = Instant::now();
    socks.retain_mut(|s| match bound(s, timeout, end).and_then(|()| s.write_all(expect)) {
        Ok(()) => true,
        Err(e) => {
            r.error(&e, true, shared);
            false
        }
    });
    socks.retain_mut(|s| match read_echo(s, &mut buf, expect, timeout, end) {
        Ok(()) => {
            r.success(started, true, shared);
            true
        }
        Err(e) => {
            r.error(&e, true, shared);
            false
        }
    });
    socks
}

/// Holds the connections until the run stops, then counts how many are
/// still open.
fn idle(socks: Vec<Stream>, shared: &Shared, r: &mut ThreadResult) {
    // Hold: the main thread sets `stop` at the deadline (or at once for
    // `--requests`, where there is nothing to count down).
    while !shared.stopping() && matches!(shared.opts.stop, Stop::Duration(_)) {
        thread::sleep(Duration::from_millis(10));
    }
    for s in &socks {
        if still_open(s) {
            r.held += 1;
        } else {
            r.count("dropped", true, shared);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_sends_different_bytes() {
        let p = Payload::new(64);
        assert_eq!(p.get(0).len(), 64);
        assert_ne!(p.get(0), p.get(1));
        // The pattern repeats only every 251 requests, far more than one
        // connection ever has in flight.
        assert_eq!(p.get(3), p.get(254));
    }
}
