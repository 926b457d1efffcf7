//! The hub: the [`Observer`] the server reports to when `--watch` is on,
//! and the viewers it hands each event to.
//!
//! A server worker calls [`Hub::event`] between two system calls, so it
//! must never wait for a browser. It formats the event (the `--trace=json`
//! line, outside any lock), then under one short lock numbers it, counts
//! it, keeps it in a bounded ring for pages that open later, and offers it
//! to each viewer's bounded queue with `try_send`. A full queue means that
//! viewer's browser (or network) is behind: the event is dropped for it
//! alone and counted, and its page shows the gap.
//!
//! What it does not do: write to any socket. Each viewer's own thread (in
//! `sse`) takes events off its queue and writes them.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::limits::{WATCH_LISTENS, WATCH_QUEUE, WATCH_RECENT, WATCH_VIEWERS};
use crate::trace::layers::Layers;
use crate::trace::{json_line_layered, Event, Observer};

/// One event as the page gets it: its number (the SSE `id:`) and its
/// `--trace=json` line, without the newline.
#[derive(Debug)]
pub(crate) struct Line {
    /// Numbered from 1 in the order the hub saw them.
    pub seq: u64,
    /// The JSON object.
    pub json: Box<str>,
}

/// The counters the page shows, counted from the events themselves (the
/// hub sees every one, even those a viewer lost), named as in
/// [`Stats`](crate::Stats) where they mean the same.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    accepted: u64,
    closed: u64,
    rejected: u64,
    timeouts: u64,
    errors: u64,
    panics: u64,
    accept_errors: u64,
    bytes_in: u64,
    bytes_out: u64,
    datagrams_in: u64,
    datagrams_out: u64,
    dropped_datagrams: u64,
}

impl Tally {
    fn count(&mut self, event: &Event<'_>) {
        match event {
            Event::Accept { .. } => self.accepted += 1,
            Event::Reject { .. } => self.rejected += 1,
            Event::Close { bytes_in, bytes_out, .. } => {
                self.closed += 1;
                self.bytes_in += bytes_in;
                self.bytes_out += bytes_out;
            }
            Event::Error { error, .. } if error.kind() == std::io::ErrorKind::TimedOut => {
                self.timeouts += 1
            }
            Event::Error { .. } => self.errors += 1,
            Event::Panic { .. } => self.panics += 1,
            Event::AcceptError { .. } => self.accept_errors += 1,
            Event::RecvFrom { bytes, .. } => {
                self.datagrams_in += 1;
                self.bytes_in += *bytes as u64;
            }
            Event::SendTo { bytes, .. } => {
                self.datagrams_out += 1;
                self.bytes_out += *bytes as u64;
            }
            Event::Drop { .. } => self.dropped_datagrams += 1,
            _ => {}
        }
    }
}

/// One viewer's end of the hub: its queue, and what it lost.
struct Slot {
    id: u64,
    queue: SyncSender<Arc<Line>>,
    lost: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    seq: u64,
    listens: Vec<Arc<Line>>,
    recent: VecDeque<Arc<Line>>,
    slots: Vec<Slot>,
    next_viewer: u64,
    tally: Tally,
    /// Set by [`Hub::close`]: no more viewers, no more events.
    closed: bool,
}

/// Receives the server's events and hands them to at most
/// [`WATCH_VIEWERS`] viewers (see the module docs).
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    /// The protocols inside each read's and write's bytes (`"layers"`),
    /// followed per connection; a lock of its own, held only to describe.
    layers: Mutex<Layers>,
}

/// A viewer the hub accepted: what to send first, then the live queue.
/// Dropping it frees the slot.
pub(crate) struct Viewer<'a> {
    hub: &'a Hub,
    id: u64,
    /// The `listen` events and the recent ones, oldest first.
    pub replay: Vec<Arc<Line>>,
    /// Events the viewer's page would have had before these, if the ring
    /// still held them (after a reconnect).
    pub missed: u64,
    pub queue: Receiver<Arc<Line>>,
    lost: Arc<AtomicU64>,
}

/// Every slot is taken.
#[derive(Debug)]
pub(crate) struct Full;

impl Hub {
    /// A hub with no viewers yet.
    pub fn new() -> Hub {
        Hub::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new viewer, or [`Full`]. `last_seen` is the SSE `Last-Event-ID` a
    /// reconnecting page sends: the replay then starts after it.
    pub(crate) fn join(&self, last_seen: Option<u64>) -> Result<Viewer<'_>, Full> {
        let mut s = self.lock();
        if s.closed || s.slots.len() >= WATCH_VIEWERS {
            return Err(Full);
        }
        let after = last_seen.unwrap_or(0);
        let mut replay: Vec<_> = s.listens.iter().filter(|l| l.seq > after).cloned().collect();
        replay.extend(s.recent.iter().filter(|l| l.seq > after).cloned());
        let missed = match (last_seen, s.recent.front()) {
            (Some(seen), Some(first)) => first.seq.saturating_sub(seen.saturating_add(1)),
            _ => 0,
        };
        let (queue, rx) = sync_channel(WATCH_QUEUE);
        let lost = Arc::new(AtomicU64::new(0));
        s.next_viewer += 1;
        let id = s.next_viewer;
        s.slots.push(Slot { id, queue, lost: Arc::clone(&lost) });
        Ok(Viewer { hub: self, id, replay, missed, queue: rx, lost })
    }

    /// Viewers connected now.
    pub fn viewers(&self) -> usize {
        self.lock().slots.len()
    }

    /// No more viewers: every viewer's queue is closed, so each viewer's
    /// thread ends its stream and returns, and the watch listener can stop
    /// without waiting for browsers.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        s.slots.clear();
    }

    /// The counters as a JSON object, with `viewers` and the `lost` count
    /// of the viewer asking.
    pub(crate) fn counters_json(&self, lost: u64) -> String {
        let s = self.lock();
        let t = &s.tally;
        let mut j = String::with_capacity(320);
        let _ = write!(
            j,
            "{{\"accepted\":{},\"active\":{},\"closed\":{},\"rejected\":{},\"timeouts\":{},\
             \"errors\":{},\"panics\":{},\"accept_errors\":{},\"bytes_in\":{},\"bytes_out\":{},\
             \"datagrams_in\":{},\"datagrams_out\":{},\"dropped_datagrams\":{},\"viewers\":{},\
             \"lost\":{}}}",
            t.accepted,
            t.accepted.saturating_sub(t.closed),
            t.closed,
            t.rejected,
            t.timeouts,
            t.errors,
            t.panics,
            t.accept_errors,
            t.bytes_in,
            t.bytes_out,
            t.datagrams_in,
            t.datagrams_out,
            t.dropped_datagrams,
            s.slots.len(),
            lost,
        );
        j
    }
}

impl Observer for Hub {
    fn event(&self, event: &Event<'_>) {
        // Formatted before the lock: the lock covers only bookkeeping.
        let inside = self.layers.lock().unwrap_or_else(|p| p.into_inner()).describe(event);
        let mut json = json_line_layered(event, &inside);
        json.truncate(json.trim_end().len());
        let mut s = self.lock();
        if s.closed {
            return;
        }
        s.seq += 1;
        s.tally.count(event);
        let line = Arc::new(Line { seq: s.seq, json: json.into_boxed_str() });
        if matches!(event, Event::Listen { .. }) {
            if s.listens.len() < WATCH_LISTENS {
                s.listens.push(Arc::clone(&line));
            }
        } else {
            if s.recent.len() == WATCH_RECENT {
                s.recent.pop_front();
            }
            s.recent.push_back(Arc::clone(&line));
        }
        for slot in &s.slots {
            // Never block: a full queue loses this event for that viewer
            // only. A closed one is a viewer leaving; it removes its slot.
            if let Err(TrySendError::Full(_)) = slot.queue.try_send(Arc::clone(&line)) {
                slot.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Viewer<'_> {
    /// Events dropped for this viewer since the last call.
    pub fn take_lost(&self) -> u64 {
        self.lost.swap(0, Ordering::Relaxed)
    }

    /// The hub's counters, for this viewer.
    pub fn counters_json(&self, lost: u64) -> String {
        self.hub.counters_json(lost)
    }
}

impl Drop for Viewer<'_> {
    fn drop(&mut self) {
        self.hub.lock().slots.retain(|s| s.id != self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Endpoint;

    fn read(hub: &Hub, conn: u64) {
        hub.event(&Event::Read { conn, bytes: 2, data: b"hi" });
    }

    /// [`Hub::join`], a refusal told as text.
    fn join(hub: &Hub, last_seen: Option<u64>) -> Result<Viewer<'_>, String> {
        hub.join(last_seen).map_err(|e| format!("join({last_seen:?}) refused: {e:?}"))
    }

    #[test]
    fn a_full_queue_loses_events_for_that_viewer_only_and_counts_them(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let hub = Hub::new();
        let slow = join(&hub, None)?;
        for i in 0..WATCH_QUEUE as u64 + 5 {
            read(&hub, i);
        }
        let fast = join(&hub, None)?;
        read(&hub, 9);
        assert_eq!(slow.take_lost(), 6);
        assert_eq!(slow.take_lost(), 0, "taken once");
        assert_eq!(fast.take_lost(), 0);
        assert_eq!(fast.queue.try_iter().count(), 1);
        assert_eq!(fast.replay.len(), WATCH_RECENT, "the ring is bounded");
        Ok(())
    }

    #[test]
    fn one_viewer_too_many_is_refused_and_a_slot_frees_on_drop(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let hub = Hub::new();
        let mut viewers =
            (0..WATCH_VIEWERS).map(|_| join(&hub, None)).collect::<Result<Vec<_>, _>>()?;
        assert!(hub.join(None).is_err());
        viewers.pop();
        assert_eq!(hub.viewers(), WATCH_VIEWERS - 1);
        assert!(hub.join(None).is_ok());
        Ok(())
    }

    #[test]
    fn a_reconnecting_page_gets_what_came_after_its_last_event_and_the_sockets(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let hub = Hub::new();
        let addr = Endpoint::Inet(([127, 0, 0, 1], 4000).into());
        let proto = crate::trace::Proto::Tcp;
        hub.event(&Event::Listen { proto, addr: &addr, backlog: 128 });
        for conn in 1..=3 {
            read(&hub, conn);
        }
        let v = join(&hub, Some(3))?;
        let seqs: Vec<u64> = v.replay.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [4], "the listen line was seen already");
        assert_eq!(v.missed, 0);
        assert!(v.replay[0].json.contains("\"conn\":3"), "{:?}", v.replay[0]);
        drop(v);
        let v = join(&hub, None)?;
        assert_eq!(v.replay.len(), 4);
        assert!(v.replay[0].json.contains("\"event\":\"listen\""));
        Ok(())
    }

    #[test]
    fn counters_come_from_the_events() {
        let hub = Hub::new();
        let peer = Endpoint::Inet(([127, 0, 0, 1], 5000).into());
        hub.event(&Event::Accept { conn: 1, peer: &peer, worker: 0 });
        hub.event(&Event::Close {
            conn: 1,
            duration: std::time::Duration::ZERO,
            bytes_in: 5,
            bytes_out: 5,
        });
        hub.event(&Event::Accept { conn: 2, peer: &peer, worker: 1 });
        let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "idle");
        hub.event(&Event::Error { conn: 2, call: "read()", error: &e });
        hub.event(&Event::RecvFrom { peer: &peer, bytes: 3, data: b"abc" });
        let j = hub.counters_json(7);
        assert!(j.starts_with("{\"accepted\":2,\"active\":1,\"closed\":1,"), "{j}");
        assert!(j.contains("\"timeouts\":1,\"errors\":0,"), "{j}");
        assert!(j.contains("\"bytes_in\":8,\"bytes_out\":5,\"datagrams_in\":1,"), "{j}");
        assert!(j.ends_with("\"viewers\":0,\"lost\":7}"), "{j}");
    }

    #[test]
    fn a_closed_hub_takes_no_viewers_and_ends_their_queues(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let hub = Hub::new();
        let v = join(&hub, None)?;
        hub.close();
        assert!(matches!(
            v.queue.recv_timeout(std::time::Duration::from_secs(5)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        ));
        assert!(hub.join(None).is_err());
        Ok(())
    }
}
