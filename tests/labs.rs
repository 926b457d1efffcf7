//! The labs are one thing in three places, kept the same here:
//! - the doc tests of `src/labs.rs` (which `cargo test --doc labs` runs);
//! - docs/labs.md, which shows every block of `src/labs.rs`, in order, and
//!   adds what to type and what you see (tests/docs.rs runs those commands);
//! - the programs `examples/NAME.rs`, whose `server` function is the lab's
//!   doc-test server line for line: only the address (`addr` instead of
//!   port 0) and the doc test's own observer differ.
//!
//! And each program serves what its page says, and lab 5's commands draw
//! the half-close it is about.

// Each lab program brings its own copy of examples/common (a program of its
// own needs it); this test includes several programs, so several copies.
#![allow(clippy::duplicate_mod)]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sockref::{Observer, TraceFormat, TraceWriter};

#[allow(dead_code)]
#[path = "../examples/fragile.rs"]
mod fragile;
#[allow(dead_code)]
#[path = "../examples/lab1.rs"]
mod lab1;
#[allow(dead_code)]
#[path = "../examples/lab2.rs"]
mod lab2;
#[allow(dead_code)]
#[path = "../examples/lab3.rs"]
mod lab3;
#[allow(dead_code)]
#[path = "../examples/lab5.rs"]
mod lab5;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The contents of the fenced blocks in `lines`, fences excluded.
fn blocks<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    let (mut out, mut cur) = (Vec::new(), None::<Vec<String>>);
    for line in lines {
        if line.trim_start().starts_with("```") {
            match cur.take() {
                Some(block) => out.push(block),
                None => cur = Some(Vec::new()),
            }
        } else if let Some(block) = cur.as_mut() {
            block.push(line.to_string());
        }
    }
    out
}

/// The blocks of `src/labs.rs`'s documentation, without rustdoc's hidden lines.
fn lab_blocks() -> Vec<Vec<String>> {
    let labs = read("src/labs.rs");
    let doc = labs
        .lines()
        .filter_map(|l| l.strip_prefix("//! ").or_else(|| l.strip_prefix("//!")));
    blocks(doc)
        .into_iter()
        .map(|b| {
            b.into_iter()
                .filter(|l| {
                    let t = l.trim_start();
                    !(t.starts_with("# ") || t == "#")
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_labs_page_shows_every_block_of_the_doc_tested_labs_in_order() {
    let tested = lab_blocks();
    assert_eq!(
        tested.len(),
        14,
        "src/labs.rs: three labs, the failing handler, and five experiments (a shell block and a doc test each)"
    );
    let page = read("docs/labs.md");
    let shown = blocks(page.lines());
    let mut rest = shown.iter();
    for (i, block) in tested.iter().enumerate() {
        assert!(
            rest.any(|s| s == block),
            "docs/labs.md lacks block {} of src/labs.rs (or shows it out of order):\n{}",
            i + 1,
            block.join("\n")
        );
    }
}

/// A server chain with its layout and the differences allowed between a
/// doc test and its program taken away: one line per call, spaces collapsed.
fn normalized(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            l.trim()
                .strip_prefix("let server = ")
                .unwrap_or(l.trim())
                .to_string()
        })
        .filter(|l| !l.starts_with(".observer("))
        .map(|l| l.replace(".addr(\"127.0.0.1:0\")", ".addr(addr)"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn each_program_is_its_labs_doc_test_server_line_for_line() {
    let tested = lab_blocks();
    // (program, the lab's doc test: its index among src/labs.rs's blocks)
    for (name, index) in [
        ("lab1", 0),
        ("lab2", 1),
        ("lab3", 2),
        ("fragile", 3),
        ("lab5", 7),
    ] {
        let test = &tested[index];
        let from = test
            .iter()
            .position(|l| l.starts_with("let server = ServerBuilder::new()"));
        let from = from.unwrap_or_else(|| panic!("{name}: no server in its doc test"));
        let to = from
            + test[from..]
                .iter()
                .position(|l| l.trim() == ".start()?;")
                .expect("start");
        let program = read(&format!("examples/{name}.rs"));
        let lines: Vec<String> = program.lines().map(String::from).collect();
        let body = lines
            .iter()
            .position(|l| l.starts_with("pub fn server("))
            .expect("fn server");
        let end = body
            + lines[body..]
                .iter()
                .position(|l| l == "}")
                .expect("end of fn server");
        assert_eq!(
            normalized(&lines[body + 1..end]),
            normalized(&test[from..to]),
            "examples/{name}.rs: `server` is not lab {name}'s doc-test server (src/labs.rs)"
        );
    }
}

/// Starts a lab on a free port.
fn start(server: fn(&str) -> sockref::ServerBuilder) -> sockref::ServerHandle {
    server("127.0.0.1:0").start().expect("the lab starts")
}

fn exchange(addr: std::net::SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_read_timeout(Some(common::IO_TIMEOUT))
        .expect("timeout");
    sock.write_all(message).expect("write");
    sock.shutdown(Shutdown::Write).expect("shutdown");
    let mut reply = Vec::new();
    let _ = sock.read_to_end(&mut reply);
    reply
}

#[test]
fn each_program_serves_what_its_page_says() {
    let s = start(lab1::server);
    assert_eq!(exchange(s.tcp_addr().expect("tcp"), b""), b"Hello World!\0");
    s.shutdown(Duration::from_secs(5));

    let s = start(lab2::server);
    assert_eq!(exchange(s.tcp_addr().expect("tcp"), b"ping"), b"ping");
    s.shutdown(Duration::from_secs(5));

    let s = start(lab3::server);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(common::IO_TIMEOUT))
        .expect("timeout");
    sock.send_to(b"hello", s.udp_addr().expect("udp"))
        .expect("sendto");
    let mut reply = [0u8; 64];
    let (n, _) = sock.recv_from(&mut reply).expect("recvfrom");
    assert_eq!(&reply[..n], b"HELLO");
    s.shutdown(Duration::from_secs(5));

    let s = start(fragile::server);
    let addr = s.tcp_addr().expect("tcp");
    for word in ["panic", "error", "quit"] {
        assert_eq!(exchange(addr, word.as_bytes()), b"", "{word}");
    }
    assert_eq!(exchange(addr, b"still serving"), b"still serving");
    let stats = s.shutdown(Duration::from_secs(5));
    assert_eq!((stats.accepted, stats.panics), (4, 1));

    let s = start(lab5::server);
    assert_eq!(
        exchange(s.tcp_addr().expect("tcp"), &[0u8; 5000]),
        b"5000 bytes\n"
    );
    s.shutdown(Duration::from_secs(5));
}

/// Lab 5's three commands, as the page gives them (the program in this
/// process, the client and the diagram as the binary): the figure shows
/// the client's shutdown and FIN, and the server's answer after its EOF.
#[test]
fn lab5s_commands_draw_the_half_close() {
    let dir = std::env::temp_dir().join(format!("sockref-lab5-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("dir");
    let server_file = fs::File::create(dir.join("server.jsonl")).expect("server.jsonl");
    let trace = Arc::new(TraceWriter::new(TraceFormat::Json, server_file)) as Arc<dyn Observer>;
    let server = lab5::server("127.0.0.1:0")
        .observer(trace)
        .max_connections(1)
        .start()
        .expect("lab5");
    let addr = server.tcp_addr().expect("tcp");

    let client = format!(
        "head -c 5000 /dev/zero | {} client {addr} --trace=json 2> client.jsonl",
        common::bin()
    );
    let out = Command::new("sh")
        .args(["-c", &client])
        .current_dir(&dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"5000 bytes\n");
    assert!(
        server.wait(Some(Duration::from_secs(30))),
        "stops after one connection"
    );
    server.shutdown(Duration::from_secs(5));

    let out = Command::new(common::bin())
        .args(["diagram", "server.jsonl", "--client", "client.jsonl"])
        .current_dir(&dir)
        .output()
        .expect("diagram");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let figure = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = |what: &str| {
        figure
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in\n{figure}"))
    };
    assert!(
        !figure.contains("folded"),
        "the lesson is folded away:\n{figure}"
    );
    assert!(at("shutdown(SHUT_WR)") < at("read() = 0 (EOF)"));
    assert!(at("FIN") > at("shutdown(SHUT_WR)"));
    assert!(
        at("read() = 0 (EOF)") < at("write() = 11"),
        "the server answers after the FIN"
    );
    assert!(at("write() = 11") < at("read() = 11"));
    let _ = fs::remove_dir_all(&dir);
}
