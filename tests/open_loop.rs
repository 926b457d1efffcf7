//! Open loop (`sockref bench --rate`) against a server that stalls: every
//! 400th request it receives waits 200 ms before it is echoed. Closed
//! loop, the stalled connection simply stops asking while it waits, so the
//! stall is one slow sample per stall and p99 looks harmless
//! (coordinated omission). Open loop, every request due during the stall
//! waits for it, and the tail shows what users arriving at that rate
//! would have seen.
//!
//! The runs use `--requests` (never a duration), so both see exactly the
//! same 2,000 requests and the same 5 stalls; the assertions are on
//! orderings and on magnitudes with wide margins, never on a millisecond.
//! About 2.5 s in all, 127.0.0.1 only.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{bin, field};

const SIZE: usize = 64;
const EVERY: u64 = 400;
const STALL: Duration = Duration::from_millis(200);
const REQUESTS: &str = "2000";

/// An echo server, a thread per connection, that holds every EVERY-th
/// request (counted over all connections) for STALL before echoing it.
/// Its threads end when their client closes.
fn stalling_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    let seen = Arc::new(AtomicU64::new(0));
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut buf = [0u8; SIZE];
                // One request is exactly SIZE bytes (the bench's --size).
                while s.read_exact(&mut buf).is_ok() {
                    if (seen.fetch_add(1, Ordering::Relaxed) + 1) % EVERY == 0 {
                        thread::sleep(STALL);
                    }
                    if s.write_all(&buf).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// `sockref bench ADDR ARGS --json`, bounded by its own timeouts.
fn bench(addr: SocketAddr, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("bench")
        .arg(addr.to_string())
        .args([
            "--warmup",
            "0",
            "--quiet",
            "--timeout",
            "10",
            "--size",
            "64",
        ])
        .args(args)
        .output()
        .expect("run sockref bench")
}

fn json(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// How many samples the report's buckets put at `ms` milliseconds or more.
fn samples_over(json: &str, ms: f64) -> f64 {
    let start = json.find("\"buckets_us\":[").expect("buckets") + 14;
    let list = &json[start..json.len() - 2];
    list.split("],[")
        .map(|b| b.trim_matches(['[', ']']))
        .filter_map(|b| {
            let v: Vec<f64> = b.split(',').filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3 && v[0] >= ms * 1000.0).then_some(v[2])
        })
        .sum()
}

#[test]
fn a_stall_hides_in_closed_loop_and_shows_in_open_loop() {
    let addr = stalling_server();
    let closed = json(&bench(
        addr,
        &["--conns", "2", "--requests", REQUESTS, "--json"],
    ));
    let open = json(&bench(
        addr,
        &[
            "--conns",
            "2",
            "--rate",
            "2000",
            "--requests",
            REQUESTS,
            "--json",
        ],
    ));
    for run in [&closed, &open] {
        assert_eq!(field(run, "requests"), 2000.0, "{run}");
        assert_eq!(field(run, "errors"), 0.0, "{run}");
        // Both saw the stalls themselves: 5 requests held 200 ms.
        assert!(field(run, "lat_max_us") >= 190_000.0, "{run}");
    }
    assert_eq!(field(&open, "target_rate"), 2000.0, "{open}");
    assert!(closed.contains("\"target_rate\":null"), "{closed}");

    // Closed loop: 5 slow samples of 2,000 stay above p99 (rank 1,980).
    let closed_p99 = field(&closed, "lat_p99_us");
    assert!(closed_p99 < 100_000.0, "closed-loop p99 {closed_p99} us");
    // Open loop: each stall delays the ~200 requests its connection had
    // due during it, half of them by more than 100 ms.
    let open_p99 = field(&open, "lat_p99_us");
    assert!(open_p99 >= 100_000.0, "open-loop p99 {open_p99} us");
    assert!(open_p99 > closed_p99);
    let (c, o) = (samples_over(&closed, 100.0), samples_over(&open, 100.0));
    assert!(c <= 10.0, "closed loop: {c} samples over 100 ms");
    assert!(
        o >= 10.0 * c.max(5.0),
        "open loop: {o} samples over 100 ms, closed {c}"
    );
}

#[test]
fn rates_are_refused_where_there_is_no_schedule_to_keep() {
    let refused = |args: &[&str]| {
        let o = Command::new(bin())
            .args(["bench", "127.0.0.1:9"])
            .args(args)
            .output()
            .expect("run sockref bench");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(refused(&["--rate", "100", "--mode", "churn"]).contains("pingpong, http and udp"));
    assert!(
        refused(&["--rate", "100", "--mode", "http", "--pipeline", "4"]).contains("--pipeline")
    );
    assert!(refused(&["--rate", "0"]).contains("--rate"));
    let help = Command::new(bin())
        .args(["bench", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--rate R"), "{help}");
    assert!(
        help.to_lowercase().contains("coordinated omission"),
        "{help}"
    );
}

#[test]
fn compare_draws_a_curve_of_the_rates_asked_for() {
    let server = format!(
        "one={} serve --service echo --proto tcp --addr 127.0.0.1:{{port}} --workers {{workers}}",
        bin()
    );
    let dir = std::env::temp_dir();
    let jsonl = dir.join(format!("sockref-open-loop-{}.jsonl", std::process::id()));
    let svg = dir.join(format!("sockref-open-loop-{}.svg", std::process::id()));
    let o = Command::new(bin())
        .args([
            "compare",
            "--conns",
            "2",
            "--duration",
            "0.3",
            "--warmup",
            "0.05",
        ])
        .args(["--rounds", "1", "--rates", "200,400"])
        .arg("--json")
        .arg(&jsonl)
        .arg("--chart")
        .arg(&svg)
        .arg(&server)
        .output()
        .expect("run sockref compare");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Absolute rates need no peak: no closed-loop table, a row per rate.
    assert!(
        out.starts_with("| load | target req/s | one achieved |"),
        "{out}"
    );
    assert!(
        out.contains("\n| 200 | 200 |") && out.contains("\n| 400 | 400 |"),
        "{out}"
    );
    let lines = std::fs::read_to_string(&jsonl).unwrap_or_default();
    let points: Vec<f64> = lines.lines().map(|l| field(l, "target_rate")).collect();
    assert_eq!(points, vec![200.0, 400.0], "{lines}");
    assert!(lines.contains("\"rate_point\":\"400\""), "{lines}");
    let chart = std::fs::read_to_string(&svg).unwrap_or_default();
    // (Points only where the generator kept to its schedule: on a busy
    // machine it may not, and the chart then has axes and a legend only.)
    assert!(
        chart.contains(">one<") && chart.contains("achieved req/s"),
        "{chart}"
    );
    let _ = std::fs::remove_file(jsonl);
    let _ = std::fs::remove_file(svg);
}

#[test]
fn http_and_udp_keep_their_schedules_too() {
    let http = common::Proc::start(
        &["--proto", "tcp", "--service", "http", "--workers", "8"],
        1,
    );
    let out = json(&bench(
        http.tcp(),
        &[
            "--mode",
            "http",
            "--conns",
            "4",
            "--rate",
            "2000",
            "--requests",
            "300",
            "--json",
        ],
    ));
    assert_eq!(field(&out, "requests"), 300.0, "{out}");
    assert_eq!(field(&out, "errors"), 0.0, "{out}");
    assert_eq!(field(&out, "target_rate"), 2000.0, "{out}");
    let udp = common::Proc::start(&["--proto", "udp"], 1);
    let out = json(&bench(
        udp.udp(),
        &[
            "--mode",
            "udp",
            "--conns",
            "3",
            "--rate",
            "2000",
            "--requests",
            "300",
            "--json",
        ],
    ));
    // A datagram may be lost (counted, never waited for past --timeout).
    assert_eq!(
        field(&out, "requests") + field(&out, "errors"),
        300.0,
        "{out}"
    );
    assert!(field(&out, "requests") >= 290.0, "{out}");
    assert_eq!(field(&out, "conns"), 3.0, "{out}");
}
