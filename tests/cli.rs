//! The command line: usage errors exit 2 with one line naming the choices;
//! a busy port exits 1 naming bind(); --help and --version exit 0.

mod common;
use common::*;

use std::net::TcpListener;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run sockref")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn help_and_version_exit_zero() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--service",
        "--addr",
        "--proto",
        "--workers",
        "--idle-timeout",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("sockref "));
}

#[test]
fn usage_errors_exit_two_with_one_line_naming_the_choices() {
    let cases: [(&[&str], &str); 5] = [
        (&["--bogus"], "unknown option '--bogus'"),
        (
            &["--service", "ftp"],
            "choose one of: echo, discard, chargen, daytime, time, hello, length",
        ),
        (&["--proto", "sctp"], "choose one of: tcp, udp, both"),
        (
            &["--workers", "many"],
            "--workers: 'many' is not a number from 1 to 20000",
        ),
        (&["frobnicate"], "unknown command 'frobnicate'"),
    ];
    for (args, want) in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = stderr(&o);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn busy_port_exits_one_naming_bind() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let o = run(&["--addr", &addr.to_string(), "--proto", "tcp"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o).trim_end(),
        format!("sockref: bind() error: {addr}: Address already in use (os error 98)")
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("listening"));
}

#[test]
fn with_both_protocols_a_failed_udp_bind_serves_nothing() {
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let o = run(&["--addr", &addr.to_string(), "--proto", "both"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bind() error"));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("listening"));
    // The TCP port was released again: binding it now works, or, on a busy
    // machine where another program's connection took the same number as
    // its ephemeral port meanwhile, at least no socket listens on it.
    if let Err(e) = TcpListener::bind(addr) {
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
        assert!(
            !listening_on(addr.port()),
            "tcp port still listening after failed start"
        );
    }
}

/// Whether any TCP socket listens on `port` (`/proc/net/tcp`, state 0A).
fn listening_on(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let local_port = f.get(1).and_then(|a| a.rsplit(':').next());
        local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port)
            && f.get(3) == Some(&"0A")
    })
}

#[test]
fn max_connections_stops_and_prints_the_counters() {
    let mut p = Proc::start(&["--proto", "tcp", "--max-connections", "3"], 1);
    for i in 0..3u8 {
        assert_eq!(tcp_exchange(p.tcp(), &[i]), [i]);
    }
    let status = p.child.wait().unwrap();
    assert!(status.success());
    let last = p.next_line().expect("counters line");
    assert!(last.starts_with("stopped accepted=3 closed=3 "), "{last}");
    assert!(last.contains("bytes_in=3 bytes_out=3"), "{last}");
}

#[test]
fn duration_stops_by_itself_and_prints_every_counter() {
    let mut p = Proc::start(&["--proto", "both", "--duration", "0.5"], 2);
    let status = p.child.wait().unwrap();
    assert!(status.success());
    let last = p.next_line().expect("counters line");
    assert!(last.starts_with("stopped "), "{last}");
    for name in [
        "accepted=",
        "closed=",
        "rejected=",
        "timed_out=",
        "reset=",
        "panics=",
        "accept_errors=",
        "dropped_datagrams=",
        "rate_limited=",
    ] {
        assert!(last.contains(name), "{name} missing from {last}");
    }
}

#[test]
fn a_stop_line_on_stdin_stops_gracefully_and_prints_the_counters() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let mut child = Command::new(bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--proto", "tcp"])
        .arg("--stop-on-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr: std::net::SocketAddr = line
        .strip_prefix("listening tcp ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    assert_eq!(tcp_exchange(addr, b"before stop"), b"before stop");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "not yet").unwrap();
    writeln!(stdin, "stop").unwrap();
    let stopped = common::procfs::wait_until(std::time::Duration::from_secs(30), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !stopped {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(stopped, "a stop line stops the server");
    assert!(status.success());
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("stopped accepted=1 closed=1 "), "{line}");
}

#[test]
fn what_is_not_an_address_exits_two_for_every_command() {
    for bad in ["nonsense", ":x", "127.0.0.1"] {
        for args in [
            vec!["serve", "--addr", bad],
            vec!["client", bad, "hi"],
            vec!["bench", bad, "--requests", "1"],
        ] {
            let o = run(&args);
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
            assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
            assert!(e.contains(&format!("'{bad}'")), "{args:?}: {e}");
            assert!(o.stdout.is_empty(), "{args:?}");
        }
    }
}

#[test]
fn a_unix_address_cannot_serve_both_protocols() {
    // Never bound: the refusal comes before any socket exists.
    let path = std::env::temp_dir().join(format!("sockref-cli-both-{}.sock", std::process::id()));
    let addr = format!("unix:{}", path.display());
    let o = run(&["serve", "--addr", &addr, "--proto", "both"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.starts_with("sockref: --proto both: "), "{e}");
    assert!(!path.exists());
}

#[test]
fn a_name_that_does_not_resolve_is_a_runtime_error() {
    // `.invalid` never resolves (RFC 2606): the failure is getaddrinfo()'s,
    // at run time, not a usage error.
    let o = run(&[
        "serve",
        "--addr",
        "no.such.host.invalid:80",
        "--proto",
        "tcp",
    ]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.starts_with("sockref: getaddrinfo() error: no.such.host.invalid:80: "),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn help_texts_mention_unix_addresses() {
    for args in [&["--help"][..], &["client", "--help"]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("unix:PATH"),
            "{args:?}"
        );
    }
}
