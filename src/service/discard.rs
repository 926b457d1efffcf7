//! Discard (RFC 863): read and drop everything; never answer.

use std::io;

use super::Service;
use crate::server::Conn;

/// Discard: TCP reads until end of file; UDP sends nothing.
pub struct Discard;

impl Service for Discard {
    fn name(&self) -> &str {
        "discard"
    }

    fn serve_stream(&self, conn: &mut Conn<'_>) -> io::Result<()> {
        conn.for_each_chunk(|_, _| Ok(()))
    }
}
