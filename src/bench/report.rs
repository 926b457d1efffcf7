//! What a bench run prints: a short human table, or one JSON object.
//!
//! The JSON keys are stable (scripts and BENCHMARKS.md read them); times in
//! it are microseconds, rates per second, `mbps` is megabytes (10^6) of
//! payload per second in one direction.

use std::fmt::Write as _;
use std::time::Duration;

use super::{ErrorCounts, Framing, Histogram, Mode};
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
    /// Open loop: the requests per second asked for (`None`: closed loop).
    pub target_rate: Option<f64>,
    /// Open loop: each measured request's lag, how long after it was free
    /// to go it went (see [`open`](super::open)), nanoseconds.
    pub lag: Histogram,
    /// Open loop: requests due in the window but never sent (the flow was
    /// behind schedule at the deadline).
    pub unsent: u64,
    /// websocket mode: the bytes on the wire of the measured messages.
    pub wire: Option<Wire>,
    /// The first failure of the run (warm-up included), in words: why
    /// nothing succeeded, when nothing did (e.g. the first bytes of a
    /// reply that was not the echo).
    pub first_error: Option<String>,
}

/// websocket mode: what the measured messages cost on the wire, frame
/// headers and any Socket.IO envelope included (heartbeats not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wire {
    /// How each message was framed.
    pub framing: Framing,
    /// Bytes written, client to server.
    pub out: u64,
    /// Bytes read, server to client (the echo, and with an ack the ack).
    pub inbound: u64,
    /// The messages those bytes carried (every message of each round
    /// that was read back whole).
    pub messages: u64,
}

impl Wire {
    /// Bytes per message, out and in.
    pub fn per_message(&self) -> (f64, f64) {
        let n = self.messages.max(1) as f64;
        (self.out as f64 / n, self.inbound as f64 / n)
    }
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

    /// Open loop: measured requests that went more than
    /// [`LATE`](super::open::LATE) after they were free to go.
    pub fn late(&self) -> u64 {
        self.lag.count_above(super::open::LATE.as_nanos() as u64)
    }

    /// Open loop: why the generator, not the server, set the pace, if it
    /// did: more than 1 % of the requests went late. Then the latencies
    /// measure the client, and the report says so instead of showing them.
    /// (Its CPU is no sign: the open-loop engine polls while it waits.)
    pub fn generator_behind(&self) -> Option<String> {
        self.target_rate?;
        let (late, sent) = (self.late(), self.lag.count());
        if sent > 0 && late * 100 > sent {
            return Some(format!(
                "{:.1} % of the requests went more than {} us after they were due and the \
                 connection was free (max {:.1} ms late)",
                late as f64 * 100.0 / sent as f64,
                super::open::LATE.as_micros(),
                self.lag.max() as f64 / 1e6,
            ));
        }
        None
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
        } else if let Some(target) = self.target_rate {
            let (requests, rate, unit) = (self.requests, self.rate(), self.mode.unit());
            let _ = writeln!(
                s,
                "  open loop    target {target:.0} {unit}, achieved {rate:.0} ({:.1} %): {requests} answered in {secs:.2} s",
                rate * 100.0 / target
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
        if let Some(w) = &self.wire {
            let (out, inbound) = w.per_message();
            let _ = writeln!(
                s,
                "  wire B/msg   out {out:.1}  in {inbound:.1}  (framing {}, payload {} B each way)",
                w.framing.name(),
                self.size
            );
        }
        self.human_latency(&mut s);
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

    /// The latency lines: the percentiles, and in open loop the
    /// generator's lag, and the plain verdict when either side fell
    /// behind. A generator that fell behind gets no latency line: those
    /// numbers would measure the client.
    fn human_latency(&self, s: &mut String) {
        let behind = self.generator_behind();
        if let Some(why) = &behind {
            let _ = writeln!(
                s,
                "  latency      not shown: the load generator fell behind its own schedule\n               \
                 ({why}),\n               so the latencies would measure the client, not the server \
                 (--json still has them).\n               Lower --rate or --conns, or give the client \
                 CPUs of its own (sockref compare --pin)."
            );
        } else {
            let _ = write!(s, "  latency us  ");
            for (name, v) in self.percentiles() {
                let _ = write!(s, " {name} {:.1}", us(v));
            }
            if self.target_rate.is_some() {
                let _ = write!(s, "   (from each request's due time)");
            }
            let _ = writeln!(s);
        }
        let Some(target) = self.target_rate else {
            return;
        };
        let _ = writeln!(
            s,
            "  generator    lag p99 {:.1} us, max {:.1} us; {} of {} requests went more than {} us late",
            us(self.lag.percentile(99.0)),
            us(self.lag.max()),
            self.late(),
            self.lag.count(),
            super::open::LATE.as_micros(),
        );
        let achieved = self.rate() / target;
        if behind.is_none() && (achieved < 0.99 || self.unsent > 0) {
            let _ = writeln!(
                s,
                "  server       did not keep up: {:.1} % of the target rate answered{}; past its \
                 capacity the queue,\n               and so the latency, grows for as long as the run lasts",
                achieved * 100.0,
                if self.unsent > 0 {
                    format!(", {} requests due were never sent", self.unsent)
                } else {
                    String::new()
                },
            );
        }
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
        if let Some(w) = &self.wire {
            let (out, inbound) = w.per_message();
            let _ = write!(
                s,
                ",\"framing\":\"{}\",\"wire_messages\":{},\"wire_out_per_msg\":{out:.2},\"wire_in_per_msg\":{inbound:.2}",
                w.framing.name(),
                w.messages
            );
        }
        for (name, v) in self.percentiles() {
            let key = name.replace('.', "");
            let _ = write!(s, ",\"lat_{key}_us\":{:.1}", us(v));
        }
        number_or_null(&mut s, "target_rate", self.target_rate, 1);
        if self.target_rate.is_some() {
            let behind = self.generator_behind();
            let _ = write!(
                s,
                ",\"lag_p99_us\":{:.1},\"lag_max_us\":{:.1},\"late\":{},\"late_threshold_us\":{},\"unsent\":{},\"generator_behind\":{}",
                us(self.lag.percentile(99.0)),
                us(self.lag.max()),
                self.late(),
                super::open::LATE.as_micros(),
                self.unsent,
                behind.is_some(),
            );
            s.push_str(",\"generator_note\":");
            match behind {
                Some(why) => escape_json_into(&mut s, &why),
                None => s.push_str("null"),
            }
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
        for (i, (lo, hi, c)) in self.hist.coarse_buckets().into_iter().enumerate() {
            let _ = write!(s, "{}[{:.3},{:.3},{c}]", if i > 0 { "," } else { "" }, us(lo), us(hi));
        }
        s.push_str("]}");
        s
    }
}
