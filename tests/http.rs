//! `--service http`: routes, headers, persistence, pipelining, every limit
//! and error, timeouts, over TCP and a Unix stream socket. The client is
//! std alone: each test writes the raw request bytes and parses the raw
//! response bytes.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{bin, connect, Proc};

/// One parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive), if present once.
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.head.lines().skip(1).filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        });
        let first = found.next();
        assert!(found.next().is_none(), "{name} twice in {}", self.head);
        first
    }
}

/// Reads responses from `s` until `count` are complete (or, with `None`,
/// until the server closes); returns them and whether the server closed.
/// A HEAD response is read as bodiless when `heads` says so, in order.
fn read_responses(
    s: &mut TcpStream,
    count: Option<usize>,
    heads: &[bool],
) -> (Vec<Response>, bool) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut closed = false;
    loop {
        // Parse what is complete.
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).expect("ASCII head");
            let status: u16 = head[9..12].parse().expect("status code");
            let r = Response {
                status,
                head,
                body: Vec::new(),
            };
            // 1xx responses have no body (RFC 9110 §15.2).
            let len = if status < 200 || heads.get(out.len()).copied().unwrap_or(false) {
                0
            } else {
                r.header("Content-Length")
                    .expect("Content-Length")
                    .parse::<usize>()
                    .unwrap()
            };
            if buf.len() < end + 4 + len {
                break;
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            out.push(Response { body, ..r });
        }
        if count.is_some_and(|n| out.len() >= n) || closed {
            assert!(
                closed || buf.is_empty() || count.is_none(),
                "extra bytes: {buf:?}"
            );
            return (out, closed);
        }
        let mut chunk = [0u8; 65536];
        match s.read(&mut chunk) {
            Ok(0) => closed = true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed = true,
            Err(e) => panic!("read: {e} after {out:?} and {buf:?}"),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn server(args: &[&str]) -> Proc {
    let mut all = vec!["--service", "http"];
    all.extend_from_slice(args);
    Proc::start(&all, 1)
}

/// Sends `request` on a new connection and reads until the server closes.
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<Response> {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let (responses, closed) = read_responses(&mut s, None, &[]);
    assert!(closed);
    responses
}

/// One request on a new connection that must get exactly one response and
/// then see the connection closed.
fn refused(addr: SocketAddr, request: &[u8]) -> Response {
    let mut r = exchange(addr, request);
    assert_eq!(
        r.len(),
        1,
        "one response to {:?}: {r:?}",
        String::from_utf8_lossy(request)
    );
    let r = r.remove(0);
    assert_eq!(r.header("Connection"), Some("close"), "{}", r.head);
    r
}

/// The Content-Type of every error body: its reasons cite RFC sections
/// with `§`, which needs the charset to show as itself in a browser.
const ERROR_TYPE: &str = "text/plain; charset=utf-8";

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

#[test]
fn plaintext_and_json_carry_every_required_header() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    s.write_all(&[get("/plaintext"), get("/json")].concat())
        .unwrap();
    let (r, closed) = read_responses(&mut s, Some(2), &[]);
    assert!(!closed);
    assert_eq!(
        (r[0].status, r[0].body.as_slice()),
        (200, b"Hello, World!".as_slice())
    );
    assert_eq!(r[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(r[0].header("Content-Length"), Some("13"));
    assert_eq!(r[1].body, br#"{"message":"Hello, World!"}"#);
    assert_eq!(r[1].header("Content-Type"), Some("application/json"));
    for r in &r {
        assert_eq!(r.header("Server"), Some("sockref"));
        assert!(r.head.starts_with("HTTP/1.1 200 OK\r\n"), "{}", r.head);
        assert_eq!(r.header("Connection"), None);
        check_date(r.header("Date").expect("Date"));
    }
}

/// An IMF-fixdate within a minute of this machine's clock.
fn check_date(date: &str) {
    let b = date.as_bytes();
    assert_eq!(b.len(), 29, "{date}");
    assert!(
        date.ends_with(" GMT") && &b[3..5] == b", " && b[16] == b' ',
        "{date}"
    );
    let num = |r: std::ops::Range<usize>| date[r].parse::<u64>().unwrap();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months
        .iter()
        .position(|m| *m == &date[8..11])
        .expect("month") as u64
        + 1;
    let (year, day) = (num(12..16), num(5..7));
    // Days since 1970 (civil calendar), then seconds.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + day - 1 - 719_468;
    let secs = days * 86_400 + num(17..19) * 3600 + num(20..22) * 60 + num(23..25);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(secs) < 60, "{date} is not now ({now})");
}

#[test]
fn root_shows_the_request_head_exactly_as_read() {
    let p = server(&[]);
    let head = "GET /?q=1 HTTP/1.1\r\nHost: t\r\nX-Odd:  spaced\t\r\nUser-Agent: test\r\n\r\n";
    let mut s = connect(p.tcp());
    // Empty lines before the request line are skipped (RFC 9112 §2.2), not shown.
    s.write_all(format!("\r\n{head}").as_bytes()).unwrap();
    let (r, _) = read_responses(&mut s, Some(1), &[]);
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(String::from_utf8_lossy(&r[0].body), head);
}

#[test]
fn echo_returns_the_body_by_length_and_chunked() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    // Chunked, with an extension and a trailer field (RFC 9112 §7.1).
    req.extend_from_slice(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;note=x\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    req.extend_from_slice(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    s.write_all(&req).unwrap();
    let (r, _) = read_responses(&mut s, Some(3), &[]);
    assert_eq!(r[0].status, 200);
    assert_eq!(
        r[0].header("Content-Type"),
        Some("application/octet-stream")
    );
    assert!(r[0].body == body, "body differs");
    assert_eq!(r[1].body, b"hello world");
    assert_eq!((r[2].status, r[2].body.len()), (200, 0));
}

#[test]
fn head_gets_the_get_headers_and_no_body() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    let heads = ["/plaintext", "/json", "/"];
    for path in heads {
        let head = format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let (r, _) = read_responses(&mut s, Some(1), &[true]);
        s.write_all(&get(path)).unwrap();
        let (g, _) = read_responses(&mut s, Some(1), &[]);
        assert_eq!(r[0].status, 200);
        assert!(r[0].body.is_empty());
        assert_eq!(r[0].header("Content-Type"), g[0].header("Content-Type"));
        if path != "/" {
            assert_eq!(r[0].header("Content-Length"), g[0].header("Content-Length"));
        }
    }
    // Nothing was left over: the next response parses cleanly.
    s.write_all(&get("/plaintext")).unwrap();
    assert_eq!(
        read_responses(&mut s, Some(1), &[]).0[0].body,
        b"Hello, World!"
    );
}

#[test]
fn other_methods_get_405_with_allow_and_unknown_paths_404() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    let reqs = [
        "PUT /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
        "DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx",
        "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /plaintext/ HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    s.write_all(reqs.concat().as_bytes()).unwrap();
    let (r, closed) = read_responses(&mut s, Some(reqs.len()), &[]);
    assert!(!closed, "405 and 404 keep the connection");
    let got: Vec<_> = r.iter().map(|r| (r.status, r.header("Allow"))).collect();
    assert_eq!(
        got,
        [
            (405, Some("GET, HEAD")),
            (405, Some("GET, HEAD")),
            (405, Some("POST")),
            (405, Some("GET, HEAD")),
            (404, None),
            (404, None)
        ]
    );
    for r in &r {
        assert_eq!(r.header("Content-Type"), Some(ERROR_TYPE));
        assert!(!r.body.is_empty());
    }
}

#[test]
fn http11_persists_until_connection_close() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    for _ in 0..3 {
        s.write_all(&get("/plaintext")).unwrap();
        let (r, closed) = read_responses(&mut s, Some(1), &[]);
        assert!(!closed && r[0].status == 200);
    }
    s.write_all(b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (r, closed) = read_responses(&mut s, None, &[]);
    assert!(closed);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].header("Connection"), Some("close"));
}

#[test]
fn http10_closes_unless_keep_alive() {
    let p = server(&[]);
    let r = exchange(p.tcp(), b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 200);
    let mut s = connect(p.tcp());
    for _ in 0..2 {
        s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let (r, closed) = read_responses(&mut s, Some(1), &[]);
        assert!(!closed);
        assert_eq!(r[0].header("Connection"), Some("keep-alive"));
    }
    s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
    let (r, closed) = read_responses(&mut s, None, &[]);
    assert!(closed && r.len() == 1);
}

#[test]
fn a_pipelined_batch_gets_every_response_in_order() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    let mut batch = Vec::new();
    for i in 0..16 {
        let body = format!("request {i}");
        batch.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        batch.extend_from_slice(&get("/plaintext"));
    }
    batch.extend_from_slice(b"GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    // Requests after the one that closes the connection are not answered.
    batch.extend_from_slice(&get("/plaintext"));
    s.write_all(&batch).unwrap();
    let (r, closed) = read_responses(&mut s, None, &[]);
    assert!(closed);
    assert_eq!(r.len(), 33);
    for i in 0..16 {
        assert_eq!(r[2 * i].body, format!("request {i}").as_bytes());
        assert_eq!(r[2 * i + 1].body, b"Hello, World!");
    }
    assert_eq!(r[32].body, br#"{"message":"Hello, World!"}"#);
}

#[test]
fn expect_100_continue() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let (r, _) = read_responses(&mut s, Some(1), &[]);
    assert_eq!(r[0].status, 100);
    s.write_all(b"hello").unwrap();
    let (r, _) = read_responses(&mut s, Some(1), &[]);
    assert_eq!(
        (r[0].status, r[0].body.as_slice()),
        (200, b"hello".as_slice())
    );
    // Too large: refused at once, without 100.
    let r = refused(p.tcp(), b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
    assert_eq!(r.status, 413);
}

#[test]
fn every_limit_and_malformed_request_gets_its_status_then_a_close() {
    let p = server(&[]);
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(8 * 1024));
    let big_section = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "b".repeat(16 * 1024)
    );
    let many_fields = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X: y\r\n".repeat(100)
    );
    let big_chunks = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{}",
        format!("80000\r\n{}\r\n", "c".repeat(0x80000)).repeat(3)
    );
    let cases: Vec<(u16, Vec<u8>)> = vec![
        (414, long_line.into_bytes()),
        (431, big_section.into_bytes()),
        (431, many_fields.into_bytes()),
        (413, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1048577\r\n\r\n".to_vec()),
        (413, big_chunks.into_bytes()),
        (400, b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\r\nHost : t\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\r\nHost: t\r\nX: a\0b\r\n\r\n".to_vec()),
        (400, b"GET / HTTP/1.1\nHost: t\n\n".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3x\r\n\r\nabc".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -3\r\n\r\nabc".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 18446744073709551616\r\n\r\n".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec()),
        (501, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n".to_vec()),
        (400, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n".to_vec()),
        (501, b"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()),
        (505, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec()),
        (505, b"GET / HTTP/0.9\r\nHost: t\r\n\r\n".to_vec()),
        (400, b"GET /\r\nHost: t\r\n\r\n".to_vec()),
        (400, b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()),
        (400, b"GET /a b HTTP/1.1\r\nHost: t\r\n\r\n".to_vec()),
        (417, b"GET / HTTP/1.1\r\nHost: t\r\nExpect: everything\r\n\r\n".to_vec()),
    ];
    for (want, request) in cases {
        // A well-formed request after each: it must never be answered.
        let mut bytes = request.clone();
        bytes.extend_from_slice(&get("/plaintext"));
        let r = refused(p.tcp(), &bytes);
        let text = String::from_utf8_lossy(&request[..request.len().min(80)]).into_owned();
        assert_eq!(r.status, want, "{text:?} -> {}", r.head);
        assert_eq!(r.header("Content-Type"), Some(ERROR_TYPE));
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(body.starts_with(&want.to_string()), "{body}");
    }
}

/// Classic smuggling payloads: whatever the parser makes of them, one
/// request gets at most one response, and nothing hidden inside a body or
/// behind an ambiguous header is answered as a request of its own.
#[test]
fn smuggled_requests_are_never_answered() {
    let p = server(&[]);
    let hidden = "GET /json HTTP/1.1\r\nHost: t\r\n\r\n";
    let payloads = [
        // CL.TE and TE.CL.
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n{hidden}\r\n0\r\n\r\n"),
        // Obfuscated Transfer-Encoding.
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\tchunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
        // Two lengths; a length hidden behind a bare LF.
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 31\r\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\nContent-Length: 31\r\n\r\n{hidden}"),
        // A chunk size with a bare LF, and one that overflows.
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n{hidden}"),
        format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{hidden}"),
        // HTTP/1.0 with Transfer-Encoding.
        format!("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{hidden}"),
    ];
    for payload in payloads {
        let r = exchange(p.tcp(), payload.as_bytes());
        assert_eq!(r.len(), 1, "{payload:?}: {r:?}");
        assert_ne!(r[0].body, br#"{"message":"Hello, World!"}"#, "{payload:?}");
    }
    // The well-formed chunked body that merely contains a request: its bytes
    // are echoed as a body, the request inside is not served.
    let body = format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{hidden}\r\n0\r\n\r\n", hidden.len());
    let r = exchange(p.tcp(), body.as_bytes());
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].body, hidden.as_bytes());
}

#[test]
fn a_head_not_complete_within_the_header_timeout_gets_408() {
    let p = server(&["--header-timeout", "1"]);
    let mut s = connect(p.tcp());
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let r = read_responses(&mut s, None, &[]);
    assert!(r.1);
    assert_eq!(r.0.len(), 1);
    assert_eq!(r.0[0].status, 408);
    assert_eq!(r.0[0].header("Connection"), Some("close"));
}

#[test]
fn an_idle_keep_alive_connection_is_closed_without_a_response() {
    let p = server(&["--idle-timeout", "1"]);
    let mut s = connect(p.tcp());
    s.write_all(&get("/plaintext")).unwrap();
    let (r, closed) = read_responses(&mut s, Some(1), &[]);
    assert!(!closed && r.len() == 1);
    let (r, closed) = read_responses(&mut s, None, &[]);
    assert!(closed);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn a_trickled_body_is_cut_by_the_minimum_rate() {
    // 1 byte per 50 ms is 20 bytes/s, far under the 16 KiB/s floor: the
    // body is cut about one idle timeout (1 s) in, long before its 1000 bytes.
    let p = server(&["--idle-timeout", "1"]);
    let mut s = connect(p.tcp());
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        .unwrap();
    let mut sent = 0;
    while sent < 1000 {
        if s.write_all(b"x").is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let gone = matches!(s.read(&mut b), Ok(0));
        s.set_nonblocking(false).unwrap();
        if gone {
            break;
        }
    }
    assert!(sent < 1000, "the whole trickled body was taken");
    let (r, closed) = read_responses(&mut s, None, &[]);
    assert!(closed && r.is_empty(), "{r:?}");
}

#[test]
fn over_a_unix_stream_socket() {
    let dir = std::env::temp_dir().join(format!("sockref-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s");
    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--service", "http", "--addr"])
        .arg(format!("unix:{}", path.display()));
    let p = Proc::spawn(cmd, 1);
    assert!(p
        .lines
        .iter()
        .any(|l| l.starts_with("listening unix ") && l.contains("service=http")));
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(common::IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\nHello, World!"),
        "{text}"
    );
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_is_stream_only() {
    let p = server(&[]);
    assert_eq!(
        p.lines
            .iter()
            .filter(|l| l.starts_with("listening "))
            .count(),
        1
    );
    assert!(
        p.lines[0].starts_with("listening tcp ") && p.lines[0].contains("service=http"),
        "{:?}",
        p.lines
    );
    for proto in ["udp", "both"] {
        let out = Command::new(bin())
            .args(["--service", "http", "--proto", proto])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--proto {proto}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--service http") && err.contains("stream"),
            "{err}"
        );
    }
}

/// The calls the trace shows for connection `conn`, by name, up to its close.
fn calls_of(p: &mut Proc, conn: u32) -> Vec<String> {
    let tag = format!(" conn={conn} ");
    let mut calls = Vec::new();
    while let Some(line) = p.next_line() {
        if !line.contains(&tag) {
            continue;
        }
        let name = line.split_whitespace().next().unwrap().to_string();
        let done = name == "close()";
        calls.push(name);
        if done {
            return calls;
        }
    }
    panic!("no close() for conn {conn}: {calls:?}");
}

#[test]
fn connection_close_closes_at_once_and_an_error_drains_first() {
    let mut p = server(&["--trace"]);
    // The client promised to send nothing more: no drain, close() at once.
    let r = exchange(
        p.tcp(),
        b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(r.len(), 1);
    assert_eq!(
        calls_of(&mut p, 1),
        ["accept()", "read()", "write()", "close()"]
    );
    // A refused request may be followed by more input: half-close, read to
    // the client's FIN, then close(), so that the 400 is not lost to a reset.
    let r = exchange(p.tcp(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r[0].status, 400);
    let calls = calls_of(&mut p, 2);
    assert_eq!(calls[..3], ["accept()", "read()", "write()"]);
    assert_eq!(calls[3..], ["shutdown()", "read()", "close()"]);
}

#[test]
fn a_client_turned_away_gets_503_not_busy() {
    let p = server(&["--workers", "1", "--overload", "reject"]);
    // The one worker holds a keep-alive connection.
    let mut held = connect(p.tcp());
    held.write_all(&get("/plaintext")).unwrap();
    assert_eq!(read_responses(&mut held, Some(1), &[]).0[0].status, 200);
    let r = refused(p.tcp(), &get("/plaintext"));
    assert_eq!(r.status, 503);
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert!(r.body.starts_with(b"503 Service Unavailable: "));
    check_date(r.header("Date").unwrap());
}

#[test]
fn the_library_refuses_a_datagram_socket_for_a_stream_only_service() {
    use sockref::{Protocols, ServerBuilder};
    for name in ["http", "websocket"] {
        let both = ServerBuilder::new()
            .addr("127.0.0.1:0")
            .builtin(name)
            .unwrap()
            .start();
        let e = both.err().expect("refused");
        assert!(e.to_string().contains("stream only"), "{e}");
        let udp = ServerBuilder::new()
            .addr("127.0.0.1:0")
            .protocols(Protocols::Udp)
            .builtin(name);
        assert!(udp.unwrap().start().is_err());
        let tcp = ServerBuilder::new()
            .addr("127.0.0.1:0")
            .protocols(Protocols::Tcp)
            .builtin(name);
        tcp.unwrap()
            .start()
            .unwrap()
            .shutdown(Duration::from_secs(5));
    }
}

#[test]
fn head_on_404_and_405_gets_no_body_and_the_connection_stays_in_step() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    for path in ["/nope", "/echo"] {
        s.write_all(format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let (r, _) = read_responses(&mut s, Some(1), &[true]);
        assert!(r[0].status == 404 || r[0].status == 405, "{}", r[0].head);
        // RFC 9112 §6.3 rule 1: no content after a HEAD response, so the
        // next bytes must be the next response's.
        s.write_all(&get("/plaintext")).unwrap();
        let (g, _) = read_responses(&mut s, Some(1), &[]);
        assert_eq!(
            g[0].status, 200,
            "HEAD {path} left content behind: {}",
            g[0].head
        );
    }
}

/// A head that took several reads arms the header deadline; once it is
/// complete, the wait for the next keep-alive request is the idle timeout
/// again, not what was left of the head's deadline.
#[test]
fn a_head_split_across_reads_does_not_shorten_the_keep_alive_wait() {
    let p = server(&["--header-timeout", "3", "--idle-timeout", "60"]);
    let mut s = connect(p.tcp());
    s.write_all(b"GET /plaintext HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"Host: t\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, Some(1), &[]).0[0].status, 200);
    // Longer than the whole header timeout, far shorter than the idle one.
    std::thread::sleep(Duration::from_millis(3500));
    s.write_all(&get("/plaintext")).unwrap();
    let (r, closed) = read_responses(&mut s, Some(1), &[]);
    assert!(
        !closed && r.len() == 1 && r[0].status == 200,
        "closed while idle: {r:?}"
    );
}

#[test]
fn a_trickled_head_is_cut_at_the_header_timeout_however_often_bytes_come() {
    // A byte every 200 ms resets no timer: the deadline runs from the
    // head's first byte, so the 408 comes about 1 s in, not after the 40.
    let p = server(&["--header-timeout", "1"]);
    let mut s = connect(p.tcp());
    let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Padding: aaaa\r\n\r\n";
    let mut sent = 0;
    for &b in head.iter().take(40) {
        if s.write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
        s.set_nonblocking(true).unwrap();
        let answered = s.read(&mut [0u8; 1]).is_ok_and(|n| n > 0);
        s.set_nonblocking(false).unwrap();
        if answered {
            break;
        }
    }
    assert!(sent < 40, "the trickled head was never cut");
}

#[test]
fn http10_expect_gets_no_100_continue() {
    let p = server(&[]);
    let mut s = connect(p.tcp());
    s.write_all(b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    // Time for a wrong 100 to be sent before the body.
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"hello").unwrap();
    let (r, _) = read_responses(&mut s, None, &[]);
    assert_eq!(
        r.len(),
        1,
        "RFC 9110 §15.2: no 1xx to an HTTP/1.0 client: {r:?}"
    );
    assert_eq!(
        (r[0].status, r[0].body.as_slice()),
        (200, b"hello".as_slice())
    );
}

#[test]
fn chunk_lines_are_bounded_however_they_arrive() {
    let p = server(&[]);
    let long = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;{}\r\nhello\r\n0\r\n\r\n",
        "x".repeat(6000)
    );
    assert_eq!(refused(p.tcp(), long.as_bytes()).status, 400);
    // Each extension under the line limit, 20 KB of them in all.
    let ext = format!("1;{}\r\nx\r\n", "e".repeat(4000)).repeat(5);
    let many = format!(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{ext}0\r\n\r\n"
    );
    assert_eq!(refused(p.tcp(), many.as_bytes()).status, 400);
    // Under both limits: served.
    let ok = format!("1;{}\r\nx\r\n", "e".repeat(4000)).repeat(3);
    let fine = format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{ok}0\r\n\r\n");
    assert_eq!(exchange(p.tcp(), fine.as_bytes())[0].body, b"xxx");
}

/// A request that must be refused with exactly this status line and this
/// reason: the body is `CODE REASON: why\n` in UTF-8, the connection is
/// closed, and a well-formed request sent behind it is never answered.
fn refused_exactly(addr: SocketAddr, request: &[u8], status_line: &str, why: &str) {
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(&get("/json"));
    let r = refused(addr, &bytes);
    let what = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
    assert_eq!(
        r.head.lines().next(),
        Some(format!("HTTP/1.1 {status_line}").as_str()),
        "{what:?}"
    );
    assert_eq!(r.header("Content-Type"), Some(ERROR_TYPE), "{what:?}");
    assert_eq!(
        r.body,
        format!("{status_line}: {why}\n").as_bytes(),
        "{what:?}"
    );
}

#[test]
fn the_asterisk_form_is_for_options_alone() {
    let p = server(&[]);
    // RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole: 200,
    // Allow, no content (so Content-Length: 0), and the connection stays.
    let mut s = connect(p.tcp());
    s.write_all(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    s.write_all(&get("/plaintext")).unwrap();
    let (r, closed) = read_responses(&mut s, Some(2), &[]);
    assert!(!closed);
    assert_eq!(r[0].head.lines().next(), Some("HTTP/1.1 200 OK"));
    assert_eq!(r[0].header("Allow"), Some("GET, HEAD, POST, OPTIONS"));
    assert_eq!(r[0].header("Content-Length"), Some("0"));
    assert_eq!(r[0].header("Content-Type"), None);
    assert_eq!(r[0].body, b"");
    assert_eq!(r[1].body, b"Hello, World!");
    // RFC 9112 §3.2.4: any other method with * is malformed.
    for method in ["GET", "HEAD", "POST"] {
        let request = format!("{method} * HTTP/1.1\r\nHost: t\r\n\r\n");
        refused_exactly(
            p.tcp(),
            request.as_bytes(),
            "400 Bad Request",
            "the target * is for OPTIONS only (RFC 9112 §3.2.4)",
        );
    }
}

#[test]
fn connect_is_not_implemented_whatever_its_target() {
    let p = server(&[]);
    // RFC 9110 §9.3.6: a tunnel is a proxy's job. The authority-form
    // (RFC 9112 §3.2.3) gets what CONNECT / gets: 501, never 404, and the
    // bytes behind it (a tunnel's, to the client) are not requests.
    for target in ["example.com:443", "127.0.0.1:22", "/"] {
        let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
        let request = request.replace("Host: /", "Host: t");
        refused_exactly(
            p.tcp(),
            request.as_bytes(),
            "501 Not Implemented",
            "CONNECT: this server is no proxy and opens no tunnels (RFC 9110 §9.3.6)",
        );
    }
}

#[test]
fn http_1_2_is_served_as_http_1_1() {
    // RFC 9110 §2.5: a higher minor version is handled as the highest
    // minor version served; the response says HTTP/1.1, and 1.1's default
    // persistence holds.
    let p = server(&[]);
    let mut s = connect(p.tcp());
    for version in ["1.2", "1.9"] {
        let request = format!("GET /plaintext HTTP/{version}\r\nHost: t\r\n\r\n");
        s.write_all(request.as_bytes()).unwrap();
        let (r, closed) = read_responses(&mut s, Some(1), &[]);
        assert!(!closed, "HTTP/{version} persists");
        assert_eq!(r[0].head.lines().next(), Some("HTTP/1.1 200 OK"));
        assert_eq!(r[0].body, b"Hello, World!");
    }
    // Another major version is still 505.
    refused_exactly(
        p.tcp(),
        b"GET / HTTP/2.0\r\nHost: t\r\n\r\n",
        "505 HTTP Version Not Supported",
        "only HTTP/1.0 and HTTP/1.1 are served",
    );
}

#[test]
fn chunked_not_last_or_twice_is_400() {
    let p = server(&[]);
    let post =
        |te: &str| format!("POST /echo HTTP/1.1\r\nHost: t\r\n{te}\r\n0\r\n\r\n").into_bytes();
    // RFC 9112 §6.3 rule 4: chunked is not the final coding.
    let not_last = "chunked is not the final Transfer-Encoding (RFC 9112 §6.3)";
    for te in [
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip\r\n",
    ] {
        refused_exactly(p.tcp(), &post(te), "400 Bad Request", not_last);
    }
    // RFC 9112 §6.1: chunked applied twice, in one field line or two.
    let twice = "Transfer-Encoding lists chunked twice (RFC 9112 §6.1)";
    for te in [
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
    ] {
        refused_exactly(p.tcp(), &post(te), "400 Bad Request", twice);
    }
    // Chunked last, after a coding this server does not undo: 501.
    refused_exactly(
        p.tcp(),
        &post("Transfer-Encoding: gzip, chunked\r\n"),
        "501 Not Implemented",
        "the only transfer coding served is chunked (RFC 9112 §6.1)",
    );
}

#[test]
fn a_100_kb_method_is_501_not_414() {
    // RFC 9112 §3: a method longer than any implemented gets 501; it is
    // judged on the line's first 8 bytes, so the 8 KiB request-line limit
    // (and its 414, which is about the target) never comes into it.
    let p = server(&[]);
    let request = format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(100 * 1024));
    refused_exactly(
        p.tcp(),
        request.as_bytes(),
        "501 Not Implemented",
        "unknown method (RFC 9110 §9.1)",
    );
    // A long target after a short method is still 414.
    let request = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    refused_exactly(
        p.tcp(),
        request.as_bytes(),
        "414 URI Too Long",
        "the request line is over 8 KiB (RFC 9112 §3)",
    );
}

#[test]
fn a_repeated_content_length_is_400_in_one_line_or_two() {
    // RFC 9110 §8.6 lets a server reject or merge a list of equal values;
    // two field lines are such a list (§5.3). Both refused, alike.
    let p = server(&[]);
    let why = "Content-Length is not one plain decimal number, sent once (RFC 9110 §8.6)";
    for cl in [
        "Content-Length: 5\r\nContent-Length: 5\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5,5\r\n",
    ] {
        let request = format!("POST /echo HTTP/1.1\r\nHost: t\r\n{cl}\r\nhello");
        refused_exactly(p.tcp(), request.as_bytes(), "400 Bad Request", why);
    }
}

#[test]
fn a_fragment_in_the_target_is_400() {
    // RFC 9112 §3.2.1-§3.2.2: neither origin-form nor absolute-form has a
    // fragment.
    let p = server(&[]);
    for target in ["/plaintext#top", "/#", "/json?x=1#y", "http://t/json#x"] {
        let request = format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n");
        refused_exactly(
            p.tcp(),
            request.as_bytes(),
            "400 Bad Request",
            "a # (fragment) is never part of a request target (RFC 9112 §3.2.1)",
        );
    }
}

#[test]
fn error_bodies_say_their_charset_so_the_section_sign_shows() {
    // The reasons cite "RFC ... §N": UTF-8 bytes C2 A7, which a browser
    // shows as "Â§" unless the Content-Type names the charset.
    let p = server(&[]);
    let r = refused(p.tcp(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(r.header("Content-Type"), Some(ERROR_TYPE));
    assert!(find(&r.body, "§".as_bytes()).is_some(), "{:?}", r.body);
    assert!(find(&r.body, b"\xc2\xa7").is_some());
    // 404 and 405, which keep the connection, say it too.
    let mut s = connect(p.tcp());
    s.write_all(&[get("/nowhere"), get("/echo")].concat())
        .unwrap();
    let (r, _) = read_responses(&mut s, Some(2), &[]);
    assert_eq!(
        r.iter()
            .map(|r| r.header("Content-Type"))
            .collect::<Vec<_>>(),
        [Some(ERROR_TYPE); 2]
    );
}
