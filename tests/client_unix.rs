//! `sockref client unix:PATH`: the real binary against in-test Unix-domain
//! echo servers (a std `UnixListener` and a `UnixDatagram`) at unique temp
//! paths. Bytes in equal bytes out; failures name the call and the path;
//! the client's own datagram socket file never outlives it.

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

/// Longest any socket here waits: the tests end on their own well before,
/// this only bounds a broken run.
const BOUND: Duration = Duration::from_secs(10);

/// A path no other test (in this process or another) uses.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "sockref-test-{}-{name}-{n}.sock",
        std::process::id()
    ));
    // A run killed before its cleanup leaves its file; a later run that got
    // the same pid would then find the name taken.
    let _ = std::fs::remove_file(&path);
    path
}

/// Removes the test's own socket file however the test ends.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `sockref client ARGS...` with `stdin` fed from a thread; returns the
/// output and the client's pid (its temp socket path contains it).
fn client(args: &[&str], stdin: &[u8]) -> (Output, u32) {
    let mut child: Child = Command::new(env!("CARGO_BIN_EXE_sockref"))
        .arg("client")
        .args(["--timeout", "10"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockref client");
    let pid = child.id();
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for client");
    feeder.join().expect("feeder");
    (out, pid)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The client's own socket files left in the temp directory, if any.
fn leftovers(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("sockref-client-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Echoes one stream connection until its end of file, then closes.
fn stream_echo(path: &Path) -> thread::JoinHandle<usize> {
    let listener = UnixListener::bind(path).expect("bind unix listener");
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.set_read_timeout(Some(BOUND)).expect("timeout");
        conn.set_write_timeout(Some(BOUND)).expect("timeout");
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            let n = conn.read(&mut buf).expect("read");
            if n == 0 {
                return total;
            }
            conn.write_all(&buf[..n]).expect("write");
            total += n;
        }
    })
}

/// Echoes `count` datagrams to whoever sent them; returns the senders.
fn datagram_echo(path: &Path, count: usize) -> thread::JoinHandle<Vec<PathBuf>> {
    let socket = UnixDatagram::bind(path).expect("bind unix datagram");
    thread::spawn(move || {
        socket.set_read_timeout(Some(BOUND)).expect("timeout");
        let mut buf = vec![0u8; 65_536];
        let mut senders = Vec::new();
        for _ in 0..count {
            let (n, from) = socket.recv_from(&mut buf).expect("recv_from");
            let from = from.as_pathname().expect("a named sender").to_path_buf();
            socket.send_to(&buf[..n], &from).expect("send_to");
            senders.push(from);
        }
        senders
    })
}

#[test]
fn stream_relays_stdin_and_half_closes() {
    let path = temp_path("stream");
    let _cleanup = Cleanup(path.clone());
    let server = stream_echo(&path);
    // More than one read buffer, every byte value.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let (o, _) = client(&[&format!("unix:{}", path.display())], &data);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout == data, "stdout differs from stdin");
    assert_eq!(server.join().expect("server"), data.len());
}

#[test]
fn stream_sends_a_message_and_prints_the_reply() {
    let path = temp_path("message");
    let _cleanup = Cleanup(path.clone());
    let server = stream_echo(&path);
    let (o, _) = client(&[&format!("unix:{}", path.display()), "hello"], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"hello");
    assert_eq!(server.join().expect("server"), 5);
}

#[test]
fn datagrams_go_one_per_line_and_the_temp_socket_is_removed() {
    let path = temp_path("dgram");
    let _cleanup = Cleanup(path.clone());
    let server = datagram_echo(&path, 2);
    let addr = format!("unix:{}", path.display());
    let (o, pid) = client(&[&addr, "--proto", "udp"], b"one\ntwo\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"one\ntwo\n");
    let senders = server.join().expect("server");
    assert_eq!(senders.len(), 2);
    let own = std::env::temp_dir().join(format!("sockref-client-{pid}-0.sock"));
    assert!(senders.iter().all(|s| *s == own), "{senders:?}");
    assert!(!own.exists(), "{} left behind", own.display());
    assert!(leftovers(pid).is_empty());
}

#[test]
fn datagram_message_gets_its_reply() {
    let path = temp_path("dgram-msg");
    let _cleanup = Cleanup(path.clone());
    let server = datagram_echo(&path, 1);
    let addr = format!("unix:{}", path.display());
    let (o, pid) = client(&[&addr, "--proto=udp", "ping"], b"");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"ping");
    server.join().expect("server");
    assert!(leftovers(pid).is_empty());
}

#[test]
fn an_absent_path_is_a_connect_error_naming_it() {
    let path = temp_path("absent");
    let (o, _) = client(&[&format!("unix:{}", path.display()), "hi"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sockref: connect() error: {}: No such file or directory (os error 2)\n",
            path.display()
        )
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn a_socket_nobody_listens_on_is_refused() {
    let path = temp_path("stale");
    let _cleanup = Cleanup(path.clone());
    // Bound, then closed: the file stays, nothing accepts.
    drop(UnixListener::bind(&path).expect("bind"));
    let (o, _) = client(&[&format!("unix:{}", path.display()), "hi"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sockref: connect() error: {}: Connection refused (os error 111)\n",
            path.display()
        )
    );
}

#[test]
fn a_failed_datagram_run_removes_the_temp_socket_too() {
    let path = temp_path("dgram-absent");
    let addr = format!("unix:{}", path.display());
    let (o, pid) = client(&[&addr, "--proto", "udp", "hi"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sockref: sendto() error: {}: No such file or directory (os error 2)\n",
            path.display()
        )
    );
    assert!(leftovers(pid).is_empty());
}

#[test]
fn the_trace_names_the_path_and_shows_every_call() {
    let path = temp_path("trace");
    let _cleanup = Cleanup(path.clone());
    let server = stream_echo(&path);
    let (o, _) = client(
        &[&format!("unix:{}", path.display()), "--trace", "--", "hey"],
        b"",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"hey");
    server.join().expect("server");
    let err = stderr(&o);
    let trace: Vec<String> = err
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        trace,
        [
            "socket()",
            "write()",
            "shutdown()",
            "read()",
            "read()",
            "close()"
        ],
        "{err}"
    );
    let first = err.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!(
            "socket() + connect() peer={} local=(unnamed)",
            path.display()
        )
    );
}
