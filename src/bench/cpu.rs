//! CPU clocks from Linux `/proc`: the generator's own cost per request and,
//! with `--server-pid`, the server's. Each is `None` where there is no
//! procfs, and the report then leaves the line out.

use std::time::Duration;

/// CPU time (user + system, all threads) of process `pid` so far, from
/// `/proc/PID/stat`, in the kernel's USER_HZ ticks of 10 ms (100 Hz on every
/// Linux architecture std supports; std cannot ask `sysconf`). Fine over
/// runs of a second or more. `None` if the process or procfs is missing.
pub(super) fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'. utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// The calling thread's CPU time so far (user + system), in nanoseconds
/// from `/proc/thread-self/schedstat` (its first field): exact, unlike the
/// 10 ms ticks of `/proc/self/stat`. `None` where there is no procfs.
pub(super) fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn own_process_cpu_is_readable() {
        // Burn a little CPU so that at least one tick has been counted.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(process_cpu(std::process::id()).is_some());
        assert!(thread_cpu().is_some_and(|c| c > Duration::ZERO));
        assert_eq!(process_cpu(u32::MAX), None);
    }
}
