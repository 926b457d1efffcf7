//! Hardening, one threat per file. The textbook path in `server/` calls each
//! guard in one line; a guard decides and reports, and never serves. Two
//! are a little more than a check: [`deadline`] makes a connection's
//! `read()`/`write()` under its timers (`Deadlines::call`, which `Conn`
//! calls), and [`stop`] is the state the server updates as connections
//! come and go, so that a stop can wait for them and cut them.
//!
//! | file | threat | limit it applies |
//! |---|---|---|
//! | [`deadline`] | a client that goes silent, stops reading, or holds on for ever | idle timeout, whole-connection time, drain after the reply |
//! | [`min_rate`] | a client that reads (or sends) a trickle: Slow Read, trickled bodies | a floor in bytes per second of waiting, with one idle timeout of credit |
//! | [`per_ip`] | one source address holding every worker | at most N served at once per address; `busy\r\n` and close beyond |
//! | [`backoff`] | `accept()` failing in a loop (out of descriptors or memory) | a pause from 5 ms doubling to 1 s, one worker retrying, one message per episode |
//! | [`nofile`] | more workers than `ulimit -n` allows descriptors | one warning at start, saying what to change |
//! | [`overload`] | more clients than workers, with `--overload reject` | `busy\r\n` and close, at once |
//! | [`datagram`] | datagram loops between servers, floods from one source | source-port and own-address filter, per-source rate |
//! | [`stop`] | a stop that cuts a reply short, or waits on a client for ever | grace, then input cut, drain, then both ways cut |
//! | [`wake`] | threads blocked in `accept()`/`recvfrom()` at stop | wakers made up front |
//!
//! Guards are leaves: they read [`crate::limits`], count in
//! [`crate::stats`], trace through [`crate::trace`], and import nothing of
//! `server/`.

pub(crate) mod backoff;
pub(crate) mod datagram;
pub(crate) mod deadline;
pub(crate) mod min_rate;
pub(crate) mod nofile;
pub(crate) mod overload;
pub(crate) mod per_ip;
pub(crate) mod stop;
pub(crate) mod wake;
