//! The servers a comparison starts: one process per run, started on a
//! fresh port, waited for until it answers, measured from `/proc`, and
//! stopped, whatever happens to the comparison itself.
//!
//! ```text
//! sh -c "exec COMMAND"        the server; `exec`, so the PID measured is the server's own
//!   (under taskset -c CPUS)   with --pin; taskset execs too: still the same PID
//! sh -c REAPER PID            its reaper: blocks reading a pipe only the comparison holds
//! ```
//!
//! What is guaranteed, with std alone (no signal handler can be installed
//! without raw system calls of its own):
//! - A server that exits, never answers within the start bound, or is
//!   left behind by an error is stopped by [`Launched`]'s `Drop`: SIGTERM
//!   through the `kill` command, then SIGKILL (std's `Child::kill`) after
//!   the stop bound, then reaped.
//! - If the comparison dies without running its destructors (Ctrl-C,
//!   SIGTERM, SIGKILL, a panic that aborts), the reaper's pipe closes with
//!   it (the kernel closes a dead process's descriptors), its `read`
//!   returns, and it sends the server SIGTERM, then SIGKILL after 2 s. The
//!   reaper ignores SIGINT and SIGHUP, so the Ctrl-C that ends the
//!   comparison (sent to the whole foreground process group, server
//!   included) does not end the reaper first.
//!
//! - A server that forks (a textbook `fork()` per connection, or a
//!   wrapper script) is stopped with its children: it starts in a process
//!   group of its own, and every signal above goes to the whole group.
//!   That also keeps the terminal's Ctrl-C from reaching it before the
//!   comparison has reported; the reaper stops it then.
//!
//! What is not: a server that leaves its own group (`setsid()`, a daemon):
//! the PID measured and stopped is the one started; `exec` into the
//! server, do not daemonize it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::http::{self, Parsed};
use crate::error::Error;

/// How a comparison knows a server is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connection is accepted.
    Tcp,
    /// A UDP datagram is answered.
    Udp,
    /// `GET /plaintext` is answered with a complete 200 response.
    Http,
}

/// The reaper, a POSIX shell script: `$1` is the server's PID, `$2` its
/// log file. It waits for end of file on stdin, which comes when the
/// comparison closes the pipe or dies; a normal stop kills the reaper first.
const REAPER: &str = r#"trap '' INT HUP
read -r _
rm -f "$2"
kill -TERM -"$1" 2>/dev/null || exit 0
n=0
while kill -0 "$1" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -gt 40 ]; then kill -KILL -"$1" 2>/dev/null; exit 0; fi
    sleep 0.05
done"#;

/// Numbers the log files of this process's servers.
static LOGS: AtomicU64 = AtomicU64::new(0);

/// One running server and the process that stops it if the comparison
/// cannot. Dropping it stops both.
pub struct Launched {
    name: String,
    addr: SocketAddr,
    pid: u32,
    child: Option<Child>,
    reaper: Option<Child>,
    log: PathBuf,
    stop_bound: Duration,
}

/// The first port from `*next` on (up to 31999, then from 20000 again)
/// that is free for both TCP and UDP on 127.0.0.1. Ports stay below
/// Linux's ephemeral range (32768-60999), so a churn client's own ports
/// never collide with the server's.
pub fn free_port(next: &mut u16) -> Result<u16, Error> {
    for _ in 0..12_000 {
        let port = *next;
        *next = if port >= 31_999 { 20_000 } else { port + 1 };
        let at = (Ipv4Addr::LOCALHOST, port);
        if TcpListener::bind(at).is_ok() && UdpSocket::bind(at).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::new(
        "bind()",
        Some("127.0.0.1:20000-31999".into()),
        io::Error::new(io::ErrorKind::AddrInUse, "no port free for both TCP and UDP"),
    ))
}

/// Where this process's port search starts: spread by PID, so that two
/// comparisons run at once (tests do) rarely try the same ports.
pub fn first_port() -> u16 {
    20_000 + (std::process::id() % 6_000) as u16 * 2
}

/// Pins this process, every thread it has now and every thread it starts
/// later, to `cpus` (a `taskset` list such as `1` or `2-3`), with the
/// `taskset` command: std has no affinity call, and `sched_setaffinity`
/// would need a raw system call, which the crate forbids.
pub fn pin_self(cpus: &str) -> Result<(), Error> {
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    let failed = |msg: String| {
        Error::new("sched_setaffinity()", Some(format!("taskset -c {cpus}")), io::Error::other(msg))
    };
    match status {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string())),
        Err(e) => Err(failed(format!("{e}: --pin needs the taskset command (util-linux)"))),
    }
}

impl Launched {
    /// Starts `command` (its `{port}` and `{workers}` already filled in) as
    /// server `name`, listening on 127.0.0.1:`port`; under
    /// `taskset -c CPUS` if `cpus` is given. Its output goes to a log file
    /// in the temp directory, removed when it stops (quoted in errors).
    pub fn start(
        name: &str,
        command: &str,
        port: u16,
        cpus: Option<&str>,
        stop_bound: Duration,
    ) -> Result<Launched, Error> {
        let exec_failed = |e: io::Error| Error::new("exec()", Some(format!("server '{name}'")), e);
        let (log, out) = new_log().map_err(exec_failed)?;
        let err = out.try_clone().map_err(exec_failed)?;
        let mut cmd = match cpus {
            Some(cpus) => {
                let mut c = Command::new("taskset");
                c.args(["-c", cpus, "sh"]);
                c
            }
            None => Command::new("sh"),
        };
        cmd.args(["-c", &format!("exec {command}")]).stdin(Stdio::null()).stdout(out).stderr(err);
        // Its own process group (setpgid(0, 0) in the child), whose id is
        // the server's PID: a stop signals the group, forked children too.
        cmd.process_group(0);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&log);
                return Err(exec_failed(e));
            }
        };
        let mut launched = Launched {
            name: name.to_string(),
            addr: (Ipv4Addr::LOCALHOST, port).into(),
            pid: child.id(),
            child: Some(child),
            reaper: None,
            log,
            stop_bound,
        };
        // The pipe's write end stays here (std opens it close-on-exec: no
        // server inherits it), so it closes exactly when this process does.
        let reaper = Command::new("sh")
            .args(["-c", REAPER, "sockref-reaper", &launched.pid().to_string()])
            .arg(&launched.log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::new("exec()", Some("the reaper (sh)".into()), e))?;
        launched.reaper = Some(reaper);
        Ok(launched)
    }

    /// The server's process id (the one `/proc` is read for).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's address, 127.0.0.1:PORT.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the server answers `probe`, polling every 10 ms, for at
    /// most `limit`. Fails, naming the server and quoting the end of its
    /// output, if it exits first, does not answer in time, or answers HTTP
    /// with something other than 200.
    pub fn wait_ready(&mut self, probe: Probe, limit: Duration) -> Result<(), Error> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.exited() {
                return Err(self.failure(
                    "waitpid()",
                    format!("exited ({status}) before it answered on {}", self.addr),
                ));
            }
            match answers(self.addr, probe) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(msg) => return Err(self.failure("read()", msg)),
            }
            if Instant::now() >= until {
                return Err(self.failure(
                    "connect()",
                    format!(
                        "nothing answered on {} within {:.1} s (raise --start-timeout if it is slow to start)",
                        self.addr,
                        limit.as_secs_f64()
                    ),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's peak resident memory so far, `VmHWM` in
    /// `/proc/PID/status`, in KiB; `None` once it is gone or without procfs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
        line.split_whitespace().next()?.parse().ok()
    }

    /// Whether the server is still running.
    pub fn running(&mut self) -> bool {
        self.exited().is_none()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// An error about this server, with the last lines it printed.
    fn failure(&self, call: &'static str, msg: String) -> Error {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log) {
            let _ = f.read_to_string(&mut text);
        }
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        let said = if tail.is_empty() {
            String::from("; it printed nothing")
        } else {
            let lines: Vec<&str> = tail.into_iter().rev().collect();
            format!("; its last output: {}", lines.join(" | "))
        };
        Error::new(call, Some(format!("server '{}'", self.name)), io::Error::other(msg + &said))
    }

    /// Stops the server: the reaper first (it is no longer needed, and a
    /// reaped PID must not be signalled), then SIGTERM, a wait of at most
    /// the stop bound, SIGKILL, and the final wait. Returns whether the
    /// server ended by itself within the bound (after SIGTERM).
    pub fn stop(&mut self) -> bool {
        if let Some(mut reaper) = self.reaper.take() {
            let _ = reaper.kill();
            let _ = reaper.wait();
        }
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = std::fs::remove_file(&self.log);
        if matches!(child.try_wait(), Ok(Some(_))) {
            // The leader is gone; what it forked may not be.
            signal_group("TERM", child.id());
            return true;
        }
        signal_group("TERM", child.id());
        let until = Instant::now() + self.stop_bound;
        while Instant::now() < until {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return true;
            }
            thread::sleep(Duration::from_millis(5));
        }
        signal_group("KILL", child.id());
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

/// Sends SIGNAL to the process group the server leads (`kill -SIGNAL
/// -PGID`), through the shell's own `kill`: a minimal system may have no
/// kill(1), and std has no kill() for a group.
fn signal_group(signal: &str, pid: u32) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -{signal} -\"$1\""), "sh", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Launched {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One probe: `Ok(true)` if the server answered, `Ok(false)` if not (yet),
/// `Err` if it answered wrongly (an HTTP status other than 200).
fn answers(addr: SocketAddr, probe: Probe) -> Result<bool, String> {
    let wait = Duration::from_millis(200);
    match probe {
        Probe::Tcp => Ok(TcpStream::connect_timeout(&addr, wait).is_ok()),
        Probe::Udp => {
            let answered = || -> io::Result<bool> {
                let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
                s.connect(addr)?;
                s.set_read_timeout(Some(wait))?;
                s.send(b"sockref compare probe")?;
                let mut buf = [0u8; 64];
                Ok(s.recv(&mut buf).is_ok())
            };
            Ok(answered().unwrap_or(false))
        }
        Probe::Http => http_probe(addr, wait),
    }
}

fn http_probe(addr: SocketAddr, wait: Duration) -> Result<bool, String> {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, wait) else {
        return Ok(false);
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(&http::request(&addr.to_string(), true)).is_err() {
        return Ok(false);
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match parse_or_status(&buf) {
            Some(result) => return result,
            None => match s.read(&mut chunk) {
                Ok(0) | Err(_) => return Ok(false),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
        }
    }
}

/// The probe's verdict on the bytes so far, or `None` to read more.
fn parse_or_status(buf: &[u8]) -> Option<Result<bool, String>> {
    match http::parse(buf) {
        Parsed::Partial => None,
        Parsed::Complete(_) => Some(Ok(true)),
        Parsed::Status(code, _) => {
            Some(Err(format!("answered {code} to GET {}, not 200", http::HTTP_PATH)))
        }
        Parsed::Malformed => Some(Err(format!(
            "answered GET {} with something other than an HTTP/1.1 response with Content-Length",
            http::HTTP_PATH
        ))),
    }
}

/// A server's log file in the temporary directory, made new (never an
/// existing file or a link another user planted there) and readable by
/// this user alone.
fn new_log() -> io::Result<(std::path::PathBuf, File)> {
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        let n = LOGS.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("sockref-compare-{}-{n}.log", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_below_the_ephemeral_range_and_bindable() -> io::Result<()> {
        let mut next = 31_999;
        let p = free_port(&mut next)?;
        assert!((20_000..32_000).contains(&p), "{p}");
        TcpListener::bind((Ipv4Addr::LOCALHOST, p))?;
        Ok(())
    }

    #[test]
    fn a_server_that_exits_at_once_is_reported_with_its_output() -> io::Result<()> {
        let mut next = first_port();
        let port = free_port(&mut next)?;
        let cmd = "sh -c 'echo no such service >&2; exit 3'";
        let mut l = Launched::start("quits", cmd, port, None, Duration::from_secs(2))?;
        let e = l.wait_ready(Probe::Tcp, Duration::from_secs(20)).err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(e.starts_with("waitpid() error: server 'quits': exited"), "{e}");
        assert!(e.contains("no such service"), "{e}");
        Ok(())
    }
}
