//! The HTTP plaintext path allocates nothing per request: the server runs
//! under valgrind, which counts every heap allocation of the process, once
//! with a few hundred keep-alive requests and once with 2,000 more on the
//! same kind of connection; the totals may differ only by the couple of
//! allocations by which start-up and stop vary. (Counting in process
//! would need a global allocator, which the project's no-unsafe rule
//! leaves out.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

mod common;
use common::{bin, connect, Proc};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/// Sends `batch` requests in one write and reads their responses, which
/// all have the same length (the Date field is fixed-width), into a fixed
/// buffer: no allocation on this side.
fn round(s: &mut TcpStream, batch: usize, response_len: usize) {
    let mut out = [0u8; REQUEST.len() * 16];
    for i in 0..batch {
        out[i * REQUEST.len()..(i + 1) * REQUEST.len()].copy_from_slice(REQUEST);
    }
    s.write_all(&out[..batch * REQUEST.len()]).unwrap();
    let mut buf = [0u8; 4096];
    let mut left = batch * response_len;
    let mut last = 0;
    while left > 0 {
        let n = s.read(&mut buf[..left.min(4096)]).unwrap();
        assert!(n > 0, "closed early");
        last = buf[n - 1];
        left -= n;
    }
    // Exactly the responses' bytes were read, and they end as one does.
    assert_eq!(last, b'!');
}

/// Runs the server under valgrind for one connection of `rounds` single
/// requests and `rounds / 5` batches of 16, after a warm-up; returns the
/// process's total heap allocations.
fn allocations(rounds: usize) -> u64 {
    let mut cmd = Command::new("valgrind");
    cmd.args(["--tool=memcheck", "--leak-check=no", bin()]);
    cmd.args([
        "serve",
        "--service",
        "http",
        "--addr",
        "127.0.0.1:0",
        "--workers",
        "2",
    ]);
    cmd.args(["--max-connections", "1"]);
    let mut p = Proc::spawn(cmd, 1);
    let mut s = connect(p.tcp());
    // One response, read whole, to learn its length.
    s.write_all(REQUEST).unwrap();
    let mut first = Vec::new();
    let mut buf = [0u8; 4096];
    while !first.ends_with(b"Hello, World!") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        first.extend_from_slice(&buf[..n]);
    }
    let len = first.len();
    // Warm up: every buffer reaches the size it keeps.
    for _ in 0..20 {
        round(&mut s, 1, len);
        round(&mut s, 16, len);
    }
    for _ in 0..rounds {
        round(&mut s, 1, len);
    }
    for _ in 0..rounds / 5 {
        round(&mut s, 16, len);
    }
    drop(s);
    // --max-connections 1: the server stops by itself; valgrind then
    // prints its heap summary on stderr.
    let status = p.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut err = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let total = err
        .split("total heap usage: ")
        .nth(1)
        .unwrap_or_else(|| panic!("{err}"));
    total
        .split(" allocs")
        .next()
        .unwrap()
        .replace(',', "")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn the_plaintext_path_allocates_nothing_per_request() {
    if common::tools::need_command("valgrind", "valgrind").is_none() {
        return;
    }
    let few = allocations(100);
    let many = allocations(2100);
    println!("allocations: {few} then {many}");
    // Start-up and the stop vary by a couple of allocations with thread
    // timing (96 to 98 seen, in either run); one per request would add
    // 8,400 (2,000 single requests and 400 batches of 16).
    assert!(
        many <= few + 10,
        "{few} then {many}: more requests allocated"
    );
}
