//! Character generator (RFC 864): the 95 printable ASCII characters as a
//! ring, 72 per line, each line starting one character later, CRLF-ended.
//!
//! Line N holds ring characters N, N+1, ..., N+71 (mod 95), where ring
//! character 0 is space (0x20) and 94 is `~`. After 95 lines the pattern
//! repeats, so the server builds one 95-line cycle (7,030 bytes) and writes
//! it again and again.

use std::io::{self, Write};

use super::{Reply, Service};
use crate::net::{Endpoint, Outcome};
use crate::server::Conn;

const RING: usize = 95;
const LINE_CHARS: usize = 72;
const LINE_BYTES: usize = LINE_CHARS + 2;

/// UDP reply length. RFC 864 lets a UDP chargen answer with 0 to 512 bytes;
/// sockref always sends the first 512 bytes of the pattern (lines 0-5 whole,
/// 68 bytes of line 6), so a reply is reproducible byte for byte and no
/// datagram ever carries state from an earlier one.
pub const CHARGEN_UDP_LEN: usize = 512;

/// The first `len` bytes of the chargen stream, starting at line 0.
pub fn chargen_pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + LINE_BYTES);
    let mut line = 0usize;
    while out.len() < len {
        for i in 0..LINE_CHARS {
            out.push(b' ' + ((line + i) % RING) as u8);
        }
        out.extend_from_slice(b"\r\n");
        line += 1;
    }
    out.truncate(len);
    out
}

/// Chargen: TCP streams the pattern until the client goes away, ignoring
/// input; UDP answers every datagram with [`CHARGEN_UDP_LEN`] bytes.
pub struct Chargen {
    cycle: Vec<u8>,
}

impl Chargen {
    /// Builds the 95-line cycle once, shared by every connection.
    pub fn new() -> Self {
        Chargen { cycle: chargen_pattern(RING * LINE_BYTES) }
    }
}

impl Default for Chargen {
    fn default() -> Self {
        Self::new()
    }
}

impl Service for Chargen {
    fn name(&self) -> &str {
        "chargen"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        loop {
            match conn.write_all(&self.cycle) {
                Ok(()) => {}
                // The client closing is how a chargen session normally ends.
                Err(e) if Outcome::of(&e) == Outcome::Gone => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    fn serve_datagram(&self, _request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        reply.extend_from_slice(&self.cycle[..CHARGEN_UDP_LEN]);
        Reply::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_rfc_ring() {
        let p = chargen_pattern(RING * LINE_BYTES + LINE_BYTES);
        let line = |n: usize| &p[n * LINE_BYTES..(n + 1) * LINE_BYTES];
        assert_eq!(
            line(0),
            &b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"[..]
        );
        assert_eq!(&line(1)[..3], b"!\"#");
        assert_eq!(&line(1)[70..], b"gh\r\n");
        // Line 94 starts at '~' and wraps round to space.
        assert_eq!(&line(94)[..3], b"~ !");
        // The ring has 95 lines: line 95 is line 0 again.
        assert_eq!(line(95), line(0));
    }

    #[test]
    fn udp_reply_is_a_prefix() {
        let c = Chargen::new();
        let mut reply = Vec::new();
        let peer = Endpoint::Inet(([127, 0, 0, 1], 5000).into());
        assert_eq!(c.serve_datagram(b"x", &peer, &mut reply), Reply::Send);
        assert_eq!(reply, chargen_pattern(CHARGEN_UDP_LEN));
    }
}
