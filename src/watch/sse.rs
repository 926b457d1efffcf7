//! The watch listener's service: the page, and the events as a stream of
//! Server-Sent Events (HTML Living Standard §9.2, "Server-sent events").
//!
//! Every request is read with the HTTP service's own code (`Wire`: one
//! parser, not two) and every answer closes its connection, so a browser's
//! page, stylesheet and script each hold a thread of the watch pool only
//! while they are sent. `GET /events` is the exception: the answer is an
//! endless `text/event-stream` body, written by the thread that serves
//! it, with no `Content-Length` (the body ends when the connection does,
//! RFC 9112 §6.3 rule 8). Its events:
//!
//! | SSE field | what |
//! |---|---|
//! | `id: N` + `data: {...}` | one `--trace=json` line, numbered by the hub |
//! | `event: gap` + `data: {"lost":N}` | N events were dropped for this page, which fell behind |
//! | `event: counters` + `data: {...}` | the counters, every `WATCH_TICK` (also the heartbeat) |
//! | `event: end` | `GET /events?once` only: that was the snapshot |
//!
//! What it does not do: wait for the server. It waits only on its own
//! queue and on its own browser.

use std::io::{self, Write};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::hub::{Hub, Line};
use crate::limits::{WATCH_BATCH, WATCH_TICK, WATCH_VIEWERS};
use crate::server::Conn;
use crate::service::http::head::Method;
use crate::service::http::response::{self, server_and_date, Persist, Status};
use crate::service::http::{one_request, Wire};
use crate::service::Service;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// The files of the page, the one table of them: path, type, contents.
const FILES: [(&[u8], &str, &str); 3] = [
    (b"/", "text/html; charset=utf-8", PAGE),
    (b"/page.js", "text/javascript; charset=utf-8", SCRIPT),
    (b"/page.css", "text/css; charset=utf-8", STYLE),
];

/// Nothing but the page's own files runs on it: event previews are a
/// stranger's bytes, and the script only ever puts them in as text.
const HEADERS: &[u8] = b"Cache-Control: no-store\r\n\
    Content-Security-Policy: default-src 'self'; frame-ancestors 'none'\r\n\
    X-Content-Type-Options: nosniff\r\n";

/// The watch page's service (see the module docs).
pub struct WatchPage {
    hub: Arc<Hub>,
    /// Bound off loopback on purpose (`--watch-public`): any `Host` is fine.
    public: bool,
    /// This process's mark on every event id (`EPOCH-SEQ`): a page that
    /// reconnects to a restarted server, whose numbers start again, is
    /// told to reload instead of mixing two runs' connections.
    epoch: u64,
}

impl WatchPage {
    /// Serves the page and the events `hub` receives. Unless `public`, a
    /// request must name a loopback host: a web site whose name was made
    /// to resolve to 127.0.0.1 (DNS rebinding) is refused.
    pub fn new(hub: Arc<Hub>, public: bool) -> WatchPage {
        let epoch =
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_micros() as u64);
        WatchPage { hub, public, epoch }
    }

    /// Why a request is not served, if it is not. The page shows every
    /// client's bytes, so a loopback-only page must not be readable by a
    /// web site: a `Host` that is not a loopback name is how a DNS
    /// rebinding attack arrives (421), and a cross-site `Sec-Fetch-Site`
    /// on `/events` is another site's script (403), which could also hold
    /// the few viewer slots.
    fn refusal(&self, wire: &Wire, events: bool) -> Option<(Status, &'static str)> {
        let fields = wire.fields();
        let field =
            |name: &[u8]| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|f| f.1);
        if !self.public && field(b"host").is_some_and(|h| !loopback_host(h)) {
            return Some((
                Status::MisdirectedRequest,
                "this page answers to a loopback host only (--watch-public to serve others)",
            ));
        }
        let site = field(b"sec-fetch-site");
        if events && site.is_some_and(|v| v != b"same-origin" && v != b"none") {
            return Some((Status::Forbidden, "the events are for this page's own script only"));
        }
        None
    }
}

/// `localhost` or a loopback address, with or without a port.
fn loopback_host(host: &[u8]) -> bool {
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Service for WatchPage {
    fn name(&self) -> &str {
        "watch"
    }

    fn stream_only(&self) -> bool {
        true
    }

    // One request per connection: read its head, answer, close.
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        let Some((mut wire, head)) = one_request(conn)? else {
            return Ok(());
        };
        let path = &wire.head_bytes()[head.path.clone()];
        let get = matches!(head.method, Method::Get | Method::Head);
        if let Some((status, why)) = self.refusal(&wire, path == b"/events") {
            wire.error(status, why, Persist::Close, b"", head.method == Method::Head);
            return wire.flush(conn);
        }
        if path == b"/events" && head.method == Method::Get {
            let Ok(last_seen) = last_event_id(&wire, self.epoch) else {
                // Another run's numbers: start the page afresh.
                let mut out = Vec::new();
                out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
                server_and_date(&mut out);
                out.extend_from_slice(
                    b"Content-Type: text/event-stream\r\nCache-Control: no-store\r\n",
                );
                out.extend_from_slice(b"Connection: close\r\n\r\nevent: reload\ndata: {}\n\n");
                return conn.write_all(&out);
            };
            // The query follows the path in the request line.
            let once = wire.head_bytes()[head.path.end..].starts_with(b"?once ");
            return self.stream(conn, &mut wire, last_seen, once);
        }
        let file = FILES.iter().find(|(p, _, _)| *p == path);
        match (file, get) {
            (Some((_, ty, body)), true) => {
                let mut out = Vec::with_capacity(body.len() + 400);
                response::head(&mut out, Status::Ok, Some(ty), body.len(), Persist::Close, HEADERS);
                if head.method == Method::Get {
                    out.extend_from_slice(body.as_bytes());
                }
                conn.write_all(&out)
            }
            (None, _) if path != b"/events" => {
                let why = "no such path; the page is /, its events /events";
                wire.error(Status::NotFound, why, Persist::Close, b"", head.method == Method::Head);
                wire.flush(conn)
            }
            _ => {
                let (why, allow): (_, &[u8]) = if path == b"/events" {
                    ("/events takes GET", b"Allow: GET\r\n")
                } else {
                    ("this path takes GET or HEAD", b"Allow: GET, HEAD\r\n")
                };
                wire.error(
                    Status::MethodNotAllowed,
                    why,
                    Persist::Close,
                    allow,
                    head.method == Method::Head,
                );
                wire.flush(conn)
            }
        }
    }
}

/// The `Last-Event-ID` a reconnecting `EventSource` sends: the number of
/// the last event its page received (`EPOCH-SEQ`), `Ok(None)` for a new
/// page (or an id that is not ours at all), `Err` when it came from
/// another run of the server.
fn last_event_id(wire: &Wire, epoch: u64) -> Result<Option<u64>, ()> {
    let fields = wire.fields();
    let Some((_, value)) = fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(b"last-event-id"))
    else {
        return Ok(None);
    };
    let text = std::str::from_utf8(value).unwrap_or_default();
    let Some((e, seq)) = text.split_once('-') else {
        return Ok(None);
    };
    match (e.parse::<u64>(), seq.parse::<u64>()) {
        (Ok(e), Ok(seq)) if e == epoch => Ok(Some(seq)),
        (Ok(_), Ok(_)) => Err(()),
        _ => Ok(None),
    }
}

impl WatchPage {
    /// `GET /events`: the head, what the hub kept, then each event as it
    /// comes, until the browser goes (a `write()` fails) or the hub closes.
    /// `GET /events?once` stops after what the hub kept and the counters,
    /// with an `end` event: a page that must finish loading (a headless
    /// browser's `--virtual-time-budget` waits for every open request)
    /// shows a snapshot.
    fn stream(
        &self,
        conn: &mut Conn<'_>,
        wire: &mut Wire,
        last: Option<u64>,
        once: bool,
    ) -> io::Result<()> {
        let Ok(viewer) = self.hub.join(last) else {
            let why = format!(
                "{WATCH_VIEWERS} pages are watching already (limits::WATCH_VIEWERS); \
                 close one and reload"
            );
            // The message is built at run time; `Wire::error` wants a
            // `&str` it can copy, which this is.
            wire.error(
                Status::ServiceUnavailable,
                &why,
                Persist::Close,
                b"Retry-After: 5\r\n",
                false,
            );
            return wire.flush(conn);
        };
        let mut out = Vec::with_capacity(16 * 1024);
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        server_and_date(&mut out);
        out.extend_from_slice(b"Content-Type: text/event-stream\r\nConnection: close\r\n");
        out.extend_from_slice(HEADERS);
        // An EventSource whose stream ends tries again after `retry` ms.
        out.extend_from_slice(b"\r\nretry: 2000\n\n");
        let mut lost = viewer.missed;
        for chunk in viewer.replay.chunks(WATCH_BATCH) {
            if lost > 0 {
                gap(&mut out, lost);
                lost = 0;
            }
            chunk.iter().for_each(|line| data(&mut out, self.epoch, line));
            conn.write_all(&out)?;
            out.clear();
        }
        let mut lost_total = viewer.missed;
        // The first counters go out at once, with the replay.
        let mut next_tick = Instant::now();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match viewer.queue.recv_timeout(wait) {
                Ok(line) => {
                    data(&mut out, self.epoch, &line);
                    for line in viewer.queue.try_iter().take(WATCH_BATCH - 1) {
                        data(&mut out, self.epoch, &line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            // Reported after the events that made it: the page marks the
            // gap where it learns of it.
            let lost = viewer.take_lost();
            if lost > 0 {
                gap(&mut out, lost);
                lost_total += lost;
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + WATCH_TICK;
                out.extend_from_slice(b"event: counters\ndata: ");
                out.extend_from_slice(viewer.counters_json(lost_total).as_bytes());
                out.extend_from_slice(b"\n\n");
            }
            if once {
                out.extend_from_slice(b"event: end\ndata: {}\n\n");
                return conn.write_all(&out);
            }
            if !out.is_empty() {
                conn.write_all(&out)?;
                out.clear();
            }
        }
    }
}

/// One trace event: `id:` lets a reconnecting page say where it was.
fn data(out: &mut Vec<u8>, epoch: u64, line: &Line) {
    let _ = write!(out, "id: {epoch}-{}\ndata: {}\n\n", line.seq, line.json);
}

fn gap(out: &mut Vec<u8>, lost: u64) {
    let _ = write!(out, "event: gap\ndata: {{\"lost\":{lost}}}\n\n");
}
