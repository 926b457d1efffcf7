//! `sockref serve --watch ADDR`: the server's socket calls, live, in a
//! browser, for a teacher projecting it while a class connects.
//!
//! Two parts, joined in `main.rs`:
//!
//! - [`Hub`]: the [`Observer`](crate::Observer) the server reports to (beside
//!   `--trace`, through [`Tee`](crate::trace::Tee)). It turns each event into
//!   its `--trace=json` line and offers it to at most
//!   [`WATCH_VIEWERS`] bounded queues, never waiting.
//! - [`WatchPage`]: a [`Service`](crate::Service) that serves one page
//!   (`page.html`, `page.js`, `page.css`, compiled into the binary: no CDN,
//!   works offline) and `GET /events`, a Server-Sent Events stream of those
//!   lines.
//!
//! The watch listener is a second sockref server: `main.rs` starts it with
//! [`ServerBuilder`](crate::ServerBuilder), the page as its service and
//! [`limits`] as its bounds. So it has its own small pool of threads (a
//! browser never takes a worker from a student), it reads requests with
//! the HTTP service's own code, and it gets the same deadlines as any
//! connection: a viewer that stops reading is cut by the minimum rate, one
//! that vanishes by its next failed `write()`. It is never traced itself:
//! its own writes would become events to write.
//!
//! What it does not do: listen beyond this machine unless asked
//! (`--watch-public`: the page shows every client's bytes), or keep any
//! event longer than [`WATCH_RECENT`] events back.

#[cfg(doc)]
use crate::limits::WATCH_RECENT;
use crate::limits::{Limits, WATCH_IDLE_TIMEOUT, WATCH_PAGE_WORKERS, WATCH_VIEWERS};

mod hub;
mod sse;

pub use hub::Hub;
pub use sse::WatchPage;

/// The watch listener's bounds: [`WATCH_VIEWERS`] event streams and
/// [`WATCH_PAGE_WORKERS`] threads for the page's files, and a short idle
/// timeout for a browser's spare connection that sends nothing.
pub fn limits() -> Limits {
    Limits {
        workers: WATCH_VIEWERS + WATCH_PAGE_WORKERS,
        idle_timeout: Some(WATCH_IDLE_TIMEOUT),
        ..Limits::default()
    }
}

/// True when `addr` (`HOST:PORT`) can only be reached from this machine:
/// a loopback IP address (`127.0.0.0/8`, `::1`) or `localhost`. Any other
/// name might resolve to an outside address, so it counts as public.
pub fn is_loopback(addr: &str) -> bool {
    let Some((host, _port)) = addr.rsplit_once(':') else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_count_as_private() {
        for a in ["127.0.0.1:8080", "127.9.9.9:0", "[::1]:8080", "localhost:8080"] {
            assert!(is_loopback(a), "{a}");
        }
        for a in ["0.0.0.0:8080", "[::]:8080", "192.168.1.5:80", "example.org:80", "x"] {
            assert!(!is_loopback(a), "{a}");
        }
    }

    #[test]
    fn the_watch_pool_is_viewers_plus_page_threads_and_valid() {
        let l = limits();
        assert_eq!(l.workers, WATCH_VIEWERS + WATCH_PAGE_WORKERS);
        assert_eq!(l.validate(), Ok(()));
    }
}
