//! `sockref bench ADDR [OPTIONS]`: the load generator's flags.
//!
//! What it does not do: run anything; `bench::run` does.

use super::{Args, Command, Usage, Value};
use crate::bench::{BenchOptions, Framing, Mode, Stop, MAX_PIPELINE, MAX_RATE, MAX_SIZE};
use crate::net::Address;

/// The help text of `sockref bench`.
pub const BENCH_HELP: &str = "\
sockref bench: a load generator for any echo server (TCP or UDP) or HTTP/1.1 server, std only

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
    http       N keep-alive HTTP/1.1 connections over T threads; each round writes --pipeline
               requests 'GET /plaintext' on every connection, then reads every response (200 with
               Content-Length, else counted as status or malformed)
    http-close per request: connect -> GET /plaintext with Connection: close -> read the 200 ->
               close, on T threads (--conns unused)
    websocket  N upgraded WebSocket connections over T threads, in rounds as pingpong; each
               message is SIZE letters in a text frame (--framing raw: 'sockref serve
               --service websocket' echoes it) or a Socket.IO event 42[\"echo\",\"...\"]
               (--framing socketio, socketio-ack: 'sockref serve --service socketio' sends
               it back, and the ack 43N[...]); reports the bytes on the wire per message

OPTIONS:
    --mode MODE            pingpong | churn | udp | idle | http | http-close | websocket
                                                                               [pingpong]
    --proto P              tcp | udp (udp = --mode udp; other modes are tcp)   [tcp]
    --conns N              connections (pingpong, idle, http; udp: with --rate, sockets;
                           churn and udp: unused)                             [10]
    --threads T            client threads                      [min(conns, 2); with --rate 1]
    --size BYTES           payload per request (udp: 8 to 65507; http: unused) [64]
    --pipeline N           http: requests written at once per connection (1..=1024) [1]
    --framing F            websocket: raw | socketio | socketio-ack                [raw]
    --duration SECS        measured time, more than 0 (idle: hold time, 0 ok)  [5]
    --requests N           stop after N measured requests instead of a duration
                           (not idle)
    --rate R               open loop: R requests/s over all connections, on a schedule
                           (pingpong, http, udp; see OPEN LOOP)          [closed loop]
    --warmup SECS          traffic before measuring starts (not idle)          [1]
    --timeout SECS         connect/read/write timeout; UDP loss timeout        [2]
    --server-pid PID       also report the CPU that process used (Linux /proc): cost per request
    --json                 print one JSON object instead of the table
    --quiet                no progress line (it is only printed when stderr is a terminal)

REPORT: requests/s, MB/s (payload, one direction), latency p50/p90/p99/p99.9/max in
microseconds, errors by kind (in the measured time and while connecting; warm-up errors
are reported apart), the generator's own CPU (cores, and us per request) and, with
--server-pid, the server's.

OPEN LOOP (--rate R): every connection (udp: every one of --conns sockets) gets an
evenly spaced schedule, R/N requests/s each, the connections' phases staggered, one
request in flight; each latency runs from the moment its request was due, not from when
it was sent, so a server stall counts in every request it delayed. Coordinated omission
is what a closed-loop client does instead: it stops asking while the server stalls, so
a one-second stall costs one slow sample, not the thousands that users arriving
meanwhile would have seen. One engine thread (--threads to change) drives every
connection with non-blocking sockets, polling while a request is in flight: its CPU
use is a ceiling, not a cost. The report gives the target and achieved rate, the
percentiles from the due time and the generator's lag (how long after it was due, and
its connection free, each request went; over 100 us is late). If over 1 % went late,
the latency is not shown: it would measure the client, not the server.

LATENCY: closed loop (the default), one request in flight per connection. With more connections than
threads, pingpong runs in lockstep rounds, so a latency includes the time the thread
spends serving its other connections' echoes. For per-request server latency use
--threads equal to --conns.

BOUNDS: connecting takes at most --timeout in all (connections not open by then are
timeout errors), and so does idle's echo on each; then come the warm-up and --duration,
and at most one --timeout more: requests still in flight at the deadline are abandoned,
neither counted nor failed.

ADDR is HOST:PORT or unix:PATH (a Unix-domain socket: stream modes connect to it,
udp sends datagrams to it from a socket of its own in the temp directory). HOST may
resolve to several addresses (localhost: ::1 and 127.0.0.1): the first that accepts
a TCP connection is used; udp uses the first.

EXIT STATUS: 0 ok (errors are reported, not fatal), 1 no request succeeded or the
address did not resolve, 2 usage error.
";

pub(super) fn parse_bench(args: Vec<String>) -> Result<Command, Usage> {
    let mut w = Workload::new(BenchOptions::default());
    let mut args = Args::new(args);
    let mut addr = None;
    while let Some((flag, mut v)) = args.next_arg() {
        let f = flag.as_str();
        match f {
            "--help" | "-h" => return Ok(Command::Help(BENCH_HELP)),
            "--server-pid" => w.o.server_pid = Some(v.number(1, u32::MAX)?),
            "--rate" => w.o.rate = Some(v.number(1.0, MAX_RATE)?),
            "--json" => w.o.json = true,
            "--quiet" | "-q" => w.o.progress = false,
            "--compare" => {
                return Err(Usage(
                    "bench runs against one ADDR; to start and compare servers use \
                     'sockref compare NAME=COMMAND ...' (see sockref compare --help)"
                        .into(),
                ))
            }
            _ if w.flag(f, &mut v)? => {}
            _ if !f.starts_with('-') && addr.is_none() => addr = Some(flag),
            _ if !f.starts_with('-') => {
                return Err(Usage(format!(
                    "unexpected argument '{flag}': bench takes one ADDR (see sockref bench --help)"
                )))
            }
            _ => return Err(Usage(format!("unknown option '{flag}' (see sockref bench --help)"))),
        }
    }
    let mut o = w.finish()?;
    o.addr =
        addr.ok_or_else(|| Usage("bench needs the server's ADDR, e.g. 127.0.0.1:4000".into()))?;
    check_addr(&o.addr)?;
    Ok(Command::Bench(Box::new(o)))
}

/// The flags that say what load to run, shared by `bench` and `compare`.
/// `--mode` and `--proto` are checked against each other, and `--threads`
/// defaulted, once all flags are known ([`Workload::finish`]).
pub(super) struct Workload {
    pub(super) o: BenchOptions,
    threads: Option<usize>,
    mode: Option<Mode>,
    proto: Option<&'static str>,
}

impl Workload {
    pub(super) fn new(o: BenchOptions) -> Self {
        Workload { o, threads: None, mode: None, proto: None }
    }

    /// Takes `f` if it is a workload flag (and its value); `Ok(false)` if
    /// it is not one.
    pub(super) fn flag(&mut self, f: &str, v: &mut Value) -> Result<bool, Usage> {
        let o = &mut self.o;
        match f {
            "--mode" => self.mode = Some(v.pick(&Mode::ALL.map(|m| (m.name(), m)))?),
            "--pipeline" => o.pipeline = v.number(1, MAX_PIPELINE)?,
            "--framing" => o.framing = v.pick(&Framing::ALL.map(|f| (f.name(), f)))?,
            "--proto" => self.proto = Some(v.choice(&["tcp", "udp"])?),
            "--conns" => o.conns = v.number(1, 100_000)?,
            "--threads" => self.threads = Some(v.number(1, 1024)?),
            "--size" => o.size = v.number(1, MAX_SIZE)?,
            "--duration" => o.stop = Stop::Duration(v.duration()?),
            "--requests" => o.stop = Stop::Requests(v.number(1, u64::MAX)?),
            "--warmup" => o.warmup = v.duration()?,
            "--timeout" => o.timeout = v.duration()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The options, checked: `--proto udp` is a short way to say
    /// `--mode udp`; any other pairing is a contradiction, refused rather
    /// than silently resolved one way.
    pub(super) fn finish(self) -> Result<BenchOptions, Usage> {
        let mut o = self.o;
        o.mode = match (self.mode, self.proto) {
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
        default_threads(&mut o, self.threads);
        // The rules between options live with the options (bench::options).
        o.validate().map_err(Usage)?;
        Ok(o)
    }
}

/// Sets `--threads`, given or by default: two, but never more threads
/// than connections where the mode holds connections (more would have
/// nothing to do).
pub(super) fn default_threads(o: &mut BenchOptions, given: Option<usize>) {
    // Open loop: one engine thread drives every connection (see bench::open).
    o.threads = given.unwrap_or(if o.rate.is_some() { 1 } else { 2 });
    if o.mode.holds_connections() || o.rate.is_some() {
        o.threads = o.threads.min(o.conns);
    }
}

/// Refuses what is not an address at all (exit 2) without resolving it: a
/// name that does not resolve is the run's failure (exit 1), not a usage one.
fn check_addr(addr: &str) -> Result<(), Usage> {
    Address::parse(addr).map(drop).map_err(|e| Usage(format!("bench: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
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
    fn bench_addresses_are_checked_not_resolved() {
        for bad in ["nonsense", ":x", "host:"] {
            let e = p(&["bench", bad]).unwrap_err();
            assert!(e.0.starts_with("bench: '"), "{bad}: {e}");
        }
        assert!(matches!(p(&["bench", "unix:/tmp/s"]), Ok(Command::Bench(_))));
        assert!(matches!(p(&["bench", "no.such.host.invalid:80"]), Ok(Command::Bench(_))));
    }
}
