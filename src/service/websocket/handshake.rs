//! The server's side of the opening handshake (RFC 6455 §4.2), as pure
//! functions over an already parsed request head.
//!
//! What it does: decide whether a request is a WebSocket upgrade sockref
//! accepts ([`check`]), compute `Sec-WebSocket-Accept` ([`accept_key`]) and
//! write the status line and upgrade headers of the `101` answer
//! ([`response`]). What it does not: parse HTTP, check `Host` (the HTTP
//! layer answers a missing one with 400, RFC 9112 §3.2), or write `Date`,
//! `Server` and the blank line that ends the head; the HTTP layer owns those.
//! No extension and no subprotocol is ever negotiated (RFC 6455 §4.2.2 lets
//! the server pick none), so the answer never names one.

use super::base64;
use super::sha1::Sha1;

/// The GUID every server appends to the client's key (RFC 6455 §1.3, §4.2.2).
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version sockref speaks (RFC 6455 §4.1, item 9).
pub const VERSION: &[u8] = b"13";

/// Why a request is not upgraded, and so what the HTTP layer answers
/// instead of `101`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The method is not `GET` (RFC 6455 §4.1, item 2): answer `405`.
    NotGet,
    /// No `Upgrade: websocket` with `Connection: upgrade`, or an HTTP/1.0
    /// request (RFC 9110 §7.8 makes the server ignore its `Upgrade`):
    /// answer `426` (RFC 9110 §15.5.22).
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing, repeated or not `13` (RFC 6455
    /// §4.4): answer `426` with `Sec-WebSocket-Version: 13`.
    BadVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 of exactly
    /// 16 bytes (RFC 6455 §4.1, item 7; §11.3.1): answer `400`.
    BadKey,
}

impl Refusal {
    /// The HTTP status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::NotGet => 405,
            Refusal::NotUpgrade | Refusal::BadVersion => 426,
            Refusal::BadKey => 400,
        }
    }

    /// Header lines (each ending in CRLF) the answer must carry besides the
    /// HTTP layer's own.
    pub fn headers(self) -> &'static [u8] {
        match self {
            // RFC 9110 §15.5.9: a 405 lists the allowed methods.
            Refusal::NotGet => b"Allow: GET\r\n",
            // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
            Refusal::NotUpgrade => b"Upgrade: websocket\r\nConnection: Upgrade\r\n",
            // RFC 6455 §4.4: ...and here the versions the server speaks.
            Refusal::BadVersion => {
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            }
            Refusal::BadKey => b"",
        }
    }
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`:
/// base64(SHA-1(key + [`GUID`])) (RFC 6455 §4.2.2, item 5.4).
///
/// The key is used as sent, not decoded (RFC 6455 §1.3).
pub fn accept_key(client_key: &[u8]) -> [u8; 28] {
    let mut hasher = Sha1::new();
    hasher.update(client_key);
    hasher.update(GUID);
    let mut text = Vec::with_capacity(28);
    base64::encode(&hasher.finish(), &mut text);
    let mut accept = [0u8; 28];
    accept.copy_from_slice(&text);
    accept
}

/// Decides whether a request head opens a WebSocket (RFC 6455 §4.2.1) and,
/// if so, returns the `Sec-WebSocket-Accept` value for [`response`].
///
/// `method` is the request method as sent (methods are case-sensitive,
/// RFC 9110 §9.1); `version_is_http11` is true for HTTP/1.1 (or any later
/// 1.x); `headers` are the field lines in order, names as sent. Values may
/// still carry optional whitespace (RFC 9110 §5.5), which is ignored.
///
/// The checks run in this order, and the first that fails is the answer:
/// method, upgrade request, version, key. The version comes before the key
/// so that a client speaking another version learns which one to retry
/// with (RFC 6455 §4.4) even if its key is shaped differently.
pub fn check(
    method: &[u8],
    version_is_http11: bool,
    headers: &[(&[u8], &[u8])],
) -> Result<[u8; 28], Refusal> {
    if method != b"GET" {
        return Err(Refusal::NotGet);
    }

    let mut upgrade = false;
    let mut connection_upgrade = false;
    let mut keys = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-key"));
    let mut versions =
        headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(b"sec-websocket-version"));
    for (name, value) in headers {
        // RFC 9110 §5.3: repeated list fields are one comma-separated list.
        if name.eq_ignore_ascii_case(b"upgrade") {
            // RFC 6455 §4.2.1, item 3: "websocket", case-insensitively.
            upgrade |= has_token(value, b"websocket");
        } else if name.eq_ignore_ascii_case(b"connection") {
            // RFC 6455 §4.2.1, item 4; tokens per RFC 9110 §7.6.1.
            connection_upgrade |= has_token(value, b"upgrade");
        }
    }
    if !version_is_http11 || !upgrade || !connection_upgrade {
        return Err(Refusal::NotUpgrade);
    }

    // RFC 6455 §11.3.5: the version field appears once in a request.
    match (versions.next(), versions.next()) {
        (Some((_, v)), None) if trim(v) == VERSION => {}
        _ => return Err(Refusal::BadVersion),
    }

    // RFC 6455 §11.3.1: the key appears once; §4.1, item 7: it is a
    // nonce of 16 bytes, base64-encoded (so always 24 characters).
    let key = match (keys.next(), keys.next()) {
        (Some((_, v)), None) => trim(v),
        _ => return Err(Refusal::BadKey),
    };
    match base64::decode(key) {
        Some(nonce) if nonce.len() == 16 => Ok(accept_key(key)),
        _ => Err(Refusal::BadKey),
    }
}

/// Appends the status line and the upgrade headers of the `101` answer
/// (RFC 6455 §4.2.2, item 5), each line ending in CRLF.
///
/// The blank line that ends the head is not written: the HTTP layer adds
/// its `Date` and `Server` lines, then the final CRLF.
pub fn response(accept: &[u8; 28], out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    out.extend_from_slice(b"Upgrade: websocket\r\n");
    out.extend_from_slice(b"Connection: Upgrade\r\n");
    out.extend_from_slice(b"Sec-WebSocket-Accept: ");
    out.extend_from_slice(accept);
    out.extend_from_slice(b"\r\n");
}

/// Whether the comma-separated list `value` holds `token`, compared
/// case-insensitively (RFC 9110 §5.6.1: empty elements and the whitespace
/// around elements do not count).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// `bytes` without the optional whitespace (SP, HTAB) at either end
/// (RFC 9110 §5.6.3).
fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_ows(b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &[u8; 28] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn good() -> Vec<(&'static [u8], &'static [u8])> {
        vec![
            (b"Host", b"server.example.com"),
            (b"Upgrade", b"websocket"),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", KEY),
            (b"Sec-WebSocket-Version", b"13"),
        ]
    }

    fn with(name: &'static [u8], value: &'static [u8]) -> Vec<(&'static [u8], &'static [u8])> {
        let mut h = good();
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        h.push((name, value));
        h
    }

    fn without(name: &[u8]) -> Vec<(&'static [u8], &'static [u8])> {
        let mut h = good();
        h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        h
    }

    #[test]
    fn accept_key_matches_the_rfc6455_example() {
        // RFC 6455 §1.3.
        assert_eq!(&accept_key(KEY), ACCEPT);
    }

    #[test]
    fn accepts_the_rfc6455_example_request() {
        assert_eq!(check(b"GET", true, &good()), Ok(*ACCEPT));
    }

    #[test]
    fn header_names_and_upgrade_values_ignore_case() {
        let h: Vec<(&[u8], &[u8])> = vec![
            (b"UPGRADE", b"WebSocket"),
            (b"connection", b"keep-alive, UPGRADE"),
            (b"sec-websocket-key", KEY),
            (b"SEC-WEBSOCKET-VERSION", b"13"),
        ];
        assert_eq!(check(b"GET", true, &h), Ok(*ACCEPT));
    }

    #[test]
    fn connection_is_a_token_list() {
        for value in [&b"keep-alive,Upgrade"[..], b" upgrade ", b"a ,\tUpgrade\t, b", b",,upgrade,"]
        {
            assert_eq!(check(b"GET", true, &with(b"Connection", value)), Ok(*ACCEPT), "{value:?}");
        }
        // A token is the whole element, not a substring.
        for value in [&b"upgraded"[..], b"keep-alive", b"up grade", b""] {
            let refused = check(b"GET", true, &with(b"Connection", value));
            assert_eq!(refused, Err(Refusal::NotUpgrade), "{value:?}");
        }
        // Two Connection lines are one list (RFC 9110 §5.3).
        let mut h = with(b"Connection", b"keep-alive");
        h.push((b"Connection", b"Upgrade"));
        assert_eq!(check(b"GET", true, &h), Ok(*ACCEPT));
    }

    #[test]
    fn values_may_carry_optional_whitespace() {
        let mut h = with(b"Sec-WebSocket-Key", b"  dGhlIHNhbXBsZSBub25jZQ==\t");
        h.retain(|(n, _)| *n != b"Sec-WebSocket-Version");
        h.push((b"Sec-WebSocket-Version", b" 13 "));
        assert_eq!(check(b"GET", true, &h), Ok(*ACCEPT));
    }

    #[test]
    fn other_methods_are_not_get() {
        for method in [&b"POST"[..], b"get", b"HEAD", b""] {
            assert_eq!(check(method, true, &good()), Err(Refusal::NotGet), "{method:?}");
        }
        assert_eq!(Refusal::NotGet.status(), 405);
    }

    #[test]
    fn a_get_without_the_upgrade_is_not_an_upgrade() {
        assert_eq!(check(b"GET", true, &without(b"Upgrade")), Err(Refusal::NotUpgrade));
        assert_eq!(check(b"GET", true, &without(b"Connection")), Err(Refusal::NotUpgrade));
        assert_eq!(check(b"GET", true, &with(b"Upgrade", b"h2c")), Err(Refusal::NotUpgrade));
        assert_eq!(check(b"GET", true, &[]), Err(Refusal::NotUpgrade));
        // RFC 9110 §7.8: an HTTP/1.0 request's Upgrade is ignored.
        assert_eq!(check(b"GET", false, &good()), Err(Refusal::NotUpgrade));
        assert_eq!(Refusal::NotUpgrade.status(), 426);
    }

    #[test]
    fn the_version_must_be_13_exactly_once() {
        for value in [&b"8"[..], b"12", b"130", b"13, 8", b""] {
            let refused = check(b"GET", true, &with(b"Sec-WebSocket-Version", value));
            assert_eq!(refused, Err(Refusal::BadVersion), "{value:?}");
        }
        let missing = without(b"Sec-WebSocket-Version");
        assert_eq!(check(b"GET", true, &missing), Err(Refusal::BadVersion));
        let mut twice = good();
        twice.push((b"Sec-WebSocket-Version", b"13"));
        assert_eq!(check(b"GET", true, &twice), Err(Refusal::BadVersion));
        assert_eq!(Refusal::BadVersion.status(), 426);
        assert!(Refusal::BadVersion.headers().ends_with(b"Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn the_key_must_be_16_bytes_of_base64_exactly_once() {
        let bad: [&'static [u8]; 6] = [
            b"",
            b"dGhlIHNhbXBsZSBub25jZQ",    // padding missing
            b"dGhlIHNhbXBsZSBub25jZR==",  // non-zero leftover bits
            b"dGhlIHNhbXBsZSBub25jZSE=",  // 17 bytes
            b"dGhlIHNhbXBsZSBub25j",      // 15 bytes
            b"dGhlIHNhbXBs ZSBub25jZQ==", // a space inside
        ];
        for key in bad {
            let refused = check(b"GET", true, &with(b"Sec-WebSocket-Key", key));
            assert_eq!(refused, Err(Refusal::BadKey), "{key:?}");
        }
        assert_eq!(check(b"GET", true, &without(b"Sec-WebSocket-Key")), Err(Refusal::BadKey));
        let mut twice = good();
        twice.push((b"Sec-WebSocket-Key", KEY));
        assert_eq!(check(b"GET", true, &twice), Err(Refusal::BadKey));
        assert_eq!(Refusal::BadKey.status(), 400);
    }

    #[test]
    fn a_bad_version_is_reported_before_a_bad_key() {
        let mut h = with(b"Sec-WebSocket-Version", b"8");
        h.retain(|(n, _)| *n != b"Sec-WebSocket-Key");
        assert_eq!(check(b"GET", true, &h), Err(Refusal::BadVersion));
    }

    #[test]
    fn response_is_the_101_head_without_its_final_blank_line() {
        let mut out = Vec::new();
        response(ACCEPT, &mut out);
        let expected: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\n\
            Upgrade: websocket\r\n\
            Connection: Upgrade\r\n\
            Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        assert_eq!(out, expected);
    }
}
