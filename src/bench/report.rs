//! What a bench run prints: a short human table, or one JSON object.
//!
//! The JSON keys are stable (scripts and BENCHMARKS.md read them); times in
//! it are microseconds, rates per second, `mbps` is megabytes (10^6) of
//! payload per second in one direction.

use std::fmt::Write as _;
use std::time::Duration;

use super::{ErrorCounts, Histogram, Mode};
use crate::net::{Endpoint, UNIX_PREFIX};
use crate::trace::escape_json_into;

/// The outcome of one run.
#[derive(Debug)]
pub struct Report {
    /// The workload.
    pub mode: Mode,
    /// The server it ran against: the internet address connected to, or
    /// the Unix-domain socket's path.
    pub addr: Endpoint,
    /// Connections (pingpong and idle; 0 for churn and udp).
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// HTTP keep-alive: requests in flight per connection.
    pub pipeline: usize,
    /// Payload bytes per request.
    pub size: usize,
    /// Measured time: from the end of the warm-up to the last thread's end
    /// (idle: the hold time, which has no warm-up).
    pub elapsed: Duration,
    /// Requests that completed, verified, in the measured time. For idle:
    /// the connections that made their one echo.
    pub requests: u64,
    /// Idle mode: connections still open at the end.
    pub held: u64,
    /// UDP: echoes of earlier (already counted lost) datagrams, skipped.
    pub stale: u64,
    /// Failed requests by kind, in the measured time (and while opening
    /// connections).
    pub errors: ErrorCounts,
    /// Failed requests during the warm-up, not part of `errors`.
    pub warmup_errors: u64,
    /// Latency of every measured request, in nanoseconds.
    pub hist: Histogram,
    /// CPU the generator's client threads used while measuring (the main
    /// thread only keeps time and is not counted).
    pub client_cpu: Option<Duration>,
    /// CPU the server process used while measuring (with `--server-pid`).
    pub server_cpu: Option<Duration>,
    /// The first failure of the run (warm-up included), in words: why
    /// nothing succeeded, when nothing did (e.g. the first bytes of a
    /// reply that was not the echo).
    pub first_error: Option<String>,
}

/// The server's address as the user writes it: `127.0.0.1:4000`, or
/// `unix:PATH` (an [`Endpoint`] prints a bare path).
fn address(e: &Endpoint) -> String {
    match e {
        Endpoint::Unix(Some(p)) => format!("{UNIX_PREFIX}{}", p.display()),
        _ => e.to_string(),
    }
}

/// Appends `,"key":v` with `decimals` digits, or `,"key":null` when there
/// is no value (no CPU measured, or no request to divide it by).
fn number_or_null(s: &mut String, key: &str, v: Option<f64>, decimals: usize) {
    let _ = match v {
        Some(v) => write!(s, ",\"{key}\":{v:.decimals$}"),
        None => write!(s, ",\"{key}\":null"),
    };
}

/// Microseconds, from the histogram's nanoseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

impl Report {
    /// Total failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Requests per second over the measured time.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.requests as f64 / s
        } else {
            0.0
        }
    }

    /// The generator's CPU per request, in microseconds: what one request
    /// cost the client (and so did not leave to a server on the same cores).
    pub fn cpu_us_per_request(&self) -> Option<f64> {
        let cpu = self.client_cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    /// The server's CPU per request, in microseconds (with `--server-pid`).
    pub fn server_us_per_request(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.requests > 0).then(|| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }

    fn percentiles(&self) -> [(&'static str, u64); 6] {
        let h = &self.hist;
        [
            ("p50", h.percentile(50.0)),
            ("p90", h.percentile(90.0)),
            ("p99", h.percentile(99.0)),
            ("p99.9", h.percentile(99.9)),
            ("max", h.max()),
            ("mean", h.mean() as u64),
        ]
    }

    /// The human table (several lines, ends with a newline).
    pub fn human(&self) -> String {
        let mut s = String::new();
        let unix = matches!(self.addr, Endpoint::Unix(_));
        // The mode named udp says its protocol already: no "udp udp".
        let proto = match (self.mode == Mode::Udp, unix) {
            (true, false) => "",
            (false, false) => " tcp",
            (true, true) => " dgram",
            (false, true) => " stream",
        };
        let _ = write!(s, "sockref bench: {}{proto} {}", self.mode.name(), address(&self.addr));
        if self.conns > 0 {
            let _ = write!(s, "  conns={}", self.conns);
        }
        match self.mode {
            Mode::Http => {
                let _ = writeln!(s, "  threads={}  pipeline={}", self.threads, self.pipeline);
            }
            Mode::HttpClose => {
                let _ = writeln!(s, "  threads={}", self.threads);
            }
            _ => {
                let _ = writeln!(s, "  threads={}  size={} B", self.threads, self.size);
            }
        }
        let secs = self.elapsed.as_secs_f64();
        if self.mode == Mode::Idle {
            let _ = writeln!(
                s,
                "  held         {} of {} connections for {secs:.2} s",
                self.held, self.conns
            );
        } else {
            let (requests, rate, unit) = (self.requests, self.rate(), self.mode.unit());
            let _ = write!(s, "  requests     {requests} in {secs:.2} s   {rate:.0} {unit}");
            // HTTP's payload is not --size bytes, so it has no MB/s.
            if !matches!(self.mode, Mode::Http | Mode::HttpClose) {
                let _ = write!(s, "   {:.2} MB/s", rate * self.size as f64 / 1e6);
            }
            let _ = writeln!(s);
        }
        let _ = write!(s, "  latency us  ");
        for (name, v) in self.percentiles() {
            let _ = write!(s, " {name} {:.1}", us(v));
        }
        let _ = writeln!(s);
        let _ = write!(s, "  errors       {}", self.error_count());
        if !self.errors.is_empty() {
            let kinds: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = write!(s, " ({})", kinds.join(", "));
        }
        if self.stale > 0 {
            let _ = write!(s, "  stale echoes skipped {}", self.stale);
        }
        if self.warmup_errors > 0 {
            let _ = write!(s, "  (warm-up: {} more, not counted)", self.warmup_errors);
        }
        let _ = writeln!(s);
        let cpus = [
            ("client", self.client_cpu, self.cpu_us_per_request()),
            ("server", self.server_cpu, self.server_us_per_request()),
        ];
        for (who, cpu, per) in cpus {
            let Some(cpu) = cpu.filter(|_| secs > 0.0) else { continue };
            let _ = write!(s, "  {who} cpu   {:.2} cores", cpu.as_secs_f64() / secs);
            if let Some(per) = per {
                let _ = write!(s, ", {per:.1} us per request");
                // The client's own cost says nothing about a server's capacity.
                if who == "server" {
                    let _ = write!(s, ", {:.0} {} per server core", 1e6 / per, self.mode.unit());
                }
            }
            let _ = writeln!(s);
        }
        s
    }

    /// One JSON object on one line (no trailing newline).
    pub fn json(&self) -> String {
        let mut s = String::from("{");
        let _ = write!(s, "\"mode\":\"{}\",\"addr\":", self.mode.name());
        escape_json_into(&mut s, &address(&self.addr));
        let _ = write!(
            s,
            ",\"conns\":{},\"threads\":{},\"size\":{},\"elapsed_s\":{:.6},\"requests\":{},\"rate\":{:.1},\"unit\":\"{}\",\"mbps\":{:.3}",
            self.conns,
            self.threads,
            self.size,
            self.elapsed.as_secs_f64(),
            self.requests,
            self.rate(),
            self.mode.unit(),
            self.rate() * self.size as f64 / 1e6,
        );
        if self.mode == Mode::Idle {
            let _ = write!(s, ",\"held\":{}", self.held);
        }
        if self.mode == Mode::Udp {
            let _ = write!(s, ",\"stale\":{}", self.stale);
        }
        if self.mode == Mode::Http {
            let _ = write!(s, ",\"pipeline\":{}", self.pipeline);
        }
        for (name, v) in self.percentiles() {
            let key = name.replace('.', "");
            let _ = write!(s, ",\"lat_{key}_us\":{:.1}", us(v));
        }
        let _ = write!(s, ",\"errors\":{},\"errors_by_kind\":{{", self.error_count());
        for (i, (k, v)) in self.errors.iter().enumerate() {
            let _ = write!(s, "{}\"{k}\":{v}", if i > 0 { "," } else { "" });
        }
        s.push('}');
        let _ = write!(s, ",\"warmup_errors\":{}", self.warmup_errors);
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let cores = |cpu: Option<Duration>| cpu.map(|c| c.as_secs_f64() / secs);
        number_or_null(&mut s, "client_cpu", cores(self.client_cpu), 3);
        number_or_null(&mut s, "client_cpu_us_per_req", self.cpu_us_per_request(), 2);
        number_or_null(&mut s, "server_cpu", cores(self.server_cpu), 3);
        number_or_null(&mut s, "server_cpu_us_per_req", self.server_us_per_request(), 2);
        // The distribution itself: [lowest us, highest us, count] per
        // non-empty bucket, for charts.
        s.push_str(",\"buckets_us\":[");
        for (i, (lo, hi, c)) in self.hist.buckets().enumerate() {
            let _ = write!(s, "{}[{:.3},{:.3},{c}]", if i > 0 { "," } else { "" }, us(lo), us(hi));
        }
        s.push_str("]}");
        s
    }
}
