//! `sockref diagram`: the textbook's two-column figure, drawn from a real
//! run's `--trace=json`.
//!
//! ```text
//! server.jsonl (+ client.jsonl)  jsonl::read_records   one flat JSON object per line
//!   -> events, lanes              model::build         a connection or UDP peer per section,
//!                                                       both sides in causal order, the
//!                                                       segments between them (SYN, data, FIN)
//!   -> text | mermaid | svg       text, mermaid, svg   one renderer per format
//! ```
//!
//! The client column comes from the client's own trace when one is given
//! (`sockref client --trace=json`, several runs appended to one file are
//! fine): a connection is matched by the client's local address, which is
//! the server's peer address, or, for Unix-domain stream clients, which
//! have no name, by order. Without one, the column holds only what the
//! server's trace proves (a `connect()` for each `accept()`, a `write()`
//! for each `read()`, a FIN for `read() = 0`), marked as inferred.
//!
//! What it does not do: watch a live server, or invent what no trace shows
//! (lost segments, retransmissions, the client's reads when only the
//! server was traced).

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};

use crate::error::Error;

pub mod jsonl;
mod mermaid;
pub mod model;
pub(crate) mod svg;
mod text;

pub use model::{Call, Diagram, Row, Section, Side};

/// Output format of `sockref diagram`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// An ASCII figure for a terminal, at most 80 columns wide.
    Text,
    /// A Mermaid `sequenceDiagram`, which GitHub draws inside Markdown.
    Mermaid,
    /// A standalone SVG picture, for handouts.
    Svg,
}

/// How much of a long trace to draw: a projected figure stays readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections (or UDP peers) drawn; 0 draws all.
    pub connections: usize,
    /// Calls drawn per connection before the middle ones fold into one
    /// line; 0 never folds.
    pub calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { connections: 8, calls: 24 }
    }
}

/// Everything `sockref diagram` was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiagramOptions {
    /// The server's `--trace=json` output; `-` reads stdin.
    pub server: String,
    /// The client's `--trace=json` output, if any.
    pub client: Option<String>,
    /// What to draw.
    pub format: Format,
    /// Where to write; `None` = stdout.
    pub output: Option<String>,
    /// How much to draw.
    pub limits: Limits,
}

impl Default for DiagramOptions {
    fn default() -> Self {
        DiagramOptions {
            server: String::new(),
            client: None,
            format: Format::Text,
            output: None,
            limits: Limits::default(),
        }
    }
}

/// Why no figure was drawn.
#[derive(Debug)]
pub enum DiagramError {
    /// Reading a trace or writing the figure failed.
    Io(Error),
    /// A line of a trace is damaged or is not a trace event.
    BadLine {
        /// The file, as named on the command line.
        file: String,
        /// Its line number, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A trace holds no JSON line at all.
    NoEvents {
        /// The file, as named on the command line.
        file: String,
    },
    /// A client's trace given as the server's, or the other way round: a
    /// usage error (exit 2), since the files only need swapping.
    WrongSide {
        /// The file, as named on the command line.
        file: String,
        /// The line of the event that shows whose trace it is.
        line: usize,
        /// That event (`connect`, `accept`, `listen`).
        event: String,
        /// True when the file was given as the server's trace.
        given_as_server: bool,
        /// The `--client` file, when it is a server's trace: the two were swapped.
        swapped_with: Option<String>,
    },
}

impl DiagramError {
    /// True when the command line was wrong rather than a file (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, DiagramError::WrongSide { .. })
    }
}

impl fmt::Display for DiagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiagramError::Io(e) => e.fmt(f),
            DiagramError::BadLine { file, line, reason } => write!(f, "{file}:{line}: {reason}"),
            DiagramError::NoEvents { file } => write!(
                f,
                "{file}: no trace events (make it with --trace=json; --trace alone prints text)"
            ),
            DiagramError::WrongSide { file, line, event, swapped_with: Some(other), .. } => {
                write!(
                    f,
                    "{file}:{line}: '{event}' is a client's call, and {other} is a server's \
                     trace: the two are swapped: sockref diagram {other} --client {file}"
                )
            }
            DiagramError::WrongSide { file, line, event, given_as_server: true, .. } => write!(
                f,
                "{file}:{line}: '{event}' is a client's call: this is a client's trace; \
                 pass it with --client: sockref diagram SERVER.jsonl --client {file}"
            ),
            DiagramError::WrongSide { file, line, event, given_as_server: false, .. } => write!(
                f,
                "{file}:{line}: '{event}' is a server's call: this is a server's trace; \
                 pass it first: sockref diagram {file} --client CLIENT.jsonl"
            ),
        }
    }
}

impl std::error::Error for DiagramError {}

/// Reads a trace file (`-`: stdin) into its records.
fn load(file: &str) -> Result<Vec<jsonl::Record>, DiagramError> {
    let io_err = |e: io::Error| DiagramError::Io(Error::new("read()", Some(file.to_string()), e));
    let text = if file == "-" {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s).map_err(io_err)?;
        s
    } else {
        fs::read_to_string(file).map_err(io_err)?
    };
    jsonl::read_records(&text).map_err(|(line, e)| DiagramError::BadLine {
        file: file.to_string(),
        line,
        reason: e.to_string(),
    })
}

/// Draws `diagram` in `format`.
pub fn render(diagram: &Diagram, format: Format) -> String {
    match format {
        Format::Text => text::render(diagram),
        Format::Mermaid => mermaid::render(diagram),
        Format::Svg => svg::render(diagram),
    }
}

/// Builds the figure from trace text already in memory (`names` are the
/// file names messages cite).
pub fn from_traces(
    server: (&str, &str),
    client: Option<(&str, &str)>,
    limits: Limits,
) -> Result<Diagram, DiagramError> {
    let parse = |(name, text): (&str, &str)| {
        jsonl::read_records(text).map_err(|(line, e)| DiagramError::BadLine {
            file: name.to_string(),
            line,
            reason: e.to_string(),
        })
    };
    let s = parse(server)?;
    let c = client.map(parse).transpose()?;
    model::build((server.0, &s), client.map(|c| c.0).zip(c.as_deref()), limits)
}

/// Runs `sockref diagram`: reads the traces, draws, writes the figure.
pub fn run(opts: &DiagramOptions) -> Result<(), DiagramError> {
    let server = load(&opts.server)?;
    let client = opts.client.as_deref().map(load).transpose()?;
    let diagram = model::build(
        (&opts.server, &server),
        opts.client.as_deref().zip(client.as_deref()),
        opts.limits,
    )?;
    let figure = render(&diagram, opts.format);
    match &opts.output {
        Some(path) => fs::write(path, figure)
            .map_err(|e| DiagramError::Io(Error::new("write()", Some(path.clone()), e))),
        None => {
            let mut out = io::stdout().lock();
            match out.write_all(figure.as_bytes()).and_then(|()| out.flush()) {
                // A closed stdout (`| head`) has seen all it wanted.
                Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                    Err(DiagramError::Io(Error::new("write()", Some("stdout".into()), e)))
                }
                _ => Ok(()),
            }
        }
    }
}

/// Splits `s` into lines of at most `width` characters, at spaces where
/// it can, mid-word where a word is longer than a line.
pub(crate) fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if len > 0 {
            out.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            out.push(word.drain(..width).collect());
        }
        line = word.into_iter().collect();
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("socket() + bind() + listen()", 22), ["socket() + bind() +", "listen()"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("a b", 3), ["a b"]);
    }
}
