//! `sockref serve --watch`: the page, its event stream, its bounds, and
//! the page drawn by a real browser (headless Chromium).
//!
//! Every wait here is for something the server says: its `watching` line,
//! an event on the stream, a `counters` event with the number looked for,
//! the `stopped` line. Reads carry a timeout, so a broken server fails a
//! test instead of hanging it; nothing asserts on time.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;

use common::{connect, Proc};
use sockref::limits::WATCH_VIEWERS;

/// Starts the server with `--watch 127.0.0.1:0` and reads on to the
/// `watching` line; returns the server and the page's address.
fn serve(args: &[&str], protos: usize) -> (Proc, SocketAddr) {
    let mut all = vec!["--watch", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut proc = Proc::start(&all, protos);
    loop {
        let line = proc
            .next_line()
            .expect("sockref ended before its watching line");
        if let Some(url) = line.strip_prefix("watching http://") {
            let addr = url
                .trim_end_matches('/')
                .parse()
                .expect("watching http://ADDR/");
            return (proc, addr);
        }
    }
}

/// One request on its own connection; the answer is read to its close.
fn get(watch: SocketAddr, method: &str, path: &str) -> (String, String) {
    let mut s = connect(watch);
    write!(s, "{method} {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .expect("read the answer to its close");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    (head.to_string(), body.to_string())
}

/// A page's event stream, read as a browser's `EventSource` would.
struct Viewer {
    stream: BufReader<TcpStream>,
}

impl Viewer {
    /// Asks for `/events` and reads the head; `None` with the head when
    /// the answer is not a stream.
    fn open(watch: SocketAddr) -> Result<Viewer, String> {
        let mut s = connect(watch);
        s.write_all(
            b"GET /events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
        )
        .unwrap();
        let mut stream = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).expect("read the head");
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        if head.starts_with("HTTP/1.1 200 ") && head.contains("Content-Type: text/event-stream") {
            Ok(Viewer { stream })
        } else {
            let mut body = String::new();
            let _ = stream.read_to_string(&mut body);
            Err(head + &body)
        }
    }

    /// The next event: its type (`message` when unnamed) and data.
    fn next(&mut self) -> (String, String) {
        let (mut kind, mut data) = (String::from("message"), String::new());
        loop {
            let mut line = String::new();
            let n = self.stream.read_line(&mut line).expect("read an event");
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                if !data.is_empty() {
                    return (kind, data);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_string();
            }
        }
    }

    /// Reads on until a `counters` event whose `key` is `value`.
    fn until_counter(&mut self, key: &str, value: u64) {
        loop {
            let (kind, data) = self.next();
            if kind == "counters" && common::field(&data, key) == value as f64 {
                return;
            }
        }
    }

    /// Reads on until a trace event of connection `conn` matching `event`;
    /// returns the events of `conn` seen so far, in order.
    fn calls_of(&mut self, conn: u64, until: &str, seen: &mut Vec<String>) {
        loop {
            let (kind, data) = self.next();
            if kind != "message" || !data.contains(&format!("\"conn\":{conn},")) {
                continue;
            }
            seen.push(data.clone());
            if data.contains(&format!("\"event\":\"{until}\"")) {
                return;
            }
        }
    }
}

fn event_name(json: &str) -> &str {
    let at = json.find("\"event\":\"").expect("an event name") + 9;
    let rest = &json[at..];
    &rest[..rest.find('"').unwrap()]
}

#[test]
fn a_scripted_exchange_reaches_the_page_as_its_calls_in_order_and_the_trace_too() {
    let (mut proc, watch) = serve(&["--proto", "tcp", "--trace=json"], 1);
    let mut viewer = Viewer::open(watch).expect("a stream");
    viewer.until_counter("viewers", 1);

    let mut client = connect(proc.tcp());
    let me = client.local_addr().unwrap();
    client.write_all(b"hello").unwrap();
    let mut echo = [0u8; 5];
    client.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    drop(client);

    let mut seen = Vec::new();
    viewer.calls_of(1, "close", &mut seen);
    let names: Vec<&str> = seen.iter().map(|j| event_name(j)).collect();
    assert_eq!(
        names,
        ["accept", "read", "write", "read", "close"],
        "{seen:#?}"
    );
    assert!(
        seen[0].contains(&format!("\"peer\":\"{me}\"")),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].contains("\"bytes\":5,\"eof\":false,\"data\":\"hello\""),
        "{}",
        seen[1]
    );
    assert!(
        seen[2].contains("\"bytes\":5,\"data\":\"hello\""),
        "{}",
        seen[2]
    );
    assert!(seen[3].contains("\"bytes\":0,\"eof\":true"), "{}", seen[3]);
    assert!(seen[4].contains("\"in\":5,\"out\":5"), "{}", seen[4]);
    // The same JSON as --trace=json, which printed them too (a tee).
    assert!(seen[0].starts_with("{\"ts_us\":") && seen[0].contains("\"call\":\"accept()\""));
    let mut traced = Vec::new();
    while !traced
        .iter()
        .any(|l: &String| l.contains("\"event\":\"close\""))
    {
        traced.push(proc.next_line().expect("the trace on stdout"));
    }
    let traced: Vec<&str> = traced
        .iter()
        .filter(|l| l.contains("\"conn\":1,"))
        .map(|l| event_name(l))
        .collect();
    assert_eq!(traced, names);
}

/// Request/response rounds per connection in the 1,000-connection run:
/// enough events (about 40 a connection, 7 MB of stream) to overflow what
/// the kernel buffers for a page that never reads (4 MiB of send buffer
/// at most, by Linux's default `tcp_wmem`) and its queue, so that the
/// stalled page really falls behind.
const ROUNDS: usize = 20;

/// 1,000 echo connections against a server with `--max-connections`;
/// returns its `stopped` line, and with `stalled` what a page that asked
/// for the events first and never read one was sent.
fn thousand_connections(stalled: bool) -> (String, Option<Vec<u8>>) {
    let (mut proc, watch) = serve(&["--proto", "tcp", "--max-connections", "1000"], 1);
    let mut stall = None;
    if stalled {
        let mut s = connect(watch);
        s.write_all(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        stall = Some(s);
        // A second page confirms the stalled one holds a slot, then goes.
        let mut probe = Viewer::open(watch).expect("a stream");
        probe.until_counter("viewers", 2);
    }
    let addr = proc.tcp();
    for i in 0..1000 {
        let mut s = connect(addr);
        for round in 0..ROUNDS {
            let message = format!("connection {i} round {round}\n");
            s.write_all(message.as_bytes()).unwrap();
            let mut echo = vec![0u8; message.len()];
            s.read_exact(&mut echo).unwrap();
            assert_eq!(echo, message.as_bytes(), "connection {i}");
        }
        s.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "connection {i}");
    }
    let stopped = loop {
        let line = proc.next_line().expect("the stopped line");
        if let Some(stats) = line.strip_prefix("stopped ") {
            break stats.to_string();
        }
    };
    // Stopped: what the stalled page was sent ends (an error counts as
    // the end too: the watch listener cut it).
    let sent = stall.map(|mut s| {
        let mut sent = Vec::new();
        let _ = s.read_to_end(&mut sent);
        sent
    });
    (stopped, sent)
}

#[test]
fn a_stalled_viewer_does_not_change_a_thousand_connection_run() {
    let (alone, _) = thousand_connections(false);
    let (watched, sent) = thousand_connections(true);
    assert!(alone.starts_with("accepted=1000 closed=1000 "), "{alone}");
    assert_eq!(
        watched, alone,
        "the same counts with a page that never reads"
    );
    // The page did fall behind: it was sent only part of the run (its
    // buffers filled, then its queue, and the rest was dropped for it;
    // the notice of that gap waits behind the write it never took).
    let sent = String::from_utf8_lossy(sent.as_deref().unwrap_or_default());
    let closes = sent.matches("\"event\":\"close\"").count();
    assert!(
        sent.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        &sent[..sent.len().min(200)]
    );
    assert!(
        closes < 1000,
        "the stalled page was sent all {closes} closes"
    );
}

#[test]
fn one_viewer_too_many_is_answered_503() {
    let (_proc, watch) = serve(&["--proto", "tcp"], 1);
    let mut viewers: Vec<Viewer> = Vec::new();
    for n in 1..=WATCH_VIEWERS as u64 {
        viewers.push(Viewer::open(watch).expect("a free slot"));
        viewers.last_mut().unwrap().until_counter("viewers", n);
    }
    let refused = Viewer::open(watch).err().expect("one too many");
    assert!(
        refused.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{refused}"
    );
    assert!(refused.contains("Connection: close\r\n"), "{refused}");
    assert!(refused.contains("pages are watching already"), "{refused}");
    // The page itself is still served: the viewers hold their own threads.
    let (head, _) = get(watch, "GET", "/");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
}

#[test]
fn a_viewer_that_vanishes_frees_its_slot() {
    let (_proc, watch) = serve(&["--proto", "tcp"], 1);
    let mut viewers: Vec<Viewer> = Vec::new();
    for n in 1..=WATCH_VIEWERS as u64 {
        viewers.push(Viewer::open(watch).expect("a free slot"));
        viewers.last_mut().unwrap().until_counter("viewers", n);
    }
    assert!(Viewer::open(watch).is_err(), "full");
    // Gone without a word, as a closed tab: its next writes fail.
    viewers.pop();
    viewers[0].until_counter("viewers", WATCH_VIEWERS as u64 - 1);
    let mut again = Viewer::open(watch).expect("the freed slot");
    again.until_counter("viewers", WATCH_VIEWERS as u64);
}

#[test]
fn the_page_its_script_and_style_are_served_from_the_binary() {
    let (_proc, watch) = serve(&["--proto", "tcp"], 1);
    let (head, page) = get(watch, "GET", "/");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/html; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert!(
        head.contains("Content-Security-Policy: default-src 'self'"),
        "{head}"
    );
    for id in [
        "lanes",
        "counters",
        "pause",
        "status",
        "udp",
        "datagrams",
        "detail",
        "gap",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id} missing");
    }
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN: works offline"
    );
    let (head, script) = get(watch, "GET", "/page.js");
    assert!(head.contains("Content-Type: text/javascript"), "{head}");
    assert!(
        script.contains("new EventSource("),
        "the script reads /events"
    );
    assert!(
        !script.contains("innerHTML"),
        "a stranger's bytes go in as text only"
    );
    let (head, _) = get(watch, "GET", "/page.css");
    assert!(head.contains("Content-Type: text/css"), "{head}");
    let (head, body) = get(watch, "HEAD", "/");
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\n") && body.is_empty(),
        "{head}"
    );
    let (head, _) = get(watch, "GET", "/nope");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    let (head, _) = get(watch, "POST", "/events");
    assert!(
        head.starts_with("HTTP/1.1 405 ") && head.ends_with("\r\nAllow: GET"),
        "{head}"
    );
    // The HTTP service's own parser: a malformed head gets its 400.
    let mut s = connect(watch);
    s.write_all(b"GET / HTTP/1.1\nHost: x\n\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

#[test]
fn a_non_loopback_watch_address_needs_an_explicit_opt_in() {
    let out = Command::new(common::bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--watch", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--watch-public"), "{err}");
}

/// The first of these on PATH; `None` skips (or fails under CI).
fn chromium() -> Option<String> {
    common::tools::need_any_command(
        &["chromium", "chromium-browser", "google-chrome"],
        "chromium",
    )
    .map(|p| p.to_string_lossy().into_owned())
}

#[test]
fn headless_chromium_draws_a_lane_per_connection_and_the_datagram() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (proc, watch) = serve(&[], 2);
    let mut peers = Vec::new();
    for word in ["one", "two", "three"] {
        let mut s = connect(proc.tcp());
        peers.push(s.local_addr().unwrap());
        s.write_all(word.as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut echo = String::new();
        s.read_to_string(&mut echo).unwrap();
        assert_eq!(echo, word);
    }
    let udp = common::udp_client();
    udp.send_to(b"ping", proc.udp()).unwrap();
    let mut reply = [0u8; 16];
    let (n, _) = udp.recv_from(&mut reply).expect("the echo");
    assert_eq!(&reply[..n], b"ping");
    let udp_peer = udp.local_addr().unwrap();

    // ?once: the page reads what the server kept and closes its stream,
    // so that --virtual-time-budget can run out (it waits while any
    // request is open, and an EventSource always is).
    let profile = std::env::temp_dir().join(format!("sockref-chromium-{}", std::process::id()));
    let out = Command::new("timeout")
        .arg("120")
        .arg(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("http://{watch}/?once"))
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for (conn, peer) in peers.iter().enumerate() {
        let lane = format!("<article class=\"lane closed\" id=\"conn-{}\"", conn + 1);
        assert!(dom.contains(&lane), "no lane for conn {}: {dom}", conn + 1);
        assert!(
            dom.contains(&format!("<span class=\"peer\">{peer}</span>")),
            "{peer}: {dom}"
        );
    }
    assert!(
        dom.contains("<q>“three”</q>"),
        "the preview of conn 3's read: {dom}"
    );
    assert!(dom.contains("read() = 0 · FIN"), "{dom}");
    assert!(
        dom.contains(&format!(
            "<li class=\"dgram in\"><span class=\"peer\">{udp_peer}</span>"
        )),
        "{dom}"
    );
    // UDP has one socket: drawn once, as the lifeline every arrow ends on,
    // never as a box beside each datagram.
    assert!(dom.contains("one socket: udp 127.0.0.1:"), "{dom}");
    assert!(
        !dom.contains("class=\"sock\""),
        "a socket drawn per datagram: {dom}"
    );
    assert!(
        dom.contains("<div class=\"counter\" id=\"c-accepted\"><b>3</b>"),
        "{dom}"
    );
    assert!(dom.contains("snapshot"), "the stream ended as asked: {dom}");
}

/// The page as headless Chromium draws it from `?once` (see the test above).
fn dump_dom(chromium: &str, watch: SocketAddr, tag: &str) -> String {
    let profile =
        std::env::temp_dir().join(format!("sockref-chromium-{tag}-{}", std::process::id()));
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("http://{watch}/?once"))
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Issue 19: the closed lanes in the order the heading promises (newest
/// accept() first, not latest close() first), "1 page watching", and no
/// datagram list (a bare lifeline) before the first datagram.
#[test]
fn headless_chromium_orders_closed_lanes_newest_first_and_draws_no_empty_udp_lifeline() {
    let Some(chromium) = chromium() else {
        return;
    };
    let (proc, watch) = serve(&[], 2);
    // conn 1 stays open while conns 2 and 3 come and go, then closes last.
    let mut first = connect(proc.tcp());
    first.write_all(b"first").unwrap();
    let mut echo = [0u8; 5];
    first.read_exact(&mut echo).unwrap();
    for word in ["two", "three"] {
        assert_eq!(
            common::tcp_exchange(proc.tcp(), word.as_bytes()),
            word.as_bytes()
        );
    }
    first.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    first.read_to_end(&mut rest).unwrap();
    // The server's close() of conn 1 is in the page's snapshot only once
    // it happened: ask for snapshots until its counter says so. A ?once
    // stream is ended by the server itself, so it no longer counts as a
    // page watching when Chromium's is served (a live one might, until
    // the server noticed it gone).
    let mut asked = 0;
    while !raw(
        watch,
        "GET /events?once HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .contains("\"closed\":3,")
    {
        asked += 1;
        assert!(asked < 10_000, "conn 1's close() never reached the page");
    }

    let dom = dump_dom(&chromium, watch, "order");
    let at = |conn: u32| {
        dom.find(&format!(
            "<article class=\"lane closed\" id=\"conn-{conn}\""
        ))
        .unwrap_or_else(|| panic!("no closed lane {conn}: {dom}"))
    };
    assert!(
        at(3) < at(2) && at(2) < at(1),
        "lanes not newest first: {dom}"
    );
    assert!(
        dom.contains("<div class=\"counter\" id=\"c-viewers\"><b>1</b><span>page watching</span>"),
        "{dom}"
    );
    // A UDP socket, no datagram yet: the socket and a hint, no lifeline.
    assert!(dom.contains("one socket: udp 127.0.0.1:"), "{dom}");
    assert!(
        dom.contains("<p id=\"udp-empty\">No datagram yet."),
        "{dom}"
    );
    assert!(
        dom.contains("<ol id=\"datagrams\" aria-label=\"latest datagrams\" hidden=\"\"></ol>"),
        "{dom}"
    );
}

/// One raw request to the watch listener; the answer read to its close.
fn raw(watch: SocketAddr, request: &str) -> String {
    let mut s = connect(watch);
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .expect("read the answer to its close");
    answer
}

#[test]
fn other_sites_and_other_runs_are_kept_out() {
    let (_p, watch) = serve(&["--proto", "tcp"], 1);
    // DNS rebinding: a web site's name resolving to 127.0.0.1 (421).
    let rebound = raw(watch, "GET / HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n");
    assert!(rebound.starts_with("HTTP/1.1 421 "), "{rebound}");
    let rebound = raw(watch, "GET /events HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    assert!(rebound.starts_with("HTTP/1.1 421 "), "{rebound}");
    // Another site's script asking for the events (403).
    let cross = raw(
        watch,
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nSec-Fetch-Site: cross-site\r\n\r\n",
    );
    assert!(cross.starts_with("HTTP/1.1 403 "), "{cross}");
    // Loopback names, with and without ports, are served.
    for host in ["localhost", "127.0.0.1:9", "[::1]:9", "LOCALHOST:1"] {
        let page = raw(watch, &format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
        assert!(page.starts_with("HTTP/1.1 200 "), "{host}: {page}");
    }
    // A page reconnecting with another run's event number is told to reload.
    let stale = raw(
        watch,
        "GET /events HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 1-5\r\n\r\n",
    );
    assert!(
        stale.starts_with("HTTP/1.1 200 ") && stale.ends_with("event: reload\ndata: {}\n\n"),
        "{stale}"
    );
    // This run's own number, as large as it can be, is not a crash.
    let once = raw(
        watch,
        "GET /events?once HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let id = once
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("an event id");
    let epoch = id.split('-').next().unwrap();
    let huge = format!(
        "GET /events?once HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: {epoch}-{}\r\n\r\n",
        u64::MAX
    );
    let answer = raw(watch, &huge);
    assert!(
        answer.starts_with("HTTP/1.1 200 ") && answer.contains("event: end"),
        "{answer}"
    );
}
