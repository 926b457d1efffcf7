//! The rough edges a new user hits first (issue 19): each wrong command
//! gets one line saying what to type instead, with exit status 2, and each
//! example in --help runs what the repository builds.

mod common;
use common::*;

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sockref")
}

/// Exit status 2 and stderr exactly `want` (one line).
fn usage(args: &[&str], want: &str) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err, format!("sockref: {want}\n"), "{args:?}");
}

#[test]
fn serve_gives_the_clients_hint_for_a_trace_format_after_a_space() {
    let hint = "--trace takes its format after '=': --trace=json";
    usage(&["serve", "--trace", "json"], hint);
    usage(&["--trace", "json"], hint);
    usage(
        &["serve", "--trace", "text"],
        "--trace takes its format after '=': --trace=text",
    );
    // The client says the same first words.
    let o = run(&["client", "127.0.0.1:9", "--trace", "json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with(&format!("sockref: {hint}")));
}

#[test]
fn a_bare_port_or_address_is_pointed_at_addr() {
    let want = "unknown option '9190': the address to serve on is a flag: --addr 127.0.0.1:9190 \
                (see sockref --help for the options of serve)";
    usage(&["serve", "9190"], want);
    usage(&["9190"], want);
    usage(
        &["serve", "127.0.0.1:9190"],
        "unknown option '127.0.0.1:9190': the address to serve on is a flag: \
         --addr 127.0.0.1:9190 (see sockref --help for the options of serve)",
    );
    // Anything else is still the plain message.
    usage(
        &["serve", "--bogus"],
        "unknown option '--bogus' (see sockref --help for the options of serve)",
    );
}

#[test]
fn an_out_of_range_limit_names_the_flag_not_the_field() {
    usage(
        &["--stack-size", "1"],
        "--stack-size: '1' is out of range: must be at least 64 KiB",
    );
    usage(
        &["serve", "--workers=0"],
        "--workers: '0' is out of range: must be from 1 to 20000",
    );
    let o = run(&["--stack-size", "1"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("stack_size"));
}

#[test]
fn watch_refuses_what_is_not_host_port_without_suggesting_unix() {
    usage(
        &["serve", "--watch", "nonsense"],
        "--watch: 'nonsense' is not an address: write HOST:PORT (e.g. --watch 127.0.0.1:8080)",
    );
    usage(
        &["serve", "--watch", "8080"],
        "--watch: '8080' is not an address: write HOST:PORT (e.g. --watch 127.0.0.1:8080)",
    );
}

#[test]
fn compare_without_servers_says_so_once() {
    usage(
        &["compare"],
        "compare: no server given: name at least one as NAME=COMMAND (see sockref compare --help)",
    );
    usage(
        &["compare", "--rounds", "2"],
        "compare: no server given: name at least one as NAME=COMMAND (see sockref compare --help)",
    );
}

#[test]
fn compare_help_runs_the_peers_build_sh_builds() {
    let help = String::from_utf8_lossy(&run(&["compare", "--help"]).stdout).into_owned();
    let build = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/peers/build.sh"
    ))
    .expect("read build.sh");
    let mut named = 0;
    for piece in help.split("target/peers/").skip(1) {
        let peer: String = piece
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        if peer.is_empty() {
            continue; // "into target/peers/" in prose
        }
        named += 1;
        assert!(
            build
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .any(|w| w == peer),
            "compare --help runs target/peers/{peer}, which benches/peers/build.sh does not build"
        );
    }
    assert!(named >= 1, "compare --help names no peer: {help}");
}

#[test]
fn a_watch_listener_that_cannot_bind_is_named_as_the_watch_listener() {
    // Another program holds the port.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let w = held.local_addr().unwrap().to_string();
    let o = run(&["serve", "--addr", "127.0.0.1:0", "--watch", &w]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "sockref: --watch {w}: the watch page's listener failed: bind() error: {w}: "
        )),
        "{err}"
    );
    assert!(!err.contains("the server itself"), "{err}");
    drop(held);

    // The server's own port: a port free a moment ago, given to both. If
    // something else takes it in between, the server's own bind fails
    // instead (no "--watch" in the message): try another.
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let a = format!("127.0.0.1:{port}");
        let o = run(&["serve", "--addr", &a, "--proto", "tcp", "--watch", &a]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        if !err.contains("--watch") {
            continue;
        }
        assert_eq!(
            err,
            format!(
                "sockref: --watch {a}: the watch page's listener failed: bind() error: {a}: \
                 Address already in use (os error 98); the server itself listens on that \
                 port: give --watch another one\n"
            )
        );
        return;
    }
    panic!("no free port stayed free long enough");
}

#[test]
fn a_client_trace_given_as_the_servers_is_a_usage_error_pointing_at_client() {
    let dir = std::env::temp_dir().join(format!("sockref-edges-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client = dir.join("client.jsonl");
    std::fs::write(
        &client,
        "{\"ts_us\":1,\"call\":\"socket() + connect()\",\"event\":\"connect\",\
         \"peer\":\"127.0.0.1:4000\",\"local\":\"127.0.0.1:5000\"}\n\
         {\"ts_us\":2,\"call\":\"close()\",\"event\":\"close\",\"conn\":1}\n",
    )
    .unwrap();
    let c = client.to_str().unwrap();
    usage(
        &["diagram", c],
        &format!(
            "diagram: {c}:1: 'connect' is a client's call: this is a client's trace; \
             pass it with --client: sockref diagram SERVER.jsonl --client {c}"
        ),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sockref bench ARGS`, bounded: a bench that outlives `limit` is killed
/// and the test fails (the bound is far past what a passing run takes).
fn bench(args: &[&str], limit: std::time::Duration) -> (Option<i32>, String) {
    let mut child = Command::new(bin())
        .arg("bench")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn bench");
    let started = std::time::Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("sockref bench {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_echo_bench_on_an_http_server_shows_the_reply_it_got() {
    let server = Proc::start(&["--service", "http"], 1);
    let addr = server.tcp().to_string();
    let (code, err) = bench(
        &[&addr, "--requests", "20", "--conns", "2", "--threads", "1"],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    let want = format!(
        "sockref: bench: no request succeeded against {addr}: the reply is not the echo of \
         the request: sent 64 bytes, got \"HTTP/1.1 400 Bad Request\\r\\n"
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        err.ends_with("; an HTTP server? use --mode http\n"),
        "{err}"
    );
}

#[test]
fn an_http_bench_on_an_echo_server_says_the_request_came_back() {
    let server = Proc::start(&["--proto", "tcp"], 1);
    let addr = server.tcp().to_string();
    let (code, err) = bench(
        &[
            &addr,
            "--mode",
            "http",
            "--requests",
            "20",
            "--conns",
            "2",
            "--threads",
            "1",
        ],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "against {addr}: the reply is not an HTTP/1.1 response: it starts \"GET /plaintext HTTP/1.1\\r\\n"
        )),
        "{err}"
    );
    assert!(
        err.ends_with("an echo server? use --mode pingpong\n"),
        "{err}"
    );
}

#[test]
fn churn_against_a_closed_port_fails_at_the_first_refusal() {
    // A port nothing listens on: bound a moment ago, then closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .to_string();
    // --duration 600: waiting it out would hit the 60 s bound below.
    let (code, err) = bench(
        &[&addr, "--mode", "churn", "--duration", "600"],
        std::time::Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "sockref: bench: no request succeeded against {addr}: connect() error: \
             Connection refused (os error 111): nothing listens at that address\n"
        )
    );
}

#[test]
fn more_workers_than_descriptors_warn_once_at_start_and_do_not_spin() {
    if tools::need_command("prlimit", "util-linux").is_none() {
        return;
    }
    // 64 descriptors, 200 workers: about 140 can never wait in accept().
    // --duration 2 ends it: the run's length is a stop condition, not a
    // wait; the bound below holds however long the run takes.
    let out = Command::new("prlimit")
        .args([
            "--nofile=64:64",
            "--",
            bin(),
            "serve",
            "--addr",
            "127.0.0.1:0",
        ])
        .args(["--proto", "tcp", "--workers", "200", "--duration", "2"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run prlimit");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // One line, before the listening line (stderr is written before
    // stdout's first line), saying what to change.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("sockref: warning: 200 workers need "),
        "{stderr}"
    );
    assert!(
        stderr.contains("but the limit is 64 (ulimit -n)")
            && stderr.contains("raise the limit (ulimit -n 2")
            && stderr.contains("or lower --workers (to "),
        "{stderr}"
    );
    // Each worker past the limit fails once, then one retries for them
    // all: well under two failures per worker. Without that, each failed
    // about 9 times in its first 2 s (5 ms doubling), 1,000 and more.
    let stopped = stdout.lines().last().unwrap_or_default();
    let errors = common::procfs::counter(stopped, "accept_errors");
    assert!(errors > 0, "{stopped}");
    assert!(errors < 200 + 60, "{errors} accept errors: {stopped}");
}

#[test]
fn the_compare_chart_renders_outside_a_browser_as_wide_as_its_title() {
    let Some(rsvg) = tools::need_command("rsvg-convert", "librsvg2-bin") else {
        return;
    };
    let title = "pingpong, 100 conns, 2 threads, 64 B, pinned 0:1, 5 rounds of 2.5 s each";
    let svg = sockref::bench::chart::svg(sockref::bench::Mode::Pingpong, title, &[]);
    let width: u32 = svg
        .split("width=\"")
        .nth(1)
        .and_then(|w| w.split('"').next())
        .and_then(|w| w.parse().ok())
        .expect("width");
    // 15 px sans-serif: a title of N characters needs well under 9 N px.
    assert!(width as usize >= title.len() * 9, "{width}");
    let dir = std::env::temp_dir().join(format!("sockref-chart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg_path, png_path) = (dir.join("c.svg"), dir.join("c.png"));
    std::fs::write(&svg_path, &svg).unwrap();
    let out = Command::new(rsvg)
        .arg(&svg_path)
        .arg("-o")
        .arg(&png_path)
        .output()
        .expect("run rsvg-convert");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The PNG's IHDR width: the renderer took the SVG's width as is.
    let png = std::fs::read(&png_path).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(
        u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
        width
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_udp_bench_header_names_udp_once() {
    let server = Proc::start(&["--proto", "udp"], 1);
    let addr = server.udp().to_string();
    let out = Command::new(bin())
        .args([
            "bench",
            &addr,
            "--mode",
            "udp",
            "--requests",
            "20",
            "--threads",
            "1",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().next(),
        Some(format!("sockref bench: udp {addr}  threads=1  size=64 B").as_str()),
        "{stdout}"
    );
}

/// Lab 5 as its page tells it: 100,000 bytes through the echo, both sides
/// traced, drawn. The client's shutdown(SHUT_WR) and its FIN fall in the
/// folded middle of the connection, and must be drawn there anyway.
#[test]
fn lab_5s_diagram_draws_the_clients_shutdown_and_its_fin() {
    use std::io::Write as _;
    let mut server = Proc::start(
        &["--proto", "tcp", "--trace=json", "--max-connections", "1"],
        1,
    );
    let mut client = Command::new(bin())
        .args(["client", &server.tcp().to_string(), "--trace=json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the client");
    client
        .stdin
        .take()
        .unwrap()
        .write_all(&vec![0u8; 100_000])
        .unwrap();
    let out = client.wait_with_output().expect("client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut server_trace = server.lines.join("\n");
    while let Some(line) = server.next_line() {
        server_trace.push('\n');
        server_trace.push_str(&line);
    }
    let dir = std::env::temp_dir().join(format!("sockref-lab5-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (s, c) = (dir.join("server.jsonl"), dir.join("client.jsonl"));
    std::fs::write(&s, server_trace + "\n").unwrap();
    std::fs::write(&c, &out.stderr).unwrap();
    let drawn = run(&[
        "diagram",
        s.to_str().unwrap(),
        "--client",
        c.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let figure = String::from_utf8_lossy(&drawn.stdout);
    assert_eq!(drawn.status.code(), Some(0), "{figure}");
    let lines: Vec<&str> = figure.lines().collect();
    let shutdown = lines
        .iter()
        .position(|l| l.starts_with("shutdown(SHUT_WR)"))
        .unwrap_or_else(|| panic!("no shutdown(SHUT_WR) row: {figure}"));
    assert!(
        lines[shutdown + 1].contains(" FIN ") && lines[shutdown + 1].ends_with(">|"),
        "{figure}"
    );
    assert!(figure.contains("read() = 0 (EOF)"), "{figure}");
    assert!(
        figure.contains("calls folded"),
        "still long enough to fold: {figure}"
    );
    assert!(!figure.contains("other call"), "{figure}");
}

#[test]
fn compare_says_why_a_run_had_no_request() {
    let server = format!(
        "http={} serve --service http --addr 127.0.0.1:{{port}} --workers {{workers}}",
        bin()
    );
    let o = run(&["compare", "--rounds", "1", "--requests", "20", &server]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "sockref: compare: no request succeeded in: http (run 1) (first: the reply is not \
             the echo of the request: sent 64 bytes, got \"HTTP/1.1 400 Bad Request\\r\\n"
        ),
        "{err}"
    );
}
