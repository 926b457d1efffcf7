//! Time (RFC 868): four bytes, big-endian seconds since 1900-01-01 00:00 UTC.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Reply, Service};
use crate::net::Endpoint;
use crate::server::Conn;

/// Seconds from 1900-01-01 to 1970-01-01 (70 years, 17 of them leap years).
pub const RFC868_EPOCH_OFFSET: u64 = 2_208_988_800;

/// The RFC 868 value for `now`: seconds since 1900, modulo 2^32 (the field
/// is 32 bits; it wraps in February 2036, as the RFC's clients expect).
pub fn rfc868_time(now: SystemTime) -> [u8; 4] {
    let unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = (unix + RFC868_EPOCH_OFFSET) % (1 << 32);
    (secs as u32).to_be_bytes()
}

/// Time: writes the 4 bytes and closes; over UDP, answers any datagram with them.
pub struct Time;

impl Service for Time {
    fn name(&self) -> &str {
        "time"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        conn.write_all(&rfc868_time(SystemTime::now()))
    }

    fn serve_datagram(&self, _request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        reply.extend_from_slice(&rfc868_time(SystemTime::now()));
        Reply::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_values() {
        assert_eq!(rfc868_time(UNIX_EPOCH), 2_208_988_800u32.to_be_bytes());
        // 2036-02-07T06:28:16Z is 2^32 seconds after 1900: the field wraps to 0.
        let wrap = UNIX_EPOCH + Duration::from_secs((1u64 << 32) - RFC868_EPOCH_OFFSET);
        assert_eq!(rfc868_time(wrap), [0, 0, 0, 0]);
    }
}
