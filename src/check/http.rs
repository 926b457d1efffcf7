//! HTTP/1.1 (RFC 9110, RFC 9112): the status line and the `Date` every
//! response carries, the body's framing, persistent connections and
//! pipelining, the answers owed to malformed and smuggling requests, and the
//! limits.
//!
//! The probes send requests over the client's own calls and read responses
//! with the small reader below ([`Wire`]): the service's parser reads
//! requests, this reads responses, but each field line goes through the
//! service's own `head::field`, the expected bodies are the service's own
//! (`PLAINTEXT`, `JSON`), a `Date` is compared with the service's own
//! `imf_fixdate`, and the oversized head is sized from `limits`.
//!
//! The checks are narrow on purpose: each judges one rule and reads the rest
//! of the exchange leniently (no `Date` needed to pass keep-alive, any
//! length framing to pass pipelining), so that one fault fails the checks
//! named for it and no others.
//!
//! What it does not do: HTTP/2, TLS, or routes other than sockref's
//! (`/plaintext`, `/json`, `POST /echo`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::common::{after_a_reset, while_one_idles};
use super::{preview, received, Check, Ctx, Failure, Outcome, Verdict};
use crate::client::{End, Received, StreamProbe};
use crate::clock::{MONTHS, WEEKDAYS};
use crate::limits::Limits;
use crate::net::secs;
use crate::service::http::head::{field, list};
use crate::service::http::response::imf_fixdate;
use crate::service::http::{JSON, PLAINTEXT};

/// The HTTP checks, in the order they run.
pub(super) const CHECKS: &[Check] = &[
    Check {
        name: "http.tcp.status-line",
        rule: "GET /plaintext is answered with a status line HTTP/1.1 200",
        cite: "RFC 9112 §4",
        hostile: false,
        run: status_line,
    },
    Check {
        name: "http.tcp.date",
        rule: "a response carries one Date, an IMF-fixdate (RFC 9110 §5.6.7) within 5 s of the clock",
        cite: "RFC 9110 §6.6.1",
        hostile: false,
        run: date,
    },
    Check {
        name: "http.tcp.framing",
        rule: "the body's length is announced (Content-Length or chunked) and is exact",
        cite: "RFC 9112 §6.3",
        hostile: false,
        run: framing,
    },
    Check {
        name: "http.tcp.plaintext",
        rule: "GET /plaintext: 200, text/plain, \"Hello, World!\"",
        cite: "TechEmpower; sockref",
        hostile: false,
        run: plaintext,
    },
    Check {
        name: "http.tcp.json",
        rule: "GET /json: 200, application/json, {\"message\":\"Hello, World!\"}",
        cite: "TechEmpower; sockref",
        hostile: false,
        run: json,
    },
    Check {
        name: "http.tcp.post-body",
        rule: "POST /echo with a Content-Length body is answered with that body",
        cite: "RFC 9112 §6.2",
        hostile: false,
        run: post_body,
    },
    Check {
        name: "http.tcp.chunked-request",
        rule: "POST /echo with a chunked body is answered with the decoded body",
        cite: "RFC 9112 §7.1",
        hostile: false,
        run: chunked_request,
    },
    Check {
        name: "http.tcp.keep-alive",
        rule: "two requests, one after the other, are answered on one connection",
        cite: "RFC 9112 §9.3",
        hostile: false,
        run: keep_alive,
    },
    Check {
        name: "http.tcp.pipelining",
        rule: "three requests in one write() get, in order, the responses each gets alone",
        cite: "RFC 9112 §9.3.2",
        hostile: false,
        run: pipelining,
    },
    Check {
        name: "http.tcp.http10-close",
        rule: "an HTTP/1.0 request without keep-alive is answered, then the server closes",
        cite: "RFC 9112 §9.3",
        hostile: false,
        run: http10_close,
    },
    Check {
        name: "http.tcp.connection-close",
        rule: "a request with Connection: close is answered, then the server closes",
        cite: "RFC 9112 §9.6",
        hostile: false,
        run: connection_close,
    },
    Check {
        name: "http.tcp.head",
        rule: "HEAD is answered with GET's head and no body",
        cite: "RFC 9110 §9.3.2, §8.6",
        hostile: false,
        run: head,
    },
    Check {
        name: "http.tcp.not-found",
        rule: "a path the server does not have is answered 404",
        cite: "RFC 9110 §15.5.5",
        hostile: false,
        run: not_found,
    },
    Check {
        name: "http.tcp.unknown-method",
        rule: "a method the server does not know is answered 501",
        cite: "RFC 9110 §9.1, §15.6.2",
        hostile: false,
        run: unknown_method,
    },
    Check {
        name: "http.tcp.bad-request-line",
        rule: "a request line that is not METHOD SP TARGET SP VERSION is answered 400",
        cite: "RFC 9112 §3",
        hostile: false,
        run: bad_request_line,
    },
    Check {
        name: "http.tcp.missing-host",
        rule: "an HTTP/1.1 request without Host is answered 400",
        cite: "RFC 9112 §3.2",
        hostile: false,
        run: missing_host,
    },
    Check {
        name: "http.tcp.smuggling-cl-te",
        rule: "a request with both Content-Length and Transfer-Encoding gets at most one answer, then the close",
        cite: "RFC 9112 §6.1, §11.2",
        hostile: false,
        run: smuggling_cl_te,
    },
    Check {
        name: "http.tcp.smuggling-two-lengths",
        rule: "two different Content-Length values are answered 400, then the close",
        cite: "RFC 9112 §6.3",
        hostile: false,
        run: two_lengths,
    },
    Check {
        name: "http.tcp.header-limit",
        rule: "a 2 MiB header field is refused with a 4xx (sockref: 431, RFC 6585 §5), then the close",
        cite: "RFC 9110 §5.4",
        hostile: false,
        run: header_limit,
    },
    Check {
        name: "http.tcp.concurrent",
        rule: "a second client is answered while a first one is connected and idle",
        cite: "UNP ch. 5",
        hostile: false,
        run: concurrent,
    },
    Check {
        name: "http.tcp.slow-header",
        rule: "a head trickled in one field every 0.5 s is cut (408 or close) within the header timeout",
        cite: "RFC 9110 §15.5.9",
        hostile: true,
        run: slow_header,
    },
    Check {
        name: "http.tcp.reset",
        rule: "a client that resets with responses unread leaves the server serving",
        cite: "RFC 9293 §3.10.7.4",
        hostile: true,
        run: reset,
    },
];

/// How long one read waits before the reader looks at what it has: a
/// response is complete as soon as its bytes are, and loopback delivers
/// them at once; a slow server only costs more rounds, never a verdict.
const STEP: Duration = Duration::from_millis(20);

/// The longest response head the reader takes.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// The longest body the reader takes (sockref's are a few bytes; its
/// `/echo` answers at most a request body, 1 MiB).
const MAX_RESPONSE_BODY: usize = 16 << 20;

/// The Host every probe names: a plain name, valid whatever ADDR is
/// (`unix:PATH` is no host).
const HOST: &str = "localhost";

/// How far a `Date` may be from the checker's clock.
const DATE_SLACK: u64 = 5;

/// A connection and the bytes read on it not yet taken as a response: the
/// next pipelined one, or bytes that should not be there.
pub(super) struct Wire<'a> {
    probe: StreamProbe<'a>,
    /// Read, not yet consumed.
    pub(super) buf: Vec<u8>,
    /// How the stream ended, once it has.
    end: Option<End>,
    wait: Duration,
}

/// Why no response (or frame) could be read: what came instead, and what
/// that usually means.
#[derive(Debug)]
pub(super) struct Unread {
    /// What came, in words.
    pub(super) got: String,
    /// For the student.
    pub(super) hint: &'static str,
    /// Nothing at all came, and the server closed (or reset): a refusal
    /// without words, which some rules accept.
    pub(super) silent_close: bool,
}

impl Unread {
    /// The failure of a check that sent `sent` and wanted `want`.
    pub(super) fn fail(self, sent: impl Into<String>, want: impl Into<String>) -> Failure {
        Failure::new(sent, self.got, want, self.hint)
    }
}

const NO_ANSWER: &str = "no complete response: the server must read the request head up to its empty line (\\r\\n\\r\\n, possibly over several read()s), then write the status line, the header fields and an empty line, then the body";
const BARE_LF: &str = "the response's lines end in \\n alone: HTTP lines end in \\r\\n (RFC 9112 §2.2), the head with an empty line \\r\\n\\r\\n; write \"HTTP/1.1 200 OK\\r\\n\", not \"...OK\\n\"";
const SHORT_BODY: &str = "the body is shorter than Content-Length says, so the client waits for the rest: Content-Length is the number of bytes after the empty line, exactly (strlen(body), not sizeof(buf)), and the whole body must be written (loop on write())";

impl<'a> Wire<'a> {
    /// `socket()` + `connect()`.
    pub(super) fn open(ctx: &'a Ctx) -> Result<Wire<'a>, Failure> {
        Ok(Wire { probe: ctx.connect()?, buf: Vec::new(), end: None, wait: ctx.wait })
    }

    /// `write()`s all of `bytes`.
    pub(super) fn send(&self, bytes: &[u8]) -> Result<(), Failure> {
        Ok(self.probe.write_all(bytes)?)
    }

    /// Writes what the server takes within `t` per `write()`: for a request
    /// the server may rightly stop reading half-way. False if cut short.
    pub(super) fn send_some(&self, bytes: &[u8], t: Duration) -> bool {
        self.probe.set_write_timeout(t).is_ok() && self.probe.write_all(bytes).is_ok()
    }

    /// Whether reading could still bring something before `until`.
    fn open_until(&self, until: Instant) -> bool {
        self.end.is_none() && Instant::now() < until
    }

    fn absorb(&mut self, r: Received) {
        self.buf.extend_from_slice(&r.data);
        if !matches!(r.end, End::TimedOut | End::Enough) {
            self.end = Some(r.end);
        }
    }

    /// One round of reading: what arrives within [`STEP`].
    fn more(&mut self, until: Instant) {
        let left = until.saturating_duration_since(Instant::now()).min(STEP);
        let r = self.probe.read_until(usize::MAX, left);
        self.absorb(r);
    }

    /// Reads until `n` bytes are in the buffer; false if they did not come.
    pub(super) fn need(&mut self, n: usize, until: Instant) -> bool {
        while self.buf.len() < n && self.open_until(until) {
            let left = until.saturating_duration_since(Instant::now());
            let r = self.probe.read_until(n - self.buf.len(), left);
            self.absorb(r);
        }
        self.buf.len() >= n
    }

    /// Everything else that comes within `t`, and how the stream ended
    /// ([`End::TimedOut`]: still open).
    pub(super) fn rest(&mut self, t: Duration) -> (Vec<u8>, End) {
        if self.end.is_none() {
            let r = self.probe.read_until(usize::MAX, t);
            self.absorb(r);
        }
        (std::mem::take(&mut self.buf), self.end.clone().unwrap_or(End::TimedOut))
    }

    /// What is in the buffer and how the stream ended, in words.
    pub(super) fn so_far(&self) -> String {
        let end = self.end.clone().unwrap_or(End::TimedOut);
        received(&Received { data: self.buf.clone(), end }, self.wait)
    }

    /// The reason reading stopped short, as an [`Unread`].
    pub(super) fn short(&self, what: &str, hint: &'static str) -> Unread {
        let got = if self.buf.is_empty() {
            self.so_far()
        } else {
            format!("{what} cut short: {}", self.so_far())
        };
        let silent_close =
            self.buf.is_empty() && matches!(self.end, Some(End::Eof) | Some(End::Reset));
        Unread { got, hint, silent_close }
    }

    /// Reads one response; `head_request`: it answers a HEAD, so it has no
    /// body whatever its fields say (RFC 9110 §9.3.2).
    pub(super) fn response(&mut self, head_request: bool) -> Result<Response, Unread> {
        let until = Instant::now() + self.wait;
        let end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at + 4;
            }
            if find(&self.buf, b"\n\n").is_some() {
                return Err(Unread { got: self.so_far(), hint: BARE_LF, silent_close: false });
            }
            if self.buf.len() > MAX_RESPONSE_HEAD || !self.open_until(until) {
                return Err(self.short("a response head", NO_ANSWER));
            }
            self.more(until);
        };
        let head = self.buf[..end].to_vec();
        let bad = |got: String, hint: &'static str| Unread { got, hint, silent_close: false };
        let line_end = find(&head, b"\r\n").unwrap_or(0);
        let Some((version, status)) = parse_status_line(&head[..line_end]) else {
            return Err(bad(format!("the status line {}", preview(&head[..line_end])), "a response starts with HTTP-version SP 3-digit-code SP reason, e.g. \"HTTP/1.1 200 OK\\r\\n\" (RFC 9112 §4)"));
        };
        let mut fields = Vec::new();
        let mut at = line_end + 2;
        while at < end - 2 {
            let lf = at + find(&head[at..], b"\r\n").unwrap_or(0);
            match field(&head, at..lf) {
                Ok(f) => fields.push((head[f.name].to_vec(), head[f.value].to_vec())),
                Err(r) => {
                    return Err(bad(
                        format!("the field line {} ({})", preview(&head[at..lf]), r.why),
                        "each header line is Name: value\\r\\n, the name a token and the value without control characters (RFC 9112 §5)",
                    ))
                }
            }
            at = lf + 2;
        }
        let mut r = Response {
            version,
            status,
            head,
            fields,
            body: Vec::new(),
            framing: Framing::None,
            closed_by_reset: false,
        };
        self.buf.drain(..end);
        r.framing = r.framing_of(head_request).map_err(|got| bad(got, "Content-Length is one decimal number, the body's length in bytes, and never goes with Transfer-Encoding (RFC 9112 §6.1, §6.2)"))?;
        r.body = match r.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => {
                if !self.need(n, until) {
                    return Err(self.short(&format!("a body announced as {n} bytes"), SHORT_BODY));
                }
                self.buf.drain(..n).collect()
            }
            Framing::Chunked => self.chunked(until)?,
            Framing::Close => {
                while self.open_until(until) {
                    self.more(until);
                }
                // A reset after the bytes is still an end (the bytes came);
                // whether it was a clean one is `closed_by_reset`.
                if !matches!(self.end, Some(End::Eof) | Some(End::Reset)) {
                    return Err(Unread { got: format!("{}, with neither Content-Length nor chunked coding, then {}", r.show(), self.so_far()), hint: "without Content-Length the body ends only when the server closes, and this server did not close: announce Content-Length: N (the body's bytes) so the client knows where the response ends", silent_close: false });
                }
                r.closed_by_reset = self.end == Some(End::Reset);
                std::mem::take(&mut self.buf)
            }
        };
        Ok(r)
    }

    /// Reads a chunked body (RFC 9112 §7.1): size lines in hex, each chunk
    /// and its CRLF, the last chunk `0`, trailers, the empty line.
    fn chunked(&mut self, until: Instant) -> Result<Vec<u8>, Unread> {
        const HINT: &str = "a chunked body is a series of HEX-SIZE\\r\\nDATA\\r\\n, ended by 0\\r\\n\\r\\n (RFC 9112 §7.1)";
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let lf = self.line_at(at, until).map_err(|()| self.short("a chunked body", HINT))?;
            let line = &self.buf[at..lf];
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size).ok().map(str::trim);
            let Some(size) = size.and_then(|s| usize::from_str_radix(s, 16).ok()) else {
                let got = format!("the chunk-size line {}", preview(line));
                return Err(Unread { got, hint: HINT, silent_close: false });
            };
            at = lf + 2;
            if size == 0 {
                loop {
                    let lf = self.line_at(at, until).map_err(|()| self.short("trailers", HINT))?;
                    let empty = lf == at;
                    at = lf + 2;
                    if empty {
                        self.buf.drain(..at);
                        return Ok(body);
                    }
                }
            }
            if body.len() + size > MAX_RESPONSE_BODY || !self.need(at + size + 2, until) {
                return Err(self.short("a chunk", HINT));
            }
            if &self.buf[at + size..at + size + 2] != b"\r\n" {
                let got = format!("a {size}-byte chunk not followed by CRLF");
                return Err(Unread { got, hint: HINT, silent_close: false });
            }
            body.extend_from_slice(&self.buf[at..at + size]);
            at += size + 2;
        }
    }

    /// Where the line starting at `at` ends (its CR), reading as needed.
    fn line_at(&mut self, at: usize, until: Instant) -> Result<usize, ()> {
        loop {
            if let Some(p) = self.buf.get(at..).and_then(|b| find(b, b"\r\n")) {
                return Ok(at + p);
            }
            if !self.open_until(until) || self.buf.len() > at + MAX_RESPONSE_HEAD {
                return Err(());
            }
            self.more(until);
        }
    }
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    /// No body: a HEAD's answer, 1xx, 204, 304.
    None,
    /// Content-Length.
    Length(usize),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Neither: the body runs to the close.
    Close,
}

/// A response as read.
#[derive(Debug)]
pub(super) struct Response {
    /// `HTTP/1.1`.
    pub(super) version: Vec<u8>,
    /// The status code.
    pub(super) status: u16,
    /// The head, status line to empty line.
    pub(super) head: Vec<u8>,
    /// Field names and values, in order.
    fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body, decoded.
    pub(super) body: Vec<u8>,
    /// How the body was delimited.
    pub(super) framing: Framing,
    /// A body delimited by the close ended with a reset, not a FIN: the
    /// client cannot tell whether all of it came.
    pub(super) closed_by_reset: bool,
}

impl Response {
    /// Every value of the field `name`.
    pub(super) fn values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s [u8]> + 's {
        let name = name.to_ascii_lowercase();
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`.
    pub(super) fn value(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }

    /// Whether the list-valued field `name` holds `token` (RFC 9110 §5.6.1).
    pub(super) fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| list(v).any(|t| t.eq_ignore_ascii_case(token.as_bytes())))
    }

    /// `"HTTP/1.1 200 OK" and a 13-byte body "Hello, World!"`.
    pub(super) fn show(&self) -> String {
        let line = self.show_line();
        if self.body.is_empty() {
            format!("{line} with no body")
        } else {
            format!("{line} with the body {}", preview(&self.body))
        }
    }

    fn framing_of(&self, head_request: bool) -> Result<Framing, String> {
        let lengths: Vec<&[u8]> = self.values("content-length").collect();
        let coded = self.values("transfer-encoding").next().is_some();
        if coded && !lengths.is_empty() {
            return Err(format!(
                "{} with both Transfer-Encoding and Content-Length",
                self.show_line()
            ));
        }
        // RFC 9112 §6.3 rules 1 and 2: these never have a body.
        if head_request || self.status / 100 == 1 || self.status == 204 || self.status == 304 {
            return Ok(Framing::None);
        }
        if coded {
            // RFC 9112 §6.3 rule 4: chunked last, or the body runs to the close.
            let last = self.values("transfer-encoding").flat_map(list).last();
            return Ok(match last {
                Some(c) if c.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
                _ => Framing::Close,
            });
        }
        let Some(first) = lengths.first() else {
            return Ok(Framing::Close);
        };
        let n = decimal(first)
            .filter(|_| lengths.iter().all(|l| l == first))
            .filter(|&n| n <= MAX_RESPONSE_BODY);
        n.map(Framing::Length).ok_or_else(|| {
            let all: Vec<String> = lengths.iter().map(|l| preview(l)).collect();
            format!("{} with Content-Length {}", self.show_line(), all.join(", "))
        })
    }

    /// The status line, quoted: `"HTTP/1.1 200 OK"`.
    fn show_line(&self) -> String {
        let line = &self.head[..find(&self.head, b"\r\n").unwrap_or(0)];
        format!("\"{}\"", String::from_utf8_lossy(line))
    }
}

/// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 §4): the version and code.
fn parse_status_line(line: &[u8]) -> Option<(Vec<u8>, u16)> {
    let version = line.get(..8)?;
    if !version.starts_with(b"HTTP/1.")
        || !version[7].is_ascii_digit()
        || line.get(8) != Some(&b' ')
    {
        return None;
    }
    let code = line.get(9..12)?;
    if !code.iter().all(u8::is_ascii_digit) || !matches!(line.get(12), None | Some(b' ')) {
        return None;
    }
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    Some((version.to_vec(), code))
}

/// A plain decimal number (RFC 9110 §8.6: `1*DIGIT`).
fn decimal(s: &[u8]) -> Option<usize> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0usize, |n, &d| n.checked_mul(10)?.checked_add(usize::from(d - b'0')))
}

/// Where `needle` first occurs in `hay`.
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A request with the given method, target and extra field lines (each
/// ending in CRLF).
pub(super) fn request(method: &str, target: &str, extra: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n").into_bytes()
}

fn get(target: &str) -> Vec<u8> {
    request("GET", target, "")
}

/// Connects, sends `req`, reads one response.
fn exchange<'c>(ctx: &'c Ctx, req: &[u8], head: bool) -> Result<(Wire<'c>, Response), Failure> {
    let mut w = Wire::open(ctx)?;
    w.send(req)?;
    let r = w.response(head).map_err(|u| u.fail(preview(req), "a response (RFC 9112 §4)"))?;
    Ok((w, r))
}

/// Sends `req` and wants one response with status `want`.
fn status_is(ctx: &Ctx, req: &[u8], want: u16, what: &str, hint: &str) -> Outcome {
    let mut w = Wire::open(ctx)?;
    w.send(req)?;
    let wanted = format!("a {want} response ({what})");
    match w.response(false) {
        Ok(r) if r.status == want => Ok(Verdict::Pass),
        Ok(r) => Err(Failure::new(preview(req), r.show(), wanted, hint)),
        Err(u) => Err(Failure::new(preview(req), u.got, wanted, hint)),
    }
}

fn status_line(ctx: &Ctx) -> Outcome {
    let req = get("/plaintext");
    let (_, r) = exchange(ctx, &req, false)?;
    if r.status != 200 {
        return Err(Failure::new(
            preview(&req),
            r.show(),
            "\"HTTP/1.1 200 OK\"",
            "GET /plaintext is sockref's plaintext route (the TechEmpower test): answer 200 OK",
        ));
    }
    if r.version != b"HTTP/1.1" {
        return Ok(Verdict::Note(format!(
            "the response says {}: an HTTP/1.1 request may be answered in HTTP/1.1 (RFC 9110 §6.2), as sockref does",
            String::from_utf8_lossy(&r.version)
        )));
    }
    Ok(Verdict::Pass)
}

/// The seconds since 1970 now.
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` in shape: names, digits, spaces, GMT.
fn imf_shaped(d: &[u8]) -> bool {
    let name = |at: usize, names: &[&str]| {
        names.iter().any(|n| d.get(at..at + 3) == Some(&n.as_bytes()[..3]))
    };
    let digits = |r: std::ops::Range<usize>| d[r].iter().all(u8::is_ascii_digit);
    d.len() == 29
        && name(0, &WEEKDAYS)
        && &d[3..5] == b", "
        && digits(5..7)
        && d[7] == b' '
        && name(8, &MONTHS)
        && d[11] == b' '
        && digits(12..16)
        && d[16] == b' '
        && digits(17..19)
        && d[19] == b':'
        && digits(20..22)
        && d[22] == b':'
        && digits(23..25)
        && &d[25..] == b" GMT"
}

fn date(ctx: &Ctx) -> Outcome {
    let req = get("/plaintext");
    let (_, r) = exchange(ctx, &req, false)?;
    let now = unix_now();
    let example = String::from_utf8_lossy(&imf_fixdate(now)).into_owned();
    let want = format!("one Date field, now as an IMF-fixdate: Date: {example}");
    let dates: Vec<&[u8]> = r.values("date").collect();
    let fail = |got: String, hint: &str| Err(Failure::new(preview(&req), got, want.clone(), hint));
    let d = match dates.as_slice() {
        [] => return fail(format!("{}, without a Date field", r.show_line()), "an origin server with a clock MUST send Date in every response (RFC 9110 §6.6.1): add a line \"Date: \" + strftime(\"%a, %d %b %Y %H:%M:%S GMT\", gmtime(&now)) + \"\\r\\n\""),
        [d] => *d,
        _ => return fail(format!("{} Date fields", dates.len()), "send Date once per response"),
    };
    if !imf_shaped(d) {
        return fail(format!("Date: {}", preview(d)), "Date is an IMF-fixdate (RFC 9110 §5.6.7), exactly \"Sun, 06 Nov 1994 08:49:37 GMT\": English names, two-digit day, GMT; not asctime()/ctime() output, not a local time zone. strftime(buf, n, \"%a, %d %b %Y %H:%M:%S GMT\", gmtime(&t)) in the C locale");
    }
    // The value must be exactly what the service writes for some second
    // near now: that also checks the weekday against the date.
    let near = now.saturating_sub(DATE_SLACK)..=now + DATE_SLACK;
    if near.into_iter().any(|t| imf_fixdate(t) == d) {
        return Ok(Verdict::Pass);
    }
    fail(format!("Date: {}", String::from_utf8_lossy(d)), "the Date is not the current time in GMT (or its weekday does not match its date): use gmtime(), not localtime() (Date is always GMT), and compute it for each response, not once at start")
}

fn framing(ctx: &Ctx) -> Outcome {
    let req = get("/plaintext");
    let (mut w, r) = exchange(ctx, &req, false)?;
    match r.framing {
        Framing::Close => Ok(Verdict::Note("no Content-Length and no chunked coding: the body ends at the close, which RFC 9112 §6.3 allows, but then no connection can be kept alive; sockref always announces the length".into())),
        Framing::None => Err(Failure::new(preview(&req), r.show(), "a 200 response with a body", "GET /plaintext has a body")),
        Framing::Length(_) | Framing::Chunked => {
            let (extra, _) = w.rest(ctx.quiet);
            if extra.is_empty() {
                return Ok(Verdict::Pass);
            }
            Err(Failure::new(
                preview(&req),
                format!("{}, then {} more", r.show(), preview(&extra)),
                "exactly the body the framing announced, then nothing",
                "more bytes came than Content-Length announced: Content-Length counts every byte of the body and nothing else (a body of strlen(s) bytes, no extra \\r\\n after it); the client takes the rest as the start of the next response",
            ))
        }
    }
}

/// Compares a media type (before any `;` parameters) case-insensitively.
fn media_type_is(r: &Response, want: &str) -> bool {
    r.value("content-type").is_some_and(|v| {
        let ty = v.split(|&b| b == b';').next().unwrap_or_default();
        String::from_utf8_lossy(ty).trim().eq_ignore_ascii_case(want)
    })
}

fn route(ctx: &Ctx, path: &str, body: &[u8], ty: &str) -> Outcome {
    let req = get(path);
    let (_, r) = exchange(ctx, &req, false)?;
    if r.status == 200 && r.body == body && media_type_is(&r, ty) {
        return Ok(Verdict::Pass);
    }
    let got = match r.value("content-type") {
        Some(t) => format!("{}, Content-Type: {}", r.show(), String::from_utf8_lossy(t)),
        None => format!("{}, no Content-Type", r.show()),
    };
    Err(Failure::new(
        preview(&req),
        got,
        format!("200, Content-Type: {ty}, the body {}", preview(body)),
        "this is one of sockref's routes (the TechEmpower plaintext and json tests): the body exactly, no newline after it, and its media type in Content-Type",
    ))
}

fn plaintext(ctx: &Ctx) -> Outcome {
    route(ctx, "/plaintext", PLAINTEXT, "text/plain")
}

fn json(ctx: &Ctx) -> Outcome {
    route(ctx, "/json", JSON, "application/json")
}

fn echoed_body(ctx: &Ctx, req: &[u8], body: &[u8], hint: &str) -> Outcome {
    let (_, r) = exchange(ctx, req, false)?;
    if r.status == 200 && r.body == body {
        return Ok(Verdict::Pass);
    }
    Err(Failure::new(preview(req), r.show(), format!("200 with the body {}", preview(body)), hint))
}

fn post_body(ctx: &Ctx) -> Outcome {
    let body: Vec<u8> = (0..=255u8).collect();
    let mut req = request("POST", "/echo", &format!("Content-Length: {}\r\n", body.len()));
    req.extend_from_slice(&body);
    echoed_body(ctx, &req, &body, "the body is exactly Content-Length bytes after the empty line, which may need more read()s than the head did; it is bytes, not a C string (a NUL is data)")
}

fn chunked_request(ctx: &Ctx) -> Outcome {
    let mut req = request("POST", "/echo", "Transfer-Encoding: chunked\r\n");
    req.extend_from_slice(b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
    echoed_body(ctx, &req, b"hello world", "an HTTP/1.1 server MUST be able to read a chunked body (RFC 9112 §7.1): HEX-SIZE\\r\\nDATA\\r\\n ... 0\\r\\n\\r\\n; the body is the data without the sizes")
}

const KEEP_HINT: &str = "HTTP/1.1 connections persist by default (RFC 9112 §9.3): after a response, go back to read() for the next request on the same socket, and close() only when the client does, says Connection: close, or stays idle too long";

fn keep_alive(ctx: &Ctx) -> Outcome {
    let req = get("/plaintext");
    let sent =
        format!("{} twice on one connection, the second after the first's response", preview(&req));
    let want = "two responses on the connection";
    let mut w = Wire::open(ctx)?;
    w.send(&req)?;
    let first = w.response(false).map_err(|u| u.fail(sent.clone(), want))?;
    if first.has_token("connection", "close") {
        let got = format!("{}, with Connection: close", first.show_line());
        return Err(Failure::new(sent, got, want, KEEP_HINT));
    }
    let second = match w.send(&req) {
        Ok(()) => w.response(false),
        Err(f) => Err(Unread { got: f.got, hint: KEEP_HINT, silent_close: true }),
    };
    match second {
        Ok(_) => Ok(Verdict::Pass),
        Err(u) => Err(Failure::new(
            sent,
            format!("{}, then for the second: {}", first.show_line(), u.got),
            want,
            KEEP_HINT,
        )),
    }
}

/// The pipelined batch: paths whose answers differ on sockref (so that
/// order shows), and the same path twice.
const PIPELINE: [&str; 3] = ["/plaintext", "/json", "/plaintext"];

fn pipelining(ctx: &Ctx) -> Outcome {
    // Each request alone first, on a connection of its own: the pipelined
    // answers must be these, in order. So a server whose routes differ
    // from sockref's is judged on pipelining alone.
    let mut alone = Vec::new();
    for path in PIPELINE {
        let (_, r) = exchange(ctx, &get(path), false)?;
        alone.push(r);
    }
    let batch: Vec<u8> = PIPELINE.iter().flat_map(|p| get(p)).collect();
    let sent = format!(
        "each request alone, then {} GET requests in one write(): {}",
        PIPELINE.len(),
        PIPELINE.join(", ")
    );
    let want = format!(
        "three responses, in order: {}",
        alone.iter().map(Response::show).collect::<Vec<_>>().join(", ")
    );
    let mut w = Wire::open(ctx)?;
    w.send(&batch)?;
    let mut got = Vec::new();
    for (path, one) in PIPELINE.iter().zip(&alone) {
        match w.response(false) {
            Ok(r) if r.status == one.status && r.body == one.body => got.push(r.show()),
            Ok(r) => {
                got.push(r.show());
                return Err(Failure::new(sent, got.join(", "), want, format!("the response for {path} is not the one it gets alone: responses go out in the order the requests came (RFC 9112 §9.3.2); one read() may bring several requests, answer each in turn")));
            }
            Err(u) => {
                got.push(u.got);
                return Err(Failure::new(sent, got.join(", then "), want, "requests were lost: one read() can bring several requests (a client may send them without waiting, RFC 9112 §9.3.2); after answering the first, parse what is left in the buffer before calling read() again, and keep the connection open"));
            }
        }
    }
    Ok(Verdict::Pass)
}

/// Sends `req`, reads its response, then wants the server's close.
fn then_closes(ctx: &Ctx, req: &[u8], hint: &str) -> Outcome {
    let (mut w, r) = exchange(ctx, req, false)?;
    let (extra, end) = w.rest(ctx.wait);
    match end {
        End::Eof | End::Reset if extra.is_empty() => Ok(Verdict::Pass),
        End::TimedOut | End::Enough if extra.is_empty() => Err(Failure::new(
            preview(req),
            format!("{}, then the connection stayed open for {}", r.show_line(), secs(ctx.wait)),
            "the response, then the server's close",
            hint,
        )),
        _ => Err(Failure::new(
            preview(req),
            format!("{}, then {} more", r.show_line(), preview(&extra)),
            "the response, then the server's close",
            hint,
        )),
    }
}

fn http10_close(ctx: &Ctx) -> Outcome {
    then_closes(ctx, b"GET /plaintext HTTP/1.0\r\n\r\n", "an HTTP/1.0 request without Connection: keep-alive ends its connection (RFC 9112 §9.3): close() after the response; the 1.0 client reads until the close")
}

fn connection_close(ctx: &Ctx) -> Outcome {
    let req = request("GET", "/plaintext", "Connection: close\r\n");
    then_closes(ctx, &req, "Connection: close means this request is the last (RFC 9112 §9.6): after its response, close() the connection instead of waiting for another request")
}

fn head(ctx: &Ctx) -> Outcome {
    let req = request("HEAD", "/plaintext", "");
    let (mut w, r) = exchange(ctx, &req, true)?;
    let want = format!("200, Content-Length {} (GET's) or none, and no body", PLAINTEXT.len());
    if r.status != 200 {
        return Err(Failure::new(
            preview(&req),
            r.show_line(),
            want,
            "HEAD is GET without the body (RFC 9110 §9.3.2): answer it on every path GET is",
        ));
    }
    let (extra, _) = w.rest(ctx.quiet);
    if !extra.is_empty() {
        return Err(Failure::new(preview(&req), format!("{}, then {}", r.show_line(), preview(&extra)), want, "a HEAD response has no body (RFC 9110 §9.3.2): send the same head as GET, then nothing; the client does not read a body, so those bytes would be taken as the next response"));
    }
    let length = r.value("content-length");
    if length.is_some_and(|l| decimal(l) != Some(PLAINTEXT.len())) {
        let l = String::from_utf8_lossy(length.unwrap_or_default()).into_owned();
        return Err(Failure::new(preview(&req), format!("{}, Content-Length: {l}", r.show_line()), want, "a HEAD response's Content-Length, if sent, is the length GET's body would have (RFC 9110 §8.6), not 0"));
    }
    Ok(Verdict::Pass)
}

fn not_found(ctx: &Ctx) -> Outcome {
    status_is(ctx, &get("/no/such/path"), 404, "Not Found", "a path the server does not serve is answered 404 Not Found (RFC 9110 §15.5.5), not 200 with some other page")
}

fn unknown_method(ctx: &Ctx) -> Outcome {
    let req = request("BREW", "/plaintext", "");
    let wanted = "a 501 response (Not Implemented)";
    let hint = "a method the server does not recognise is answered 501 Not Implemented (RFC 9110 §9.1, §15.6.2); compare the method, do not assume GET";
    let mut w = Wire::open(ctx)?;
    w.send(&req)?;
    match w.response(false) {
        Ok(r) if r.status == 501 => Ok(Verdict::Pass),
        // RFC 9110 §9.1 says SHOULD: a refusal with another 4xx is a note.
        Ok(r) if r.status == 405 || r.status == 400 => Ok(Verdict::Note(format!("{} for an unknown method: RFC 9110 §9.1 says SHOULD 501 (405 is for a method the server knows but the path does not allow), as sockref answers", r.status))),
        Ok(r) => Err(Failure::new(preview(&req), r.show(), wanted, hint)),
        Err(u) => Err(Failure::new(preview(&req), u.got, wanted, hint)),
    }
}

fn bad_request_line(ctx: &Ctx) -> Outcome {
    let req = b"hello server\r\n\r\n";
    let want = "a 400 response (Bad Request)";
    let hint = "a request line is METHOD SP TARGET SP HTTP-VERSION (RFC 9112 §3); anything else is answered 400 Bad Request (RFC 9110 §15.5.1), not served";
    let mut w = Wire::open(ctx)?;
    w.send(req)?;
    match w.response(false) {
        Ok(r) if r.status == 400 => Ok(Verdict::Pass),
        Ok(r) => Err(Failure::new(preview(req), r.show(), want, hint)),
        // RFC 9112 §3 says SHOULD answer 400: closing in silence is allowed.
        Err(u) if u.silent_close => Ok(Verdict::Note("the server closed without a word: RFC 9112 §3 says it SHOULD answer 400 (so the client learns why), as sockref does".into())),
        Err(u) => Err(u.fail(preview(req), want)),
    }
}

fn missing_host(ctx: &Ctx) -> Outcome {
    status_is(ctx, b"GET /plaintext HTTP/1.1\r\n\r\n", 400, "Bad Request", "an HTTP/1.1 request without Host MUST be answered 400 (RFC 9112 §3.2): look for the Host field before serving")
}

/// A smuggling probe: `req`, then at most one response and the close.
fn one_answer_then_close(ctx: &Ctx, req: &[u8], want_400: bool, hint: &str) -> Outcome {
    let want =
        if want_400 { "400, then the close" } else { "400 (or one response), then the close" };
    let mut w = Wire::open(ctx)?;
    w.send(req)?;
    let first = match w.response(false) {
        Ok(r) => r,
        Err(u) if u.silent_close && !want_400 => return Ok(Verdict::Pass),
        Err(u) => return Err(u.fail(preview(req), want)),
    };
    if want_400 && first.status != 400 {
        return Err(Failure::new(preview(req), first.show(), want, hint));
    }
    let (extra, end) = w.rest(ctx.wait);
    if !extra.is_empty() {
        let got = format!("{}, then {}", first.show_line(), preview(&extra));
        return Err(Failure::new(preview(req), got, want, hint));
    }
    if matches!(end, End::TimedOut | End::Enough) {
        let got = format!("{}, then the connection stayed open", first.show_line());
        return Err(Failure::new(preview(req), got, want, hint));
    }
    Ok(Verdict::Pass)
}

fn smuggling_cl_te(ctx: &Ctx) -> Outcome {
    // Content-Length says the body is "0\r\n\r\nG", chunked says it ends
    // after "0\r\n\r\n": two parsers disagree where the next request starts.
    let mut req = request("POST", "/echo", "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n");
    req.extend_from_slice(b"0\r\n\r\n");
    req.extend_from_slice(&get("/json"));
    one_answer_then_close(ctx, &req, false, "Content-Length and Transfer-Encoding together are how requests are smuggled past a proxy (RFC 9112 §11.2): answer 400, or use Transfer-Encoding alone, and either way close the connection after the response (RFC 9112 §6.1), so that no byte after it is read as another request")
}

fn two_lengths(ctx: &Ctx) -> Outcome {
    let mut req = request("POST", "/echo", "Content-Length: 3\r\nContent-Length: 5\r\n");
    req.extend_from_slice(b"abcde");
    one_answer_then_close(ctx, &req, true, "two different Content-Length values leave the body's end unknown: the server MUST answer 400 and close (RFC 9112 §6.3), never pick one")
}

/// The oversized head: more than any head limit of a server we know
/// (sockref 16 KiB, nginx 32 KiB, hyper about 400 KiB, Go 1 MiB), so that
/// a server without one is told from a server with a generous one.
const BIG_HEAD: usize = 2 << 20;

fn header_limit(ctx: &Ctx) -> Outcome {
    let filler = vec![b'a'; BIG_HEAD];
    let mut req = request("GET", "/plaintext", "X-Filler: ");
    let end = req.len() - 2;
    req.truncate(end);
    req.extend_from_slice(&filler);
    req.extend_from_slice(b"\r\n\r\n");
    let sent =
        format!("a GET whose X-Filler field holds {} bytes ({} in all)", filler.len(), req.len());
    let want = "431 (or 400), then the close";
    let hint = "the head must be bounded: stop reading a head past a limit (sockref: 16 KiB, 100 fields), answer 431 Request Header Fields Too Large (RFC 6585 §5) or 400, and close; a server that buffers any head can be made to use any amount of memory";
    let mut w = Wire::open(ctx)?;
    // Writing while reading, as a client does: the answer may come (and
    // the server stop reading) long before the last byte is sent.
    let (whole, got) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| w.send_some(&req, ctx.wait));
        let got = w.probe.read_until(usize::MAX, ctx.wait);
        (writer.join().unwrap_or(false), got)
    });
    w.absorb(got);
    let r = match w.response(false) {
        Ok(r) => r,
        Err(u) if w.end == Some(End::Reset) => return Err(Failure::new(sent, u.got, want, "the answer was destroyed by a reset: closing with unread input makes the kernel send RST. After answering 431, shutdown(SHUT_WR) and read (and discard) what the client still sends for a while before close()")),
        Err(u) if u.silent_close => return Err(Failure::new(sent, u.got, want, "the head was refused, but without a word: a server that will not take a head that large MUST answer with a 4xx (RFC 9110 §5.4), 431 Request Header Fields Too Large (RFC 6585 §5), before it closes")),
        Err(u) => return Err(u.fail(sent, want)),
    };
    if r.status / 100 == 4 && r.status != 431 && r.status != 400 {
        return Ok(Verdict::Note(format!(
            "{}: a 4xx, as RFC 9110 §5.4 asks; sockref answers 431 (RFC 6585 §5)",
            r.show_line()
        )));
    }
    if r.status != 431 && r.status != 400 {
        let got = format!(
            "{} (the whole request {})",
            r.show_line(),
            if whole { "was taken" } else { "was not taken" }
        );
        return Err(Failure::new(sent, got, want, hint));
    }
    let (_, end) = w.rest(ctx.wait);
    if matches!(end, End::TimedOut | End::Enough) {
        let got = format!("{}, then the connection stayed open", r.show_line());
        return Err(Failure::new(sent, got, want, "after refusing a head the server cannot know where the next request starts: close the connection"));
    }
    if r.closed_by_reset || end == End::Reset {
        return Ok(Verdict::Note(format!("{} arrived, then a reset instead of a close: RFC 9112 §9.6 says a server SHOULD close in stages (shutdown(SHUT_WR), read what the client still sends, then close()) so that the reset cannot destroy the answer before it is read, as sockref does", r.show_line())));
    }
    Ok(Verdict::Pass)
}

/// GET /plaintext is answered 200.
fn served(ctx: &Ctx) -> Outcome {
    status_is(ctx, &get("/plaintext"), 200, "OK", "GET /plaintext is answered 200")
}

fn concurrent(ctx: &Ctx) -> Outcome {
    while_one_idles(ctx, served)
}

fn slow_header(ctx: &Ctx) -> Outcome {
    // sockref's default header timeout, plus the usual wait for the cut.
    let timeout = Limits::default().header_timeout.unwrap_or(Duration::from_secs(10));
    let bound = (timeout + ctx.wait).min(ctx.wait * 5 + Duration::from_secs(4));
    let first = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n";
    let sent = format!("{} then one field line every 0.5 s, never the empty line", preview(first));
    let mut w = Wire::open(ctx)?;
    w.send(first)?;
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < bound {
        let r = w.probe.read_until(usize::MAX, Duration::from_millis(500));
        w.absorb(r);
        if w.end.is_some() || !w.buf.is_empty() {
            return Ok(Verdict::Pass);
        }
        if w.probe.write_all(format!("X-Slow-{n}: 1\r\n").as_bytes()).is_err() {
            return Ok(Verdict::Pass);
        }
        n += 1;
    }
    Err(Failure::new(
        sent,
        format!("after {} ({n} field lines), the connection is still open", secs(bound)),
        format!("a 408 or the close within the header timeout (sockref: {})", secs(timeout)),
        "a client that sends its head slowly (slowloris) holds a worker for as long as it likes: bound the time from a head's first byte to its empty line (a deadline checked around each read(), SO_RCVTIMEO alone resets with every byte), then answer 408 and close",
    ))
}

fn reset(ctx: &Ctx) -> Outcome {
    let many: Vec<u8> = (0..2000).flat_map(|_| get("/plaintext")).collect();
    after_a_reset(ctx, &many, served)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), Some((b"HTTP/1.1".to_vec(), 200)));
        assert_eq!(parse_status_line(b"HTTP/1.0 404 "), Some((b"HTTP/1.0".to_vec(), 404)));
        assert_eq!(parse_status_line(b"HTTP/1.1 501"), Some((b"HTTP/1.1".to_vec(), 501)));
        for bad in [&b"HTTP/1.1  200 OK"[..], b"HTTP/2 200 OK", b"200 OK", b"HTTP/1.1 20 OK", b""] {
            assert_eq!(parse_status_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn dates_in_shape() {
        assert!(imf_shaped(&imf_fixdate(784_111_777)));
        assert!(!imf_shaped(b"Sun Nov  6 08:49:37 1994"));
        assert!(!imf_shaped(b"Sunday, 06-Nov-94 08:49:37 GMT"));
        assert!(!imf_shaped(b"Sun, 06 Nov 1994 08:49:37 UTC"));
    }

    #[test]
    fn requests_have_a_host() {
        assert_eq!(get("/json"), b"GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n");
        assert_eq!(find(b"ab\r\n\r\ncd", b"\r\n\r\n"), Some(2));
        assert_eq!(decimal(b"013"), Some(13));
        assert_eq!(decimal(b"1 3"), None);
    }
}
