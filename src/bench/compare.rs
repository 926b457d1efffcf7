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
        self.bench.validate()
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
        let _ = write!(w, ", {} threads", o.threads);
        match o.mode {
            Mode::Http => {
                let _ = write!(w, ", pipeline {}", o.pipeline);
            }
            Mode::HttpClose => {}
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

    /// One JSON line: the run's place and server first, then every field
    /// of the bench report (see [`Report::json`]).
    pub fn json(&self, name: &str, pin: Option<&Pin>) -> String {
        let mut s = String::from("{\"server\":");
        escape_json_into(&mut s, name);
        let _ = write!(s, ",\"run\":{},\"round\":{},\"command\":", self.run, self.round);
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
    /// One line per server.
    pub summaries: Vec<Summary>,
}

impl Comparison {
    /// The Markdown table.
    pub fn markdown(&self, mode: Mode) -> String {
        summary::markdown(mode, &self.summaries, self.baseline)
    }
}

fn options_error(msg: String) -> Error {
    Error::new("options", None, io::Error::new(io::ErrorKind::InvalidInput, msg))
}

/// Runs the comparison; one line per run goes to `log` as it happens
/// (stderr on the command line). Fails, having stopped every server it
/// started, if a server does not come up, the bench engine refuses to
/// run, or a file cannot be written.
pub fn run(opts: &CompareOptions, log: &mut dyn Write) -> Result<Comparison, Error> {
    opts.validate().map_err(options_error)?;
    let baseline = opts.baseline_index().map_err(options_error)?;
    if let Some(pin) = &opts.pin {
        pin_self(&pin.client)?;
    }
    let file_error = |path: &PathBuf| {
        let p = path.display().to_string();
        move |e: io::Error| Error::new("open()", Some(p.clone()), e)
    };
    let mut json = match &opts.json {
        Some(path) => Some(File::create(path).map_err(file_error(path))?),
        None => None,
    };
    let names: Vec<String> = opts.servers.iter().map(|s| s.name.clone()).collect();
    let workers = opts.workers_value();
    let mut next_port = first_port();
    let mut runs = Vec::new();
    for (n, (round, i)) in schedule(opts.servers.len(), opts.rounds).into_iter().enumerate() {
        let spec = &opts.servers[i];
        let port = free_port(&mut next_port)?;
        let command = spec.command_for(port, workers);
        let cpus = opts.pin.as_ref().map(|p| p.server.as_str());
        let mut server = Launched::start(&spec.name, &command, port, cpus, opts.stop_timeout)?;
        let _ = writeln!(
            log,
            "r{round} {}: started pid {} on {}: {command}",
            spec.name,
            server.pid(),
            server.addr()
        );
        server.wait_ready(opts.probe(), opts.start_timeout)?;
        let bench = BenchOptions {
            addr: server.addr().to_string(),
            server_pid: Some(server.pid()),
            progress: false,
            ..opts.bench.clone()
        };
        let report = super::run(&bench)?;
        let peak_rss_kib = server.peak_rss_kib();
        let died = !server.running();
        let stopped_cleanly = server.stop();
        let record = RunRecord {
            run: n + 1,
            round,
            server: i,
            command,
            port,
            pid: server.pid(),
            workers,
            report,
            peak_rss_kib,
            stopped_cleanly,
        };
        let f = record.figures();
        let _ = writeln!(
            log,
            "r{round} {}: {} {}, p99 {:.1} us, {} errors{}{}",
            spec.name,
            // The figure its label names: peak RSS for idle runs, else the rate.
            summary::main_value(opts.bench.mode, &f).map_or("-".to_string(), summary::thousands),
            summary::metric_label(opts.bench.mode).0,
            f.p99_us,
            f.errors,
            if died { ", the server exited during the run" } else { "" },
            if stopped_cleanly { "" } else { ", killed: it ignored SIGTERM" },
        );
        if let (Some(file), Some(path)) = (json.as_mut(), &opts.json) {
            writeln!(file, "{}", record.json(&spec.name, opts.pin.as_ref()))
                .map_err(file_error(path))?;
        }
        runs.push(record);
    }
    let figures: Vec<(usize, RunFigures)> = runs.iter().map(|r| (r.server, r.figures())).collect();
    let summaries = summary::summarize(opts.bench.mode, &names, &figures, baseline);
    if let Some(path) = &opts.chart {
        let svg = super::chart::svg(opts.bench.mode, &opts.workload(), &summaries);
        std::fs::write(path, svg).map_err(file_error(path))?;
    }
    Ok(Comparison { names, baseline, runs, summaries })
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
