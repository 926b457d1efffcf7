//! The request head: request line and header fields (RFC 9112 §2-§5),
//! found in a bounded buffer by a scanner that resumes where it stopped,
//! then parsed in one pass.
//!
//! Two steps, so that a head trickled in one byte at a time costs one look
//! at each byte, not one per `read()`: [`Scanner::scan`] walks the lines as
//! they arrive, enforcing the size limits and the line ending as it goes,
//! and says where the head ends; [`parse`] then reads the complete head.
//!
//! Strictness is the defence against request smuggling (RFC 9112 §11.2):
//! where the RFC lets a server either repair or reject a message (a bare
//! LF, a folded line, whitespace before a colon), this one rejects, so that
//! no two parsers can disagree about where one request ends.

use std::ops::Range;

use super::response::Status;
use crate::limits::HTTP_MAX_REQUEST_LINE as MAX_REQUEST_LINE;
use crate::limits::{HTTP_MAX_FIELDS as MAX_FIELDS, HTTP_MAX_HEADER_SECTION as MAX_HEADER_SECTION};

/// Why a request is refused: the status and one line for the response body
/// (error messages that teach: the rule and where the RFC says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The status to answer with.
    pub status: Status,
    /// What was wrong, for the body of the error response.
    pub why: &'static str,
}

/// Shorthand for a refusal.
pub(crate) const fn reject(status: Status, why: &'static str) -> Reject {
    Reject { status, why }
}

/// The request methods this server knows (RFC 9110 §9). Any other token is
/// answered 501 (RFC 9110 §9.1: a method the server does not recognise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET (RFC 9110 §9.3.1).
    Get,
    /// HEAD (RFC 9110 §9.3.2): GET's headers, no body.
    Head,
    /// POST (RFC 9110 §9.3.3).
    Post,
    /// OPTIONS (RFC 9110 §9.3.7): answered for the server as a whole
    /// (`OPTIONS *`), never allowed on a route (405).
    Options,
    /// PUT, DELETE, TRACE or PATCH: known, never allowed on any route
    /// here (405).
    Other,
}

/// The methods this server recognises, by name. CONNECT is not among
/// them: it is refused before routing (see [`request_line`]).
const METHODS: [(&[u8], Method); 8] = [
    (b"GET", Method::Get),
    (b"HEAD", Method::Head),
    (b"POST", Method::Post),
    (b"OPTIONS", Method::Options),
    (b"PUT", Method::Other),
    (b"DELETE", Method::Other),
    (b"TRACE", Method::Other),
    (b"PATCH", Method::Other),
];

/// The longest method name this server implements (OPTIONS, CONNECT):
/// a request line with no space in its first `LONGEST_METHOD + 1` bytes
/// has a longer method, which is answered 501 at once (RFC 9112 §3)
/// rather than read on until the request line's own limit gives 414.
const LONGEST_METHOD: usize = 7;

/// The protocol version from the request line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: closes after each response unless asked to keep alive.
    Http10,
    /// HTTP/1.1: keeps the connection unless asked to close.
    Http11,
}

/// How the request's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Neither Content-Length nor Transfer-Encoding: no body (§6.3 rule 6).
    None,
    /// Content-Length: exactly this many bytes.
    Length(u64),
    /// Transfer-Encoding: chunked (§7.1).
    Chunked,
}

/// One header field line: where its name and (trimmed) value are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name's bytes.
    pub name: Range<usize>,
    /// The value, without the optional whitespace around it.
    pub value: Range<usize>,
}

/// A parsed request head. Ranges index the buffer it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Bytes the head takes in the buffer, empty lines before it included.
    pub len: usize,
    /// The head as sent: request line to the final empty line.
    pub raw: Range<usize>,
    /// The method.
    pub method: Method,
    /// The path the routes match: the request-target without a scheme and
    /// authority (absolute-form) and without the query.
    pub path: Range<usize>,
    /// The version.
    pub version: Version,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    pub persist: bool,
    /// An HTTP/1.0 client asked for keep-alive: say yes in the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` (RFC 9110 §10.1.1).
    pub expect_continue: bool,
    /// `Connection` lists the `upgrade` option (RFC 9110 §7.8).
    pub upgrade: bool,
}

/// Finds the end of a head as its bytes arrive, checking limits and line
/// endings on the way; resumes where the last call stopped.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Next byte to look at.
    pos: usize,
    /// Where the current line starts.
    line: usize,
    /// Where the request line starts (after empty lines), once seen.
    request: Option<usize>,
    /// Where the field lines start, once the request line is complete.
    fields_at: Option<usize>,
    fields: usize,
}

impl Scanner {
    /// Looks at the new bytes of `buf` (the whole head so far, from its
    /// first byte). `Ok(Some(len))` once the head is complete: `len` bytes
    /// including the final CRLF; `Ok(None)` if more must be read.
    pub fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>, Reject> {
        while let Some(lf) = buf[self.pos..].iter().position(|&b| b == b'\n') {
            let lf = self.pos + lf;
            self.pos = lf + 1;
            // First, as on a line still arriving (below), so that the
            // answer does not depend on how the line was cut into reads.
            if self.request.is_none() {
                method_fits(&buf[self.line..lf])?;
            }
            // RFC 9112 §2.2: lines end in CRLF; a bare LF is refused rather
            // than accepted, as a parser elsewhere might not.
            if lf == self.line || buf[lf - 1] != b'\r' {
                return Err(reject(
                    Status::BadRequest,
                    "a line ends in LF without CR (RFC 9112 §2.2)",
                ));
            }
            let (line, empty) = (self.line, lf - 1 == self.line);
            self.line = lf + 1;
            match (self.request, self.fields_at) {
                // The limit counts from the head's first byte, so that
                // empty lines cannot make a head outgrow the buffer.
                (None, _) if lf - 1 > MAX_REQUEST_LINE => return Err(too_long_line()),
                // RFC 9112 §2.2: empty lines before the request line are ignored.
                (None, _) if empty => {}
                (None, _) => {
                    self.request = Some(line);
                    self.fields_at = Some(lf + 1);
                }
                (Some(_), _) if empty => return Ok(Some(lf + 1)),
                (Some(_), Some(at)) => {
                    self.fields += 1;
                    if self.fields > MAX_FIELDS || lf + 1 - at > MAX_HEADER_SECTION {
                        return Err(too_many_fields());
                    }
                }
                (Some(_), None) => unreachable!("the request line sets both"),
            }
        }
        self.pos = buf.len();
        if self.request.is_none() {
            method_fits(&buf[self.line..])?;
        }
        // The line still arriving may not outgrow its limit either.
        match self.fields_at {
            None if buf.len() > MAX_REQUEST_LINE + 1 => Err(too_long_line()),
            Some(at) if buf.len() - at > MAX_HEADER_SECTION => Err(too_many_fields()),
            _ => Ok(None),
        }
    }

    /// Where the request line starts: after the empty lines before it.
    pub fn request_start(&self) -> usize {
        self.request.unwrap_or(self.line)
    }
}

/// Refuses a request line (complete or still arriving) whose method is
/// already longer than any this server implements, judged on its first
/// `LONGEST_METHOD + 1` bytes alone: RFC 9112 §3 asks for 501 there, and
/// waiting for the line's end would only read up to 8 KiB to answer 414
/// about a URI that was never the problem. A byte that cannot be in a
/// method (RFC 9110 §9.1: a token) makes the line malformed instead.
fn method_fits(line: &[u8]) -> Result<(), Reject> {
    let first = &line[..line.len().min(LONGEST_METHOD + 1)];
    if first.len() <= LONGEST_METHOD || first.contains(&b' ') {
        Ok(())
    } else if is_token(first) {
        Err(unknown_method())
    } else {
        Err(malformed_request_line())
    }
}

fn unknown_method() -> Reject {
    reject(Status::NotImplemented, "unknown method (RFC 9110 §9.1)")
}

fn malformed_request_line() -> Reject {
    reject(Status::BadRequest, "the request line is not METHOD SP TARGET SP VERSION (RFC 9112 §3)")
}

fn too_long_line() -> Reject {
    reject(Status::UriTooLong, "the request line is over 8 KiB (RFC 9112 §3)")
}

fn too_many_fields() -> Reject {
    reject(Status::FieldsTooLarge, "the header section is over 16 KiB or 100 fields (RFC 6585 §5)")
}

/// A token character (RFC 9110 §5.6.2): method and field names.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Optional whitespace (RFC 9110 §5.6.3).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `range` of `buf` without optional whitespace on either side.
fn trim(buf: &[u8], mut range: Range<usize>) -> Range<usize> {
    while range.start < range.end && is_ows(buf[range.start]) {
        range.start += 1;
    }
    while range.end > range.start && is_ows(buf[range.end - 1]) {
        range.end -= 1;
    }
    range
}

/// The comma-separated elements of a list-valued field (RFC 9110 §5.6.1),
/// trimmed, empty ones skipped as the RFC requires.
pub fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|e| &e[trim(e, 0..e.len())]).filter(|e| !e.is_empty())
}

/// Parses one field line `buf[line]` (no CRLF): name, colon, value.
pub fn field(buf: &[u8], line: Range<usize>) -> Result<Field, Reject> {
    let bytes = &buf[line.clone()];
    // RFC 9112 §5.2: obs-fold (a line that continues the previous one) is
    // rejected; so, by §2.2, is whitespace before the first field.
    if bytes.first().is_some_and(|&b| is_ows(b)) {
        return Err(reject(
            Status::BadRequest,
            "a field line starts with whitespace: obs-fold (RFC 9112 §5.2)",
        ));
    }
    let colon = bytes
        .iter()
        .position(|&b| b == b':')
        .ok_or(reject(Status::BadRequest, "a field line has no colon (RFC 9112 §5)"))?;
    let name = &bytes[..colon];
    // RFC 9112 §5.1: no whitespace between the name and the colon; a server
    // MUST answer 400 (a proxy might otherwise read another field name).
    if name.last().is_some_and(|&b| is_ows(b)) {
        return Err(reject(
            Status::BadRequest,
            "whitespace between a field name and its colon (RFC 9112 §5.1)",
        ));
    }
    if !is_token(name) {
        return Err(reject(Status::BadRequest, "a field name is not a token (RFC 9110 §5.1)"));
    }
    let value = trim(buf, line.start + colon + 1..line.end);
    // RFC 9110 §5.5: CR, LF and NUL are never allowed in a value; nor here
    // is any other control character but HTAB.
    if buf[value.clone()].iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(reject(
            Status::BadRequest,
            "a control character (CR, LF, NUL, ...) in a field value (RFC 9110 §5.5)",
        ));
    }
    Ok(Field { name: line.start..line.start + colon, value })
}

/// The lines of `buf[from..to]`, each without its CRLF (the scanner has
/// already checked every line ends in CRLF).
fn lines(buf: &[u8], from: usize, to: usize) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = from;
    std::iter::from_fn(move || {
        let lf = at + buf[at..to].iter().position(|&b| b == b'\n')?;
        let line = at..lf - 1;
        at = lf + 1;
        Some(line)
    })
}

/// Parses the request line (RFC 9112 §3): method, target, version.
fn request_line(buf: &[u8], line: Range<usize>) -> Result<(Method, Range<usize>, Version), Reject> {
    let malformed = malformed_request_line();
    let bytes = &buf[line.clone()];
    let mut parts = bytes.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        // RFC 9110 §2.5: a higher minor version of a major version served
        // is handled as the highest minor version served.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => {
            Version::Http11
        }
        // RFC 9112 §2.3: another well-formed version is one this server
        // does not speak: 505 (RFC 9110 §15.6.6).
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(reject(
                Status::VersionNotSupported,
                "only HTTP/1.0 and HTTP/1.1 are served",
            ))
        }
        _ => return Err(malformed),
    };
    if !is_token(method) {
        return Err(malformed);
    }
    // RFC 9110 §9.3.6: CONNECT asks for a tunnel, which only a proxy
    // opens; whatever its target, this server does not implement it, and
    // the bytes after it (the client may start its tunnel at once) are
    // never read as requests.
    if method == b"CONNECT" {
        return Err(reject(
            Status::NotImplemented,
            "CONNECT: this server is no proxy and opens no tunnels (RFC 9110 §9.3.6)",
        ));
    }
    // RFC 9110 §9.1: a method the server does not recognise gets 501.
    let Some(&(_, method)) = METHODS.iter().find(|(name, _)| *name == method) else {
        return Err(unknown_method());
    };
    // RFC 9112 §3.2: the target is visible ASCII, no whitespace.
    if target.is_empty() || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(malformed);
    }
    // RFC 9112 §3.2.4: the asterisk-form is for OPTIONS alone.
    if target == b"*" && method != Method::Options {
        return Err(reject(
            Status::BadRequest,
            "the target * is for OPTIONS only (RFC 9112 §3.2.4)",
        ));
    }
    let start = line.start + method_len(bytes) + 1;
    Ok((method, path(target, start)?, version))
}

fn method_len(line: &[u8]) -> usize {
    line.iter().position(|&b| b == b' ').unwrap_or(line.len())
}

/// The path to route on, from a request-target at `start` (RFC 9112 §3.2):
/// origin-form `/p?q`, absolute-form `http://host/p?q` (which a server MUST
/// accept, §3.2.2), `*` (OPTIONS only, checked by the caller), or another
/// scheme's URI, which no route matches.
fn path(target: &[u8], start: usize) -> Result<Range<usize>, Reject> {
    // RFC 9112 §3.2.1-§3.2.2: origin-form is a path and a query, and
    // absolute-form an absolute-URI (RFC 3986 §4.3): neither has a
    // fragment, which a client keeps to itself.
    if target.contains(&b'#') {
        return Err(reject(
            Status::BadRequest,
            "a # (fragment) is never part of a request target (RFC 9112 §3.2.1)",
        ));
    }
    let lower = |n: usize| target.get(..n).map(<[u8]>::to_ascii_lowercase);
    let skip = if target[0] == b'/' {
        0
    } else if let Some(scheme) =
        [7, 8].into_iter().find(|&n| lower(n).is_some_and(|s| s == b"http://" || s == b"https://"))
    {
        // The authority ends at the first '/' or '?'; an empty path means
        // "/" (RFC 9110 §4.2.1), which the routes take care of.
        match target[scheme..].iter().position(|b| b"/?".contains(b)) {
            Some(p) if target[scheme + p] == b'/' => scheme + p,
            _ => return Ok(start + target.len()..start + target.len()),
        }
    } else if target == b"*" || target.contains(&b':') {
        return Ok(start..start + target.len());
    } else {
        return Err(reject(
            Status::BadRequest,
            "the request target is not a path or a URI (RFC 9112 §3.2)",
        ));
    };
    let end = target.iter().position(|&b| b == b'?').unwrap_or(target.len());
    Ok(start + skip..start + end.max(skip))
}

/// Parses a complete head, `buf[..len]` as the scanner found it, filling
/// `fields` (cleared first) with its field lines.
pub fn parse(
    buf: &[u8],
    scanner: &Scanner,
    len: usize,
    fields: &mut Vec<Field>,
) -> Result<Head, Reject> {
    let start = scanner.request_start();
    let mut all = lines(buf, start, len);
    // The scanner only says a head is complete after a request line.
    let Some(line) = all.next() else {
        return Err(reject(Status::BadRequest, "no request line (RFC 9112 §3)"));
    };
    let (method, path, version) = request_line(buf, line)?;
    fields.clear();
    let (mut hosts, mut length) = (0, None);
    // Transfer-Encoding, over all its field lines: any present, how many
    // codings, how many of them chunked, and whether chunked came last.
    let (mut coded, mut codings, mut chunks, mut chunked_last) = (false, 0, 0, false);
    let (mut close, mut keep_alive, mut upgrade, mut expect_continue) =
        (false, false, false, false);
    for line in all.filter(|l| !l.is_empty()) {
        let f = field(buf, line)?;
        let (name, value) = (&buf[f.name.clone()], &buf[f.value.clone()]);
        if name.eq_ignore_ascii_case(b"host") {
            // RFC 9112 §3.2: a Host value that is not `host[:port]` is a 400.
            if !value
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
            {
                return Err(reject(
                    Status::BadRequest,
                    "the Host value is not host[:port] (RFC 9112 §3.2)",
                ));
            }
            hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            length = Some(content_length(value, length)?);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // RFC 9112 §6.1: the codings in the order applied; a second
            // field line adds to the list (RFC 9110 §5.3).
            coded = true;
            for coding in list(value) {
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                codings += 1;
                chunks += usize::from(chunked_last);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            // RFC 9112 §9.3 / RFC 9110 §7.6.1: connection options.
            for option in list(value) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
                upgrade |= option.eq_ignore_ascii_case(b"upgrade");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            // RFC 9110 §10.1.1: 100-continue is the only expectation.
            if !value.eq_ignore_ascii_case(b"100-continue") {
                return Err(reject(
                    Status::ExpectationFailed,
                    "the only expectation served is 100-continue (RFC 9110 §10.1.1)",
                ));
            }
            // ...and an HTTP/1.0 client, which knows no 1xx, gets none
            // (RFC 9110 §10.1.1: a server MUST ignore it there).
            expect_continue = version == Version::Http11;
        }
        fields.push(f);
    }
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; none has two.
    if hosts > 1 || (hosts == 0 && version == Version::Http11) {
        return Err(reject(
            Status::BadRequest,
            "an HTTP/1.1 request needs exactly one Host field (RFC 9112 §3.2)",
        ));
    }
    let framing = match (coded, length) {
        // RFC 9112 §6.1: both at once is how requests are smuggled.
        (true, Some(_)) => {
            return Err(reject(
                Status::BadRequest,
                "both Content-Length and Transfer-Encoding (RFC 9112 §6.1)",
            ))
        }
        // RFC 9112 §6.1: HTTP/1.0 has no transfer codings; its framing
        // cannot be trusted.
        (true, None) if version == Version::Http10 => {
            return Err(reject(
                Status::BadRequest,
                "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)",
            ))
        }
        // RFC 9112 §6.1: chunked MUST NOT be applied twice; were it
        // undone once, the rest would still be chunked, and no one could
        // say where the body ends.
        (true, None) if chunks > 1 => {
            return Err(reject(
                Status::BadRequest,
                "Transfer-Encoding lists chunked twice (RFC 9112 §6.1)",
            ))
        }
        // RFC 9112 §6.3 rule 4: unless chunked is the final coding, the
        // body's length cannot be known: 400, then close.
        (true, None) if !chunked_last => {
            return Err(reject(
                Status::BadRequest,
                "chunked is not the final Transfer-Encoding (RFC 9112 §6.3)",
            ))
        }
        // RFC 9112 §6.1: framed by chunked, but also coded with something
        // this server does not undo (gzip, say): 501.
        (true, None) if codings > 1 => {
            return Err(reject(
                Status::NotImplemented,
                "the only transfer coding served is chunked (RFC 9112 §6.1)",
            ))
        }
        (true, None) => Framing::Chunked,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::None,
    };
    let persist = match version {
        Version::Http11 => !close,
        Version::Http10 => keep_alive && !close,
    };
    Ok(Head {
        len,
        raw: start..len,
        method,
        path,
        version,
        framing,
        persist,
        keep_alive: version == Version::Http10 && persist,
        expect_continue,
        upgrade,
    })
}

/// A Content-Length value (RFC 9112 §6.2, RFC 9110 §8.6): decimal digits
/// only, no sign, no overflow, in one field line.
///
/// RFC 9110 §8.6 lets a recipient either reject or merge a list of equal
/// values (`5, 5`), and two field lines are that same list (RFC 9110
/// §5.3); RFC 9112 §6.3 rule 5 allows the same. Both forms are refused
/// here, equal values or not, as every repairable ambiguity is (see the
/// module's head): no sender is obliged to send either.
fn content_length(value: &[u8], earlier: Option<u64>) -> Result<u64, Reject> {
    let bad = reject(
        Status::BadRequest,
        "Content-Length is not one plain decimal number, sent once (RFC 9110 §8.6)",
    );
    if earlier.is_some() || value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    value
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans and parses `text` fed in one piece.
    fn head(text: &str) -> Result<Head, Reject> {
        let buf = text.as_bytes();
        let mut s = Scanner::default();
        let Some(len) = s.scan(buf)? else {
            panic!("incomplete head: {text:?}");
        };
        parse(buf, &s, len, &mut Vec::new())
    }

    /// [`head`], which must accept `text`: panics naming the input and the
    /// refusal otherwise.
    fn ok(text: &str) -> Head {
        match head(text) {
            Ok(h) => h,
            Err(err) => panic!("refused {text:?}: {err:?}"),
        }
    }

    fn status(text: &str) -> Status {
        head(text).expect_err("refused").status
    }

    #[test]
    fn a_simple_get() {
        let h = ok("GET /plaintext?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        let buf = b"GET /plaintext?x=1 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(&buf[h.path.clone()], b"/plaintext");
        assert_eq!(
            (h.method, h.version, h.framing, h.persist),
            (Method::Get, Version::Http11, Framing::None, true)
        );
        assert_eq!(h.len, buf.len());
    }

    #[test]
    fn scanning_byte_by_byte_finds_the_same_end() -> Result<(), Box<dyn std::error::Error>> {
        let text = b"\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
        let mut s = Scanner::default();
        let mut end = None;
        for n in 1..=text.len() {
            if let Some(len) = s.scan(&text[..n]).map_err(|e| format!("scan {n}: {e:?}"))? {
                end = Some(len);
                break;
            }
        }
        assert_eq!(end, Some(text.len() - 3));
        let end = end.ok_or("the scanner never found the end")?;
        let h = parse(text, &s, end, &mut Vec::new()).map_err(|e| format!("parse: {e:?}"))?;
        assert_eq!(h.raw.start, 2);
        assert_eq!(h.framing, Framing::Length(3));
        Ok(())
    }

    #[test]
    fn absolute_form_routes_on_its_path() {
        let text = "GET http://example.com/json HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let h = ok(text);
        assert_eq!(&text.as_bytes()[h.path], b"/json");
        let text = "GET HTTP://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n";
        assert!(ok(text).path.is_empty());
    }

    #[test]
    fn host_values_and_expectations() {
        for host in
            ["", "example.com", "example.com:8080", "[::1]:80", "127.0.0.1", "xn--bcher-kva.de"]
        {
            assert!(head(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).is_ok(), "{host}");
        }
        let expect = "Expect: 100-continue\r\nContent-Length: 1\r\n\r\n";
        assert!(ok(&format!("POST / HTTP/1.1\r\nHost: a\r\n{expect}")).expect_continue);
        assert!(!ok(&format!("POST / HTTP/1.0\r\n{expect}")).expect_continue);
    }

    #[test]
    fn persistence_follows_version_and_connection() {
        assert!(!ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").persist);
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").persist);
        let h = ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(h.persist && h.keep_alive);
        assert!(ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Upgrade\r\n\r\n").upgrade);
    }

    #[test]
    fn limits() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_REQUEST_LINE));
        let mut s = Scanner::default();
        assert_eq!(s.scan(long.as_bytes()).unwrap_err().status, Status::UriTooLong);
        // Refused before the line even ends.
        let mut s = Scanner::default();
        assert_eq!(
            s.scan(&long.as_bytes()[..MAX_REQUEST_LINE + 2]).unwrap_err().status,
            Status::UriTooLong
        );
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_FIELDS + 1));
        assert_eq!(status(&many), Status::FieldsTooLarge);
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "y".repeat(MAX_HEADER_SECTION));
        assert_eq!(status(&big), Status::FieldsTooLarge);
        let exactly =
            format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: y\r\n".repeat(MAX_FIELDS - 1));
        assert!(head(&exactly).is_ok());
    }

    #[test]
    fn malformed_heads_are_refused() {
        use Status::*;
        let cases = [
            ("GET / HTTP/1.1\nHost: a\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n  c\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: b\0c\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", BadRequest),
            ("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", BadRequest),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", BadRequest),
            ("GET /\r\nHost: a\r\n\r\n", BadRequest),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
            ("GET / HTTP/0.9\r\nHost: a\r\n\r\n", VersionNotSupported),
            ("GET / HTTP/1.x\r\nHost: a\r\n\r\n", BadRequest),
            ("GET * HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("HEAD * HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET /#?q HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET http://a/b#c HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", NotImplemented),
            ("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", NotImplemented),
            ("CONNECTX / HTTP/1.1\r\nHost: a\r\n\r\n", NotImplemented),
            ("GET / http/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("BREW / HTTP/1.1\r\nHost: a\r\n\r\n", NotImplemented),
            ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET x HTTP/1.1\r\nHost: a\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a\r\nExpect: gold\r\n\r\n", ExpectationFailed),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BadRequest),
            ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", BadRequest),
        ];
        for (text, want) in cases {
            assert_eq!(status(text), want, "{text:?}");
        }
    }

    #[test]
    fn body_framing() {
        use Status::*;
        let text = |extra: &str| format!("POST /echo HTTP/1.1\r\nHost: a\r\n{extra}\r\n");
        let with = |extra: &str| head(&text(extra));
        assert_eq!(ok(&text("Content-Length: 10\r\n")).framing, Framing::Length(10));
        assert_eq!(ok(&text("Transfer-Encoding: Chunked\r\n")).framing, Framing::Chunked);
        assert_eq!(ok(&text("Transfer-Encoding: ,chunked\r\n")).framing, Framing::Chunked);
        for (extra, want) in [
            ("Content-Length: 7\r\nContent-Length: 8\r\n", BadRequest),
            // RFC 9110 §8.6: a list of equal values, in one line or two,
            // refused alike.
            ("Content-Length: 7\r\nContent-Length: 7\r\n", BadRequest),
            ("Content-Length: +7\r\n", BadRequest),
            ("Content-Length: 7, 7\r\n", BadRequest),
            ("Content-Length: 0x10\r\n", BadRequest),
            ("Content-Length: \r\n", BadRequest),
            ("Content-Length: 99999999999999999999\r\n", BadRequest),
            ("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", BadRequest),
            // RFC 9112 §6.3 rule 4: chunked not last (or absent) is a 400.
            ("Transfer-Encoding: gzip\r\n", BadRequest),
            ("Transfer-Encoding: chunked, identity\r\n", BadRequest),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", BadRequest),
            ("Transfer-Encoding: \r\n", BadRequest),
            // RFC 9112 §6.1: chunked twice is a 400.
            ("Transfer-Encoding: chunked, chunked\r\n", BadRequest),
            ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", BadRequest),
            // Chunked last, but another coding this server does not undo.
            ("Transfer-Encoding: gzip, chunked\r\n", NotImplemented),
        ] {
            assert_eq!(with(extra).unwrap_err().status, want, "{extra:?}");
        }
        let te10 = head("POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(te10.unwrap_err().status, BadRequest);
    }

    #[test]
    fn a_higher_minor_version_is_read_as_http11() {
        for v in ["1.2", "1.9"] {
            let h = ok(&format!("GET / HTTP/{v}\r\nHost: a\r\n\r\n"));
            assert_eq!((h.version, h.persist), (Version::Http11, true), "{v}");
        }
    }

    #[test]
    fn options_takes_the_asterisk_form() {
        let text = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";
        let h = ok(text);
        assert_eq!((h.method, &text.as_bytes()[h.path]), (Method::Options, b"*".as_slice()));
    }

    #[test]
    fn a_long_method_is_refused_on_its_first_bytes() {
        assert!(METHODS.iter().all(|(name, _)| name.len() <= LONGEST_METHOD));
        assert_eq!(b"CONNECT".len(), LONGEST_METHOD);
        // 100 KB of method, no line end yet: 501 after 8 bytes are in.
        let long = "A".repeat(100 * 1024);
        for end in [LONGEST_METHOD + 1, long.len()] {
            let err = Scanner::default().scan(&long.as_bytes()[..end]).unwrap_err();
            assert_eq!(err.status, Status::NotImplemented);
        }
        let err = Scanner::default().scan(b"\r\nGET\x00\x01/abc HTTP/1.1").unwrap_err();
        assert_eq!(err.status, Status::BadRequest);
        // Seven bytes of method are not yet too long; a space in time is fine.
        assert_eq!(Scanner::default().scan(b"OPTIONS"), Ok(None));
        assert_eq!(Scanner::default().scan(b"OPTIONS * HTTP/1.1"), Ok(None));
    }

    /// Mutated requests, fed in random pieces: the scanner and parser never
    /// panic, agree with a one-piece scan, and never claim more bytes than
    /// they were given.
    #[test]
    fn seeded_mutations_never_panic() {
        let mut x: u64 = 0x0DD_5EED;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let templates: [&[u8]; 3] = [
            b"GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            b"POST http://h/echo?x HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"\r\nHEAD / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nX:\t y \r\n\r\n",
        ];
        let specials = b"\r\n :\t\0,;/?\x7f\xff";
        for case in 0..20_000 {
            let mut buf = templates[case % templates.len()].to_vec();
            for _ in 0..next() % 4 {
                let at = (next() as usize) % (buf.len() + 1);
                let b = specials[(next() as usize) % specials.len()];
                match next() % 3 {
                    0 if at < buf.len() => buf[at] = b,
                    1 if at < buf.len() => drop(buf.remove(at)),
                    _ => buf.insert(at, b),
                }
            }
            let whole = Scanner::default().scan(&buf);
            let mut s = Scanner::default();
            let mut pieces = Ok(None);
            let mut at = 0;
            while at < buf.len() && matches!(pieces, Ok(None)) {
                at = (at + 1 + (next() as usize) % 8).min(buf.len());
                pieces = s.scan(&buf[..at]);
            }
            assert_eq!(whole, pieces, "case {case}: {:?}", String::from_utf8_lossy(&buf));
            if let Ok(Some(len)) = pieces {
                assert!(len <= buf.len());
                if let Ok(h) = parse(&buf, &s, len, &mut Vec::new()) {
                    assert!(h.raw.end == len && h.path.end <= len && h.path.start <= h.path.end);
                }
            }
        }
    }
}
