//! What a bench run is asked to do, and which requests make no sense.
//!
//! [`BenchOptions::validate`] is the one place the bench's rules live, so
//! that the command line and a library caller are refused alike, with the
//! same message naming the flag to change.

use std::fmt::Display;
use std::time::Duration;

use super::websocket::Framing;
use crate::limits::MAX_DATAGRAM;
use crate::net::DEFAULT_ADDR;

/// The workload a bench run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Persistent stream connections (TCP or Unix-domain), one round trip
    /// after another on each.
    Pingpong,
    /// A new stream connection per request: connect, write, read, close.
    Churn,
    /// One datagram (UDP or Unix-domain) in flight per thread, echo
    /// awaited with a timeout.
    Udp,
    /// Open connections, echo once on each, hold them for the duration.
    Idle,
    /// HTTP/1.1 keep-alive: persistent connections, `GET /plaintext` and
    /// its 200 response, [`BenchOptions::pipeline`] requests at a time.
    Http,
    /// HTTP/1.1, a new connection per request (`Connection: close`).
    HttpClose,
    /// WebSocket: persistent upgraded connections, one message echoed
    /// after another on each, raw or as a Socket.IO event
    /// ([`BenchOptions::framing`]; see `bench::websocket`).
    WebSocket,
}

impl Mode {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Churn => "churn",
            Mode::Udp => "udp",
            Mode::Idle => "idle",
            Mode::Http => "http",
            Mode::HttpClose => "http-close",
            Mode::WebSocket => "websocket",
        }
    }

    /// Every mode, in the order `--help` lists them.
    pub const ALL: [Mode; 7] = [
        Mode::Pingpong,
        Mode::Churn,
        Mode::Udp,
        Mode::Idle,
        Mode::Http,
        Mode::HttpClose,
        Mode::WebSocket,
    ];

    /// The mode called `name` on the command line.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether the run keeps `--conns` connections open (the others open
    /// one per request, or use datagrams).
    pub fn holds_connections(self) -> bool {
        matches!(self, Mode::Pingpong | Mode::Idle | Mode::Http | Mode::WebSocket)
    }

    /// The unit reports give this mode's rate in (`req/s`, `conn/s`,
    /// `dgram/s`); `conn` for idle mode, whose figure is connections held.
    pub fn unit(self) -> &'static str {
        match self {
            Mode::Pingpong | Mode::Http | Mode::HttpClose | Mode::WebSocket => "req/s",
            Mode::Churn => "conn/s",
            Mode::Udp => "dgram/s",
            Mode::Idle => "conn",
        }
    }
}

/// When a run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long (measured, not counting the warm-up).
    Duration(Duration),
    /// After this many measured requests in total, over all threads.
    Requests(u64),
}

/// Everything one bench run needs. [`BenchOptions::default`] is what
/// `sockref bench ADDR` runs with no other flag.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The server: `host:port`, or `unix:PATH` for a Unix-domain socket
    /// (stream for pingpong, churn and idle; datagram for udp).
    pub addr: String,
    /// The workload.
    pub mode: Mode,
    /// Connections (pingpong, idle).
    pub conns: usize,
    /// Client threads.
    pub threads: usize,
    /// Payload bytes per request (echo modes; HTTP requests are fixed).
    pub size: usize,
    /// HTTP keep-alive: requests written at once on each connection before
    /// their responses are read (1 = no pipelining).
    pub pipeline: usize,
    /// websocket: the message raw, or as a Socket.IO event (with an ack).
    pub framing: Framing,
    /// When to stop.
    pub stop: Stop,
    /// Traffic before measuring starts (connections are opened first).
    /// Idle mode has none: it holds for the whole duration.
    pub warmup: Duration,
    /// Read/write/connect timeout of every socket; a UDP echo not back by
    /// then is lost.
    pub timeout: Duration,
    /// Print the once-a-second progress line (still only on a terminal).
    pub progress: bool,
    /// Report as one JSON object instead of the human table.
    pub json: bool,
    /// The server's process id, to report the CPU it used while measuring
    /// (Linux `/proc`): the server's cost per request, next to the client's.
    pub server_pid: Option<u32>,
    /// Open loop: requests per second over all `conns` flows (TCP
    /// connections, or UDP sockets), each on a schedule of its own;
    /// `None`, the default, is closed loop. See [`open`](super::open).
    pub rate: Option<f64>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            addr: DEFAULT_ADDR.to_string(),
            mode: Mode::Pingpong,
            conns: 10,
            threads: 2,
            size: 64,
            pipeline: 1,
            framing: Framing::Raw,
            stop: Stop::Duration(Duration::from_secs(5)),
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            progress: true,
            json: false,
            server_pid: None,
            rate: None,
        }
    }
}

/// Largest `--size`: a lockstep round trip with more than the socket
/// buffers hold could block both sides; 1 MiB stays well inside the
/// Linux defaults that autotune to several MiB on loopback.
pub const MAX_SIZE: usize = 1 << 20;

/// Deepest `--pipeline`: TechEmpower's plaintext test uses 16.
pub const MAX_PIPELINE: usize = 1024;

/// Highest `--rate`: ten times what one machine's loopback carries.
pub const MAX_RATE: f64 = 10_000_000.0;

/// Most flows (connections or UDP sockets) an open-loop run drives.
pub const MAX_FLOWS: usize = 10_000;

/// Longest duration a flag takes (a year): far beyond any benchmark, and
/// `Instant + Duration` cannot overflow (it would panic) below it.
const MAX_SECONDS: f64 = 31_536_000.0;

impl BenchOptions {
    /// Refuses options that contradict each other or cannot run, with the
    /// message the command line gives for the same mistake (naming the
    /// flag). [`run`](super::run) calls it first; the address itself is
    /// checked when the run resolves it.
    pub fn validate(&self) -> Result<(), String> {
        in_range("--conns", self.conns, 1, 100_000)?;
        in_range("--threads", self.threads, 1, 1024)?;
        in_range("--size", self.size, 1, MAX_SIZE)?;
        in_range("--pipeline", self.pipeline, 1, MAX_PIPELINE)?;
        if self.pipeline > 1 && self.mode != Mode::Http {
            return Err(format!(
                "--pipeline: only the http mode pipelines requests, not {}",
                self.mode.name()
            ));
        }
        if let Stop::Requests(n) = self.stop {
            in_range("--requests", n, 1, u64::MAX)?;
        }
        if let Some(pid) = self.server_pid {
            in_range("--server-pid", pid, 1, u32::MAX)?;
        }
        if let Stop::Duration(d) = self.stop {
            seconds("--duration", d)?;
        }
        seconds("--warmup", self.warmup)?;
        seconds("--timeout", self.timeout)?;
        if self.timeout.is_zero() {
            return Err("--timeout: must be more than 0 seconds".into());
        }
        if self.framing != Framing::Raw && self.mode != Mode::WebSocket {
            return Err(format!(
                "--framing: only the websocket mode frames messages, not {}",
                self.mode.name()
            ));
        }
        self.validate_udp()?;
        self.validate_rate()?;
        self.validate_stop()
    }

    fn validate_rate(&self) -> Result<(), String> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        if !(rate > 0.0 && rate <= MAX_RATE) {
            return Err(format!(
                "--rate: '{rate}' is not a number of requests/s from 1 to {MAX_RATE}"
            ));
        }
        if !matches!(self.mode, Mode::Pingpong | Mode::Http | Mode::Udp) {
            return Err(format!(
                "--rate: open loop runs the pingpong, http and udp modes, not {}",
                self.mode.name()
            ));
        }
        if self.pipeline > 1 {
            return Err("--rate: open loop keeps one request in flight per connection: leave out --pipeline".into());
        }
        if self.conns > MAX_FLOWS {
            return Err(format!("--conns: at most {MAX_FLOWS} with --rate"));
        }
        Ok(())
    }

    fn validate_udp(&self) -> Result<(), String> {
        if self.mode != Mode::Udp {
            return Ok(());
        }
        if self.size < 8 {
            return Err(
                "--size: udp needs at least 8 bytes (they carry the sequence number)".into()
            );
        }
        // A larger datagram cannot be sent at all (EMSGSIZE on every send).
        if self.size > MAX_DATAGRAM {
            return Err(format!(
                "--size: {} bytes do not fit in one UDP datagram (at most {MAX_DATAGRAM})",
                self.size
            ));
        }
        Ok(())
    }

    fn validate_stop(&self) -> Result<(), String> {
        match (self.mode, self.stop) {
            // Idle holds for --duration; 0 s is meaningful there (open, echo
            // once, check, close), a request count is not.
            (Mode::Idle, Stop::Requests(_)) => Err(
                "--requests: idle mode makes one echo per connection; use --duration for the hold time"
                    .into(),
            ),
            (Mode::Idle, Stop::Duration(_)) => Ok(()),
            (_, Stop::Duration(d)) if d.is_zero() => Err(format!(
                "--duration: {} mode needs more than 0 seconds",
                self.mode.name()
            )),
            _ => Ok(()),
        }
    }
}

/// The command line's message for a number out of its range.
fn in_range<T: PartialOrd + Display>(flag: &str, n: T, min: T, max: T) -> Result<(), String> {
    if n < min || n > max {
        return Err(format!("{flag}: '{n}' is not a number from {min} to {max}"));
    }
    Ok(())
}

/// The command line's messages for a duration it would not take: under
/// 1 ms but not 0 (a socket timeout that small rounds to nothing), or
/// beyond [`MAX_SECONDS`].
fn seconds(flag: &str, d: Duration) -> Result<(), String> {
    let s = d.as_secs_f64();
    if s > 0.0 && s < 0.001 {
        return Err(format!("{flag}: '{s}' is too small: use 0 or at least 0.001 seconds"));
    }
    if s > MAX_SECONDS {
        return Err(format!("{flag}: '{s}' is not a number of seconds from 0 to 31536000"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(o: BenchOptions) -> String {
        o.validate().err().unwrap_or_default()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(BenchOptions::default().validate(), Ok(()));
        let idle_zero = BenchOptions {
            mode: Mode::Idle,
            stop: Stop::Duration(Duration::ZERO),
            ..BenchOptions::default()
        };
        assert_eq!(idle_zero.validate(), Ok(()));
    }

    #[test]
    fn contradictions_are_refused_with_the_command_lines_messages() {
        let d = BenchOptions::default;
        let udp = |size| BenchOptions { mode: Mode::Udp, size, ..d() };
        assert!(refused(udp(4)).contains("at least 8"));
        assert!(refused(udp(65_508)).contains("65507"));
        assert_eq!(udp(65_507).validate(), Ok(()));
        let idle_requests = BenchOptions { mode: Mode::Idle, stop: Stop::Requests(5), ..d() };
        assert!(refused(idle_requests).starts_with("--requests: idle mode"));
        let churn_zero =
            BenchOptions { mode: Mode::Churn, stop: Stop::Duration(Duration::ZERO), ..d() };
        assert_eq!(refused(churn_zero), "--duration: churn mode needs more than 0 seconds");
    }

    #[test]
    fn counts_sizes_and_durations_out_of_range_are_refused() {
        let d = BenchOptions::default;
        assert_eq!(
            refused(BenchOptions { conns: 0, ..d() }),
            "--conns: '0' is not a number from 1 to 100000"
        );
        assert!(refused(BenchOptions { threads: 0, ..d() }).starts_with("--threads"));
        assert!(refused(BenchOptions { size: MAX_SIZE + 1, ..d() }).starts_with("--size"));
        assert!(refused(BenchOptions { stop: Stop::Requests(0), ..d() }).starts_with("--requests"));
        assert!(refused(BenchOptions { server_pid: Some(0), ..d() }).starts_with("--server-pid"));
        assert!(refused(BenchOptions { pipeline: 16, ..d() }).contains("only the http mode"));
        assert_eq!(BenchOptions { pipeline: 16, mode: Mode::Http, ..d() }.validate(), Ok(()));
        assert_eq!(
            refused(BenchOptions { timeout: Duration::ZERO, ..d() }),
            "--timeout: must be more than 0 seconds"
        );
        assert!(refused(BenchOptions { warmup: Duration::from_micros(10), ..d() })
            .contains("too small"));
        assert!(refused(BenchOptions { stop: Stop::Duration(Duration::MAX), ..d() })
            .contains("31536000"));
    }
}
