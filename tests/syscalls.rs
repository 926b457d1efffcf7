//! The syscall audit: run the real binary under `strace -f`, then check on
//! the parsed system calls that it makes the C server's calls, in the C
//! server's order:
//!
//! - once at start: socket, setsockopt(SO_REUSEADDR), bind, listen (TCP);
//!   socket, bind (UDP);
//! - per connection, on the thread that accepted it: accept4 -> reads and
//!   writes on that descriptor -> close of that same descriptor, and no
//!   accepted descriptor left open;
//! - per datagram: recvfrom -> sendto to the same peer.
//!
//! Without strace the test says why and returns (`.ci/run` installs it).

mod common;
use common::*;

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

/// One finished system call, as strace printed it.
#[derive(Debug, Clone)]
struct Call {
    pid: u32,
    name: String,
    /// Everything between the parentheses.
    args: String,
    /// The return value (-1 on error).
    ret: i64,
    /// `EINVAL` etc. when `ret` is -1.
    errno: Option<String>,
}

impl Call {
    /// The first argument as a descriptor (every call audited here has one
    /// first, except socket()).
    fn fd(&self) -> Option<i64> {
        let end = self.args.find([',', ')']).unwrap_or(self.args.len());
        self.args[..end].trim().parse().ok()
    }

    /// The port in the first `sin_port=htons(N)` of the arguments.
    fn port(&self) -> Option<u16> {
        let at = self.args.find("sin_port=htons(")? + "sin_port=htons(".len();
        let end = self.args[at..].find(')')? + at;
        self.args[at..end].parse().ok()
    }
}

/// Parses `strace -f -qq -o FILE` output. With `-f` every line starts with
/// the thread id; a call that blocks is split in two lines:
///
/// ```text
/// 32308 accept4(3,  <unfinished ...>
/// 32307 write(1, "listening ...", 53) = 53
/// 32308 <... accept4 resumed>{sa_family=AF_INET, ...}, [128 => 16], SOCK_CLOEXEC) = 5
/// ```
///
/// The halves are joined and the call is placed where it returned, except
/// close(), placed where it started: the kernel frees the descriptor number
/// as close() begins, so another thread's accept4() may return that number
/// before the `close resumed` line is printed.
fn parse_strace(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, (String, Option<usize>)> = HashMap::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            // A close() is recorded now, its result filled in on resume.
            let slot = if head.starts_with("close(") {
                calls.push(split_call(pid, &format!("{head}) = ?")));
                Some(calls.len() - 1)
            } else {
                None
            };
            pending.insert(pid, (head.to_string(), slot));
            continue;
        }
        let full = if let Some(tail) = rest.strip_prefix("<... ") {
            let Some((_, tail)) = tail.split_once(" resumed>") else {
                continue;
            };
            let Some((head, slot)) = pending.remove(&pid) else {
                panic!("resumed call without its start: {line}");
            };
            let full = format!("{head}{tail}");
            if let Some(i) = slot {
                let done = split_call(pid, &full);
                calls[i].ret = done.ret;
                calls[i].errno = done.errno;
                continue;
            }
            full
        } else if rest.starts_with("---") || rest.starts_with("+++") {
            continue; // signals, exits
        } else {
            rest.to_string()
        };
        calls.push(split_call(pid, &full));
    }
    assert!(pending.is_empty(), "calls never finished: {pending:?}");
    calls
}

/// `name(args) = ret [ERRNO (text)]` -> Call.
fn split_call(pid: u32, full: &str) -> Call {
    let open = full
        .find('(')
        .unwrap_or_else(|| panic!("no call in {full:?}"));
    let name = full[..open].to_string();
    // The return value follows the last " = ": argument strings are quoted
    // and escaped, and the errno text never contains one.
    let eq = full
        .rfind(" = ")
        .unwrap_or_else(|| panic!("no result in {full:?}"));
    let args = full[open + 1..eq]
        .trim_end()
        .trim_end_matches(')')
        .to_string();
    let mut result = full[eq + 3..].split_whitespace();
    let ret = match result.next() {
        Some("?") | None => i64::MIN,
        Some(v) if v.starts_with("0x") => i64::from_str_radix(&v[2..], 16).unwrap_or(i64::MIN),
        Some(v) => v.parse().unwrap_or(i64::MIN),
    };
    let errno = (ret == -1).then(|| result.next().unwrap_or("").to_string());
    Call {
        pid,
        name,
        args,
        ret,
        errno,
    }
}

fn strace_missing() -> Option<String> {
    match Command::new("strace").arg("-V").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "strace -V failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => Some(format!("strace not found ({e})")),
    }
}

fn trace_file(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sockref-{tag}-{}.strace", std::process::id()))
}

/// One audited connection: what happened on an accepted descriptor.
#[derive(Debug)]
struct Accepted {
    fd: i64,
    pid: u32,
    accept: Call,
    calls: Vec<Call>,
}

#[test]
fn the_server_makes_the_c_servers_calls_in_order() {
    if tools::need_command("strace", "strace").is_none() {
        return;
    }
    if let Some(why) = strace_missing() {
        if !tools::need(&format!("strace ({why})"), false, "apt-get install strace") {
            return;
        }
    }
    let out = trace_file("audit");
    let mut cmd = Command::new("strace");
    cmd.arg("-f")
        .arg("-qq")
        .arg("-o")
        .arg(&out)
        .arg("-e")
        .arg("trace=socket,setsockopt,bind,listen,accept,accept4,read,write,recvfrom,sendto,recvmsg,sendmsg,shutdown,close")
        .arg("--")
        .arg(bin())
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--proto",
            "both",
            "--workers",
            "2",
            "--udp-workers",
            "1",
            "--max-connections",
            "3",
            "--max-datagrams",
            "2",
        ]);
    let mut p = Proc::spawn(cmd, 2);
    let (tcp, udp) = (p.tcp(), p.udp());

    let payloads = [b"one".to_vec(), random_bytes(7, 40_000), Vec::new()];
    for data in &payloads {
        assert_eq!(fnv1a(&tcp_exchange(tcp, data)), fnv1a(data));
    }
    let mut udp_ports = Vec::new();
    for msg in [&b"dgram-1"[..], b"second datagram"] {
        let u = udp_client();
        udp_ports.push(u.local_addr().unwrap().port());
        u.send_to(msg, udp).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = u.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], msg);
    }
    // Both counts reached: the server stops; strace exits after it, with
    // every line written.
    let status = p.child.wait().unwrap();
    assert!(status.success(), "strace/sockref exit: {status:?}");
    let text = fs::read_to_string(&out).expect("strace output");
    let _ = fs::remove_file(&out);
    let calls = parse_strace(&text);
    let main_pid = calls.first().expect("some calls").pid;

    // --- once, at start, on the main thread: the C server's setup ---
    let setup: Vec<&Call> = calls
        .iter()
        .filter(|c| ["socket", "setsockopt", "bind", "listen"].contains(&c.name.as_str()))
        .take(6)
        .collect();
    let names: Vec<&str> = setup.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["socket", "setsockopt", "bind", "listen", "socket", "bind"],
        "{setup:#?}"
    );
    assert!(setup.iter().all(|c| c.pid == main_pid && c.ret >= 0));
    assert!(
        setup[0].args.starts_with("AF_INET, SOCK_STREAM"),
        "{:?}",
        setup[0]
    );
    let listener = setup[0].ret;
    assert_eq!(setup[1].fd(), Some(listener));
    assert!(
        setup[1].args.contains("SOL_SOCKET, SO_REUSEADDR, [1]"),
        "{:?}",
        setup[1]
    );
    assert_eq!((setup[2].fd(), setup[2].port()), (Some(listener), Some(0)));
    assert_eq!(setup[3].args, format!("{listener}, 128"), "backlog 128");
    assert!(
        setup[4].args.starts_with("AF_INET, SOCK_DGRAM"),
        "{:?}",
        setup[4]
    );
    let udp_fd = setup[4].ret;
    assert_eq!(
        (setup[5].fd(), setup[5].port()),
        (Some(udp_fd), Some(udp.port()))
    );
    assert_eq!(calls.iter().filter(|c| c.name == "listen").count(), 1);
    let stream_sockets = calls
        .iter()
        .filter(|c| c.name == "socket" && c.args.contains("SOCK_STREAM"))
        .count();
    assert_eq!(stream_sockets, 1, "one TCP socket, the listener");

    // --- per connection: accept4 -> reads/writes -> close, one thread ---
    let mut open: HashMap<i64, Accepted> = HashMap::new();
    let mut done: Vec<Accepted> = Vec::new();
    for c in &calls {
        if c.name == "accept4" && c.fd() == Some(listener) {
            if c.ret >= 0 {
                assert!(c.args.ends_with("SOCK_CLOEXEC"), "{c:?}");
                let fd = c.ret;
                assert!(!open.contains_key(&fd), "fd {fd} handed out twice");
                open.insert(
                    fd,
                    Accepted {
                        fd,
                        pid: c.pid,
                        accept: c.clone(),
                        calls: Vec::new(),
                    },
                );
            } else {
                // Only shutdown wakes blocked accept4() with an error.
                assert_eq!(c.errno.as_deref(), Some("EINVAL"), "{c:?}");
            }
            continue;
        }
        let Some(fd) = c.fd() else { continue };
        if let Some(conn) = open.get_mut(&fd) {
            conn.calls.push(c.clone());
            if c.name == "close" {
                let conn = open.remove(&fd).unwrap();
                done.push(conn);
            }
        }
    }
    assert!(
        open.is_empty(),
        "accepted descriptors never closed: {open:#?}"
    );
    assert_eq!(done.len(), payloads.len(), "{done:#?}");
    for (conn, sent) in done.iter().zip(&payloads) {
        let ctx = format!("fd {} {:#?}", conn.fd, conn.calls);
        assert!(
            conn.calls.iter().all(|c| c.pid == conn.pid),
            "one thread: {ctx}"
        );
        let allowed = [
            "setsockopt",
            "recvfrom",
            "sendto",
            "read",
            "write",
            "shutdown",
            "close",
        ];
        assert!(
            conn.calls
                .iter()
                .all(|c| allowed.contains(&c.name.as_str())),
            "{ctx}"
        );
        let last = conn.calls.last().unwrap();
        assert_eq!((last.name.as_str(), last.ret), ("close", 0), "{ctx}");
        let reads: Vec<i64> = conn
            .calls
            .iter()
            .filter(|c| ["recvfrom", "read"].contains(&c.name.as_str()))
            .map(|c| c.ret)
            .collect();
        let writes: i64 = conn
            .calls
            .iter()
            .filter(|c| ["sendto", "write"].contains(&c.name.as_str()))
            .map(|c| c.ret)
            .sum();
        assert!(reads.iter().all(|&n| n >= 0), "{ctx}");
        assert_eq!(reads.last(), Some(&0), "reads until end of file: {ctx}");
        assert_eq!(reads.iter().sum::<i64>(), sent.len() as i64, "{ctx}");
        assert_eq!(writes, sent.len() as i64, "echoed: {ctx}");
        // Each read() is followed by the write()s of what it read, before
        // the next read(): the echo loop, call by call.
        let mut owed = 0i64;
        for c in &conn.calls {
            match c.name.as_str() {
                "recvfrom" | "read" => {
                    assert_eq!(owed, 0, "read before writing back: {ctx}");
                    owed = c.ret;
                }
                "sendto" | "write" => owed -= c.ret,
                _ => {}
            }
        }
        // Per-connection socket options are SO_RCVTIMEO / SO_SNDTIMEO only.
        for c in conn.calls.iter().filter(|c| c.name == "setsockopt") {
            assert!(c.args.contains("TIMEO"), "{c:?}");
        }
    }

    // --- per datagram: recvfrom -> sendto to the same peer, same thread ---
    let on_udp: Vec<&Call> = calls.iter().filter(|c| c.fd() == Some(udp_fd)).collect();
    let binds = calls
        .iter()
        .filter(|c| c.name == "bind" && c.port() == Some(udp.port()))
        .count();
    assert_eq!(binds, 1, "the UDP socket is bound once, to the served port");
    let mut pairs = Vec::new();
    for (i, c) in on_udp.iter().enumerate() {
        if c.name == "recvfrom" && c.ret > 0 {
            let reply = on_udp[i + 1..]
                .iter()
                .find(|r| r.pid == c.pid)
                .unwrap_or_else(|| panic!("no call after {c:?}"));
            assert_eq!(reply.name, "sendto", "{c:?} then {reply:?}");
            assert_eq!(reply.port(), c.port(), "reply goes to the sender");
            assert_eq!(reply.ret, c.ret, "echo: same length");
            pairs.push(c.port().unwrap());
        }
    }
    assert_eq!(pairs, udp_ports, "one recvfrom/sendto pair per datagram");
    let last = on_udp.last().unwrap();
    assert_eq!((last.name.as_str(), last.ret), ("close", 0));

    // The audited sequence, for `cargo test --test syscalls -- --nocapture`.
    let show = |c: &Call| eprintln!("  [{}] {}({}) = {}", c.pid, c.name, c.args, c.ret);
    eprintln!("setup:");
    setup.iter().for_each(|c| show(c));
    eprintln!("connection 1 (fd {}):", done[0].fd);
    show(&done[0].accept);
    done[0].calls.iter().for_each(show);
    eprintln!("datagrams:");
    on_udp.iter().filter(|c| c.ret > 0).for_each(|c| show(c));
}

#[test]
fn the_parser_joins_unfinished_calls() {
    let text = "\
10 accept4(3,  <unfinished ...>
11 close(5 <unfinished ...>
12 write(1, \"a = b\", 5) = 5
10 <... accept4 resumed>{sa_family=AF_INET, sin_port=htons(4242), sin_addr=inet_addr(\"127.0.0.1\")}, [128 => 16], SOCK_CLOEXEC) = 5
11 <... close resumed>) = 0
10 +++ exited with 0 +++
12 accept4(3, 0x7f, [128], SOCK_CLOEXEC) = -1 EINVAL (Invalid argument)
";
    let calls = parse_strace(text);
    let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
    // close is placed where it started, before the accept4 that reuses 5.
    assert_eq!(names, ["close", "write", "accept4", "accept4"]);
    assert_eq!((calls[0].fd(), calls[0].ret), (Some(5), 0));
    assert_eq!(calls[1].ret, 5);
    assert_eq!(
        (calls[2].pid, calls[2].ret, calls[2].port()),
        (10, 5, Some(4242))
    );
    assert_eq!(calls[3].errno.as_deref(), Some("EINVAL"));
}
