//! `sockref compare`: several servers under the same load, interleaved, on
//! one machine, so that a ratio compares runs made seconds apart rather
//! than two runs made by hand minutes (and scheduler moods) apart.
//!
//! ```text
//! for round in 1..=ROUNDS:
//!     for server in A, B, C:                  A B C A B C ... (see schedule)
//!         pick a free port; start "COMMAND" with {port} and {workers} filled in
//!         wait until it answers (bounded); run the bench engine against it
//!         read its peak RSS from /proc; SIGTERM, SIGKILL after a bound
//! ```
//!
//! Each run is a fresh process on a fresh port, so no server inherits
//! another's TIME_WAIT sockets, warm caches or leaked threads. The server's
//! CPU is read from `/proc/PID/stat` over the measured window (the bench
//! engine's `--server-pid`), its peak memory from `/proc/PID/status`.
//! With `--pin S:C` the servers run under `taskset -c S` and this process
//! (so the load generator's threads) is moved to CPUs C: on a small
//! machine an unpinned thread-per-connection server is bimodal, fast or
//! slow by where the scheduler happens to put its threads.
//!
//! Every process started is stopped on every way out: see [`launch`] for
//! what is guaranteed when the comparison itself is killed.
//!
//! [`launch`]: super::launch

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::curve::{self, CurveRow, PointRun, RatePoint};
use super::launch::{first_port, free_port, pin_self, Launched, Probe};
use super::summary::{self, RunFigures, Summary};
use super::{BenchOptions, Mode, Report};
use crate::error::Error;
use crate::trace::escape_json_into;

/// One server to compare: its name in the table, and the command that
/// starts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// The name in the table, chart and JSON lines.
    pub name: String,
    /// A shell command line with `{port}` (and optionally `{workers}`); run
    /// as `sh -c "exec COMMAND"`, so it must be, or `exec` into, the server
    /// itself: its CPU and memory are read from that PID.
    pub command: String,
}

impl ServerSpec {
    /// Parses `NAME=COMMAND`; the command must contain `{port}`.
    pub fn parse(arg: &str) -> Result<ServerSpec, String> {
        let Some((name, command)) = arg.split_once('=') else {
            return Err(format!("'{arg}' is not NAME=COMMAND"));
        };
        let (name, command) = (name.trim(), command.trim());
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.+".contains(c);
        if name.is_empty() || !name.chars().all(plain) {
            return Err(format!(
                "'{name}': a server's name is letters, digits and - _ . + (in '{arg}')"
            ));
        }
        if !command.contains("{port}") {
            return Err(format!(
                "the command of '{name}' has no {{port}}: it must listen on 127.0.0.1:{{port}}"
            ));
        }
        Ok(ServerSpec { name: name.to_string(), command: command.to_string() })
    }

    /// The command with `{port}` and `{workers}` filled in.
    pub fn command_for(&self, port: u16, workers: usize) -> String {
        self.command.replace("{port}", &port.to_string()).replace("{workers}", &workers.to_string())
    }
}

/// CPU lists for `--pin SERVER_CPUS:CLIENT_CPUS`, as `taskset -c` takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// Where the servers run.
    pub server: String,
    /// Where this process, and so the load generator, runs.
    pub client: String,
}

impl Pin {
    /// Parses `0:1`, `0-1:2-3`, `0,2:1,3`.
    pub fn parse(arg: &str) -> Result<Pin, String> {
        let list = |s: &str| {
            !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '-')
        };
        match arg.split_once(':') {
            Some((s, c)) if list(s) && list(c) => {
                Ok(Pin { server: s.to_string(), client: c.to_string() })
            }
            _ => Err(format!(
                "'{arg}' is not SERVER_CPUS:CLIENT_CPUS (CPU lists as taskset -c takes them, e.g. 0:1)"
            )),
        }
    }
}

/// Everything a comparison needs.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The servers, in the order they take turns.
    pub servers: Vec<ServerSpec>,
    /// The workload; its address and `server_pid` are set per run.
    pub bench: BenchOptions,
    /// Rounds: each runs every server once.
    pub rounds: usize,
    /// `{workers}`; `None`: per workload, the connections it holds open at
    /// once (or its threads) plus 16.
    pub workers: Option<usize>,
    /// Pin servers and the load generator to separate CPUs.
    pub pin: Option<Pin>,
    /// The server the ratios are to; `None`: the first.
    pub baseline: Option<String>,
    /// Write every run as a JSON line here.
    pub json: Option<PathBuf>,
    /// Write the SVG chart here.
    pub chart: Option<PathBuf>,
    /// Open-loop rates for a latency-throughput curve (`--rates`); empty:
    /// closed loop only. See [`curve`].
    pub rates: Vec<RatePoint>,
    /// Longest a server may take to answer after it is started.
    pub start_timeout: Duration,
    /// Longest a server may take to exit after SIGTERM, before SIGKILL.
    pub stop_timeout: Duration,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            servers: Vec::new(),
            bench: BenchOptions {
                stop: super::Stop::Duration(Duration::from_millis(2500)),
                warmup: Duration::from_millis(500),
                progress: false,
                ..BenchOptions::default()
            },
            rounds: 3,
            workers: None,
            pin: None,
            baseline: None,
            json: None,
            chart: None,
            rates: Vec::new(),
            start_timeout: Duration::from_secs(10),
            stop_timeout: Duration::from_secs(2),
        }
    }
}

impl CompareOptions {
    /// The index of the baseline server, or a message naming the choices.
    pub fn baseline_index(&self) -> Result<usize, String> {
        match &self.baseline {
            None => Ok(0),
            Some(b) => self.servers.iter().position(|s| &s.name == b).ok_or_else(|| {
                let names: Vec<&str> = self.servers.iter().map(|s| s.name.as_str()).collect();
                format!("--baseline: no server is called '{b}' (the servers: {})", names.join(", "))
            }),
        }
    }

    /// Refuses what cannot run, with the message the command line gives.
    pub fn validate(&self) -> Result<(), String> {
        if self.servers.is_empty() {
            // The command line puts "compare: " in front of this.
            return Err("no server given: name at least one as NAME=COMMAND \
                        (see sockref compare --help)"
                .into());
        }
        for (i, s) in self.servers.iter().enumerate() {
            if self.servers[..i].iter().any(|t| t.name == s.name) {
                return Err(format!("two servers are called '{}': names must differ", s.name));
            }
        }
        if self.rounds == 0 {
            return Err("--rounds: at least 1".into());
        }
        self.baseline_index()?;
        self.bench.validate()?;
        if !self.rates.is_empty() {
            // The open-loop runs' rules (modes, --pipeline, flows), checked
            // now rather than after the closed-loop rounds.
            let open = BenchOptions { rate: Some(1.0), ..self.bench.clone() };
            open.validate().map_err(|e| e.replacen("--rate:", "--rates:", 1))?;
        }
        Ok(())
    }

    /// `{workers}` for this workload (see [`CompareOptions::workers`]).
    pub fn workers_value(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            let held = if self.bench.mode.holds_connections() {
                self.bench.conns
            } else {
                self.bench.threads
            };
            held + 16
        })
    }

    /// How a server is known to be up in this workload.
    pub fn probe(&self) -> Probe {
        match self.bench.mode {
            Mode::Udp => Probe::Udp,
            Mode::Http | Mode::HttpClose => Probe::Http,
            _ => Probe::Tcp,
        }
    }

    /// A one-line name of the workload, for the chart's title.
    pub fn workload(&self) -> String {
        let o = &self.bench;
        let mut w = o.mode.name().to_string();
        if o.mode.holds_connections() {
            let _ = write!(w, ", {} conns", o.conns);
        }
        if self.rates.is_empty() {
            let _ = write!(w, ", {} threads", o.threads);
        } else {
            // One engine thread drives the open-loop runs (see bench::open).
            w.insert_str(0, "open loop: ");
            if o.mode == Mode::Udp {
                let _ = write!(w, ", {} sockets", o.conns);
            }
        }
        match o.mode {
            Mode::Http if self.rates.is_empty() => {
                let _ = write!(w, ", pipeline {}", o.pipeline);
            }
            Mode::Http => {}
            Mode::HttpClose => {}
            Mode::WebSocket => {
                let _ = write!(w, ", {} framing, {} B", o.framing.name(), o.size);
            }
            _ => {
                let _ = write!(w, ", {} B", o.size);
            }
        }
        if let Some(p) = &self.pin {
            let _ = write!(w, ", pinned {}:{}", p.server, p.client);
        }
        w
    }
}

/// The order of the runs: round by round, every server once per round,
/// always in the given order: `(round, server)` = (1,0) (1,1) ... (2,0) ...
pub fn schedule(servers: usize, rounds: usize) -> Vec<(usize, usize)> {
    (1..=rounds).flat_map(|r| (0..servers).map(move |s| (r, s))).collect()
}

/// One run of one server.
#[derive(Debug)]
pub struct RunRecord {
    /// 1, 2, ... in the order the runs were made.
    pub run: usize,
    /// The round, from 1.
    pub round: usize,
    /// The server's index in [`CompareOptions::servers`].
    pub server: usize,
    /// The open-loop rate's index in [`CompareOptions::rates`]; `None`
    /// for a closed-loop run.
    pub point: Option<usize>,
    /// The command as started.
    pub command: String,
    /// The port it listened on.
    pub port: u16,
    /// Its process id.
    pub pid: u32,
    /// The `{workers}` value.
    pub workers: usize,
    /// What the load generator measured.
    pub report: Report,
    /// The server's `VmHWM` just before it was stopped, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Whether it exited within the stop bound after SIGTERM.
    pub stopped_cleanly: bool,
}

impl RunRecord {
    /// The figures the summary needs.
    pub fn figures(&self) -> RunFigures {
        let h = &self.report.hist;
        let us = |ns: u64| ns as f64 / 1000.0;
        RunFigures {
            rate: self.report.rate(),
            p50_us: us(h.percentile(50.0)),
            p99_us: us(h.percentile(99.0)),
            p999_us: us(h.percentile(99.9)),
            server_us_per_req: self.report.server_us_per_request(),
            peak_rss_kib: self.peak_rss_kib,
            errors: self.report.error_count(),
        }
    }

    /// What the curve needs of an open-loop run.
    pub fn point_run(&self) -> PointRun {
        let f = self.figures();
        PointRun {
            achieved: f.rate,
            p50_us: f.p50_us,
            p90_us: self.report.hist.percentile(90.0) as f64 / 1000.0,
            p99_us: f.p99_us,
            p999_us: f.p999_us,
            generator_behind: self.report.generator_behind().is_some(),
            errors: f.errors,
        }
    }

    /// One JSON line: the run's place and server first, then every field
    /// of the bench report (see [`Report::json`]); `rate_point` is the
    /// curve's rate as given (`50%`), `null` for a closed-loop run, whose
    /// `target_rate` is `null` too.
    pub fn json(&self, name: &str, pin: Option<&Pin>, rate_point: Option<&str>) -> String {
        let mut s = String::from("{\"server\":");
        escape_json_into(&mut s, name);
        let _ = write!(s, ",\"run\":{},\"round\":{},\"rate_point\":", self.run, self.round);
        match rate_point {
            Some(p) => escape_json_into(&mut s, p),
            None => s.push_str("null"),
        }
        s.push_str(",\"command\":");
        escape_json_into(&mut s, &self.command);
        let _ =
            write!(s, ",\"port\":{},\"pid\":{},\"workers\":{}", self.port, self.pid, self.workers);
        match self.peak_rss_kib {
            Some(k) => {
                let _ = write!(s, ",\"peak_rss_kib\":{k}");
            }
            None => s.push_str(",\"peak_rss_kib\":null"),
        }
        let _ = write!(s, ",\"stopped_cleanly\":{}", self.stopped_cleanly);
        match pin {
            Some(p) => {
                s.push_str(",\"pin\":");
                escape_json_into(&mut s, &format!("{}:{}", p.server, p.client));
            }
            None => s.push_str(",\"pin\":null"),
        }
        let report = self.report.json();
        s.push(',');
        s.push_str(report.strip_prefix('{').unwrap_or(&report));
        s
    }
}

/// A finished comparison.
#[derive(Debug)]
pub struct Comparison {
    /// The servers' names, in order.
    pub names: Vec<String>,
    /// The baseline's index.
    pub baseline: usize,
    /// Every run, in the order made.
    pub runs: Vec<RunRecord>,
    /// One line per server, from the closed-loop runs (empty when only
    /// absolute rates were asked for).
    pub summaries: Vec<Summary>,
    /// The closed-loop peak the percentages are of: the highest median,
    /// and whose it is.
    pub peak: Option<(f64, String)>,
    /// One row per rate of `--rates`.
    pub curve: Vec<CurveRow>,
}

impl Comparison {
    /// The Markdown tables: closed loop (one line per server), then the
    /// curve (one line per rate), each when there is one.
    pub fn markdown(&self, mode: Mode) -> String {
        let mut s = String::new();
        if !self.summaries.is_empty() {
            s.push_str(&summary::markdown(mode, &self.summaries, self.baseline));
        }
        if !self.curve.is_empty() {
            if !s.is_empty() {
                s.push('\n');
            }
            if let Some((rate, who)) = &self.peak {
                let _ = writeln!(
                    s,
                    "Open loop; percentages are of the highest closed-loop median, {}'s {} {}.\n\
                     Latency from each request's due time, medians over the rounds (± half the spread).\n",
                    who,
                    summary::thousands(*rate),
                    mode.unit()
                );
            }
            s.push_str(&curve::markdown(&self.names, &self.curve, mode.unit()));
            s.push('\n');
            s.push_str(&curve::knees(&self.names, &self.curve, mode.unit()));
        }
        s
    }
}

fn options_error(msg: String) -> Error {
    Error::new("options", None, io::Error::new(io::ErrorKind::InvalidInput, msg))
}

/// Runs the comparison; one line per run goes to `log` as it happens
/// (stderr on the command line). Fails, having stopped every server it
/// started, if a server does not come up, the bench engine refuses to
/// run, or a file cannot be written.
///
/// With [`CompareOptions::rates`], the closed-loop rounds come first
/// (when a rate is a percentage: they give the peak), then the curve:
/// for every round, every rate, every server, one open-loop run.
pub fn run(opts: &CompareOptions, log: &mut dyn Write) -> Result<Comparison, Error> {
    opts.validate().map_err(options_error)?;
    let baseline = opts.baseline_index().map_err(options_error)?;
    if let Some(pin) = &opts.pin {
        pin_self(&pin.client)?;
    }
    let mut out = Output::open(opts)?;
    let names: Vec<String> = opts.servers.iter().map(|s| s.name.clone()).collect();
    let mut next_port = first_port();
    let mut runs = Vec::new();
    let closed_loop = opts.rates.is_empty() || opts.rates.iter().any(RatePoint::needs_peak);
    if closed_loop {
        for (round, i) in schedule(opts.servers.len(), opts.rounds) {
            let mut r = run_one(opts, &mut next_port, round, i, None, &opts.bench, log)?;
            r.run = runs.len() + 1;
            out.write(opts, &r)?;
            runs.push(r);
        }
    }
    let figures: Vec<(usize, RunFigures)> = runs.iter().map(|r| (r.server, r.figures())).collect();
    let summaries = summary::summarize(opts.bench.mode, &names, &figures, baseline);
    let peak = closed_loop.then(|| peak(&summaries)).flatten();
    if let (Some((rate, who)), false) = (&peak, opts.rates.is_empty()) {
        let _ = writeln!(
            log,
            "peak: {} {} ({who}'s closed-loop median); percentages are of it",
            summary::thousands(*rate),
            opts.bench.mode.unit()
        );
    }
    let targets: Vec<f64> =
        opts.rates.iter().map(|p| p.resolve(peak.as_ref().map(|p| p.0))).collect();
    for round in 1..=if opts.rates.is_empty() { 0 } else { opts.rounds } {
        for (point, &target) in targets.iter().enumerate() {
            // One engine thread drives every connection (see bench::open):
            // a second would only compete with the first and the servers.
            let bench = BenchOptions { rate: Some(target), threads: 1, ..opts.bench.clone() };
            for i in 0..opts.servers.len() {
                let mut r = run_one(opts, &mut next_port, round, i, Some(point), &bench, log)?;
                r.run = runs.len() + 1;
                out.write(opts, &r)?;
                runs.push(r);
            }
        }
    }
    let curve = curve_rows(opts, &targets, &runs);
    if let Some(path) = &opts.chart {
        let svg = if curve.is_empty() {
            super::chart::svg(opts.bench.mode, &opts.workload(), &summaries)
        } else {
            super::chart::curve_svg(opts.bench.mode, &opts.workload(), &names, &curve)
        };
        std::fs::write(path, svg).map_err(file_error(path))?;
    }
    let summaries = if closed_loop { summaries } else { Vec::new() };
    Ok(Comparison { names, baseline, runs, summaries, peak, curve })
}

/// The highest median rate and whose it is.
fn peak(summaries: &[Summary]) -> Option<(f64, String)> {
    summaries
        .iter()
        .filter_map(|s| s.median.map(|m| (m, s.name.clone())))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// The curve's rows: per rate, per server, the summary of its rounds.
fn curve_rows(opts: &CompareOptions, targets: &[f64], runs: &[RunRecord]) -> Vec<CurveRow> {
    let points: Vec<(usize, usize, PointRun)> =
        runs.iter().filter_map(|r| r.point.map(|p| (p, r.server, r.point_run()))).collect();
    opts.rates
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(p, (point, &target))| CurveRow {
            label: point.label(),
            target,
            servers: (0..opts.servers.len())
                .map(|i| {
                    let mine: Vec<&PointRun> = points
                        .iter()
                        .filter(|(q, s, _)| *q == p && *s == i)
                        .map(|(_, _, r)| r)
                        .collect();
                    curve::summarize(&mine)
                })
                .collect(),
        })
        .collect()
}

/// Where the JSON lines go, if anywhere.
struct Output {
    json: Option<File>,
}

impl Output {
    fn open(opts: &CompareOptions) -> Result<Output, Error> {
        let json = match &opts.json {
            Some(path) => Some(File::create(path).map_err(file_error(path))?),
            None => None,
        };
        Ok(Output { json })
    }

    fn write(&mut self, opts: &CompareOptions, r: &RunRecord) -> Result<(), Error> {
        if let (Some(file), Some(path)) = (self.json.as_mut(), &opts.json) {
            let name = &opts.servers[r.server].name;
            let label = r.point.map(|p| opts.rates[p].label());
            writeln!(file, "{}", r.json(name, opts.pin.as_ref(), label.as_deref()))
                .map_err(file_error(path))?;
        }
        Ok(())
    }
}

fn file_error(path: &std::path::Path) -> impl Fn(io::Error) -> Error {
    let p = path.display().to_string();
    move |e: io::Error| Error::new("open()", Some(p.clone()), e)
}

/// One run: server `i` started on a fresh port, `bench` run against it,
/// the server stopped; one line to `log`.
fn run_one(
    opts: &CompareOptions,
    next_port: &mut u16,
    round: usize,
    i: usize,
    point: Option<usize>,
    bench: &BenchOptions,
    log: &mut dyn Write,
) -> Result<RunRecord, Error> {
    let spec = &opts.servers[i];
    let workers = opts.workers_value();
    let port = free_port(next_port)?;
    let command = spec.command_for(port, workers);
    let cpus = opts.pin.as_ref().map(|p| p.server.as_str());
    let mut server = Launched::start(&spec.name, &command, port, cpus, opts.stop_timeout)?;
    let at = point.map_or(String::new(), |p| format!(" {}", opts.rates[p].label()));
    let _ = writeln!(
        log,
        "r{round}{at} {}: started pid {} on {}: {command}",
        spec.name,
        server.pid(),
        server.addr()
    );
    server.wait_ready(opts.probe(), opts.start_timeout)?;
    let bench = BenchOptions {
        addr: server.addr().to_string(),
        server_pid: Some(server.pid()),
        progress: false,
        ..bench.clone()
    };
    let report = super::run(&bench)?;
    let peak_rss_kib = server.peak_rss_kib();
    let died = !server.running();
    let stopped_cleanly = server.stop();
    let record = RunRecord {
        run: 0,
        round,
        server: i,
        point,
        command,
        port,
        pid: server.pid(),
        workers,
        report,
        peak_rss_kib,
        stopped_cleanly,
    };
    let f = record.figures();
    let unit = opts.bench.mode.unit();
    let what = match record.report.target_rate {
        Some(target) => format!(
            "target {} achieved {} {unit}, p99 {:.1} us, {} late{}",
            summary::thousands(target),
            summary::thousands(f.rate),
            f.p99_us,
            record.report.late(),
            if record.report.generator_behind().is_some() {
                ", the load generator fell behind (latency left out)"
            } else {
                ""
            }
        ),
        None => format!(
            "{} {}, p99 {:.1} us",
            // The figure its label names: peak RSS for idle runs, else the rate.
            summary::main_value(opts.bench.mode, &f).map_or("-".to_string(), summary::thousands),
            summary::metric_label(opts.bench.mode).0,
            f.p99_us,
        ),
    };
    let _ = writeln!(
        log,
        "r{round}{at} {}: {what}, {} errors{}{}",
        spec.name,
        f.errors,
        if died { ", the server exited during the run" } else { "" },
        if stopped_cleanly { "" } else { ", killed: it ignored SIGTERM" },
    );
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_take_turns_round_by_round() {
        assert_eq!(schedule(3, 2), vec![(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]);
        assert!(schedule(2, 0).is_empty());
    }

    #[test]
    fn specs_and_pins_are_parsed_or_refused_by_name() {
        let s = ServerSpec::parse("c-thread=target/peers/c-thread {port}").ok();
        assert_eq!(
            s.as_ref().map(|s| s.command_for(20001, 26)).as_deref(),
            Some("target/peers/c-thread 20001")
        );
        let s = ServerSpec::parse("x=srv --port {port} --workers {workers}").ok();
        assert_eq!(s.map(|s| s.command_for(1, 26)).as_deref(), Some("srv --port 1 --workers 26"));
        assert!(ServerSpec::parse("x=srv 4000").is_err_and(|e| e.contains("no {port}")));
        assert!(ServerSpec::parse("srv {port}").is_err_and(|e| e.contains("NAME=COMMAND")));
        assert!(ServerSpec::parse("a b=srv {port}").is_err());
        assert_eq!(Pin::parse("0:1"), Ok(Pin { server: "0".into(), client: "1".into() }));
        assert!(Pin::parse("0").is_err());
        assert!(Pin::parse("a:1").is_err());
    }

    #[test]
    fn workers_are_the_connections_held_plus_16_unless_fixed() {
        let mut o = CompareOptions::default();
        o.bench.conns = 100;
        assert_eq!(o.workers_value(), 116);
        o.bench.mode = Mode::Churn;
        assert_eq!(o.workers_value(), 2 + 16);
        o.workers = Some(8);
        assert_eq!(o.workers_value(), 8);
    }

    #[test]
    fn the_baseline_must_be_one_of_the_servers() {
        let mut o = CompareOptions::default();
        assert!(o.validate().is_err_and(|e| e.contains("at least one")));
        o.servers = vec![ServerSpec { name: "a".into(), command: "a {port}".into() }; 2];
        assert!(o.validate().is_err_and(|e| e.contains("two servers are called 'a'")));
        o.servers[1].name = "b".into();
        o.baseline = Some("b".into());
        assert_eq!(o.baseline_index(), Ok(1));
        o.baseline = Some("c".into());
        assert!(o.validate().is_err_and(|e| e.contains("the servers: a, b")));
    }
}
