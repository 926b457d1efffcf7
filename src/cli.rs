//! Command-line parsing, std only, and the `--help` text.
//!
//! `sockref [serve] [FLAGS]` runs the server; with no arguments it serves
//! echo on 127.0.0.1:4000 over TCP and UDP. `sockref client ADDR [MESSAGE]`
//! runs the textbook client. Flags take their value as the
//! next argument or after `=` (`--workers 8`, `--workers=8`).
//!
//! A bad flag or value is a [`Usage`] error: one line naming the choices,
//! exit status 2. What this module does not do: start anything. `main.rs`
//! turns the parsed [`Command`] into a running server.

use std::fmt;
use std::time::Duration;

use crate::bench::{BenchOptions, Mode, Stop, MAX_SIZE};
use crate::client::ClientOptions;
use crate::limits::{AcceptModel, Limits, Overload, MAX_WORKERS};
use crate::server::Protocols;
use crate::service::SERVICE_NAMES;
use crate::trace::{Proto, TraceFormat};

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
    /// Print this help text and exit 0.
    Help(&'static str),
    /// Print the version and exit 0.
    Version,
}

/// Everything `sockref serve` was told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Built-in service name.
    pub service: String,
    /// Address to bind.
    pub addr: String,
    /// Protocols to serve.
    pub protocols: Protocols,
    /// All bounds.
    pub limits: Limits,
    /// Print every socket call.
    pub trace: Option<TraceFormat>,
    /// Stop after this many connections have been served.
    pub max_connections: Option<u64>,
    /// Stop after this many UDP datagrams have been handled.
    pub max_datagrams: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when a `stop` line arrives on stdin, or stdin closes.
    pub stop_on_stdin: bool,
    /// Grace period for in-flight connections when stopping.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            service: "echo".to_string(),
            addr: "127.0.0.1:4000".to_string(),
            protocols: Protocols::Both,
            limits: Limits::default(),
            trace: None,
            max_connections: None,
            max_datagrams: None,
            duration: None,
            stop_on_stdin: false,
            grace: Duration::from_secs(5),
        }
    }
}

/// The top-level help text.
pub const HELP: &str = "\
sockref: the C socket sequence in Rust std: a blocking TCP/UDP server with a fixed thread pool

USAGE:
    sockref [serve] [OPTIONS]      run the server (no arguments: echo on 127.0.0.1:4000, TCP+UDP)
    sockref client ADDR [OPTIONS] [MESSAGE]
                                   the textbook client (sockref client --help)
    sockref bench ADDR [OPTIONS]   load-test any echo server (see sockref bench --help)
    sockref --help | --version

SERVE OPTIONS:
    --service NAME         echo | discard | chargen | daytime | time | hello | length   [echo]
    --addr ADDR            address to bind; port 0 picks a free one            [127.0.0.1:4000]
    --proto P              tcp | udp | both (same port number; if either bind fails, neither serves) [both]
    --workers N            TCP worker threads = connections served at once (1..=20000)  [128]
    --udp-workers N        UDP worker threads sharing the socket               [1]
    --idle-timeout SECS    longest a read()/write() waits for the client; 0 = forever   [30]
    --max-conn-time SECS   longest one connection may hold a worker; 0 = no limit      [0]
    --overload MODE        wait: new clients wait in the listen() backlog while all workers are busy;
                           reject: accept, write \"busy\\r\\n\", close at once        [wait]
    --accept MODEL         workers: every worker calls accept(); handoff: one acceptor thread
                           hands connections to workers (implied by --overload reject) [workers]
    --udp-rate N           per-source-IP limit, datagrams per second; 0 = off   [0]
    --allow-low-ports      answer UDP datagrams from source ports below 1024 (off: they are dropped)
    --stack-size KIB       worker thread stack size in KiB                     [256]
    --drain-timeout SECS   after a service's reply, how long to read leftover input before close [1]
    --trace[=FORMAT]       print every socket call: text | json                [off]
    --max-connections N    stop after serving N TCP connections, print the counters
    --max-datagrams N      stop after handling N UDP datagrams (with --max-connections: both)
    --duration SECS        stop after SECS seconds, print the counters
    --stop-on-stdin        stop when a line 'stop' arrives on stdin (or stdin closes), print the counters
    --grace SECS           on stop, how long in-flight connections may finish  [5]

Once bound, prints one line per protocol on stdout:
    listening tcp 127.0.0.1:4000 service=echo workers=128

EXIT STATUS: 0 ok, 1 runtime failure (e.g. bind() error), 2 usage error.
";

/// The help text of `sockref client`.
pub const CLIENT_HELP: &str = "\
sockref client: the textbook client: socket() -> connect() -> write() -> read() -> close()
(UDP: socket() -> sendto() -> recvfrom())

USAGE:
    sockref client ADDR [OPTIONS] [MESSAGE]

    With MESSAGE: send it as is (no newline added), then print the reply on stdout.
      TCP: write(), shutdown(SHUT_WR), read() until the server closes.
      UDP: one sendto(), one recvfrom().
    Without MESSAGE: a tiny netcat. TCP: stdin goes to the socket and the socket to stdout;
      at end of stdin the client half-closes (shutdown(SHUT_WR)) and prints what is left
      until the server closes. UDP: each stdin line is one datagram; each reply is printed.

CLIENT OPTIONS:
    --proto P              tcp | udp                                           [tcp]
    --timeout SECS         longest connect(), one write(), or a wait for the reply (once
                           everything is sent) may take; 0 = forever           [30]
    --trace[=FORMAT]       print every socket call on stderr: text | json     [off]
    --                     end of options (for a MESSAGE starting with -)

EXIT STATUS: 0 ok, 1 runtime failure (connect() error, timeout, ...), 2 usage error.
";

/// Walks the arguments, splitting `--flag=value`.
pub struct Args {
    items: std::vec::IntoIter<String>,
}

impl Args {
    /// Wraps the arguments (without the program name).
    pub fn new(args: Vec<String>) -> Self {
        Args {
            items: args.into_iter(),
        }
    }

    /// The next flag or positional argument, and an inline `=value` if any.
    pub fn next_arg(&mut self) -> Option<(String, Option<String>)> {
        let a = self.items.next()?;
        if a.starts_with("--") {
            if let Some((flag, value)) = a.split_once('=') {
                return Some((flag.to_string(), Some(value.to_string())));
            }
        }
        Some((a, None))
    }

    /// The value of `flag`: the inline one, or the next argument.
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, Usage> {
        if let Some(v) = inline {
            return Ok(v);
        }
        self.items
            .next()
            .ok_or_else(|| Usage(format!("{flag} needs a value")))
    }
}

/// Parses `value` as a number in `min..=max`.
pub fn number<T>(flag: &str, value: &str, min: T, max: T) -> Result<T, Usage>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(Usage(format!(
            "{flag}: '{value}' is not a number from {min} to {max}"
        ))),
    }
}

/// Parses seconds (fractions allowed); 0 means "none" where `zero_is_none`.
/// A non-zero value under 1 ms is refused: a socket timeout that rounds to
/// zero would mean "no timeout" to the kernel.
pub fn seconds(flag: &str, value: &str, zero_is_none: bool) -> Result<Option<Duration>, Usage> {
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

/// Parses `value` as one of `choices`.
pub fn choice<'a>(flag: &str, value: &str, choices: &[&'a str]) -> Result<&'a str, Usage> {
    choices
        .iter()
        .find(|c| **c == value)
        .copied()
        .ok_or_else(|| {
            Usage(format!(
                "{flag}: unknown value '{value}' (choose one of: {})",
                choices.join(", ")
            ))
        })
}

/// Parses the whole command line (without the program name).
pub fn parse(args: Vec<String>) -> Result<Command, Usage> {
    let mut rest = args;
    match rest.first().map(String::as_str) {
        Some("serve") => {
            rest.remove(0);
        }
        Some("--help" | "-h" | "help") => return Ok(Command::Help(HELP)),
        Some("--version" | "-V") => return Ok(Command::Version),
        Some("client") => {
            rest.remove(0);
            return parse_client(rest);
        }
        Some("bench") => {
            rest.remove(0);
            return parse_bench(rest);
        }
        Some(other) if !other.starts_with('-') => {
            return Err(Usage(format!(
            "unknown command '{other}' (choose one of: serve, client, bench; see sockref --help)"
        )))
        }
        _ => {}
    }
    parse_serve(rest)
}

fn parse_serve(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = ServeOptions::default();
    let mut args = Args::new(args);
    while let Some((flag, inline)) = args.next_arg() {
        let f = flag.as_str();
        match f {
            "--help" | "-h" => return Ok(Command::Help(HELP)),
            "--version" | "-V" => return Ok(Command::Version),
            "--service" => {
                let v = args.value(f, inline)?;
                o.service = choice(f, &v, &SERVICE_NAMES)?.to_string();
            }
            "--addr" => o.addr = args.value(f, inline)?,
            "--proto" => {
                o.protocols = match choice(f, &args.value(f, inline)?, &["tcp", "udp", "both"])? {
                    "tcp" => Protocols::Tcp,
                    "udp" => Protocols::Udp,
                    _ => Protocols::Both,
                }
            }
            "--workers" => o.limits.workers = number(f, &args.value(f, inline)?, 1, MAX_WORKERS)?,
            "--udp-workers" => o.limits.udp_workers = number(f, &args.value(f, inline)?, 1, 1024)?,
            "--idle-timeout" => o.limits.idle_timeout = seconds(f, &args.value(f, inline)?, true)?,
            "--max-conn-time" => {
                o.limits.max_conn_time = seconds(f, &args.value(f, inline)?, true)?
            }
            "--drain-timeout" => {
                o.limits.drain_timeout =
                    seconds(f, &args.value(f, inline)?, false)?.unwrap_or_default()
            }
            "--overload" => {
                o.limits.overload = match choice(f, &args.value(f, inline)?, &["wait", "reject"])? {
                    "wait" => Overload::Wait,
                    _ => Overload::Reject,
                }
            }
            "--accept" => {
                o.limits.accept_model =
                    match choice(f, &args.value(f, inline)?, &["workers", "handoff"])? {
                        "workers" => AcceptModel::Workers,
                        _ => AcceptModel::Handoff,
                    }
            }
            "--udp-rate" => {
                let n: u32 = number(f, &args.value(f, inline)?, 0, 10_000_000)?;
                o.limits.udp_rate = (n > 0).then_some(n);
            }
            "--allow-low-ports" => o.limits.udp_allow_low_ports = true,
            "--stack-size" => {
                let kib: usize = number(f, &args.value(f, inline)?, 64, 65_536)?;
                o.limits.stack_size = kib * 1024;
            }
            "--trace" => o.trace = Some(trace_format(f, inline)?),
            "--max-connections" => {
                o.max_connections = Some(number(f, &args.value(f, inline)?, 1, u64::MAX)?)
            }
            "--max-datagrams" => {
                o.max_datagrams = Some(number(f, &args.value(f, inline)?, 1, u64::MAX)?)
            }
            "--duration" => {
                let v = args.value(f, inline)?;
                o.duration = seconds(f, &v, true)?;
                if o.duration.is_none() {
                    return Err(Usage(format!("{f}: must be more than 0 seconds")));
                }
            }
            "--stop-on-stdin" => o.stop_on_stdin = true,
            "--grace" => o.grace = seconds(f, &args.value(f, inline)?, false)?.unwrap_or_default(),
            _ => {
                return Err(Usage(format!(
                    "unknown option '{flag}' (see sockref --help for the options of serve)"
                )))
            }
        }
    }
    // A count of something the server does not serve would never be
    // reached: the server would run forever instead of stopping.
    if o.max_connections.is_some() && o.protocols == Protocols::Udp {
        return Err(Usage(
            "--max-connections counts TCP connections; with --proto udp use --max-datagrams"
                .to_string(),
        ));
    }
    if o.max_datagrams.is_some() && o.protocols == Protocols::Tcp {
        return Err(Usage(
            "--max-datagrams counts UDP datagrams; with --proto tcp use --max-connections"
                .to_string(),
        ));
    }
    Ok(Command::Serve(Box::new(o)))
}

/// `--trace` alone means text; `--trace=json` asks for JSON lines.
fn trace_format(flag: &str, inline: Option<String>) -> Result<TraceFormat, Usage> {
    let v = inline.unwrap_or_else(|| "text".to_string());
    Ok(match choice(flag, &v, &["text", "json"])? {
        "text" => TraceFormat::Text,
        _ => TraceFormat::Json,
    })
}

fn parse_client(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = ClientOptions::default();
    let mut positional = Vec::new();
    let mut args = Args::new(args);
    let mut options_done = false;
    let mut after_bare_trace = false;
    while let Some((flag, inline)) = args.next_arg() {
        let f = flag.as_str();
        let follows_bare_trace = std::mem::take(&mut after_bare_trace);
        if options_done || !f.starts_with('-') || f == "-" {
            // `--trace json` would otherwise send "json" as the message.
            if follows_bare_trace && !options_done && (f == "json" || f == "text") {
                return Err(Usage(format!(
                    "--trace takes its format after '=': --trace={f} (to send '{f}', put -- before it)"
                )));
            }
            positional.push(match inline {
                Some(v) => format!("{flag}={v}"),
                None => flag,
            });
            continue;
        }
        match f {
            "--" => options_done = true,
            "--help" | "-h" => return Ok(Command::Help(CLIENT_HELP)),
            "--proto" => {
                o.proto = match choice(f, &args.value(f, inline)?, &["tcp", "udp"])? {
                    "tcp" => Proto::Tcp,
                    _ => Proto::Udp,
                }
            }
            "--timeout" => o.timeout = seconds(f, &args.value(f, inline)?, true)?,
            "--trace" => {
                after_bare_trace = inline.is_none();
                o.trace = Some(trace_format(f, inline)?);
            }
            _ => {
                return Err(Usage(format!(
                    "unknown option '{flag}' (see sockref client --help)"
                )))
            }
        }
    }
    let mut positional = positional.into_iter();
    o.addr = positional.next().ok_or_else(|| {
        Usage("client needs an address, e.g. sockref client 127.0.0.1:4000".to_string())
    })?;
    o.message = positional.next().map(String::into_bytes);
    if let Some(extra) = positional.next() {
        return Err(Usage(format!(
            "client: unexpected argument '{extra}' (quote a MESSAGE with spaces)"
        )));
    }
    Ok(Command::Client(Box::new(o)))
}

/// The help text of `sockref bench`.
pub const BENCH_HELP: &str = "\
sockref bench: a load generator for any echo server (TCP or UDP), std only

USAGE:
    sockref bench ADDR [OPTIONS]

MODES (--mode):
    pingpong   N persistent connections over T threads; each round writes SIZE bytes on
               every connection of a thread, then reads them all back, checking every
               byte                                                              [default]
    churn      per request: connect -> write -> read -> close, on T threads (--conns unused)
    udp        T threads, one SIZE-byte datagram in flight each; no echo within --timeout = lost
               (--conns unused)
    idle       open N connections, one echo each, hold them for --duration (no warm-up);
               report how many held

OPTIONS:
    --mode MODE            pingpong | churn | udp | idle                       [pingpong]
    --proto P              tcp | udp (udp = --mode udp; other modes are tcp)   [tcp]
    --conns N              connections (pingpong, idle; churn and udp: unused) [10]
    --threads T            client threads                                      [min(conns, 2)]
    --size BYTES           payload per request (udp: 8 to 65507)               [64]
    --duration SECS        measured time, more than 0 (idle: hold time, 0 ok)  [5]
    --requests N           stop after N measured requests instead of a duration
                           (not idle)
    --warmup SECS          traffic before measuring starts (not idle)          [1]
    --timeout SECS         connect/read/write timeout; UDP loss timeout        [2]
    --server-pid PID       also report the CPU that process used (Linux /proc): cost per request
    --json                 print one JSON object instead of the table
    --quiet                no progress line (it is only printed when stderr is a terminal)

REPORT: requests/s, MB/s (payload, one direction), latency p50/p90/p99/p99.9/max in
microseconds, errors by kind (in the measured time and while connecting; warm-up errors
are reported apart), the generator's own CPU (cores, and us per request) and, with
--server-pid, the server's.

LATENCY: closed loop, one request in flight per connection. With more connections than
threads, pingpong runs in lockstep rounds, so a latency includes the time the thread
spends serving its other connections' echoes. For per-request server latency use
--threads equal to --conns.

BOUNDS: connecting takes at most --timeout in all (connections not open by then are
timeout errors), and so does idle's echo on each; then come the warm-up and --duration,
and at most one --timeout more: requests still in flight at the deadline are abandoned,
neither counted nor failed.

ADDR may resolve to several addresses (localhost: ::1 and 127.0.0.1): the first that
accepts a TCP connection is used; udp uses the first.

EXIT STATUS: 0 ok (errors are reported, not fatal), 1 no request succeeded or the
address did not resolve, 2 usage error.
";

fn parse_bench(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = BenchOptions::default();
    let mut args = Args::new(args);
    // --mode and --proto are checked against each other once both are known.
    let (mut addr, mut threads, mut mode, mut proto) = (None, None, None, None);
    while let Some((flag, inline)) = args.next_arg() {
        let f = flag.as_str();
        match f {
            "--help" | "-h" => return Ok(Command::Help(BENCH_HELP)),
            "--mode" => {
                mode = Some(
                    match choice(
                        f,
                        &args.value(f, inline)?,
                        &["pingpong", "churn", "udp", "idle"],
                    )? {
                        "pingpong" => Mode::Pingpong,
                        "churn" => Mode::Churn,
                        "udp" => Mode::Udp,
                        _ => Mode::Idle,
                    },
                )
            }
            "--proto" => proto = Some(choice(f, &args.value(f, inline)?, &["tcp", "udp"])?),
            "--conns" => o.conns = number(f, &args.value(f, inline)?, 1, 100_000)?,
            "--threads" => threads = Some(number(f, &args.value(f, inline)?, 1, 1024)?),
            "--size" => o.size = number(f, &args.value(f, inline)?, 1, MAX_SIZE)?,
            "--duration" => {
                let d = seconds(f, &args.value(f, inline)?, false)?.unwrap_or_default();
                o.stop = Stop::Duration(d);
            }
            "--requests" => {
                o.stop = Stop::Requests(number(f, &args.value(f, inline)?, 1, u64::MAX)?)
            }
            "--warmup" => {
                o.warmup = seconds(f, &args.value(f, inline)?, false)?.unwrap_or_default()
            }
            "--timeout" => {
                o.timeout = match seconds(f, &args.value(f, inline)?, false)? {
                    Some(t) if !t.is_zero() => t,
                    _ => return Err(Usage(format!("{f}: must be more than 0 seconds"))),
                }
            }
            "--server-pid" => o.server_pid = Some(number(f, &args.value(f, inline)?, 1, u32::MAX)?),
            "--json" => o.json = true,
            "--quiet" | "-q" => o.progress = false,
            _ if !f.starts_with('-') && addr.is_none() => addr = Some(flag),
            _ if !f.starts_with('-') => {
                return Err(Usage(format!(
                    "unexpected argument '{flag}': bench takes one ADDR (see sockref bench --help)"
                )))
            }
            _ => {
                return Err(Usage(format!(
                    "unknown option '{flag}' (see sockref bench --help)"
                )))
            }
        }
    }
    o.addr =
        addr.ok_or_else(|| Usage("bench needs the server's ADDR, e.g. 127.0.0.1:4000".into()))?;
    // --proto udp is a short way to say --mode udp; any other pairing is a
    // contradiction, refused rather than silently resolved one way.
    o.mode = match (mode, proto) {
        (Some(m), Some(p)) if (m == Mode::Udp) != (p == "udp") => {
            return Err(Usage(format!(
                "--mode {} and --proto {p} contradict each other",
                m.name()
            )))
        }
        (Some(m), _) => m,
        (None, Some("udp")) => Mode::Udp,
        (None, _) => Mode::Pingpong,
    };
    if o.mode == Mode::Udp && o.size < 8 {
        return Err(Usage(
            "--size: udp needs at least 8 bytes (they carry the sequence number)".into(),
        ));
    }
    // A larger datagram cannot be sent at all (EMSGSIZE on every send).
    let max_datagram = crate::limits::MAX_DATAGRAM;
    if o.mode == Mode::Udp && o.size > max_datagram {
        return Err(Usage(format!(
            "--size: {} bytes do not fit in one UDP datagram (at most {max_datagram})",
            o.size
        )));
    }
    match (o.mode, o.stop) {
        // Idle holds for --duration; 0 s is meaningful there (open, echo
        // once, check, close), a request count is not.
        (Mode::Idle, Stop::Requests(_)) => return Err(Usage(
            "--requests: idle mode makes one echo per connection; use --duration for the hold time"
                .into(),
        )),
        (Mode::Idle, Stop::Duration(_)) => {}
        (_, Stop::Duration(d)) if d.is_zero() => {
            return Err(Usage(format!(
                "--duration: {} mode needs more than 0 seconds",
                o.mode.name()
            )))
        }
        _ => {}
    }
    // One thread per connection at most: more would have nothing to do.
    o.threads = threads.unwrap_or(match o.mode {
        Mode::Pingpong | Mode::Idle => o.conns.min(2),
        Mode::Churn | Mode::Udp => 2,
    });
    if matches!(o.mode, Mode::Pingpong | Mode::Idle) {
        o.threads = o.threads.min(o.conns);
    }
    Ok(Command::Bench(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn no_arguments_serve_echo_on_4000_both() {
        let Ok(Command::Serve(o)) = p(&[]) else {
            panic!()
        };
        assert_eq!(o.service, "echo");
        assert_eq!(o.addr, "127.0.0.1:4000");
        assert_eq!(o.protocols, Protocols::Both);
    }

    #[test]
    fn flags_take_values_both_ways() {
        let Ok(Command::Serve(o)) = p(&["serve", "--workers=8", "--service", "length", "--trace"])
        else {
            panic!()
        };
        assert_eq!(o.limits.workers, 8);
        assert_eq!(o.service, "length");
        assert_eq!(o.trace, Some(TraceFormat::Text));
    }

    #[test]
    fn bad_values_name_the_choices() {
        let e = p(&["--service", "ftp"]).unwrap_err();
        assert!(e.0.contains("echo, discard, chargen"), "{e}");
        let e = p(&["--workers", "0"]).unwrap_err();
        assert!(e.0.contains("from 1 to 20000"), "{e}");
        let e = p(&["--bogus"]).unwrap_err();
        assert!(e.0.contains("unknown option '--bogus'"), "{e}");
        let e = p(&["--idle-timeout"]).unwrap_err();
        assert_eq!(e.0, "--idle-timeout needs a value");
    }

    #[test]
    fn stop_counts_must_match_the_protocol() {
        let e = p(&["--proto", "udp", "--max-connections", "1"]).unwrap_err();
        assert!(e.0.contains("use --max-datagrams"), "{e}");
        let e = p(&["--proto", "tcp", "--max-datagrams", "1"]).unwrap_err();
        assert!(e.0.contains("use --max-connections"), "{e}");
        let Ok(Command::Serve(o)) = p(&["--max-connections=2", "--max-datagrams=3"]) else {
            panic!()
        };
        assert_eq!((o.max_connections, o.max_datagrams), (Some(2), Some(3)));
    }

    #[test]
    fn client_takes_an_address_options_and_a_message() {
        let Ok(Command::Client(o)) = p(&[
            "client",
            "127.0.0.1:7",
            "--proto=udp",
            "--timeout",
            "2",
            "--trace=json",
            "--",
            "-hi",
        ]) else {
            panic!()
        };
        assert_eq!(o.addr, "127.0.0.1:7");
        assert_eq!(o.proto, Proto::Udp);
        assert_eq!(o.timeout, Some(std::time::Duration::from_secs(2)));
        assert_eq!(o.trace, Some(TraceFormat::Json));
        assert_eq!(o.message.as_deref(), Some(&b"-hi"[..]));
        let Ok(Command::Client(o)) = p(&["client", "localhost:4000", "--timeout=0"]) else {
            panic!()
        };
        assert_eq!((o.message, o.timeout, o.proto), (None, None, Proto::Tcp));
        let e = p(&["client"]).unwrap_err();
        assert!(e.0.contains("needs an address"), "{e}");
        let e = p(&["client", "a:1", "b", "c"]).unwrap_err();
        assert!(e.0.contains("unexpected argument 'c'"), "{e}");
        assert!(matches!(
            p(&["client", "--help"]),
            Ok(Command::Help(CLIENT_HELP))
        ));
    }

    #[test]
    fn bench_takes_an_address_and_spreads_threads() {
        let Ok(Command::Bench(o)) = p(&["bench", "127.0.0.1:9", "--conns", "1", "--requests=5"])
        else {
            panic!()
        };
        assert_eq!(o.addr, "127.0.0.1:9");
        assert_eq!(o.threads, 1, "never more threads than connections");
        assert_eq!(o.stop, Stop::Requests(5));
        let e = p(&["bench"]).unwrap_err();
        assert!(e.0.contains("needs the server's ADDR"), "{e}");
        let e = p(&["bench", "x:1", "--proto", "udp", "--size", "4"]).unwrap_err();
        assert!(e.0.contains("at least 8"), "{e}");
    }

    #[test]
    fn client_trace_format_goes_after_an_equals_sign() {
        let e = p(&["client", "127.0.0.1:4000", "--trace", "json"]).unwrap_err();
        assert!(e.0.contains("--trace=json"), "{e}");
        let Ok(Command::Client(o)) = p(&["client", "127.0.0.1:4000", "--trace", "--", "json"])
        else {
            panic!()
        };
        assert_eq!(o.message.as_deref(), Some(&b"json"[..]));
        assert_eq!(o.trace, Some(TraceFormat::Text));
    }
}
