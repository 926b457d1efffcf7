//! `sockref bench` against a real sockref server on port 0: every mode
//! completes exactly the requests it was asked for (`--requests`, never a
//! duration, so nothing here depends on timing), reports them in JSON and
//! as a table, and counts wrong echoes and refused connections as errors.

mod common;
use common::field;
use common::*;

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};

fn bench(addr: SocketAddr, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("bench")
        .arg(addr.to_string())
        .args(["--warmup", "0", "--quiet", "--timeout", "10"])
        .args(args)
        .output()
        .expect("run sockref bench")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_run(addr: SocketAddr, args: &[&str]) -> String {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = bench(addr, &all);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one JSON object per run: {out}");
    out
}

#[test]
fn pingpong_makes_exactly_the_requests_asked_for() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "8"], 1);
    let out = json_run(
        server.tcp(),
        &["--conns", "4", "--threads", "2", "--requests", "400"],
    );
    assert!(out.contains("\"mode\":\"pingpong\""), "{out}");
    assert_eq!(field(&out, "requests"), 400.0);
    assert_eq!(field(&out, "errors"), 0.0);
    assert_eq!(field(&out, "conns"), 4.0);
    for key in [
        "lat_p50_us",
        "lat_p90_us",
        "lat_p99_us",
        "lat_p999_us",
        "lat_max_us",
    ] {
        assert!(field(&out, key) > 0.0, "{key} in {out}");
    }
    assert!(field(&out, "lat_p50_us") <= field(&out, "lat_p99_us"));
    assert!(field(&out, "lat_p99_us") <= field(&out, "lat_max_us"));
    assert!(out.contains("\"buckets_us\":[["), "{out}");
    assert!(
        out.contains("\"server_cpu\":null"),
        "no --server-pid: {out}"
    );
}

#[test]
fn server_pid_adds_the_servers_cpu() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "4"], 1);
    let pid = server.pid().to_string();
    let out = json_run(
        server.tcp(),
        &["--conns", "2", "--requests", "200", "--server-pid", &pid],
    );
    assert_eq!(field(&out, "requests"), 200.0);
    // Ticks are 10 ms, so a short run may read 0; what matters is that the
    // figure is there and sane.
    assert!(field(&out, "server_cpu") >= 0.0, "{out}");
    assert!(field(&out, "server_cpu_us_per_req") >= 0.0, "{out}");
}

#[test]
fn large_payloads_are_verified_end_to_end() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "4"], 1);
    let out = json_run(
        server.tcp(),
        &["--conns", "2", "--size", "100000", "--requests", "20"],
    );
    assert_eq!(field(&out, "requests"), 20.0);
    assert_eq!(field(&out, "errors"), 0.0);
    assert_eq!(field(&out, "size"), 100000.0);
}

#[test]
fn churn_opens_one_connection_per_request() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "4"], 1);
    let out = json_run(
        server.tcp(),
        &["--mode", "churn", "--threads", "2", "--requests", "60"],
    );
    assert_eq!(field(&out, "requests"), 60.0);
    assert_eq!(field(&out, "errors"), 0.0);
    assert!(out.contains("\"unit\":\"conn/s\""), "{out}");
}

#[test]
fn udp_accounts_for_every_datagram() {
    let server = Proc::start(&["--proto", "udp"], 1);
    let out = json_run(server.udp(), &["--proto", "udp", "--requests", "200"]);
    assert!(out.contains("\"mode\":\"udp\""), "{out}");
    // Loopback does not drop datagrams at this rate, but a lost one is
    // still accounted for: echoed + failed = sent.
    let echoed = field(&out, "requests");
    assert_eq!(echoed + field(&out, "errors"), 200.0, "{out}");
    assert!(echoed > 0.0);
}

#[test]
fn idle_holds_every_connection() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "8"], 1);
    let out = json_run(
        server.tcp(),
        &["--mode", "idle", "--conns", "6", "--duration", "0"],
    );
    assert_eq!(field(&out, "held"), 6.0, "{out}");
    assert_eq!(field(&out, "requests"), 6.0, "{out}");
    assert_eq!(field(&out, "errors"), 0.0);
}

#[test]
fn the_table_shows_rate_percentiles_and_errors() {
    let server = Proc::start(&["--proto", "tcp", "--workers", "4"], 1);
    let o = bench(server.tcp(), &["--conns", "1", "--requests", "50"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for word in [
        "pingpong tcp",
        "requests     50 in",
        "req/s",
        "p99.9",
        "errors       0",
    ] {
        assert!(out.contains(word), "table lacks {word:?}: {out}");
    }
}

#[test]
fn a_wrong_echo_is_counted_as_a_mismatch() {
    // An "echo" that adds one to every byte.
    let server = sockref::ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(sockref::Protocols::Tcp)
        .service(sockref::tcp_handler("off-by-one", |conn| {
            conn.for_each_chunk(|conn, chunk| {
                let bad: Vec<u8> = chunk.iter().map(|b| b.wrapping_add(1)).collect();
                conn.write_all(&bad)
            })
        }))
        .workers(4)
        .start()
        .expect("start server");
    let addr = server.tcp_addr().expect("tcp");
    let o = bench(addr, &["--conns", "2", "--requests", "10", "--json"]);
    // Nothing verified: exit 1, and each connection's first echo counted.
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(field(&out, "requests"), 0.0);
    assert_eq!(field(&out, "mismatch"), 2.0, "{out}");
}

#[test]
fn no_server_means_refused_errors_and_exit_1() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // closed again: nothing listens there now
    let o = bench(addr, &["--conns", "3", "--requests", "5", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert_eq!(field(&out, "refused"), 3.0, "{out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no request succeeded"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["bench"][..],
        &["bench", "127.0.0.1:1", "--mode", "flood"],
        &["bench", "127.0.0.1:1", "--conns", "0"],
    ] {
        let o = Command::new(bin()).args(args).output().expect("run");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    // Each refused with a message that names the problem.
    for (args, says) in [
        (&["--mode", "udp", "--size", "65508"][..], "65507"),
        (&["--duration", "0"], "--duration"),
        (&["--mode", "churn", "--duration", "0"], "--duration"),
        (&["--mode", "idle", "--requests", "5"], "--requests"),
        (&["--proto", "udp", "--mode", "idle"], "contradict"),
        (&["--mode", "udp", "--proto", "tcp"], "contradict"),
        (&["127.0.0.1:2"], "unexpected argument '127.0.0.1:2'"),
    ] {
        let o = Command::new(bin())
            .args(["bench", "127.0.0.1:1"])
            .args(args)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let o = Command::new(bin())
        .args(["bench", "--help"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    for flag in [
        "--mode",
        "--conns",
        "--threads",
        "--requests",
        "--json",
        "--quiet",
    ] {
        assert!(help.contains(flag), "bench --help lacks {flag}");
    }
}

#[test]
fn warm_up_errors_are_not_counted_in_the_measured_errors() {
    // A UDP "echo" that changes the last byte: every reply is a mismatch,
    // at once, in the warm-up and after it.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = sock.local_addr().expect("addr");
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            buf[n - 1] ^= 0xff;
            let _ = sock.send_to(&buf[..n], from);
        }
    });
    let o = bench(
        addr,
        &[
            "--proto",
            "udp",
            "--warmup",
            "0.2",
            "--requests",
            "50",
            "--json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    // Exactly the 50 measured requests failed; the warm-up's are apart.
    assert_eq!(field(&out, "errors"), 50.0, "{out}");
    assert_eq!(field(&out, "mismatch"), 50.0, "{out}");
    assert!(field(&out, "warmup_errors") >= 0.0, "{out}");
}

#[test]
fn a_duration_run_ends_within_duration_plus_timeout() {
    // One worker serves one connection at a time; the other 59 of the
    // thread's lockstep round are never echoed. Reading them one timeout
    // each would take a minute; a duration run must stop at its deadline
    // and wait for at most one more timeout.
    let server = Proc::start(&["--proto", "tcp", "--workers", "1"], 1);
    let o = bench(
        server.tcp(),
        &[
            "--conns",
            "60",
            "--threads",
            "1",
            "--duration",
            "0.5",
            "--timeout",
            "1",
            "--json",
        ],
    );
    // The exit status says whether any echo came back in time, which is
    // up to the machine's load; the bound on the run's length is not.
    let out = stdout(&o);
    let elapsed = field(&out, "elapsed_s");
    // duration + timeout, and a generous margin for a loaded machine.
    assert!(elapsed <= 0.5 + 1.0 + 5.0, "{out}");
}

#[test]
fn a_udp_send_that_always_fails_does_not_spin() {
    // BenchOptions::validate refuses a datagram too large to send, so the
    // failing send is made another way: a Unix-domain datagram "server"
    // that reads one datagram and closes. A client connected to it then
    // fails every send at once (ECONNREFUSED, then ENOTCONN); a client
    // that connects after that fails once, connecting.
    let path = std::env::temp_dir().join(format!(
        "sockref-benchtest-{}-dead-peer.sock",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    let sink = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    // Bounded: a client that never sends cannot hold the test.
    sink.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        let _ = sink.recv(&mut buf);
    });
    let opts = sockref::bench::BenchOptions {
        addr: format!("unix:{}", path.display()),
        mode: sockref::bench::Mode::Udp,
        threads: 2,
        stop: sockref::bench::Stop::Duration(std::time::Duration::from_millis(300)),
        warmup: std::time::Duration::ZERO,
        timeout: std::time::Duration::from_millis(100),
        progress: false,
        ..Default::default()
    };
    let report = sockref::bench::run(&opts).expect("run");
    let _ = reader.join();
    let _ = std::fs::remove_file(&path);
    assert_eq!(report.requests, 0);
    // A pause of at least 1 ms after each failed send: in 0.3 s at most a
    // few hundred per thread, however fast or slow the machine (spinning
    // made millions).
    assert!(report.error_count() <= 2 * 300, "{}", report.error_count());
}
