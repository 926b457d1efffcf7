//! What a test can learn about a running server from `/proc`, and a bounded
//! wait for a condition, so that no test sleeps a fixed time for the server.

use std::time::{Duration, Instant};

/// Open descriptors of process `pid` (entries of `/proc/<pid>/fd`).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The `Threads:` line of `/proc/<pid>/status`.
pub fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time used by process `pid` so far, user + system, in clock ticks
/// (fields 14 and 15 of `/proc/<pid>/stat`; 100 ticks a second on Linux).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces:
    // count fields from the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // After ')' come field 3 (state) onwards, so field N is f[N - 3].
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// Polls `cond` (every 10 ms) until it holds or `limit` passes; returns
/// whether it held. The limit is a guard against a hang, not an expectation.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded) for a `sockref` child to exit by itself and returns its
/// exit status, the rest of its stdout and all of its stderr.
pub fn finish(p: &mut super::Proc, limit: Duration) -> (Option<i32>, Vec<String>, String) {
    use std::io::Read;
    let exited = wait_until(limit, || matches!(p.child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = p.child.kill();
    }
    let status = p.child.wait().ok().and_then(|s| s.code());
    let mut rest = Vec::new();
    while let Some(l) = p.next_line() {
        rest.push(l);
    }
    let mut err = String::new();
    if let Some(mut e) = p.child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        exited,
        "sockref did not stop by itself; stdout {rest:?} stderr {err}"
    );
    (status, rest, err)
}

/// The value of `name=` in a `stopped ...` counters line.
pub fn counter(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no counter {name} in {line}"))
}

/// The soft and hard RLIMIT_NOFILE of this process (`/proc/self/limits`).
pub fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or("");
    let mut n = line.split_whitespace().filter_map(|w| {
        w.parse::<u64>()
            .ok()
            .or((w == "unlimited").then_some(u64::MAX))
    });
    (n.next().unwrap_or(0), n.next().unwrap_or(0))
}

/// Makes sure this test process may open `need` descriptors: raises the
/// soft limit towards the hard one with `prlimit --pid` (std has no
/// setrlimit), and fails with the reason if that is not enough.
pub fn ensure_nofile(need: u64) {
    let (soft, hard) = nofile_limits();
    if soft >= need {
        return;
    }
    let _ = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={}:{hard}", hard.min(need.max(soft))))
        .status();
    let (soft, _) = nofile_limits();
    assert!(
        soft >= need,
        "this test needs {need} descriptors; RLIMIT_NOFILE is {soft} (hard {hard}): raise ulimit -n"
    );
}
