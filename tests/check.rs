//! `sockref check`, the oracle, checked: sockref passes every check of every
//! classic service over TCP, UDP and Unix-domain sockets; 26 deliberately
//! broken servers (tests/fixtures/check/broken.py) each fail exactly the
//! checks named for their fault; correct servers written by others (the C
//! peers, a textbook fork() echo server, a Python socketserver echo, and
//! xinetd's internal services) pass, but for xinetd's known deviations.
//!
//! Every server is started by `sockref check --server` (the grading path)
//! or by the test on port 0; every check's waits are bounded.

mod common;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{bin, Proc};

const SERVICES: [&str; 7] = [
    "echo", "discard", "chargen", "daytime", "time", "hello", "length",
];

/// A tool a test needs: the suite's one rule (tests/common/tools.rs): under
/// CI its absence fails the test, naming the package; locally it skips, saying so.
fn need(tool: &str, package: &str) -> bool {
    common::tools::need_command(tool, package).is_some()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/check")
        .join(name)
}

/// One `sockref check --json` run: each check's name and verdict, and the
/// exit status.
struct Run {
    verdicts: Vec<(String, String)>,
    status: i32,
    stdout: String,
}

impl Run {
    fn with(&self, verdict: &str) -> BTreeSet<String> {
        self.verdicts
            .iter()
            .filter(|(_, v)| v == verdict)
            .map(|(n, _)| n.clone())
            .collect()
    }
}

fn check(args: &[&str]) -> Run {
    let out = Command::new(bin())
        .arg("check")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .output()
        .expect("run sockref check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |line: &str, key: &str| -> Option<String> {
        let pat = format!("\"{key}\":\"");
        let start = line.find(&pat)? + pat.len();
        Some(line[start..].split('"').next()?.to_string())
    };
    let verdicts = stdout
        .lines()
        .filter_map(|l| Some((field(l, "check")?, field(l, "verdict")?)))
        .collect();
    let status = out.status.code().unwrap_or(-1);
    Run {
        verdicts,
        status,
        stdout: stdout + &String::from_utf8_lossy(&out.stderr),
    }
}

fn assert_all_pass(what: &str, run: &Run) {
    let others: Vec<_> = run.verdicts.iter().filter(|(_, v)| v != "pass").collect();
    assert!(
        others.is_empty(),
        "{what}: not all passed: {others:?}\n{}",
        run.stdout
    );
    assert!(
        !run.verdicts.is_empty(),
        "{what}: no check ran\n{}",
        run.stdout
    );
    assert_eq!(run.status, 0, "{what}\n{}", run.stdout);
}

#[test]
fn sockref_passes_every_check_of_every_service_over_tcp_and_udp() {
    for service in SERVICES {
        let server = Proc::start(&["--service", service], 2);
        let addr = server.tcp().to_string();
        let run = check(&[&addr, "--service", service, "--hostile"]);
        assert_all_pass(service, &run);
        // Both kinds of socket were checked.
        assert!(
            run.verdicts.iter().any(|(n, _)| n.contains(".tcp.")),
            "{service}"
        );
        assert!(
            run.verdicts.iter().any(|(n, _)| n.contains(".udp.")),
            "{service}"
        );
    }
}

#[test]
fn sockref_passes_every_check_of_every_service_over_unix_sockets() {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("check-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for service in SERVICES {
        for proto in ["tcp", "udp"] {
            let path = dir.join(format!("{service}-{proto}.sock"));
            let addr = format!("unix:{}", path.display());
            let mut cmd = Command::new(bin());
            cmd.args([
                "serve",
                "--addr",
                &addr,
                "--proto",
                proto,
                "--service",
                service,
            ]);
            let _server = Proc::spawn(cmd, 1);
            let run = check(&[&addr, "--service", service, "--proto", proto, "--hostile"]);
            assert_all_pass(&format!("{service} over {addr} ({proto})"), &run);
        }
    }
}

/// Each broken server: the fault (broken.py's name), the service and
/// protocol checked, whether with --hostile, and exactly the checks that
/// must fail (a server that dies makes the checks after it SKIP).
const BROKEN: &[(&str, &str, &str, bool, &[&str])] = &[
    (
        "echo-close-after-first-read",
        "echo",
        "tcp",
        false,
        &["echo.tcp.split-writes", "echo.tcp.large"],
    ),
    (
        "echo-drops-tail",
        "echo",
        "tcp",
        false,
        &["echo.tcp.half-close"],
    ),
    (
        "echo-iterative",
        "echo",
        "tcp",
        false,
        &["echo.tcp.concurrent"],
    ),
    (
        "echo-strlen",
        "echo",
        "tcp",
        false,
        &["echo.tcp.binary", "echo.tcp.large"],
    ),
    (
        "echo-never-closes",
        "echo",
        "tcp",
        false,
        &["echo.tcp.half-close"],
    ),
    ("echo-sigpipe", "echo", "tcp", true, &["echo.tcp.reset"]),
    (
        "echo-udp-no-empty",
        "echo",
        "udp",
        false,
        &["echo.udp.empty"],
    ),
    ("echo-udp-1024", "echo", "udp", false, &["echo.udp.large"]),
    (
        "echo-udp-end-marker",
        "echo",
        "udp",
        false,
        &["echo.udp.one-reply-each"],
    ),
    (
        "discard-iterative",
        "discard",
        "tcp",
        false,
        &["discard.tcp.concurrent"],
    ),
    (
        "discard-udp-echoes",
        "discard",
        "udp",
        false,
        &["discard.udp.silent"],
    ),
    (
        "chargen-ring-94",
        "chargen",
        "tcp",
        false,
        &["chargen.tcp.pattern"],
    ),
    (
        "chargen-line-73",
        "chargen",
        "tcp",
        false,
        &["chargen.tcp.pattern"],
    ),
    (
        "chargen-sigpipe",
        "chargen",
        "tcp",
        false,
        &["chargen.tcp.client-close"],
    ),
    (
        "chargen-udp-1024",
        "chargen",
        "udp",
        false,
        &["chargen.udp.size"],
    ),
    (
        "daytime-sizeof",
        "daytime",
        "tcp",
        false,
        &["daytime.tcp.ascii"],
    ),
    (
        "daytime-no-close",
        "daytime",
        "tcp",
        false,
        &["daytime.tcp.close"],
    ),
    (
        "time-little-endian",
        "time",
        "tcp",
        false,
        &["time.tcp.clock"],
    ),
    ("time-unix-epoch", "time", "tcp", false, &["time.tcp.clock"]),
    (
        "time-eight-bytes",
        "time",
        "tcp",
        false,
        &["time.tcp.four-bytes"],
    ),
    (
        "time-udp-no-empty",
        "time",
        "udp",
        false,
        &["time.udp.empty"],
    ),
    (
        "hello-no-nul",
        "hello",
        "tcp",
        false,
        &["hello.tcp.message"],
    ),
    (
        "length-no-nul",
        "length",
        "tcp",
        false,
        &["length.tcp.reply"],
    ),
    (
        "length-buffer-1023",
        "length",
        "tcp",
        false,
        &["length.tcp.buffer"],
    ),
    (
        "length-keeps-open",
        "length",
        "tcp",
        false,
        &["length.tcp.close"],
    ),
    (
        "length-udp-no-empty",
        "length",
        "udp",
        false,
        &["length.udp.empty"],
    ),
];

#[test]
fn broken_servers_fail_exactly_the_checks_named_for_their_fault() {
    if !need("python3", "python3") {
        return;
    }
    let script = fixture("broken.py");
    let wrong = Mutex::new(Vec::new());
    let next = Mutex::new(BROKEN.iter());
    // Four at a time: each run is mostly waiting on a broken server.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let Some(&(fault, service, proto, hostile, want)) = next.lock().unwrap().next()
                else {
                    return;
                };
                let server = format!("python3 {} {fault} {{port}}", script.display());
                let mut args = vec!["--server", &server, "--service", service, "--proto", proto];
                if hostile {
                    args.push("--hostile");
                }
                let run = check(&args);
                let failed = run.with("fail");
                let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
                if failed != want || run.status != 1 {
                    wrong.lock().unwrap().push(format!(
                        "{fault}: failed {failed:?}, want {want:?}, exit {}\n{}",
                        run.status, run.stdout
                    ));
                }
            });
        }
    });
    let wrong = wrong.into_inner().unwrap();
    assert!(
        wrong.is_empty(),
        "{} of {} broken servers judged wrongly:\n{}",
        wrong.len(),
        BROKEN.len(),
        wrong.join("\n")
    );
}

#[test]
fn a_server_that_dies_skips_the_checks_after_it() {
    if !need("python3", "python3") {
        return;
    }
    let server = format!(
        "python3 {} chargen-sigpipe {{port}}",
        fixture("broken.py").display()
    );
    let run = check(&[
        "--server",
        &server,
        "--service",
        "chargen",
        "--proto",
        "tcp",
    ]);
    assert_eq!(run.with("fail").len(), 1, "{}", run.stdout);
    assert_eq!(run.with("skip").len(), 4, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("the server exited during chargen.tcp.client-close"),
        "{}",
        run.stdout
    );
}

#[test]
fn correct_echo_servers_written_by_others_pass() {
    if !need("cc", "gcc") || !need("python3", "python3") {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let built = Command::new("sh")
        .arg(format!("{root}/benches/peers/build.sh"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let fork_echo = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fork_echo");
    let cc = Command::new("cc")
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&fork_echo)
        .arg(fixture("fork_echo.c"))
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let peers = format!("{root}/target/peers");
    let servers = [
        (format!("{peers}/thread_echo {{port}}"), "tcp"),
        (format!("{peers}/udp_echo {{port}}"), "udp"),
        (format!("{} {{port}}", fork_echo.display()), "both"),
        (
            format!(
                "python3 {} {{port}}",
                fixture("socketserver_echo.py").display()
            ),
            "both",
        ),
    ];
    for (server, proto) in &servers {
        let mut args = vec!["--server", server, "--service", "echo", "--hostile"];
        if *proto != "both" {
            args.extend(["--proto", proto]);
        }
        assert_all_pass(server, &check(&args));
    }
}

/// A port free for both TCP and UDP on 127.0.0.1, for xinetd, which takes
/// its ports from its configuration (it cannot bind port 0 and say which).
fn free_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// xinetd's internal services, and each one's deviations: the checks that
/// always fail, with the RFC line they break, and those that may fail:
/// every UDP service of xinetd discards the datagrams that queue while it
/// answers one (RFC 862, 864, 867, 868: each datagram gets an answering
/// datagram), so three sent back to back may get one reply.
const XINETD: &[(&str, &[&str], &[&str])] = &[
    // RFC 862: "the data from it is sent back in an answering datagram":
    // xinetd's UDP echo sends back at most 2048 bytes of a datagram.
    ("echo", &["echo.udp.large"], &["echo.udp.one-reply-each"]),
    ("discard", &[], &[]),
    // RFC 864: "an answering datagram containing a random number (between
    // 0 and 512) of characters": xinetd's UDP chargen sends 1024.
    (
        "chargen",
        &["chargen.udp.size"],
        &["chargen.udp.one-reply-each"],
    ),
    ("daytime", &[], &["daytime.udp.one-reply-each"]),
    ("time", &[], &["time.udp.one-reply-each"]),
];

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn xinetd_internal_services_pass_but_for_their_known_deviations() {
    if !need("xinetd", "xinetd") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("xinetd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let ports: Vec<u16> = XINETD.iter().map(|_| free_port()).collect();
    // cps: xinetd's default (50 connections a second, then the service is
    // off for 10 s) would be tripped by the checks themselves.
    let mut conf = String::from("defaults\n{\n    instances = 50\n    cps = 10000 1\n}\n");
    for ((name, _, _), port) in XINETD.iter().zip(&ports) {
        for (kind, proto, wait) in [("stream", "tcp", "no"), ("dgram", "udp", "yes")] {
            let user = if root { "    user = root\n" } else { "" };
            conf.push_str(&format!(
                "service {name}\n{{\n    type = INTERNAL UNLISTED\n    id = {name}-{kind}\n    socket_type = {kind}\n    protocol = {proto}\n    port = {port}\n    bind = 127.0.0.1\n    wait = {wait}\n{user}}}\n"
            ));
        }
    }
    let conf_path = dir.join("xinetd.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new("xinetd")
        .arg("-dontfork")
        .arg("-f")
        .arg(&conf_path)
        .arg("-pidfile")
        .arg(dir.join("pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start xinetd");
    let _xinetd = Killed(child);
    // Ready once every stream port accepts (bounded: a polling loop, not a sleep).
    let until = Instant::now() + common::READY_LIMIT;
    for port in &ports {
        while TcpStream::connect(("127.0.0.1", *port)).is_err() {
            assert!(Instant::now() < until, "xinetd never listened on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut wrong = Vec::new();
    for ((name, always, sometimes), port) in XINETD.iter().zip(&ports) {
        let addr = format!("127.0.0.1:{port}");
        let run = check(&[&addr, "--service", name, "--hostile"]);
        let failed = run.with("fail");
        let always: BTreeSet<String> = always.iter().map(|s| s.to_string()).collect();
        let allowed: BTreeSet<String> = always
            .iter()
            .cloned()
            .chain(sometimes.iter().map(|s| s.to_string()))
            .collect();
        if !always.is_subset(&failed) || !failed.is_subset(&allowed) {
            wrong.push(format!(
                "{name}: failed {failed:?}, want {always:?} (+ maybe {sometimes:?})\n{}",
                run.stdout
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn exit_status_list_and_usage() {
    // --list names every check with its rule, --hostile ones marked.
    let out = Command::new(bin())
        .args(["check", "--service", "echo", "--list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("echo.tcp.half-close") && list.contains("[--hostile]"),
        "{list}"
    );
    // Usage errors: exit 2.
    let out = Command::new(bin())
        .args(["check", "--service", "nope", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Nothing listening: every check fails, naming connect(), exit 1.
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let run = check(&[&addr, "--service", "hello", "--proto", "tcp"]);
    assert_eq!(run.status, 1);
    assert_eq!(run.with("fail").len(), 3, "{}", run.stdout);
    assert!(run.stdout.contains("connect() error"), "{}", run.stdout);
}

#[test]
fn an_iterative_server_is_told_what_to_change() {
    if !need("python3", "python3") {
        return;
    }
    let server = format!(
        "python3 {} echo-iterative {{port}}",
        fixture("broken.py").display()
    );
    let out = Command::new(bin())
        .args([
            "check",
            "--server",
            &server,
            "--service",
            "echo",
            "--proto",
            "tcp",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  echo.tcp.concurrent"), "{text}");
    assert!(
        text.contains("hint: the second client waited until the first closed"),
        "{text}"
    );
    assert!(text.ends_with("5 passed, 1 failed, 0 skipped\n"), "{text}");
    // `sockref check --help` shows this very output (its hint wrapped), and
    // docs/check.md's lab shows it whole.
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/check.md");
    let page = std::fs::read_to_string(page).unwrap();
    for line in text.lines() {
        assert!(
            page.contains(&format!("\n{line}\n")),
            "docs/check.md lacks {line:?}"
        );
        if !line.trim_start().starts_with("hint:") {
            let shown = format!("    {line}\n");
            assert!(
                sockref::cli::CHECK_HELP.contains(&shown),
                "--help lacks {line:?}"
            );
        }
    }
}

#[test]
fn trace_shows_the_probes_calls_under_each_check() {
    let server = Proc::start(&["--service", "hello"], 2);
    let addr = server.tcp().to_string();
    let out = Command::new(bin())
        .args([
            "check",
            &addr,
            "--service",
            "hello",
            "--only",
            "hello.tcp.message",
            "--trace",
        ])
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{trace}");
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(lines[0], "== hello.tcp.message");
    assert!(
        lines[1].starts_with("socket() + connect() peer="),
        "{trace}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("read()     conn=1 bytes=13")),
        "{trace}"
    );
    assert!(lines.iter().any(|l| l.starts_with("close()")), "{trace}");
}

/// The lab (docs/check.md): the student's iterative server, in C and in
/// Python, fails exactly the concurrency rule; its fix passes everything.
#[test]
fn the_lab_iterative_server_fails_concurrency_and_its_fix_passes() {
    if !need("cc", "gcc") || !need("python3", "python3") {
        return;
    }
    let student = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/student");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut commands = Vec::new();
    for program in ["iterative_echo", "fork_echo"] {
        let exe = tmp.join(format!("student_{program}"));
        let cc = Command::new("cc")
            .args(["-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&exe)
            .arg(student.join(format!("{program}.c")))
            .output()
            .unwrap();
        assert!(
            cc.status.success(),
            "{}",
            String::from_utf8_lossy(&cc.stderr)
        );
        commands.push(format!("{} {{port}}", exe.display()));
    }
    for program in ["iterative_echo.py", "threaded_echo.py"] {
        commands.push(format!(
            "python3 {} {{port}}",
            student.join(program).display()
        ));
    }
    for command in &commands {
        let run = check(&[
            "--server",
            command,
            "--service",
            "echo",
            "--proto",
            "tcp",
            "--hostile",
        ]);
        let failed = run.with("fail");
        if command.contains("iterative") {
            // The idle first client, and (hostile) the one that never reads.
            let want: BTreeSet<String> = ["echo.tcp.concurrent", "echo.tcp.non-reading"]
                .map(String::from)
                .into();
            assert_eq!(failed, want, "{command}\n{}", run.stdout);
        } else {
            assert_all_pass(command, &run);
        }
    }
}

#[test]
fn a_tcp_only_server_skips_the_udp_checks_unless_asked_for_them() {
    // A student's first server binds TCP alone: without --proto its UDP
    // checks are skipped, saying why, and the run passes; --proto udp
    // still checks them, and they fail.
    let server = Proc::start(&["--service", "hello", "--proto", "tcp"], 1);
    let addr = server.tcp.expect("tcp address").to_string();
    let run = check(&[&addr, "--service", "hello"]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    let udp: BTreeSet<String> = ["hello.udp.message", "hello.udp.one-reply-each"]
        .map(String::from)
        .into();
    assert_eq!(run.with("skip"), udp, "{}", run.stdout);
    assert_eq!(run.with("pass").len(), 3, "{}", run.stdout);
    assert!(run.stdout.contains("a TCP-only server?"), "{}", run.stdout);
    let run = check(&[&addr, "--service", "hello", "--proto", "udp"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert_eq!(run.with("fail"), udp, "{}", run.stdout);
}

#[test]
fn check_server_stops_what_the_server_forked_too() {
    // A student's server forks; the grading run must not leave the
    // children behind. The server here forks a long sleep first, then
    // becomes sockref; after the run, the sleep must be gone.
    let dir = std::env::temp_dir().join(format!("sockref-check-fork-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pidfile = dir.join("child.pid");
    let server = format!(
        "sh -c 'sleep 300 & echo $! > {}; exec {} serve --addr 127.0.0.1:{{port}} --service hello --proto tcp'",
        pidfile.display(),
        bin()
    );
    let run = check(&["--server", &server, "--service", "hello", "--proto", "tcp"]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    // Gone, or a zombie waiting for whoever adopted it: not running.
    let state = std::fs::read_to_string(&stat)
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim().chars().next()));
    assert!(
        matches!(state, None | Some(Some('Z'))),
        "the forked child {} still runs: {:?}",
        pid.trim(),
        state
    );
    let _ = std::fs::remove_dir_all(&dir);
}
