//! Command-line parsing, std only, and the `--help` text.
//!
//! `sockref [serve] [FLAGS]` runs the server; with no arguments it serves
//! echo on 127.0.0.1:4000 over TCP and UDP. Flags take their value as the
//! next argument or after `=` (`--workers 8`, `--workers=8`).
//!
//! A bad flag or value is a [`Usage`] error: one line naming the choices,
//! exit status 2. What this module does not do: start anything. `main.rs`
//! turns the parsed [`Command`] into a running server.

use std::fmt;
use std::time::Duration;

use crate::bench::{BenchOptions, Mode, Stop, MAX_SIZE};
use crate::limits::{AcceptModel, Limits, Overload, MAX_WORKERS};
use crate::server::Protocols;
use crate::service::SERVICE_NAMES;
use crate::trace::TraceFormat;

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
    sockref bench ADDR [OPTIONS]   load-test any echo server (see sockref bench --help)
    sockref --help | --version

SERVE OPTIONS:
    --service NAME         echo | discard | chargen | daytime | time | hello | length   [echo]
    --addr ADDR            address to bind; port 0 picks a free one            [127.0.0.1:4000]
    --proto P              tcp | udp | both (same port number; if either bind fails, neither serves) [both]
    --workers N            TCP worker threads = connections served at once (1..=20000)  [128]
    --udp-workers N        UDP worker threads                                  [CPUs, at most 8]
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
    --duration SECS        stop after SECS seconds, print the counters
    --stop-on-stdin        stop when a line 'stop' arrives on stdin (or stdin closes), print the counters
    --grace SECS           on stop, how long in-flight connections may finish  [5]

Once bound, prints one line per protocol on stdout:
    listening tcp 127.0.0.1:4000 service=echo workers=128

EXIT STATUS: 0 ok, 1 runtime failure (e.g. bind() error), 2 usage error.
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
pub fn seconds(flag: &str, value: &str, zero_is_none: bool) -> Result<Option<Duration>, Usage> {
    match value.parse::<f64>() {
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
        Some("bench") => {
            rest.remove(0);
            return parse_bench(rest);
        }
        Some(other) if !other.starts_with('-') => {
            return Err(Usage(format!(
                "unknown command '{other}' (choose one of: serve, bench; see sockref --help)"
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
            "--trace" => {
                let v = inline.unwrap_or_else(|| "text".to_string());
                o.trace = Some(match choice(f, &v, &["text", "json"])? {
                    "text" => TraceFormat::Text,
                    _ => TraceFormat::Json,
                });
            }
            "--max-connections" => {
                o.max_connections = Some(number(f, &args.value(f, inline)?, 1, u64::MAX)?)
            }
            "--duration" => o.duration = seconds(f, &args.value(f, inline)?, true)?,
            "--stop-on-stdin" => o.stop_on_stdin = true,
            "--grace" => o.grace = seconds(f, &args.value(f, inline)?, false)?.unwrap_or_default(),
            _ => {
                return Err(Usage(format!(
                    "unknown option '{flag}' (see sockref --help for the options of serve)"
                )))
            }
        }
    }
    Ok(Command::Serve(Box::new(o)))
}

/// The help text of `sockref bench`.
pub const BENCH_HELP: &str = "\
sockref bench: a load generator for any echo server (TCP or UDP), std only

USAGE:
    sockref bench ADDR [OPTIONS]

MODES (--mode):
    pingpong   N persistent connections over T threads; each round trip writes SIZE bytes
               and reads them all back, checking every byte                      [default]
    churn      per request: connect -> write -> read -> close, on T threads
    udp        T threads, one SIZE-byte datagram in flight each; no echo within --timeout = lost
    idle       open N connections, one echo each, hold them for --duration; report how many held

OPTIONS:
    --mode MODE            pingpong | churn | udp | idle                       [pingpong]
    --proto P              tcp | udp (udp = --mode udp)                        [tcp]
    --conns N              connections (pingpong, idle)                        [10]
    --threads T            client threads                                      [min(conns, 2)]
    --size BYTES           payload per request (udp: at least 8)               [64]
    --duration SECS        measured time (idle: hold time)                     [5]
    --requests N           stop after N measured requests instead of a duration
    --warmup SECS          traffic before measuring starts                     [1]
    --timeout SECS         connect/read/write timeout; UDP loss timeout        [2]
    --server-pid PID       also report the CPU that process used (Linux /proc): cost per request
    --json                 print one JSON object instead of the table
    --quiet                no progress line (it is only printed when stderr is a terminal)

REPORT: requests/s, MB/s (payload, one direction), latency p50/p90/p99/p99.9/max in
microseconds, errors by kind, the generator's own CPU (cores, and us per request) and,
with --server-pid, the server's.

EXIT STATUS: 0 ok (errors are reported, not fatal), 1 no request succeeded or the
address did not resolve, 2 usage error.
";

fn parse_bench(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = BenchOptions::default();
    let mut args = Args::new(args);
    let (mut addr, mut threads, mut proto_udp) = (None, None, false);
    while let Some((flag, inline)) = args.next_arg() {
        let f = flag.as_str();
        match f {
            "--help" | "-h" => return Ok(Command::Help(BENCH_HELP)),
            "--mode" => {
                o.mode = match choice(
                    f,
                    &args.value(f, inline)?,
                    &["pingpong", "churn", "udp", "idle"],
                )? {
                    "pingpong" => Mode::Pingpong,
                    "churn" => Mode::Churn,
                    "udp" => Mode::Udp,
                    _ => Mode::Idle,
                }
            }
            "--proto" => proto_udp = choice(f, &args.value(f, inline)?, &["tcp", "udp"])? == "udp",
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
            _ => {
                return Err(Usage(format!(
                    "unknown option '{flag}' (see sockref bench --help)"
                )))
            }
        }
    }
    o.addr =
        addr.ok_or_else(|| Usage("bench needs the server's ADDR, e.g. 127.0.0.1:4000".into()))?;
    if proto_udp {
        o.mode = Mode::Udp;
    }
    if o.mode == Mode::Udp && o.size < 8 {
        return Err(Usage(
            "--size: udp needs at least 8 bytes (they carry the sequence number)".into(),
        ));
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
}
