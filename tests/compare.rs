//! `sockref compare`: servers it starts itself (the real binary, two
//! configurations), the order they take turns in, the JSON lines and the
//! chart it writes, and that no server outlives it, whether a server fails
//! to start or the comparison itself is killed. Runs are tiny (0.2 s, two
//! rounds) and nothing here asserts a speed. The HTTP workloads are
//! exercised against a small responder in this file, through the library.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use common::procfs::wait_until;
use common::{bin, field};
use sockref::bench::{BenchOptions, Mode, Stop};

/// A file in the temp directory, unique to this test process and `name`.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "sockref-compare-test-{}-{name}",
        std::process::id()
    ))
}

/// `sockref serve` as compare starts it: echo on 127.0.0.1:{port}, TCP and
/// UDP, with `workers`.
fn sockref_server(name: &str, workers: &str) -> String {
    format!(
        "{name}={} serve --service echo --addr 127.0.0.1:{{port}} --workers {workers}",
        bin()
    )
}

/// Runs `sockref compare ARGS` with tiny runs; bounded: killed after 60 s.
fn compare(args: &[&str]) -> Output {
    let child = Command::new(bin())
        .arg("compare")
        .args(["--duration", "0.2", "--warmup", "0.05", "--conns", "2"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockref compare");
    let pid = child.id().to_string();
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    thread::spawn(move || {
        if watchdog.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    });
    let out = child.wait_with_output().expect("wait for compare");
    let _ = done.send(());
    out
}

/// The server PIDs compare reported starting (`... started pid N on ...`).
fn started_pids(stderr: &str) -> Vec<u32> {
    stderr
        .lines()
        .filter_map(|l| {
            l.split_once("started pid ")?
                .1
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether process `pid` is gone: no `/proc/PID`, or a zombie waiting to
/// be reaped by whoever inherited it.
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn assert_all_gone(pids: &[u32]) {
    for &pid in pids {
        assert!(
            wait_until(Duration::from_secs(10), || gone(pid)),
            "server pid {pid} still running"
        );
    }
}

/// The string after `"key":` in a one-line JSON object.
fn string_field(json: &str, key: &str) -> String {
    let pat = format!("\"{key}\":\"");
    let start = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    json[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// A strict JSON syntax check (RFC 8259), enough to say a line parses:
/// returns the rest of `s` after one value, or `None` if it is not one.
fn json_value(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let mut chars = s.chars();
    match chars.next()? {
        '{' | '[' => {
            let close = if s.starts_with('{') { '}' } else { ']' };
            let mut rest = s[1..].trim_start();
            if let Some(r) = rest.strip_prefix(close) {
                return Some(r);
            }
            loop {
                if close == '}' {
                    rest = json_string(rest.trim_start())?
                        .trim_start()
                        .strip_prefix(':')?;
                }
                rest = json_value(rest)?.trim_start();
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                } else {
                    return rest.strip_prefix(close);
                }
            }
        }
        '"' => json_string(s),
        't' => s.strip_prefix("true"),
        'f' => s.strip_prefix("false"),
        'n' => s.strip_prefix("null"),
        _ => {
            let end = s
                .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
                .unwrap_or(s.len());
            s[..end].parse::<f64>().ok().map(|_| &s[end..])
        }
    }
}

fn json_string(s: &str) -> Option<&str> {
    let mut it = s.strip_prefix('"')?.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some(&s[i + 2..]),
            '\\' => {
                it.next()?;
            }
            c if (c as u32) < 0x20 => return None,
            _ => {}
        }
    }
    None
}

fn parses_as_one_object(line: &str) -> bool {
    line.trim_start().starts_with('{')
        && json_value(line).is_some_and(|rest| rest.trim().is_empty())
}

/// A well-formedness check of XML as the chart writes it: every tag
/// closed in order, attributes quoted, only the five predefined entities.
fn well_formed_xml(doc: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = doc
        .strip_prefix("<?xml")
        .and_then(|r| r.split_once("?>"))
        .ok_or("no XML declaration")?
        .1;
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name.trim()) {
                return Err(format!("</{name}> closes nothing open"));
            }
        } else {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().ok_or("empty tag")?;
            check_attributes(&body[name.len()..])?;
            if open.is_empty() {
                roots += 1;
            }
            if !self_closing {
                open.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    check_text(rest)?;
    match (open.is_empty(), roots) {
        (true, 1) => Ok(()),
        _ => Err(format!("open at the end: {open:?}, {roots} root elements")),
    }
}

fn check_attributes(mut a: &str) -> Result<(), String> {
    loop {
        a = a.trim_start();
        if a.is_empty() {
            return Ok(());
        }
        let (name, value) = a
            .split_once("=\"")
            .ok_or(format!("unquoted attribute in {a}"))?;
        if name.contains(char::is_whitespace) || name.is_empty() {
            return Err(format!("bad attribute name '{name}'"));
        }
        let end = value.find('"').ok_or("unterminated attribute")?;
        check_text(&value[..end])?;
        a = &value[end + 1..];
    }
}

fn check_text(t: &str) -> Result<(), String> {
    if t.contains('<') {
        return Err(format!("raw < in {t}"));
    }
    for (i, _) in t.match_indices('&') {
        let entity = &t[i..];
        if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| entity.starts_with(e))
        {
            return Err(format!("bad entity in {t}"));
        }
    }
    Ok(())
}

#[test]
fn two_servers_take_turns_and_every_run_is_one_json_line() {
    let json = temp("runs.jsonl");
    let chart = temp("chart.svg");
    let out = compare(&[
        "--rounds",
        "2",
        "--baseline",
        "four",
        "--json",
        json.to_str().unwrap_or_default(),
        "--chart",
        chart.to_str().unwrap_or_default(),
        &sockref_server("many", "{workers}"),
        &sockref_server("four", "4"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");

    let lines: Vec<String> = std::fs::read_to_string(&json)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for l in &lines {
        assert!(parses_as_one_object(l), "not one JSON object: {l}");
    }
    // Round by round, the servers in the order given.
    let order: Vec<(String, f64, f64)> = lines
        .iter()
        .map(|l| {
            (
                string_field(l, "server"),
                field(l, "round"),
                field(l, "run"),
            )
        })
        .collect();
    let want = [
        ("many", 1.0, 1.0),
        ("four", 1.0, 2.0),
        ("many", 2.0, 3.0),
        ("four", 2.0, 4.0),
    ];
    for (got, want) in order.iter().zip(want) {
        assert_eq!((got.0.as_str(), got.1, got.2), want);
    }
    // {workers}: the 2 connections + 16; every run a fresh server on a fresh port.
    assert!(lines[0].contains("--workers 18"), "{}", lines[0]);
    assert!(lines[1].contains("--workers 4"), "{}", lines[1]);
    let distinct = |key: &str| {
        let set: std::collections::HashSet<u64> =
            lines.iter().map(|l| field(l, key) as u64).collect();
        set.len()
    };
    assert_eq!((distinct("port"), distinct("pid")), (4, 4));
    for l in &lines {
        assert!(field(l, "requests") > 0.0, "{l}");
        assert!(field(l, "peak_rss_kib") > 0.0, "{l}");
        assert_eq!(string_field(l, "mode"), "pingpong");
    }

    // The table: a line per server, the baseline at 1.00x.
    assert!(
        stdout.contains("| vs four (higher is better) |"),
        "{stdout}"
    );
    let row = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .map(String::from)
    };
    assert!(
        row("four").is_some_and(|r| r.ends_with("| 1.00x |")),
        "{stdout}"
    );
    assert!(
        row("many").is_some_and(|r| r.starts_with("| many | 2 |")),
        "{stdout}"
    );

    let svg = std::fs::read_to_string(&chart).unwrap_or_default();
    assert_eq!(well_formed_xml(&svg), Ok(()), "{svg}");
    assert!(svg.contains(">many<") && svg.contains(">four<"), "{svg}");
    assert_eq!(
        svg.matches("stroke-width=\"1.5\"").count(),
        2,
        "one error bar per server"
    );

    assert_all_gone(&started_pids(&stderr));
    let _ = std::fs::remove_file(json);
    let _ = std::fs::remove_file(chart);
}

#[test]
fn a_server_that_exits_at_once_stops_the_comparison_and_nothing_is_left_running() {
    let out = compare(&[
        "--rounds",
        "2",
        &sockref_server("fine", "{workers}"),
        "quits=sh -c 'echo cannot serve on port {port} >&2; exit 3'",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server 'quits': exited (exit status: 3)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot serve on port"),
        "its own words are quoted: {stderr}"
    );
    // The comparison stopped there: the second round never started.
    let pids = started_pids(&stderr);
    assert_eq!(pids.len(), 2, "{stderr}");
    assert!(out.stdout.is_empty());
    assert_all_gone(&pids);
}

#[test]
fn a_server_that_never_answers_is_stopped_after_the_start_bound() {
    let out = compare(&["--start-timeout", "0.3", "silent=sleep 120 # {port}"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("server 'silent': nothing answered on 127.0.0.1:"),
        "{stderr}"
    );
    let pids = started_pids(&stderr);
    assert_eq!(pids.len(), 1, "{stderr}");
    assert_all_gone(&pids);
}

#[test]
fn a_killed_comparison_leaves_no_server_behind() {
    // A long run, killed with SIGKILL (no destructor runs) once its server
    // is up: the reaper must stop the server.
    let mut child = Command::new(bin())
        .args(["compare", "--duration", "60", "--conns", "1"])
        .arg(sockref_server("victim", "{workers}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn compare");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let _ = stderr.read_line(&mut line);
    let pids = started_pids(&line);
    assert_eq!(pids.len(), 1, "{line}");
    let pid = pids[0];
    // The server is running (a bound, not a wait: it is up within ms).
    assert!(wait_until(Duration::from_secs(10), || std::fs::metadata(
        format!("/proc/{pid}")
    )
    .is_ok()));
    let compare_pid = child.id();
    let _ = child.kill();
    let _ = child.wait();
    assert_all_gone(&pids);
    // The server's log file goes with it.
    let log_prefix = format!("sockref-compare-{compare_pid}-");
    let left = || {
        std::fs::read_dir(std::env::temp_dir())
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&log_prefix))
            })
            .unwrap_or(false)
    };
    assert!(
        wait_until(Duration::from_secs(10), || !left()),
        "{log_prefix}* left behind"
    );
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
}

#[test]
fn an_idle_run_reports_the_memory_its_label_names() {
    // The progress line of an idle run said "peak RSS KiB" beside the
    // run's rate: it must show the same figure as the table's median.
    let out = compare(&[
        "--mode",
        "idle",
        "--rounds",
        "1",
        &sockref_server("a", "{workers}"),
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let progress = stderr
        .lines()
        .find(|l| l.starts_with("r1 a: ") && l.contains("peak RSS KiB"))
        .unwrap_or_else(|| panic!("no progress line: {stderr}"));
    let figure = progress["r1 a: ".len()..]
        .split(' ')
        .next()
        .unwrap_or_default();
    let row = stdout
        .lines()
        .find(|l| l.starts_with("| a |"))
        .unwrap_or_else(|| panic!("no table row: {stdout}"));
    let median = row.split('|').map(str::trim).nth(3).unwrap_or_default();
    assert_eq!(figure, median, "{progress}\n{row}");
    assert!(
        figure.chars().all(|c| c.is_ascii_digit() || c == ','),
        "{figure}"
    );
}

#[test]
fn usage_mistakes_exit_2_before_starting_anything() {
    let out = compare(&["a=srv 4000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no {port}"));
    let out = Command::new(bin())
        .args(["compare", "--help"])
        .output()
        .expect("help");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NAME=COMMAND"));
}

#[test]
fn the_c_peers_build_and_compare_with_sockref_over_udp_and_tcp() {
    let root = env!("CARGO_MANIFEST_DIR");
    let built = Command::new("sh")
        .arg(format!("{root}/benches/peers/build.sh"))
        // Only the C peers: the Rust ones (tokio, hyper) would make every test
        // run compile them and reach crates.io.
        .arg("c")
        .output()
        .expect("run benches/peers/build.sh");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let peers = format!("{root}/target/peers");
    let out = compare(&[
        "--rounds",
        "1",
        &format!("c-thread={peers}/thread_echo {{port}}"),
        &sockref_server("sockref", "{workers}"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = compare(&[
        "--rounds",
        "1",
        "--mode",
        "udp",
        &format!("c-udp={peers}/udp_echo {{port}}"),
        &sockref_server("sockref", "{workers}"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("median dgram/s"), "{stdout}");
    assert_all_gone(&started_pids(&String::from_utf8_lossy(&out.stderr)));
}

/// A tiny HTTP/1.1 responder on 127.0.0.1:0: answers every request it
/// reads with `status`, each response written in two pieces (split in
/// the middle of the head) and all the responses to one read written
/// together, so the client sees responses both split and batched.
fn responder(status: &'static str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    pending.extend_from_slice(&buf[..n]);
                    let mut out = Vec::new();
                    let mut close = false;
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let req: Vec<u8> = pending.drain(..end + 4).collect();
                        close |= String::from_utf8_lossy(&req).contains("Connection: close");
                        out.extend_from_slice(
                            format!("HTTP/1.1 {status}\r\nContent-Length: 13\r\n\r\nHello, World!")
                                .as_bytes(),
                        );
                    }
                    let half = out.len().min(20);
                    if conn.write_all(&out[..half]).is_err()
                        || conn.write_all(&out[half..]).is_err()
                    {
                        return;
                    }
                    if close {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn http_bench(addr: std::net::SocketAddr, mode: Mode, pipeline: usize) -> sockref::bench::Report {
    let opts = BenchOptions {
        addr: addr.to_string(),
        mode,
        conns: 3,
        threads: 2,
        pipeline,
        stop: Stop::Requests(300),
        warmup: Duration::ZERO,
        timeout: Duration::from_secs(5),
        progress: false,
        ..BenchOptions::default()
    };
    sockref::bench::run(&opts).expect("bench run")
}

#[test]
fn http_keep_alive_pipelined_and_close_workloads_count_every_200() {
    let ok = responder("200 OK");
    for (mode, depth) in [(Mode::Http, 1), (Mode::Http, 16), (Mode::HttpClose, 1)] {
        let r = http_bench(ok, mode, depth);
        assert_eq!(
            (r.requests, r.error_count()),
            (300, 0),
            "{mode:?} depth {depth}: {:?}",
            r.errors
        );
    }
}

#[test]
fn http_responses_other_than_200_are_errors() {
    let missing = responder("404 Not Found");
    let r = http_bench(missing, Mode::HttpClose, 1);
    assert_eq!(r.requests, 0);
    assert!(
        r.errors.get("status").is_some_and(|n| *n > 0),
        "{:?}",
        r.errors
    );
}

#[test]
fn the_http_service_answers_every_http_workload_with_200s() {
    let server = format!(
        "sockref-http={} serve --service http --proto tcp --addr 127.0.0.1:{{port}} --workers {{workers}}",
        bin()
    );
    for workload in [
        &["--mode", "http"][..],
        &["--mode", "http", "--pipeline", "8"],
        &["--mode", "http-close"],
    ] {
        let json = temp(&format!("http-{}.jsonl", workload.len()));
        let mut args = workload.to_vec();
        let path = json.to_str().unwrap_or_default().to_string();
        args.extend(["--rounds", "1", "--json", &path, &server]);
        let out = compare(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{workload:?}: {stderr}");
        let line = std::fs::read_to_string(&json).unwrap_or_default();
        assert!(parses_as_one_object(line.trim()), "{line}");
        assert!(field(&line, "requests") > 0.0, "{workload:?}: {line}");
        assert_eq!(field(&line, "errors"), 0.0, "{workload:?}: {line}");
        assert_all_gone(&started_pids(&stderr));
        let _ = std::fs::remove_file(json);
    }
}
