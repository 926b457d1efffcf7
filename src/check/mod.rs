//! `sockref check`: the oracle. Probes a running server, rule by rule, and
//! says whether it behaves as the service's RFC (862-868) or textbook
//! program (hello, length) says, and as sockref itself does.
//!
//! ```text
//! PASS  echo.tcp.binary          RFC 862
//! FAIL  echo.tcp.split-writes    RFC 862
//!       sent: "ab" then "cd" then "ef" (3 writes, 6 bytes) ...
//!       got:  "ab" (2 bytes), then the server closed
//!       want: "abcdef" (6 bytes)
//!       hint: the reply ended before your input did: ...
//! 11 passed, 1 failed, 0 skipped
//! ```
//!
//! # The shape, for whoever adds a service (`check/http.rs`, `check/websocket.rs`)
//!
//! - A check is a [`Check`]: a name `SERVICE.PROTO.rule` (`echo.tcp.half-close`;
//!   PROTO is `tcp` for a stream socket, TCP or Unix-domain, and `udp` for
//!   a datagram one), the rule in one sentence, where the rule is written
//!   (`RFC 862`, `RFC 9112 §9.3`, `textbook hello.c`), whether it is in the
//!   `--hostile` set, and a plain function `fn(&Ctx) -> Outcome`.
//! - The function probes through [`Ctx::connect`] / [`Ctx::datagram`]
//!   (the client's own calls, so `--trace` shows them) and returns
//!   `Ok(Verdict::Pass)`, `Ok(Verdict::Note(..))` (sockref's stricter choice
//!   is not met: reported, never a failure), `Ok(Verdict::Skip(..))`, or
//!   `Err(Failure { sent, got, want, hint })`. A call that could not be made
//!   (`connect()` refused) converts with `?` into a failure that says so.
//!   Bytes in a failure go through [`preview`] (the trace's escaping).
//! - Expected bytes come from `service/` (`chargen_pattern`, `daytime_line`,
//!   `length_reply`, `HELLO_MSG`, `rfc868_time`, ...), never a copy.
//! - Every wait is bounded: [`Ctx::wait`] for what must come, [`Ctx::quiet`]
//!   for "and nothing else"; the runner also bounds each check as a whole.
//! - A service file exports `pub(super) const CHECKS: &[Check]` and gets one
//!   row in [`SERVICES`].
//!
//! What it does not do: start a server of its own code (`--server` starts
//! a command, as `compare` does), import `server/` (it is a client), or send
//! anywhere but the address it is given.

use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{DatagramProbe, End, Received, StreamProbe};
use crate::error::Error;
use crate::net::secs;
use crate::trace::{escape_bytes, escape_json_into, Observer, Proto, TraceFormat, TraceWriter};

mod chargen;
mod common;
mod daytime;
mod discard;
mod echo;
mod hello;
mod http;
mod launch;
mod length;
mod time;
mod websocket;

/// One rule, and the function that tests a server against it.
pub struct Check {
    /// `SERVICE.PROTO.rule`, e.g. `echo.tcp.half-close`.
    pub name: &'static str,
    /// The rule, in one sentence.
    pub rule: &'static str,
    /// Where the rule is written: `RFC 862`, `textbook hello.c`, `sockref`.
    pub cite: &'static str,
    /// Only with `--hostile`: clients that misbehave on purpose.
    pub hostile: bool,
    /// The test itself.
    pub run: fn(&Ctx) -> Outcome,
}

impl Check {
    /// The service part of the name: `echo` for `echo.tcp.short`.
    pub fn service(&self) -> &'static str {
        self.name.split('.').next().unwrap_or(self.name)
    }

    /// Stream (`tcp`) or datagram (`udp`), from the name's second part.
    pub fn proto(&self) -> Proto {
        match self.name.split('.').nth(1) {
            Some("udp") => Proto::Udp,
            _ => Proto::Tcp,
        }
    }
}

/// What a check concluded, short of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rule holds.
    Pass,
    /// The RFC's rule holds but sockref's stricter choice does not: reported,
    /// never a failure (RFC 867 leaves daytime's format free, ...).
    Note(String),
    /// Not tested, and why.
    Skip(String),
}

/// A broken rule: what was sent, what came back, what the rule wants, and a
/// hint for the student who wrote the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What the check sent (previewed).
    pub sent: String,
    /// What came back (previewed), and how the connection ended.
    pub got: String,
    /// What the rule wants.
    pub want: String,
    /// What the observation usually means in the C program, and what to change.
    pub hint: String,
}

impl Failure {
    /// A failure from its four parts.
    pub fn new(
        sent: impl Into<String>,
        got: impl Into<String>,
        want: impl Into<String>,
        hint: impl Into<String>,
    ) -> Failure {
        Failure { sent: sent.into(), got: got.into(), want: want.into(), hint: hint.into() }
    }
}

impl From<Error> for Failure {
    /// A call that could not be made at all: nothing was exchanged.
    fn from(e: Error) -> Failure {
        let hint = match e.call() {
            "connect()" => "nothing accepted the connection: is the server running, on this address, and still alive after the previous checks? (a C server killed by SIGPIPE when a client goes away stops here: ignore it with signal(SIGPIPE, SIG_IGN) or send with MSG_NOSIGNAL)",
            "sendto()" => "the datagram could not even be sent: check the address",
            _ => "a socket call of the check failed; the message names it and the OS reason",
        };
        Failure::new("(nothing: the call failed)", e.to_string(), "the call to succeed", hint)
    }
}

/// The result of one check.
pub type Outcome = Result<Verdict, Failure>;

/// What a check runs with: where the server is, how long to wait, and the
/// observer that `--trace` installs.
pub struct Ctx {
    /// `host:port` or `unix:PATH`.
    pub addr: String,
    /// Longest wait for something the rule says must come.
    pub wait: Duration,
    /// How long silence must last to count as "nothing more came".
    pub quiet: Duration,
    /// `--trace`: the probes' socket calls.
    pub observer: Option<Arc<dyn Observer>>,
}

impl Ctx {
    /// `socket()` + `connect()` to the server, timeouts set to [`Ctx::wait`].
    pub fn connect(&self) -> Result<StreamProbe<'_>, Failure> {
        Ok(StreamProbe::connect(&self.addr, self.wait, self.observer.as_deref())?)
    }

    /// A datagram socket that sends to the server.
    pub fn datagram(&self) -> Result<DatagramProbe<'_>, Failure> {
        Ok(DatagramProbe::open(&self.addr, self.wait, self.observer.as_deref())?)
    }
}

/// Longest preview of a byte string in a report.
pub const PREVIEW: usize = 72;

/// `"Hello World!\x00" (13 bytes)`: bytes as the trace shows them (C
/// escapes), cut after [`PREVIEW`] bytes.
pub fn preview(data: &[u8]) -> String {
    let shown = &data[..data.len().min(PREVIEW)];
    let more = if shown.len() < data.len() { "..." } else { "" };
    let unit = if data.len() == 1 { "byte" } else { "bytes" };
    format!("\"{}\"{more} ({} {unit})", escape_bytes(shown), data.len())
}

/// What a run of reads got: the bytes and how it ended, in words.
pub fn received(r: &Received, wait: Duration) -> String {
    if r.data.is_empty() {
        return match &r.end {
            End::Eof => "nothing: the server closed at once".to_string(),
            End::Reset => "nothing: a reset (read() failed: ECONNRESET)".to_string(),
            End::TimedOut | End::Enough => format!("nothing within {}", secs(wait)),
            End::Failed(e) => format!("nothing: read() failed: {e}"),
        };
    }
    let what = preview(&r.data);
    match &r.end {
        End::Eof => format!("{what}, then the server closed"),
        End::Reset => format!("{what}, then a reset (read() failed: ECONNRESET)"),
        End::TimedOut => format!("{what}, then nothing more within {}", secs(wait)),
        End::Enough => what,
        End::Failed(e) => format!("{what}, then read() failed: {e}"),
    }
}

/// Where `got` first differs from `want`: `None` if one is a prefix of the other.
pub fn first_difference(got: &[u8], want: &[u8]) -> Option<usize> {
    got.iter().zip(want).position(|(a, b)| a != b)
}

/// Around byte `at`: `byte 1000: got "xyz...", want "abc..."`.
pub fn around(got: &[u8], want: &[u8], at: usize) -> String {
    let from = at.saturating_sub(8);
    let cut = |d: &[u8]| {
        let d = &d[from.min(d.len())..d.len().min(at + 16)];
        format!("\"{}\"", escape_bytes(d))
    };
    format!("from byte {from}: got {}, want {}", cut(got), cut(want))
}

/// The services that have checks, and their checks, in the order they run.
pub const SERVICES: &[(&str, &[Check])] = &[
    ("echo", echo::CHECKS),
    ("discard", discard::CHECKS),
    ("chargen", chargen::CHECKS),
    ("daytime", daytime::CHECKS),
    ("time", time::CHECKS),
    ("hello", hello::CHECKS),
    ("length", length::CHECKS),
    ("http", http::CHECKS),
    ("websocket", websocket::CHECKS),
];

/// The checks of `service`, if it has any.
pub fn checks(service: &str) -> Option<&'static [Check]> {
    SERVICES.iter().find(|(s, _)| *s == service).map(|(_, c)| *c)
}

/// Everything `sockref check` was told.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The server: `host:port` or `unix:PATH` (with `--server`: filled in
    /// as 127.0.0.1:PORT).
    pub addr: Option<String>,
    /// `--server 'CMD {port}'`: start this command, check it, stop it.
    pub server: Option<String>,
    /// Which service's rules.
    pub service: String,
    /// `--only GLOB[,GLOB]`: the checks whose names match.
    pub only: Vec<String>,
    /// `--list`: name the checks, run none.
    pub list: bool,
    /// `--json`: one object per check.
    pub json: bool,
    /// `--proto tcp|udp`: one kind of socket only.
    pub proto: Option<Proto>,
    /// `--hostile`: the reliability checks too.
    pub hostile: bool,
    /// `--trace`: the probes' socket calls, on stderr.
    pub trace: Option<TraceFormat>,
    /// `--timeout`: the longest wait for something that must come.
    pub wait: Duration,
    /// `--start-timeout`: how long `--server` may take to accept.
    pub start_timeout: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            addr: None,
            server: None,
            service: "echo".into(),
            only: Vec::new(),
            list: false,
            json: false,
            proto: None,
            hostile: false,
            trace: None,
            wait: Duration::from_secs(2),
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// `*` any run of characters, `?` any one; everything else itself.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The checks `opts` selects, in order.
pub fn selected(opts: &CheckOptions) -> Vec<&'static Check> {
    let Some(all) = checks(&opts.service) else {
        return Vec::new();
    };
    // A Unix-domain path holds one socket: its kind is --proto's (stream
    // unless told otherwise), as `sockref serve` binds it.
    let unix = opts.addr.as_deref().is_some_and(|a| a.starts_with("unix:"));
    let proto = opts.proto.or(unix.then_some(Proto::Tcp));
    all.iter()
        .filter(|c| proto.map_or(true, |p| c.proto() == p))
        .filter(|c| opts.hostile || !c.hostile || !opts.only.is_empty())
        .filter(|c| opts.only.is_empty() || opts.only.iter().any(|g| glob(g, c.name)))
        .collect()
}

/// One check's result.
#[derive(Debug)]
pub struct Report {
    /// The check's name.
    pub name: &'static str,
    /// Where its rule is written.
    pub cite: &'static str,
    /// Its rule.
    pub rule: &'static str,
    /// What it concluded.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// Counts, for the summary line and the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed.
    pub failed: usize,
    /// Checks skipped.
    pub skipped: usize,
    /// Checks that met the RFC but not sockref's stricter choice.
    pub noted: usize,
}

impl Summary {
    /// `12 passed, 1 failed, 0 skipped` (and `, 1 noted` when there are notes).
    pub fn line(&self) -> String {
        let mut l =
            format!("{} passed, {} failed, {} skipped", self.passed, self.failed, self.skipped);
        if self.noted > 0 {
            l.push_str(&format!(" ({} noted)", self.noted));
        }
        l
    }

    fn count(&mut self, o: &Outcome) {
        match o {
            Ok(Verdict::Pass) => self.passed += 1,
            Ok(Verdict::Note(_)) => self.noted += 1,
            Ok(Verdict::Skip(_)) => self.skipped += 1,
            Err(_) => self.failed += 1,
        }
    }
}

/// `--list`: one line per selected check (the `--hostile` ones too,
/// marked), its name, source and rule.
pub fn list(opts: &CheckOptions, out: &mut dyn Write) -> io::Result<()> {
    let all = CheckOptions { hostile: true, ..opts.clone() };
    for c in selected(&all) {
        let hostile = if c.hostile { " [--hostile]" } else { "" };
        writeln!(out, "{:<34} {:<22} {}{hostile}", c.name, c.cite, c.rule)?;
    }
    Ok(())
}

/// How long one check may take as a whole: its waits are bounded one by
/// one, this bounds their sum (a server that trickles bytes forever).
fn check_limit(wait: Duration) -> Duration {
    wait * 6 + Duration::from_secs(5)
}

/// Runs the selected checks against `opts.addr` (or a server it starts
/// first), writing one line (or object) per check and the summary to
/// `out`, and the probes' trace to `trace_out`. `Err` only when the
/// checks could not run at all (the server did not start).
pub fn run(
    opts: &CheckOptions,
    out: &mut dyn Write,
    trace_out: Box<dyn Write + Send>,
) -> Result<Summary, Error> {
    let mut launched = None;
    let addr = match (&opts.server, &opts.addr) {
        (Some(command), _) => {
            let l = launch::start(command, opts)?;
            let a = l.addr().to_string();
            launched = Some(l);
            a
        }
        (None, Some(a)) => a.clone(),
        (None, None) => {
            return Err(Error::new("connect()", None, io::ErrorKind::InvalidInput.into()))
        }
    };
    let opts = CheckOptions { addr: Some(addr.clone()), ..opts.clone() };
    let trace_out = SharedOut(Arc::new(Mutex::new(trace_out)));
    let observer: Option<Arc<dyn Observer>> =
        opts.trace.map(|f| Arc::new(TraceWriter::new(f, trace_out.clone())) as Arc<dyn Observer>);
    let mut summary = Summary::default();
    let mut exited: Option<&'static str> = None;
    let checks = selected(&opts);
    let no_udp = udp_absent(&opts, &addr, &checks);
    for check in checks {
        let udp_skip = no_udp.as_ref().filter(|_| check.proto() == Proto::Udp);
        let report = match (udp_skip, exited) {
            (Some(why), _) => skipped(check, why.clone()),
            // Every later check would only say "connection refused".
            (None, Some(during)) => skipped(check, format!("the server exited during {during}")),
            (None, None) => {
                if opts.trace.is_some() {
                    let _ = writeln!(trace_out.clone(), "== {}", check.name);
                }
                run_one(check, &addr, &opts, observer.clone())
            }
        };
        summary.count(&report.outcome);
        let text = if opts.json { json(&report) } else { human(&report) };
        // A closed stdout (`| head`) must not stop the checks or the server's stop.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        if let (Some(l), None, None) = (launched.as_mut(), exited, udp_skip) {
            if has_exited(l, report.outcome.is_err()) {
                exited = Some(check.name);
                if !opts.json {
                    let _ = writeln!(
                        out,
                        "      the server exited: the checks after this one are skipped"
                    );
                }
            }
        }
    }
    let _ = if opts.json {
        writeln!(
            out,
            "{{\"summary\":true,\"passed\":{},\"failed\":{},\"skipped\":{},\"noted\":{}}}",
            summary.passed, summary.failed, summary.skipped, summary.noted
        )
    } else {
        writeln!(out, "{}", summary.line())
    };
    drop(launched);
    Ok(summary)
}

/// The report of a check not run, and why.
fn skipped(check: &Check, why: String) -> Report {
    Report {
        name: check.name,
        cite: check.cite,
        rule: check.rule,
        outcome: Ok(Verdict::Skip(why)),
        elapsed: Duration::ZERO,
    }
}

/// Whether a server `--server` started has exited. After a failure it
/// gets a moment to finish dying (a process killed by SIGPIPE closes its
/// sockets before its parent can see it gone), so that the failure, not
/// the next check, is the one that reports it.
fn has_exited(l: &mut launch::Launched, failed: bool) -> bool {
    let until = Instant::now() + if failed { Duration::from_millis(200) } else { Duration::ZERO };
    loop {
        if !l.running() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// The trace's output, shared by the probes' observer and the runner's
/// `== CHECK` headers, so that both land in order.
#[derive(Clone)]
struct SharedOut(Arc<Mutex<Box<dyn Write + Send>>>);

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock() {
            Ok(mut w) => w.write(buf),
            Err(poisoned) => poisoned.into_inner().write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock() {
            Ok(mut w) => w.flush(),
            Err(poisoned) => poisoned.into_inner().flush(),
        }
    }
}

/// Runs one check on a thread of its own, bounded by [`check_limit`]: a
/// check still running then is reported as failed and left behind (its own
/// socket timeouts end it soon after).
/// Without `--proto`, a service with both kinds gets both checked; but a
/// server that binds only TCP (most students' first server) would then
/// fail every UDP check with silence. When nothing is bound to the UDP
/// port at all (the kernel answers ICMP port unreachable, which a connected
/// socket sees as ECONNREFUSED), the UDP checks are skipped, saying why and
/// how to ask for them. `--proto udp` still fails them.
fn udp_absent(opts: &CheckOptions, addr: &str, checks: &[&'static Check]) -> Option<String> {
    let both = checks.iter().any(|c| c.proto() == Proto::Udp)
        && checks.iter().any(|c| c.proto() == Proto::Tcp);
    if opts.proto.is_some() || !both || addr.starts_with("unix:") {
        return None;
    }
    let sock = std::net::ToSocketAddrs::to_socket_addrs(addr).ok()?.next()?;
    // A server just started by --server was waited for on TCP; its UDP
    // socket may come a moment later (a forked child binds it): ask again
    // for up to UDP_GRACE before calling it TCP-only.
    let until = Instant::now() + if opts.server.is_some() { UDP_GRACE } else { Duration::ZERO };
    loop {
        match launch::udp_bound(sock) {
            Ok(false) if Instant::now() >= until => {
                return Some(format!(
                    "nothing listens on UDP {sock} (port unreachable): a TCP-only server? (--proto udp checks UDP anyway)"
                ))
            }
            Ok(false) => thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// How long a server started by `--server` has, after it accepts on TCP,
/// to bind its UDP port before its UDP checks are skipped as TCP-only.
const UDP_GRACE: Duration = Duration::from_secs(1);

fn run_one(
    check: &'static Check,
    addr: &str,
    opts: &CheckOptions,
    observer: Option<Arc<dyn Observer>>,
) -> Report {
    let started = Instant::now();
    let ctx = Ctx { addr: addr.to_string(), wait: opts.wait, quiet: quiet(opts.wait), observer };
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new().name(format!("check {}", check.name)).spawn(move || {
        let _ = tx.send((check.run)(&ctx));
    });
    let limit = check_limit(opts.wait);
    let outcome = match spawned {
        Err(e) => Err(Failure::from(Error::new("pthread_create()", None, e))),
        Ok(_) => match rx.recv_timeout(limit) {
            Ok(outcome) => outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Failure::new(
                "(see the check's rule)",
                format!("the check did not finish within {}", secs(limit)),
                "each exchange to finish within --timeout",
                "the server kept the check waiting on every step: it may be trickling bytes or stuck serving another client",
            )),
            // The check panicked: a bug in the check, reported as such.
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Failure::new(
                "(unknown)",
                "the check itself panicked",
                "a verdict",
                "this is a bug in sockref check, not in your server: please report it",
            )),
        },
    };
    Report {
        name: check.name,
        cite: check.cite,
        rule: check.rule,
        outcome,
        elapsed: started.elapsed(),
    }
}

/// Silence long enough to conclude "nothing more": a tenth of the wait,
/// at least 200 ms (loopback answers in microseconds).
fn quiet(wait: Duration) -> Duration {
    (wait / 10).max(Duration::from_millis(200))
}

/// The text report of one check: one line, and for a failure its details.
pub fn human(r: &Report) -> String {
    let (tag, extra) = match &r.outcome {
        Ok(Verdict::Pass) => ("PASS", String::new()),
        Ok(Verdict::Note(n)) => ("NOTE", format!("      note: {n}\n")),
        Ok(Verdict::Skip(why)) => ("SKIP", format!("      skip: {why}\n")),
        Err(f) => (
            "FAIL",
            format!(
                "      rule: {}\n      sent: {}\n      got:  {}\n      want: {}\n      hint: {}\n",
                r.rule, f.sent, f.got, f.want, f.hint
            ),
        ),
    };
    format!("{tag}  {:<34} {}\n{extra}", r.name, r.cite)
}

/// The JSON object of one check, on one line.
pub fn json(r: &Report) -> String {
    let mut s = String::from("{");
    let mut field = |k: &str, v: &str| {
        if s.len() > 1 {
            s.push(',');
        }
        s.push('"');
        s.push_str(k);
        s.push_str("\":");
        escape_json_into(&mut s, v);
    };
    field("check", r.name);
    let verdict = match &r.outcome {
        Ok(Verdict::Pass) => "pass",
        Ok(Verdict::Note(_)) => "note",
        Ok(Verdict::Skip(_)) => "skip",
        Err(_) => "fail",
    };
    field("verdict", verdict);
    field("cite", r.cite);
    field("rule", r.rule);
    match &r.outcome {
        Ok(Verdict::Note(n)) => field("note", n),
        Ok(Verdict::Skip(why)) => field("skip", why),
        Err(f) => {
            field("sent", &f.sent);
            field("got", &f.got);
            field("want", &f.want);
            field("hint", &f.hint);
        }
        Ok(Verdict::Pass) => {}
    }
    s.push_str(&format!(",\"ms\":{}}}\n", r.elapsed.as_millis()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_names() {
        assert!(glob("echo.*", "echo.tcp.short"));
        assert!(glob("*.udp.*", "echo.udp.empty"));
        assert!(!glob("*.udp.*", "echo.tcp.empty"));
        assert!(glob("echo.tcp.s?ort", "echo.tcp.short"));
        assert!(glob("*", ""));
        assert!(!glob("echo", "echo.tcp.short"));
    }

    #[test]
    fn names_are_service_proto_rule_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (service, checks) in SERVICES {
            for c in *checks {
                let parts: Vec<&str> = c.name.split('.').collect();
                assert!(parts.len() >= 3, "{}", c.name);
                assert_eq!(parts[0], *service, "{}", c.name);
                assert!(["tcp", "udp"].contains(&parts[1]), "{}", c.name);
                assert!(seen.insert(c.name), "twice: {}", c.name);
                assert!(!c.rule.is_empty() && !c.cite.is_empty(), "{}", c.name);
            }
        }
    }

    #[test]
    fn previews_escape_and_cut() {
        assert_eq!(preview(b"Hello World!\0"), "\"Hello World!\\x00\" (13 bytes)");
        let long = vec![b'a'; PREVIEW + 1];
        assert!(preview(&long).ends_with("\"... (73 bytes)"));
    }
}
