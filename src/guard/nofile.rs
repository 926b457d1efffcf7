//! Too few descriptors for the workers, said once at start.
//!
//! Every worker holds a descriptor: the connection it serves, or the one
//! Linux reserves for it while it waits in `accept()` (the number is taken
//! before the wait). With `ulimit -n` below the workers plus what is open
//! already, the workers past the limit fail `accept()` with EMFILE from the
//! moment they start. That is a configuration to fix, not an accident of
//! load: say so before the `listening` line, with what to change, instead
//! of an EMFILE message that reads like a fault (`guard::backoff` keeps
//! quiet about an episode foretold here).
//!
//! The limit is read from `/proc/self/limits`: std has no `getrlimit()`,
//! and calling it would need FFI or a crate. Where there is no
//! `/proc` the check is skipped, silently: the EMFILE message still comes.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use super::backoff::Episode;

/// Once per process: a second server (the watch page's) started after the
/// first would repeat the warning with its own, smaller, worker count.
static WARNED: AtomicBool = AtomicBool::new(false);

/// The soft `RLIMIT_NOFILE` from `/proc/self/limits`, the "Max open
/// files" row (`None` when unlimited or unreadable).
pub(crate) fn open_file_limit() -> Option<u64> {
    soft_limit(&fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit in the "Max open files" row of `/proc/PID/limits` text.
fn soft_limit(text: &str) -> Option<u64> {
    let row = text.lines().find(|l| l.starts_with("Max open files"))?;
    row["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Descriptors open now (`/proc/self/fd`, less the one reading it).
fn open_now() -> Option<u64> {
    Some(fs::read_dir("/proc/self/fd").ok()?.count().saturating_sub(1) as u64)
}

/// The warning for `workers` stream workers, if `limit` cannot cover
/// them on top of the `open` descriptors already in use.
fn shortfall(workers: usize, open: u64, limit: u64) -> Option<String> {
    let need = open + workers as u64;
    if need <= limit {
        return None;
    }
    let fit = limit.saturating_sub(open);
    Some(format!(
        "sockref: warning: {workers} workers need {need} open files (one each, plus {open} \
         open now), but the limit is {limit} (ulimit -n): the {} past it will fail accept() \
         with EMFILE (Too many open files) and wait; raise the limit (ulimit -n {need}) or lower --workers (to {fit} \
         or fewer)",
        need - limit
    ))
}

/// Prints the warning when the descriptor limit cannot cover `workers`
/// (once per process), and tells `episode` that its EMFILE is foretold.
pub(crate) fn warn_if_short(workers: usize, episode: &Episode) {
    let (Some(limit), Some(open)) = (open_file_limit(), open_now()) else {
        return;
    };
    if let Some(warning) = shortfall(workers, open, limit) {
        episode.foretell();
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("{warning}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            256                  1048576              files
Max locked memory         8388608              8388608              bytes
";

    #[test]
    fn the_soft_limit_is_read_from_the_max_open_files_row() {
        assert_eq!(soft_limit(LIMITS), Some(256));
        assert_eq!(soft_limit(&LIMITS.replace(" 256 ", " unlimited ")), None);
        assert_eq!(soft_limit("Max cpu time 1 1 seconds\n"), None);
        // This process has a limit, and /proc to read it from.
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }

    #[test]
    fn the_warning_says_what_to_change() {
        assert_eq!(shortfall(100, 10, 256), None);
        assert_eq!(shortfall(246, 10, 256), None);
        let w = shortfall(1000, 8, 256).unwrap_or_default();
        assert_eq!(
            w,
            "sockref: warning: 1000 workers need 1008 open files (one each, plus 8 open now), \
             but the limit is 256 (ulimit -n): the 752 past it will fail accept() with EMFILE \
             (Too many open files) and wait; raise the limit (ulimit -n 1008) or lower --workers (to 248 or fewer)"
        );
    }
}
