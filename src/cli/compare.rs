//! `sockref compare NAME=COMMAND ... [OPTIONS]`: the comparison's flags.
//!
//! A subcommand of its own rather than `bench --compare`: bench measures a
//! server someone else started at one ADDR, compare starts and stops the
//! servers itself and has no ADDR; the two share only the workload flags
//! (parsed once, in `bench.rs`). What it does not do: run anything;
//! `bench::compare::run` does.

use std::path::PathBuf;

use super::bench::Workload;
use super::{Args, Command, Usage};
use crate::bench::compare::{CompareOptions, Pin, ServerSpec};
use crate::bench::curve::RatePoint;

/// The help text of `sockref compare`.
pub const COMPARE_HELP: &str = "\
sockref compare: start servers, put each under the same load, interleaved, and compare

USAGE:
    sockref compare NAME=COMMAND [NAME=COMMAND ...] [OPTIONS]

EXAMPLE:
    benches/peers/build.sh c        # the C peers into target/peers/ (no argument: all peers)
    sockref compare --conns 100 --rounds 5 --pin 0:1 \\
        'c-thread=target/peers/thread_echo {port}' \\
        'sockref=target/release/sockref serve --service echo --proto tcp --addr 127.0.0.1:{port} --workers {workers}'

Each COMMAND must contain {port} and listen on 127.0.0.1:{port}; {workers} is replaced by
--workers. It is started as `sh -c \"exec COMMAND\"`, so it must be, or exec into, the server
itself: its CPU and memory are read from that process in /proc. To set an environment
variable, write `env NAME=VALUE server ...` (`exec NAME=VALUE server` is not a command).

For every round, every server in the order given (A B C A B C ...): a free port, the
server started anew, waited for until it answers (TCP: a connection is accepted; udp: a
datagram is echoed; http: GET /plaintext gets 200), the load run by sockref's own bench
engine, the server's peak RSS read, then SIGTERM (SIGKILL after --stop-timeout).

WORKLOAD (as sockref bench; see sockref bench --help):
    --mode MODE            pingpong | churn | udp | idle | http | http-close | websocket
                                                                               [pingpong]
    --conns N  --threads T  --size BYTES  --pipeline N  --timeout SECS  --proto tcp|udp
    --framing raw|socketio|socketio-ack   websocket: how each message is framed
    --duration SECS        measured time per run                               [2.5]
    --warmup SECS          unmeasured traffic per run                          [0.5]
    --requests N           stop each run after N requests instead
    --rates LIST           also a latency-throughput curve: open-loop runs at each rate of
                           LIST, e.g. 20000,40000 (req/s) or 10%,30%,50%,70%,90%,95% (of the
                           peak: the HIGHEST server's closed-loop median, measured first);
                           pingpong, http (no --pipeline) and udp; see sockref bench --help,
                           OPEN LOOP

COMPARISON:
    --rounds N             runs per server                                     [3]
    --workers N            value of {workers}              [connections held (or threads) + 16]
    --pin S:C              run servers under taskset -c S, and this process (the load
                           generator) on CPUs C, e.g. 0:1; needs taskset (util-linux)
    --baseline NAME        ratios are to this server                           [the first]
    --json FILE            write every run as one JSON line (the bench report's fields plus
                           server, run, round, command, port, pid, workers, peak_rss_kib)
    --chart FILE           write an SVG bar chart: medians, slowest-to-fastest error bars;
                           with --rates, p50 and p99 against the rate achieved instead
    --start-timeout SECS   longest a server may take to answer once started   [10]
    --stop-timeout SECS    longest it may take to exit after SIGTERM          [2]

CURVES (--rates): open loop sends each request when it is due, whatever the server
does, and measures its latency from that moment; a closed-loop client instead stops
asking while the server stalls, and so leaves out the very requests a stall would have
delayed (coordinated omission). With percentages, the closed-loop rounds run first
(their table is printed too) and every server is then asked for the same absolute
rates, a share of the highest peak, so that the curves share an axis and a slower
server is pushed past its own knee. Then, for every round, every rate, every server in
turn: one open-loop run. The curve table has a row per rate: per server the achieved
rate (median, ± half the spread) and p50 / p99 / p99.9 from the due time (medians over
the runs whose load generator kept to its schedule; 'client behind' where none did);
under it, per server, the first rate at which its p99 reaches 1 ms and 10 ms.

OUTPUT: one line per run on stderr; on stdout a Markdown table, one line per server:
runs, median rate (idle: median peak RSS, lower is better), spread = (max - min) /
median, median p50/p99/p99.9 latency, server CPU per request (/proc/PID/stat), peak RSS
(VmHWM in /proc/PID/status), errors, and the ratio of the median to the baseline's.

CLEAN-UP: a server that exits, does not answer in time, or answers HTTP with anything
but 200 stops the comparison (exit 1, naming the server and quoting its last output),
and every server started is stopped. If the comparison itself is killed (Ctrl-C, kill,
even kill -9), a small reaper process per server (sh, waiting on a pipe only the
comparison holds) stops its server within about 2 s. A server that forks and leaves a
child behind is not covered: exec into the server.

EXIT STATUS: 0 ok, 1 a server failed to start or some run had no successful request,
2 usage error.
";

pub(super) fn parse_compare(args: Vec<String>) -> Result<Command, Usage> {
    let mut c = CompareOptions::default();
    let mut w = Workload::new(c.bench.clone());
    let mut args = Args::new(args);
    while let Some((flag, mut v)) = args.next_arg() {
        let f = flag.as_str();
        match f {
            "--help" | "-h" => return Ok(Command::Help(COMPARE_HELP)),
            "--rounds" => c.rounds = v.number(1, 1000)?,
            "--workers" => c.workers = Some(v.number(1, 1_000_000)?),
            "--pin" => c.pin = Some(Pin::parse(&v.text()?).map_err(pin_usage)?),
            "--baseline" => c.baseline = Some(v.text()?),
            "--json" => c.json = Some(PathBuf::from(v.text()?)),
            "--chart" => c.chart = Some(PathBuf::from(v.text()?)),
            "--rates" => {
                c.rates =
                    RatePoint::parse_list(&v.text()?).map_err(|e| Usage(format!("--rates: {e}")))?
            }
            "--start-timeout" => c.start_timeout = v.positive()?,
            "--stop-timeout" => c.stop_timeout = v.positive()?,
            _ if w.flag(f, &mut v)? => {}
            _ if !f.starts_with('-') => c
                .servers
                .push(ServerSpec::parse(&flag).map_err(|e| Usage(format!("compare: {e}")))?),
            _ => {
                return Err(Usage(format!("unknown option '{flag}' (see sockref compare --help)")))
            }
        }
    }
    c.bench = w.finish()?;
    c.validate().map_err(|e| Usage(format!("compare: {e}")))?;
    Ok(Command::Compare(Box::new(c)))
}

fn pin_usage(e: String) -> Usage {
    Usage(format!("--pin: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Mode, Stop};
    use crate::cli::parse;
    use std::time::Duration;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn compare_takes_servers_and_the_workload_flags() {
        let Ok(Command::Compare(c)) = p(&[
            "compare",
            "a=srv-a {port}",
            "--mode=http",
            "--pipeline",
            "16",
            "--conns",
            "4",
            "b=srv-b --port {port} --workers {workers}",
            "--rounds",
            "2",
            "--pin",
            "0:1",
            "--baseline",
            "b",
        ]) else {
            panic!("refused")
        };
        assert_eq!(c.servers.len(), 2);
        assert_eq!((c.bench.mode, c.bench.pipeline, c.bench.threads), (Mode::Http, 16, 2));
        assert_eq!(c.rounds, 2);
        assert_eq!(c.baseline_index(), Ok(1));
        assert_eq!(c.bench.stop, Stop::Duration(Duration::from_millis(2500)));
    }

    #[test]
    fn mistakes_are_usage_errors_naming_the_fix() {
        let e = |args: &[&str]| p(args).err().map(|u| u.0).unwrap_or_default();
        assert!(e(&["compare"]).contains("name at least one as NAME=COMMAND"));
        assert!(e(&["compare", "a=srv"]).contains("no {port}"));
        assert!(
            e(&["compare", "a=x {port}", "--baseline", "z"]).contains("no server is called 'z'")
        );
        assert!(e(&["compare", "a=x {port}", "--pin", "0"]).starts_with("--pin:"));
        assert!(e(&["compare", "a=x {port}", "--pipeline", "4"]).contains("only the http mode"));
        assert!(e(&["bench", "127.0.0.1:1", "--compare"]).contains("sockref compare"));
        assert!(e(&["compare", "a=x {port}", "--rates", "fast"]).starts_with("--rates: 'fast'"));
        assert!(e(&["compare", "a=x {port}", "--rates", "50%", "--mode", "churn"])
            .contains("--rates: open loop runs the pingpong, http and udp modes"));
    }

    #[test]
    fn rates_are_kept_in_order() {
        let Ok(Command::Compare(c)) = p(&["compare", "a=x {port}", "--rates", "10%,90%,5000"])
        else {
            panic!("refused")
        };
        assert_eq!(c.rates.len(), 3);
        assert_eq!(c.rates[2].label(), "5000");
        assert!(c.rates[0].needs_peak());
    }
}
