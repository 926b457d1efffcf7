//! The HTTP/1.1 workloads: `GET /plaintext` against any HTTP server, so that
//! an HTTP service can be measured next to hyper or actix without `wrk`.
//!
//! ```text
//! http         connect() once; write() DEPTH requests, read() DEPTH responses, ... (N connections)
//! http-close   connect() -> write() one request (Connection: close) -> read() its response -> close()
//! ```
//!
//! Every request is the same few bytes (RFC 9112 section 3: request line,
//! then the `Host` header the protocol requires, then the empty line). A
//! response is taken apart just enough to know where it ends: the status
//! line must say 200 (anything else is counted as `status`), and the body
//! is as long as its `Content-Length` (RFC 9112 section 6.3, rule 5). A
//! response without one, or chunked, or with a head larger than
//! [`MAX_HEAD`] or a body larger than [`MAX_BODY`], is `malformed`: the
//! workload stays bounded and simple rather than complete. Responses may
//! arrive split over several reads or several in one read; the bytes of
//! the next response are kept for it.
//!
//! What it does not do: check the body's content, follow redirects, or
//! speak anything but HTTP/1.1 over one connection at a time.

use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::sockets::{bound, connect, keep_ok, read_some};
use super::sync::Shared;
use super::tally::{describe, kind, one_at_a_time, shown, ThreadResult};
use crate::net::Endpoint;
use crate::transport::Stream;

/// The path every request asks for (TechEmpower's plaintext test).
pub const HTTP_PATH: &str = "/plaintext";

/// Longest response head (status line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;

/// Longest response body accepted.
pub const MAX_BODY: usize = 1 << 20;

/// The bytes of one `GET` request to `host`; `close` adds
/// `Connection: close` (RFC 9112 section 9.6), asking the server to close
/// after its response.
pub fn request(host: &str, close: bool) -> Vec<u8> {
    let mut r = format!("GET {HTTP_PATH} HTTP/1.1\r\nHost: {host}\r\n");
    if close {
        r.push_str("Connection: close\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The `Host` header for the server: `127.0.0.1:8080`, `[::1]:8080`, or
/// `localhost` for a Unix-domain socket, which has no host of its own.
pub(super) fn host(addr: &Endpoint) -> String {
    match addr {
        Endpoint::Inet(a) => a.to_string(),
        Endpoint::Unix(_) => "localhost".to_string(),
    }
}

/// What the bytes received so far make of the next response.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not complete yet: read more.
    Partial,
    /// A complete 200 response of this many bytes (head and body).
    Complete(usize),
    /// A complete response, not 200: counted as `status`; the number is
    /// its length, as for `Complete`.
    Status(u16, usize),
    /// Not a response this workload can follow: counted as `malformed`.
    Malformed,
}

/// Looks at the start of `buf` for one whole response. Pure, so that split
/// and batched responses can be tested without a socket.
pub fn parse(buf: &[u8]) -> Parsed {
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() > MAX_HEAD { Parsed::Malformed } else { Parsed::Partial };
    };
    if head_len > MAX_HEAD {
        return Parsed::Malformed;
    }
    let Ok(head) = std::str::from_utf8(&buf[..head_len - 4]) else {
        return Parsed::Malformed;
    };
    let mut lines = head.split("\r\n");
    // RFC 9112 section 4: HTTP-version SP status-code SP [reason-phrase]
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    let (true, Some(code)) = (version.starts_with("HTTP/1."), code) else {
        return Parsed::Malformed;
    };
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Parsed::Malformed;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Malformed;
        }
        if name.eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<usize>() {
                // Two different lengths: RFC 9112 section 6.3, rule 5 says unrecoverable.
                Ok(n) if length.is_none() || length == Some(n) => length = Some(n),
                _ => return Parsed::Malformed,
            }
        }
    }
    let body = match length {
        Some(n) if n <= MAX_BODY => n,
        // A 204 or 304 has no body and needs no length.
        None if code == 204 || code == 304 => 0,
        _ => return Parsed::Malformed,
    };
    let total = head_len + body;
    match (buf.len() >= total, code) {
        (false, _) => Parsed::Partial,
        (true, 200) => Parsed::Complete(total),
        (true, code) => Parsed::Status(code, total),
    }
}

/// Why a response did not come: an I/O error, or the name it is counted
/// under (`status`, `malformed`).
pub(super) enum Failure {
    Io(io::Error),
    /// A whole response, not 200: its status.
    Status(u16),
    /// Not an HTTP/1.1 response: its first bytes, shown.
    Malformed(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl Failure {
    pub(super) fn name(&self) -> &'static str {
        match self {
            Failure::Io(e) => kind(e),
            Failure::Status(_) => "status",
            Failure::Malformed(_) => "malformed",
        }
    }

    /// The failure in words, for a run where nothing succeeded.
    pub(super) fn describe(&self) -> String {
        match self {
            Failure::Io(e) => describe(e),
            Failure::Status(code) => format!("the server answered {code}, not 200"),
            Failure::Malformed(start) => {
                format!("the reply is not an HTTP/1.1 response: it starts {start}")
            }
        }
    }
}

/// One connection's receive buffer: the bytes read but not yet taken as a
/// response.
pub(super) struct Responses {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Responses {
    pub(super) fn new() -> Self {
        Responses { buf: vec![0; 16 * 1024], start: 0, end: 0 }
    }

    /// Reads until one whole response is buffered, and takes it. No read
    /// waits past `end`.
    pub(super) fn next(
        &mut self,
        s: &mut Stream,
        timeout: Duration,
        end: Option<Instant>,
    ) -> Result<(), Failure> {
        loop {
            match parse(&self.buf[self.start..self.end]) {
                Parsed::Complete(n) => {
                    self.take(n);
                    return Ok(());
                }
                Parsed::Status(code, n) => {
                    self.take(n);
                    return Err(Failure::Status(code));
                }
                Parsed::Malformed => {
                    let got = &self.buf[self.start..self.end];
                    let hint = match got.starts_with(b"GET /plaintext ") {
                        true => "; the request came back: an echo server? use --mode pingpong",
                        false => "",
                    };
                    return Err(Failure::Malformed(format!("{}{hint}", shown(got))));
                }
                Parsed::Partial => self.fill(s, timeout, end)?,
            }
        }
    }

    /// The non-blocking form of [`Responses::next`], for a socket in
    /// non-blocking mode: `Ok(true)` when a whole response was taken,
    /// `Ok(false)` when the socket has nothing more to read yet.
    pub(super) fn poll(&mut self, s: &mut Stream) -> Result<bool, Failure> {
        loop {
            match parse(&self.buf[self.start..self.end]) {
                Parsed::Complete(n) => {
                    self.take(n);
                    return Ok(true);
                }
                Parsed::Status(code, n) => {
                    self.take(n);
                    return Err(Failure::Status(code));
                }
                Parsed::Malformed => {
                    return Err(Failure::Malformed(shown(&self.buf[self.start..self.end])))
                }
                Parsed::Partial => {
                    self.make_room();
                    match s.read(&mut self.buf[self.end..]) {
                        Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
                        Ok(n) => self.end += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    fn take(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// One read() into the free space, made first by moving the kept bytes
    /// to the front, then by growing the buffer up to the largest response.
    fn fill(&mut self, s: &mut Stream, timeout: Duration, end: Option<Instant>) -> io::Result<()> {
        self.make_room();
        self.end += read_some(s, &mut self.buf[self.end..], timeout, end)?;
        Ok(())
    }

    /// Frees space at the end of the buffer for the next read: first by
    /// moving the kept bytes to the front, then by growing it.
    fn make_room(&mut self) {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                let grown = (self.buf.len() * 2).min(MAX_HEAD + MAX_BODY);
                self.buf.resize(grown, 0);
            }
        }
    }
}

/// Keep-alive connections in lockstep rounds, as pingpong: on every
/// connection write `depth` requests at once (pipelining, RFC 9112 section
/// 9.3.2, when more than one), then read every response back. A request's
/// latency runs from its batch's write to its own response. A connection
/// that fails is counted and dropped from the round.
pub(super) fn keep_alive(socks: Vec<Stream>, shared: &Shared, r: &mut ThreadResult) {
    let depth = shared.opts.pipeline.max(1);
    let one = request(&host(&shared.addr), false);
    let batch = one.repeat(depth);
    let mut conns: Vec<(Stream, Responses)> =
        socks.into_iter().map(|s| (s, Responses::new())).collect();
    let mut sent = vec![(Instant::now(), 0usize); conns.len()];
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    while !conns.is_empty() {
        let measured = r.measuring(shared.measuring(Instant::now()));
        let mut ok = vec![true; conns.len()];
        for (i, (s, _)) in conns.iter_mut().enumerate() {
            if shared.stopping() {
                return;
            }
            let k = shared.take(depth as u64, Instant::now()) as usize;
            sent[i] = (Instant::now(), k);
            if k == 0 {
                continue;
            }
            let wrote = bound(s, timeout, end).and_then(|()| s.write_all(&batch[..one.len() * k]));
            if let Err(e) = wrote {
                r.error(&e, measured, shared);
                ok[i] = false;
                sent[i].1 = 0;
            }
        }
        if sent.iter().all(|(_, k)| *k == 0) && ok.iter().all(|o| *o) {
            // The request budget is spent: nothing is in flight.
            return;
        }
        let mut done = 0;
        for (i, (s, responses)) in conns.iter_mut().enumerate() {
            for _ in 0..sent[i].1 {
                if shared.stopping() {
                    shared.done.fetch_add(done, Ordering::Relaxed);
                    return;
                }
                match responses.next(s, timeout, end) {
                    Ok(()) if measured => {
                        r.hist.record(sent[i].0.elapsed().as_nanos() as u64);
                        r.requests += 1;
                        done += 1;
                    }
                    Ok(()) => {}
                    Err(f) => {
                        r.note(|| f.describe());
                        r.count(f.name(), measured, shared);
                        ok[i] = false;
                        break;
                    }
                }
            }
        }
        shared.done.fetch_add(done, Ordering::Relaxed);
        keep_ok(&mut conns, &ok);
        sent.truncate(conns.len());
    }
}

/// A new connection per request: connect, write one request with
/// `Connection: close`, read its response, close (the client closes
/// first, so TIME_WAIT stays on the client side, as in churn).
pub(super) fn close_each(shared: &Shared, r: &mut ThreadResult) {
    let req = request(&host(&shared.addr), true);
    let (timeout, end) = (shared.opts.timeout, shared.hard_end());
    one_at_a_time(shared, r, |_, r| {
        let result = connect(shared, end).map_err(Failure::from).and_then(|mut s| {
            s.write_all(&req)?;
            Responses::new().next(&mut s, timeout, end)
        });
        result.map_err(|f| {
            r.note(|| f.describe());
            f.name()
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";

    #[test]
    fn requests_name_the_host_and_ask_to_close_only_when_told() {
        assert_eq!(
            request("127.0.0.1:8080", false),
            b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n".to_vec()
        );
        let close = String::from_utf8(request("127.0.0.1:8080", true)).unwrap_or_default();
        assert!(close.ends_with("Connection: close\r\n\r\n"), "{close}");
    }

    #[test]
    fn a_response_split_anywhere_is_partial_until_its_last_byte() {
        for cut in 0..OK.len() {
            assert_eq!(parse(&OK[..cut]), Parsed::Partial, "cut at {cut}");
        }
        assert_eq!(parse(OK), Parsed::Complete(OK.len()));
    }

    #[test]
    fn several_responses_in_one_read_are_taken_one_at_a_time() {
        let three = OK.repeat(3);
        assert_eq!(parse(&three), Parsed::Complete(OK.len()));
        assert_eq!(parse(&three[OK.len()..]), Parsed::Complete(OK.len()));
    }

    #[test]
    fn other_statuses_and_unfollowable_responses_are_told_apart() {
        let not_found = b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno!";
        assert_eq!(parse(not_found), Parsed::Status(404, not_found.len()));
        assert_eq!(parse(b"HTTP/1.1 204 No Content\r\n\r\n"), Parsed::Status(204, 27));
        for bad in [
            &b"HTTP/1.1 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Parsed::Malformed, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(&vec![b'x'; MAX_HEAD + 1]), Parsed::Malformed);
    }
}
