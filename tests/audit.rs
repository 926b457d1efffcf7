//! The audit facts of docs/audit.md, proven on the real binary and shown in its
//! trace: what happens when descriptors run out (EMFILE) and when a client
//! resets its connection. (A panicking handler: tests/panics.rs and
//! tests/trace.rs. Clients beyond the workers wait their turn: tests/echo.rs.)

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

#[test]
fn out_of_descriptors_accept_pauses_then_resumes() {
    if tools::need_command("prlimit", "util-linux").is_none() {
        return;
    }
    // 24 descriptors, 64 workers. Linux reserves the new descriptor when
    // accept() starts, before it waits, so fewer than 20 workers can even
    // wait in accept(); the rest fail with EMFILE at once and pause.
    let clients = 30;
    let mut cmd = Command::new("prlimit");
    cmd.args([
        "--nofile=24:24",
        "--",
        bin(),
        "serve",
        "--addr",
        "127.0.0.1:0",
    ])
    // --duration bounds the test: if an expected line never comes, stdout
    // ends and the `expect` below fails instead of waiting for ever.
    .args([
        "--proto",
        "tcp",
        "--workers",
        "64",
        "--trace",
        "--duration",
        "60",
    ]);
    let mut p = Proc::spawn(cmd, 1);
    let held: Vec<TcpStream> = (0..clients).map(|_| connect(p.tcp())).collect();
    // The first failures may come before the `listening` line.
    let mut lines = p.lines.clone();
    let emfile = "accept()   error: Too many open files (os error 24) (backing off 5.0ms)";
    while !lines.iter().any(|l| l == emfile) {
        lines.push(p.next_line().expect("trace line"));
    }
    // Descriptors free up: every waiting client is accepted and closed...
    drop(held);
    let closed = |lines: &[String]| lines.iter().filter(|l| l.starts_with("close()")).count();
    while closed(&lines) < clients {
        lines.push(p.next_line().expect("trace line"));
    }
    // ...and new clients are served as before.
    assert_eq!(tcp_exchange(p.tcp(), b"still here"), b"still here");
    while closed(&lines) < clients + 1 {
        lines.push(p.next_line().expect("trace line"));
    }
    let accepted = lines
        .iter()
        .filter(|l| l.starts_with("accept()   conn="))
        .count();
    assert_eq!(accepted, clients + 1);
    // The operator is told once, at start, what to change; the EMFILE
    // episodes it foretold add nothing (issue 19).
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    let mut stderr = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.starts_with("sockref: warning: 64 workers need "),
        "{stderr}"
    );
    for part in [
        "but the limit is 24 (ulimit -n)",
        "EMFILE (Too many open files)",
        "raise the limit (ulimit -n ",
        "or lower --workers (to ",
    ] {
        assert!(stderr.contains(part), "{part}: {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_client_reset_ends_only_its_connection() {
    let mut p = Proc::start(&["--proto", "tcp", "--trace", "--max-connections", "2"], 1);
    // Send, read one byte of the echo, close with the rest unread: the
    // kernel resets the connection instead of closing it gently.
    let mut rude = connect(p.tcp());
    rude.write_all(&[b'r'; 1000]).unwrap();
    let mut one = [0u8; 1];
    rude.read_exact(&mut one).unwrap();
    drop(rude);
    // The server keeps serving.
    assert_eq!(tcp_exchange(p.tcp(), b"polite"), b"polite");
    let mut lines = Vec::new();
    while let Some(l) = p.next_line() {
        lines.push(l);
    }
    assert!(p.child.wait().unwrap().success());
    let stopped = lines.last().unwrap();
    assert!(
        stopped.starts_with("stopped accepted=2 closed=2 rejected=0 timed_out=0 reset=1 "),
        "{stopped}"
    );
    // The trace says which call saw it, on which connection.
    let errors: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(" error conn="))
        .collect();
    assert_eq!(
        errors,
        ["read()     error conn=1: Connection reset by peer (os error 104)"],
        "{lines:#?}"
    );
}
