//! Echo (RFC 862): every byte back, in order, until the client closes.

use std::io::{self, Write};

use super::{Reply, Service};
use crate::net::Endpoint;
use crate::server::Conn;

/// Echo: TCP sends back each chunk as it is read; UDP sends the datagram back.
pub struct Echo;

impl Service for Echo {
    fn name(&self) -> &str {
        "echo"
    }

    // read() -> write() until read() returns 0. After the client's
    // half-close, everything read has already been written back, so the
    // server's close() completes the exchange.
    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        conn.for_each_chunk(|conn, chunk| conn.write_all(chunk))
    }

    fn serve_datagram(&self, request: &[u8], _peer: &Endpoint, reply: &mut Vec<u8>) -> Reply {
        reply.extend_from_slice(request);
        Reply::Send
    }
}
