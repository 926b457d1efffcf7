//! Command-line parsing, std only, and the `--help` text.
//!
//! `sockref [serve] [FLAGS]` runs the server; with no arguments it serves
//! echo on 127.0.0.1:4000 over TCP and UDP. `sockref client ADDR [MESSAGE]`
//! runs the textbook client; `sockref diagram TRACE` draws a traced run. Flags take their value as the
//! next argument or after `=` (`--workers 8`, `--workers=8`).
//!
//! A bad flag or value is a [`Usage`] error: one line naming the choices,
//! exit status 2. What this module does not do: start anything. `main.rs`
//! turns the parsed [`Command`] into a running server.
//!
//! One file per subcommand: `serve`, `client`, `bench`, `diagram`, `compare`, `check`; this one holds what
//! they share (the argument walker and the value parsers) and the top-level
//! help, which is also serve's (serve is the default command).

use std::fmt;
use std::time::Duration;

use crate::bench::compare::CompareOptions;
use crate::bench::BenchOptions;
use crate::check::CheckOptions;
use crate::client::ClientOptions;
use crate::diagram::DiagramOptions;
use crate::trace::TraceFormat;

mod bench;
mod check;
mod client;
mod compare;
mod diagram;
mod serve;

pub use bench::BENCH_HELP;
pub use check::CHECK_HELP;
pub use client::CLIENT_HELP;
pub use compare::COMPARE_HELP;
pub use diagram::DIAGRAM_HELP;
pub use serve::ServeOptions;

/// A usage error: printed as one line, exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeOptions>),
    /// Run the client.
    Client(Box<ClientOptions>),
    /// Run the load generator against a server.
    Bench(Box<BenchOptions>),
    /// Draw a traced run as a sequence diagram.
    Diagram(Box<DiagramOptions>),
    /// Start servers and compare them under the same load.
    Compare(Box<CompareOptions>),
    /// Grade a server against its service's rules.
    Check(Box<CheckOptions>),
    /// Print this help text and exit 0.
    Help(&'static str),
    /// Print the version and exit 0.
    Version,
}

/// The top-level help text.
pub const HELP: &str = "\
sockref: the C socket sequence in Rust std: a blocking TCP/UDP/Unix-domain server, fixed thread pool

USAGE:
    sockref [serve] [OPTIONS]      run the server (no arguments: echo on 127.0.0.1:4000, TCP+UDP)
    sockref client ADDR [OPTIONS] [MESSAGE]
                                   the textbook client (sockref client --help)
    sockref bench ADDR [OPTIONS]   load-test any echo or HTTP server (see sockref bench --help)
    sockref diagram SERVER.jsonl [--client CLIENT.jsonl] [--format text|mermaid|svg] [-o FILE]
                                   draw a --trace=json run as the textbook's figure
                                   (see sockref diagram --help)
    sockref compare NAME=COMMAND ... [OPTIONS]
                                   start servers and compare them under the same load,
                                   interleaved (see sockref compare --help)
    sockref check ADDR --service NAME [OPTIONS]
                                   grade any server against the service's rules, one line
                                   per rule, with a hint for each failure (sockref check --help)
    sockref --help | --version

SERVE OPTIONS:
    --service NAME         the service                                          [echo]
        echo | discard | chargen | daytime | time | hello | length | http | websocket | chat | socketio
                           http, websocket, chat and socketio are stream only: they serve
                           TCP (or unix:PATH), and --proto udp or both is refused.
                           chat: WebSocket rooms at ws://HOST:PORT/room/NAME (and /): each
                           message goes to every other member of the room.
                           socketio: Socket.IO v5 / Engine.IO v4 at /socket.io/, WebSocket
                           transport only (clients: transports: [\"websocket\"]); event
                           'echo' comes back, any other goes to every other client
    --addr ADDR            HOST:PORT to bind, port 0 picks a free one; or unix:PATH, a
                           Unix-domain socket at PATH                          [127.0.0.1:4000]
    --proto P              tcp | udp | both (same port number; if either bind fails, neither serves)
                           [both]; with unix:PATH, tcp = stream, udp = datagram, both is refused
                           [tcp]
    --workers N            TCP worker threads = connections served at once (1..=20000)  [128]
    --udp-workers N        UDP worker threads sharing the socket               [1]
    --idle-timeout SECS    longest a read()/write() waits for the client; 0 = forever   [30]
    --header-timeout SECS  http, websocket, chat, socketio: a request head not complete
                           within SECS of its first byte gets 408 and a close (the wait
                           for that byte is --idle-timeout's); 0 = no limit  [10]
    --max-message BYTES    websocket, chat, socketio (its maxPayload): the largest message,
                           its fragments together (up to 67108864); a bigger one gets
                           close code 1009. A message is held whole until its last
                           fragment: each connection may hold BYTES, so --workers times
                           BYTES in all                                      [1048576]
    --max-conn-time SECS   longest one connection may hold a worker; 0 = no limit      [0]
    --min-rate-out BYTES   while a write() waits, the client must read at least BYTES a
                           second on average, with one idle timeout of credit, or is cut
                           (a client that stops reading frees its worker about idle
                           timeout + 0.25 s after its last progress); 0 = only the idle
                           timeout; no rule with --idle-timeout 0          [16384]
    --min-rate-in BYTES    the same floor for input while a read() waits; 0 = off (a human
                           typing into nc sends far less)                 [0]
    --max-per-ip N         at most N connections from one source IP address served at once;
                           one more from it gets \"busy\\r\\n\" and is closed at once;
                           Unix-domain peers are not capped; 0 = off      [0]
    --overload MODE        wait: new clients wait in the listen() backlog while all workers are busy;
                           reject: accept, write \"busy\\r\\n\", close at once        [wait]
    --accept MODEL         workers: every worker calls accept(); handoff: one acceptor thread
                           hands connections to workers (implied by --overload reject) [workers]
    --udp-rate N           per-source-IP limit, datagrams per second; 0 = off   [0]
    --allow-low-ports      answer UDP datagrams from source ports below 1024 (off: they are dropped)
    --stack-size KIB       worker thread stack size in KiB                     [256]
    --ping-interval SECS   chat, socketio: a ping after SECS of silence (socketio: sent as
                           pingInterval); after the handshake this heartbeat, not
                           --idle-timeout, decides that a silent client is gone [25]
    --ping-timeout SECS    chat, socketio: a ping unanswered for SECS closes the client
                           with 1011 (socketio: sent as pingTimeout)           [20]
    --drain-timeout SECS   after a service's reply, how long to read leftover input before close [1]
    --trace[=FORMAT]       print every socket call: text | json                [off]
                           (under a read()/write(): the HTTP line, WebSocket frames and
                           Socket.IO packets the bytes carry)
    --max-connections N    stop after serving N TCP connections, print the counters
    --max-datagrams N      stop after handling N UDP datagrams (with --max-connections: both)
    --duration SECS        stop after SECS seconds, print the counters
    --stop-on-stdin        stop when a line 'stop' arrives on stdin (or stdin closes), print the counters
    --grace SECS           on stop, how long in-flight connections may finish  [5]
    --watch ADDR           serve a live page of the socket calls at HOST:PORT (open it in a
                           browser); its own threads, never a worker; loopback only [off]
    --watch-public         let --watch listen on a non-loopback address: the page shows
                           every client's bytes to whoever can reach it

Once bound, prints one line per socket on stdout:
    listening tcp 127.0.0.1:4000 service=echo workers=128
    listening udp 127.0.0.1:4000 service=echo workers=1
    listening unix /tmp/echo.sock service=echo workers=128       (--addr unix:/tmp/echo.sock)
    listening unixgram /tmp/echo.sock service=echo workers=1     (... --proto udp)
then, with --watch, the page's address:
    watching http://127.0.0.1:8080/

EXIT STATUS: 0 ok, 1 runtime failure (e.g. bind() error), 2 usage error.
";

/// Walks the arguments, splitting `--flag=value`.
pub struct Args {
    items: std::vec::IntoIter<String>,
}

impl Args {
    /// Wraps the arguments (without the program name).
    pub fn new(args: Vec<String>) -> Self {
        Args { items: args.into_iter() }
    }

    /// The next flag or positional argument, and its [`Value`] for the
    /// flags that take one.
    pub fn next_arg(&mut self) -> Option<(String, Value<'_>)> {
        let a = self.items.next()?;
        let (flag, inline) = match a.split_once('=') {
            Some((flag, value)) if a.starts_with("--") => (flag.to_string(), Some(value.into())),
            _ => (a, None),
        };
        Some((flag.clone(), Value { flag, inline, args: self }))
    }
}

/// The value of one flag: the inline `=value`, or else the next argument,
/// taken only by a flag that has one. Every parser names the flag in its
/// usage error.
pub struct Value<'a> {
    flag: String,
    inline: Option<String>,
    args: &'a mut Args,
}

impl Value<'_> {
    /// The value as written.
    pub fn text(&mut self) -> Result<String, Usage> {
        if let Some(v) = self.inline.take() {
            return Ok(v);
        }
        self.args.items.next().ok_or_else(|| Usage(format!("{} needs a value", self.flag)))
    }

    /// The value as a number in `min..=max`.
    pub fn number<T>(&mut self, min: T, max: T) -> Result<T, Usage>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let (value, flag) = (self.text()?, &self.flag);
        match value.parse::<T>() {
            Ok(n) if n >= min && n <= max => Ok(n),
            _ => Err(Usage(format!("{flag}: '{value}' is not a number from {min} to {max}"))),
        }
    }

    /// The value as seconds (fractions allowed); 0 means "none" where
    /// `zero_is_none`. A non-zero value under 1 ms is refused: a socket
    /// timeout that rounds to zero would mean "no timeout" to the kernel.
    pub fn seconds(&mut self, zero_is_none: bool) -> Result<Option<Duration>, Usage> {
        let (value, flag) = (self.text()?, &self.flag);
        match value.parse::<f64>() {
            Ok(s) if s > 0.0 && s < 0.001 => Err(Usage(format!(
                "{flag}: '{value}' is too small: use 0 or at least 0.001 seconds"
            ))),
            Ok(s) if s.is_finite() && (0.0..=31_536_000.0).contains(&s) => {
                if s == 0.0 && zero_is_none {
                    Ok(None)
                } else {
                    Ok(Some(Duration::from_secs_f64(s)))
                }
            }
            _ => Err(Usage(format!(
                "{flag}: '{value}' is not a number of seconds from 0 to 31536000"
            ))),
        }
    }

    /// Seconds where 0 is just zero (a pause, a timeout that must be
    /// given): [`Value::seconds`] without the "none".
    pub fn duration(&mut self) -> Result<Duration, Usage> {
        Ok(self.seconds(false)?.unwrap_or_default())
    }

    /// Seconds, more than 0: a limit that cannot be "none".
    pub fn positive(&mut self) -> Result<Duration, Usage> {
        self.seconds(true)?
            .ok_or_else(|| Usage(format!("{}: must be more than 0 seconds", self.flag)))
    }

    /// The value as one of the names in `table`, and the value paired with
    /// it; the error lists the names in the table's order.
    pub fn pick<T: Copy>(&mut self, table: &[(&str, T)]) -> Result<T, Usage> {
        let (value, flag) = (self.text()?, &self.flag);
        table.iter().find(|(name, _)| *name == value).map(|(_, v)| *v).ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
            Usage(format!("{flag}: unknown value '{value}' (choose one of: {})", names.join(", ")))
        })
    }

    /// The value as one of `choices`.
    pub fn choice<'c>(&mut self, choices: &[&'c str]) -> Result<&'c str, Usage> {
        let table: Vec<(&str, &'c str)> = choices.iter().map(|c| (*c, *c)).collect();
        self.pick(&table)
    }

    /// `--trace` alone means text; `--trace=json` asks for JSON lines. The
    /// format is never the next argument: that is the client's message.
    fn trace_format(&mut self) -> Result<TraceFormat, Usage> {
        self.inline.get_or_insert_with(|| "text".to_string());
        self.pick(&[("text", TraceFormat::Text), ("json", TraceFormat::Json)])
    }
}

/// Parses the whole command line (without the program name).
pub fn parse(mut args: Vec<String>) -> Result<Command, Usage> {
    let parse_command = match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => return Ok(Command::Help(HELP)),
        Some("--version" | "-V") => return Ok(Command::Version),
        Some("serve") => serve::parse_serve,
        Some("client") => client::parse_client,
        Some("bench") => bench::parse_bench,
        Some("diagram") => diagram::parse_diagram,
        Some("compare") => compare::parse_compare,
        Some("check") => check::parse_check,
        // `sockref 9190`, `sockref 127.0.0.1:9190`: meant for serve, which
        // says which flag takes an address.
        Some(other) if other.parse::<u16>().is_ok() || other.contains(':') => {
            return serve::parse_serve(args)
        }
        Some(other) if !other.starts_with('-') => {
            return Err(Usage(format!(
            "unknown command '{other}' (choose one of: serve, client, bench, diagram, compare, check; see sockref --help)"
        )))
        }
        // No command: serve is the default.
        _ => return serve::parse_serve(args),
    };
    args.remove(0);
    parse_command(args)
}
