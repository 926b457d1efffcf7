//! Hello: the textbook's first server. `write(sock, msg, sizeof(msg))` of
//! `char msg[] = "Hello World!"`, so the 12 letters and the NUL: 13 bytes.

use std::io::{self, Write};

use super::{Reply, Service};
use crate::net::Endpoint;
use crate::server::Conn;

/// The 13 bytes the C program sends: `sizeof("Hello World!")` counts the NUL.
pub const HELLO_MSG: &[u8; 13] = b"Hello World!\0";

/// Hello: writes [`HELLO_MSG`] and closes; over UDP, answers any datagram with it.
pub struct Hello;

impl Service for Hello {
    fn name(&self) -> &str {
        "hello"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        conn.write_all(HELLO_MSG)
    }

    fn serve_datagram(&self, _request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        reply.extend_from_slice(HELLO_MSG);
        Reply::Send
    }
}
