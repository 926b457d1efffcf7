//! Unix-domain sockets (PF_LOCAL) through the same paths as TCP and UDP:
//! `--addr unix:PATH`, stream by default, datagram with `--proto udp`.
//! Every service answers as it does over TCP / UDP; the socket file is
//! replaced when stale, refused when live, never touched when it is not a
//! socket, and removed by a graceful stop.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockref::service::{chargen_pattern, daytime_line, CHARGEN_UDP_LEN, SERVICE_NAMES};
use sockref::{Protocols, ServerBuilder};

/// A fresh directory for this test's sockets, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("sockref-unix-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `sockref serve --addr unix:PATH ARGS...`, ready once its listening line
/// is out; returns the process and that line.
fn serve(path: &Path, args: &[&str]) -> (Proc, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("serve")
        .arg("--addr")
        .arg(format!("unix:{}", path.display()))
        .args(args);
    let p = Proc::spawn(cmd, 1);
    assert_eq!(p.unix.as_deref(), Some(path));
    let line = p.lines.last().cloned().unwrap();
    (p, line)
}

fn stream(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn exchange(path: &Path, request: &[u8]) -> Vec<u8> {
    let mut s = stream(path);
    s.write_all(request).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// A named client datagram socket (the server cannot answer an unnamed one).
fn dgram_client(dir: &Dir, name: &str) -> UnixDatagram {
    let u = UnixDatagram::bind(dir.path(name)).unwrap();
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u
}

fn dgram_exchange(u: &UnixDatagram, server: &Path, request: &[u8]) -> Vec<u8> {
    u.send_to(request, server).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, from) = u.recv_from(&mut buf).unwrap();
    assert_eq!(from.as_pathname(), Some(server));
    buf.truncate(n);
    buf
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn check_daytime(reply: Vec<u8>) {
    let text = String::from_utf8(reply).unwrap();
    let t = now();
    let ok = (t - 2..=t + 1).any(|t| text == daytime_line(UNIX_EPOCH + Duration::from_secs(t)));
    assert!(ok, "unexpected daytime line {text:?}");
}

fn check_time(reply: Vec<u8>) {
    assert_eq!(reply.len(), 4);
    let secs = u64::from(u32::from_be_bytes(reply.try_into().unwrap()));
    let want = (now() + 2_208_988_800) % (1 << 32);
    assert!(want.abs_diff(secs) <= 2, "time {secs} vs {want}");
}

#[test]
fn every_service_answers_over_a_unix_stream_socket_as_over_tcp() {
    let dir = Dir::new("stream");
    for service in SERVICE_NAMES {
        let path = dir.path(service);
        let (_p, line) = serve(&path, &["--service", service, "--workers", "2"]);
        assert_eq!(
            line,
            format!(
                "listening unix {} service={service} workers=2",
                path.display()
            )
        );
        match service {
            "echo" => {
                let msg = random_bytes(7, 100_000);
                assert_eq!(exchange(&path, &msg), msg);
                assert_eq!(exchange(&path, b""), b"");
            }
            "discard" => assert_eq!(exchange(&path, &random_bytes(8, 50_000)), b""),
            "chargen" => {
                let mut s = stream(&path);
                let want = chargen_pattern(74 * 200);
                let mut got = vec![0u8; want.len()];
                s.read_exact(&mut got).unwrap();
                assert_eq!(got, want);
            }
            "daytime" => check_daytime(exchange(&path, b"")),
            "time" => check_time(exchange(&path, b"")),
            "hello" => assert_eq!(exchange(&path, b""), b"Hello World!\0"),
            "length" => {
                assert_eq!(exchange(&path, b"hello\0"), b"5 : hello\0");
                assert_eq!(
                    exchange(&path, "한국어".as_bytes()),
                    "9 : 한국어\0".as_bytes()
                );
            }
            // Both read the request head with the same parser: tests/http.rs
            // and tests/websocket.rs cover them over Unix sockets in full.
            "http" => {
                let reply = exchange(&path, b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
                assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
                assert!(reply.ends_with(br#"{"message":"Hello, World!"}"#));
            }
            "websocket" => {
                let reply = exchange(&path, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                assert!(reply.starts_with(b"HTTP/1.1 426 Upgrade Required\r\n"));
            }
            // A browser's GET without Upgrade gets the chat page (the lab).
            "chat" => {
                let reply = exchange(&path, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
                assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
                assert!(reply.ends_with(b"</html>\n"));
            }
            "socketio" => {
                let polling =
                    b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n\r\n";
                let reply = exchange(&path, polling);
                assert!(reply.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn every_service_answers_over_a_unix_datagram_socket_as_over_udp() {
    let dir = Dir::new("dgram");
    let datagram = |name: &&&str| !sockref::builtin(name).unwrap().stream_only();
    for &service in SERVICE_NAMES.iter().filter(datagram) {
        let path = dir.path(service);
        let (_p, line) = serve(&path, &["--service", service, "--proto", "udp"]);
        assert_eq!(
            line,
            format!(
                "listening unixgram {} service={service} workers=1",
                path.display()
            )
        );
        let u = dgram_client(&dir, &format!("{service}-client"));
        match service {
            "echo" => {
                assert_eq!(dgram_exchange(&u, &path, b"datagram"), b"datagram");
                assert_eq!(dgram_exchange(&u, &path, b""), b"");
                let big = random_bytes(9, 65_000);
                assert_eq!(dgram_exchange(&u, &path, &big), big);
            }
            "discard" => {
                u.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                u.send_to(b"into the void", &path).unwrap();
                assert!(
                    u.recv_from(&mut [0u8; 64]).is_err(),
                    "discard must not reply"
                );
            }
            "chargen" => {
                let reply = dgram_exchange(&u, &path, b"any");
                assert_eq!(reply, chargen_pattern(CHARGEN_UDP_LEN));
            }
            "daytime" => check_daytime(dgram_exchange(&u, &path, b"")),
            "time" => check_time(dgram_exchange(&u, &path, b"")),
            "hello" => assert_eq!(dgram_exchange(&u, &path, b"hi"), b"Hello World!\0"),
            "length" => assert_eq!(dgram_exchange(&u, &path, b"abc"), b"3 : abc\0"),
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_datagram_from_an_unnamed_socket_is_dropped_and_counted() {
    let dir = Dir::new("unnamed");
    let path = dir.path("s");
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Udp)
        .max_datagrams(2)
        .start()
        .unwrap();
    let unnamed = UnixDatagram::unbound().unwrap();
    unnamed.send_to(b"nobody to answer", &path).unwrap();
    let named = dgram_client(&dir, "c");
    assert_eq!(dgram_exchange(&named, &path, b"named"), b"named");
    // Both handled: the stop request proves the unnamed one was read too.
    assert!(server.wait(Some(Duration::from_secs(30))));
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(
        (
            stats.datagrams_in,
            stats.datagrams_out,
            stats.dropped_datagrams
        ),
        (2, 1, 1)
    );
    assert!(!path.exists(), "the socket file is removed on stop");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = Dir::new("stale");
    let path = dir.path("s");
    // A server that died without removing its socket: the file stays, and
    // nothing listens on it any more.
    drop(UnixListener::bind(&path).unwrap());
    assert!(UnixStream::connect(&path).is_err());
    let (_p, _) = serve(&path, &[]);
    assert_eq!(exchange(&path, b"fresh"), b"fresh");
    // The same for a datagram socket left behind.
    let gpath = dir.path("g");
    drop(UnixDatagram::bind(&gpath).unwrap());
    let (_g, _) = serve(&gpath, &["--proto", "udp"]);
    let u = dgram_client(&dir, "gc");
    assert_eq!(dgram_exchange(&u, &gpath, b"fresh"), b"fresh");
}

fn run_expecting_failure(path: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin())
        .arg("serve")
        .arg("--addr")
        .arg(format!("unix:{}", path.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_live_socket_is_left_alone_and_the_second_server_says_address_in_use() {
    let dir = Dir::new("live");
    let path = dir.path("s");
    let (_first, _) = serve(&path, &[]);
    let (code, err) = run_expecting_failure(&path, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "sockref: bind() error: {}: Address already in use (os error 98)\n",
            path.display()
        )
    );
    // The first server still owns the path and serves.
    assert_eq!(exchange(&path, b"still mine"), b"still mine");
}

#[test]
fn a_path_that_is_not_a_socket_is_never_removed_or_overwritten() {
    let dir = Dir::new("file");
    let path = dir.path("notes.txt");
    std::fs::write(&path, b"precious").unwrap();
    for proto in ["tcp", "udp"] {
        let (code, err) = run_expecting_failure(&path, &["--proto", proto]);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(
            err,
            format!(
                "sockref: bind() error: {}: exists and is not a socket (left untouched)\n",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }
}

#[test]
fn a_graceful_stop_removes_the_socket_file_and_only_its_own() {
    let dir = Dir::new("stop");
    let path = dir.path("s");
    let mut child = Command::new(bin())
        .arg("serve")
        .arg("--addr")
        .arg(format!("unix:{}", path.display()))
        .arg("--stop-on-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert!(line.starts_with("listening unix "), "{line}");
    assert_eq!(exchange(&path, b"x"), b"x");
    child.stdin.take().unwrap().write_all(b"stop\n").unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!path.exists(), "graceful stop removes the socket file");

    // A library server whose path was taken over by someone else's socket
    // meanwhile leaves that socket alone.
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Tcp)
        .start()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let other = UnixListener::bind(&path).unwrap();
    server.shutdown(Duration::from_secs(1));
    assert!(path.exists(), "another server's socket file is kept");
    drop(other);
}

#[test]
fn the_trace_names_the_path() {
    let dir = Dir::new("trace");
    let path = dir.path("s");
    let (mut p, _) = serve(&path, &["--trace", "--service", "hello"]);
    assert_eq!(
        p.lines[0],
        format!(
            "socket() + bind() + listen() unix {} backlog={}",
            path.display(),
            sockref::limits::unix_listen_backlog()
        )
    );
    assert_eq!(exchange(&path, b""), b"Hello World!\0");
    let accept = p.next_line().unwrap();
    assert!(
        accept.starts_with("accept()   conn=1 peer=(unnamed) worker="),
        "{accept}"
    );
    assert_eq!(p.next_line().unwrap(), "write()    conn=1 bytes=13");

    let gpath = dir.path("g");
    let (mut g, _) = serve(&gpath, &["--trace", "--proto", "udp"]);
    assert_eq!(
        g.lines[0],
        format!("socket() + bind() unixgram {}", gpath.display())
    );
    let u = dgram_client(&dir, "c");
    assert_eq!(dgram_exchange(&u, &gpath, b"hi"), b"hi");
    let client = dir.path("c");
    assert_eq!(
        g.next_line().unwrap(),
        format!("recvfrom() peer={} bytes=2", client.display())
    );
    assert_eq!(
        g.next_line().unwrap(),
        format!("sendto()   peer={} bytes=2", client.display())
    );
}

#[test]
fn the_builder_refuses_both_protocols_on_one_path() {
    let dir = Dir::new("both");
    let path = dir.path("s");
    let err = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Both)
        .start()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("one socket"), "{err}");
    assert!(!path.exists());
}

#[test]
fn sockref_client_and_bench_talk_to_a_unix_server() {
    let dir = Dir::new("tools");
    let path = dir.path("s");
    let addr = format!("unix:{}", path.display());
    let (_p, _) = serve(&path, &[]);
    let out = Command::new(bin())
        .args(["client", &addr, "--", "through the client"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"through the client");
    let out = Command::new(bin())
        .args([
            "bench",
            &addr,
            "--requests",
            "200",
            "--conns",
            "2",
            "--json",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("\"requests\":200"), "{json}");
    assert!(json.contains("\"errors\":0"), "{json}");

    let gpath = dir.path("g");
    let gaddr = format!("unix:{}", gpath.display());
    let (_g, _) = serve(&gpath, &["--proto", "udp"]);
    let out = Command::new(bin())
        .args(["client", &gaddr, "--proto", "udp", "--", "one datagram"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"one datagram");
    let out = Command::new(bin())
        .args([
            "bench",
            &gaddr,
            "--mode",
            "udp",
            "--requests",
            "200",
            "--json",
            "-q",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("\"requests\":200"), "{json}");
}

/// Runs `cmd` with `input` on stdin and returns its stdout (the caller
/// has checked that `cmd` is installed, see tests/common/tools.rs).
fn tool(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd}: {e}"));
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "{cmd}: {out:?}"
    );
    out.stdout
}

#[test]
fn everyday_clients_talk_to_unix_sockets() {
    let dir = Dir::new("tools");
    let path = dir.path("s");
    let p = path.to_str().unwrap();
    let (_s, _) = serve(&path, &[]);
    let nc = tools::need_command("nc", "netcat-openbsd").is_some();
    let socat = tools::need_command("socat", "socat").is_some();
    let python = tools::need_command("python3", "python3").is_some();
    if nc {
        let out = tool("nc", &["-N", "-U", p], b"via nc\n");
        assert_eq!(out, b"via nc\n");
    }
    let connect = format!("UNIX-CONNECT:{p}");
    if socat {
        let out = tool("socat", &["-", &connect], b"via socat\n");
        assert_eq!(out, b"via socat\n");
    }
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(10)\ns.connect({p:?})\n\
         s.sendall(b'via python')\ns.shutdown(socket.SHUT_WR)\nprint(s.recv(100).decode(), end='')\n"
    );
    if python {
        let out = tool("python3", &["-c", &script], b"");
        assert_eq!(out, b"via python");
    }

    let gpath = dir.path("g");
    let g = gpath.to_str().unwrap();
    let (_g, _) = serve(&gpath, &["--proto", "udp"]);
    // nc -uU binds a socket of its own to receive the reply; -w1 ends it
    // one second after the reply (it would otherwise wait for more input).
    if nc {
        let out = tool("nc", &["-uU", "-w1", g], b"via nc -uU\n");
        assert_eq!(out, b"via nc -uU\n");
    }
    let client = dir.path("pyc");
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.settimeout(10)\n\
         s.bind({:?})\ns.sendto(b'via python', {g:?})\nprint(s.recv(100).decode(), end='')\n",
        client.to_str().unwrap()
    );
    if python {
        let out = tool("python3", &["-c", &script], b"");
        assert_eq!(out, b"via python");
    }
}

#[test]
fn a_panicking_handler_over_a_unix_socket_is_traced_then_closed_and_the_worker_serves_on() {
    use sockref::trace::{text_line, Event, Observer};
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl Observer for Lines {
        fn event(&self, event: &Event<'_>) {
            self.0.lock().unwrap().push(text_line(event));
        }
    }
    let dir = Dir::new("panic");
    let path = dir.path("s");
    let lines = Arc::new(Lines::default());
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Tcp)
        .workers(1)
        .observer(lines.clone())
        .service(sockref::tcp_handler("fragile", |conn| {
            let mut word = [0u8; 8];
            let n = conn.read(&mut word)?;
            if &word[..n] == b"panic" {
                panic!("on purpose");
            }
            conn.write_all(&word[..n])
        }))
        .start()
        .unwrap();
    let mut s = stream(&path);
    s.write_all(b"panic").unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest); // closed (or reset) without a reply
    assert!(rest.is_empty());
    // One worker: served only if the panic left it alive.
    assert_eq!(exchange(&path, b"ok"), b"ok");
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!((stats.accepted, stats.closed, stats.panics), (2, 2, 1));
    assert_eq!(
        stats.bytes_in,
        5 + 2,
        "the panicking connection's bytes still count"
    );
    let lines = lines.0.lock().unwrap().clone();
    let at = lines
        .iter()
        .position(|l| l.starts_with("panic "))
        .expect("panic traced");
    assert_eq!(
        lines[at],
        "panic      conn=1 handler panicked: on purpose\n"
    );
    assert!(lines[at + 1].starts_with("close()    conn=1 "), "{lines:?}");
    assert!(lines[at + 1].ends_with(" in=5 out=0\n"), "{lines:?}");
}

#[test]
fn a_live_socket_that_accepts_nobody_is_probed_without_a_connection() {
    let dir = Dir::new("busy");
    let path = dir.path("s");
    // Live, but never accepting: a probe by connect() would wait in its
    // backlog (or be accepted by a healthy server). The datagram probe is
    // refused with "wrong type" at once and leaves no connection behind.
    let live = UnixListener::bind(&path).unwrap();
    let (code, err) = run_expecting_failure(&path, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    live.set_nonblocking(true).unwrap();
    let pending = live.accept().map(drop).map_err(|e| e.kind());
    assert_eq!(
        pending,
        Err(std::io::ErrorKind::WouldBlock),
        "the probe made no connection"
    );
}

#[test]
fn a_datagram_client_that_never_reads_holds_neither_the_worker_nor_the_stop() {
    let dir = Dir::new("noread");
    let path = dir.path("s");
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Udp)
        .start()
        .unwrap();
    // Fills its own receive queue (10 datagrams by default) and more.
    let greedy = UnixDatagram::bind(dir.path("greedy")).unwrap();
    greedy.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    for _ in 0..40 {
        if greedy.send_to(b"never read", &path).is_err() {
            break;
        }
    }
    // Another client is still answered: the worker is not stuck in sendto().
    let polite = dgram_client(&dir, "polite");
    assert_eq!(dgram_exchange(&polite, &path, b"me too"), b"me too");
    // And the stop completes (bounded here so that a hang fails the test).
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(server.shutdown(Duration::from_secs(1)));
    });
    let stats = stopped
        .recv_timeout(Duration::from_secs(60))
        .expect("shutdown returned");
    assert!(
        stats.io_errors > 0,
        "undeliverable replies are counted: {stats}"
    );
    drop(greedy);
}

#[test]
fn a_datagram_from_a_relative_path_is_never_answered() {
    let dir = Dir::new("relative");
    let path = dir.path("s");
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Udp)
        .max_datagrams(1)
        .start()
        .unwrap();
    // A relative name, resolved in this process's working directory: the
    // server (same process, same directory) must not send to it, since in
    // its own directory the name could be another socket.
    let name = format!("sockref-relative-{}.sock", std::process::id());
    let _ = std::fs::remove_file(&name);
    let relative = UnixDatagram::bind(&name).unwrap();
    relative.send_to(b"reply to where?", &path).unwrap();
    assert!(
        server.wait(Some(Duration::from_secs(30))),
        "the datagram was handled"
    );
    let stats = server.shutdown(Duration::from_secs(5));
    let _ = std::fs::remove_file(&name);
    assert_eq!(
        (
            stats.datagrams_in,
            stats.datagrams_out,
            stats.dropped_datagrams
        ),
        (1, 0, 1)
    );
}

#[test]
fn a_panicking_observer_on_the_acceptor_thread_stops_nothing() {
    use sockref::trace::{Event, Observer};
    use sockref::{Limits, Overload};
    use std::sync::Arc;

    /// Panics whenever the acceptor says `busy`.
    struct PanicsOnReject;
    impl Observer for PanicsOnReject {
        fn event(&self, event: &Event<'_>) {
            if matches!(event, Event::Reject { .. }) {
                panic!("observer fails on purpose");
            }
        }
    }
    let dir = Dir::new("acceptor");
    let path = dir.path("s");
    let limits = Limits {
        workers: 1,
        overload: Overload::Reject,
        ..Limits::default()
    };
    let server = ServerBuilder::new()
        .addr(&format!("unix:{}", path.display()))
        .protocols(Protocols::Tcp)
        .limits(limits)
        .observer(Arc::new(PanicsOnReject))
        .start()
        .unwrap();
    // Hold the one worker: echo waits for our end of file.
    let mut held = stream(&path);
    held.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    held.read_exact(&mut b).unwrap();
    // Refused while the worker is busy; the observer panics on each refusal.
    for _ in 0..3 {
        let mut refused = stream(&path);
        let mut out = Vec::new();
        let _ = refused.read_to_end(&mut out);
    }
    drop(held);
    // The acceptor survived: once the worker is free again, a new client is
    // served (until then it may still be told `busy`, which resets what it sent).
    let try_once = || -> std::io::Result<Vec<u8>> {
        let mut s = UnixStream::connect(&path)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.write_all(b"again")?;
        s.shutdown(Shutdown::Write)?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(out)
    };
    let mut busy = 0;
    let served = common::procfs::wait_until(Duration::from_secs(60), || match try_once() {
        Ok(reply) if reply == b"again" => true,
        _ => {
            busy += 1;
            false
        }
    });
    assert!(
        served,
        "the acceptor kept accepting after its observer panicked"
    );
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!(
        (stats.panics, stats.rejected),
        (3 + busy, 3 + busy),
        "{stats}"
    );
    assert_eq!(stats.accepted, stats.closed, "{stats}");
}
