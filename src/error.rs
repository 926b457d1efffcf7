//! The one error type: which C call failed, on what address, and why.
//!
//! Messages read like a C program's `perror()` with context, e.g.
//! `bind() error: 127.0.0.1:4000: Address already in use (os error 98)`,
//! so a student sees at once which step of the sequence went wrong.

use std::fmt;
use std::io;

/// A failed socket call.
#[derive(Debug)]
pub struct Error {
    call: &'static str,
    target: Option<String>,
    source: io::Error,
}

impl Error {
    /// An error from `call` (e.g. `"bind()"`) on `target` (an address, or
    /// `None` when there is none to name).
    pub fn new(call: &'static str, target: Option<String>, source: io::Error) -> Self {
        Error { call, target, source }
    }

    /// The C call that failed, e.g. `"bind()"`.
    pub fn call(&self) -> &'static str {
        self.call
    }

    /// The OS error.
    pub fn io(&self) -> &io::Error {
        &self.source
    }

    /// Consumes the error, giving back the OS error.
    pub fn into_io(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Some(t) => write!(f, "{} error: {}: {}", self.call, t, self.source),
            None => write!(f, "{} error: {}", self.call, self.source),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}
