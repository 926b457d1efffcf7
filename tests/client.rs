//! `sockref client`: the textbook client against every service, over TCP and
//! UDP, with a message or as a tiny netcat on stdin, and its one-line errors.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use sockref::client::{self, ClientOptions};
use sockref::service::{chargen_pattern, CHARGEN_UDP_LEN, HELLO_MSG};
use sockref::trace::Proto;
use sockref::{Protocols, ServerBuilder};

/// `sockref client ARGS...`, not yet waited for, with piped stdio.
fn spawn_client(args: &[&str]) -> Child {
    Command::new(bin())
        .arg("client")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockref client")
}

/// Runs the client with `stdin` fed from a thread (so a large input cannot
/// deadlock against a large output) and collects everything.
fn run_client(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn_client(args);
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for client");
    feeder.join().unwrap();
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn serve(service: &str) -> Proc {
    Proc::start(
        &["--service", service, "--workers", "4", "--udp-workers", "1"],
        2,
    )
}

#[test]
fn tcp_message_gets_each_services_reply() {
    let cases: [(&str, &[u8]); 4] = [
        ("echo", b"hello"),
        ("discard", b""),
        ("hello", HELLO_MSG),
        ("length", b"5 : hello\0"),
    ];
    for (service, want) in cases {
        let p = serve(service);
        let o = run_client(&[&p.tcp().to_string(), "--timeout", "10", "hello"], b"");
        assert_eq!(o.status.code(), Some(0), "{service}: {}", stderr(&o));
        assert_eq!(o.stdout, want, "{service}");
        assert!(o.stderr.is_empty(), "{service}: {}", stderr(&o));
    }
    let p = serve("daytime");
    let o = run_client(&[&p.tcp().to_string(), "x"], b"");
    assert!(o.status.success());
    assert!(o.stdout.ends_with(b"-UTC\r\n"), "{:?}", o.stdout);
    let p = serve("time");
    let o = run_client(&[&p.tcp().to_string(), "x"], b"");
    assert!(o.status.success());
    assert_eq!(o.stdout.len(), 4);
}

#[test]
fn udp_message_gets_each_services_reply() {
    let cases: [(&str, Vec<u8>); 4] = [
        ("echo", b"hello".to_vec()),
        ("hello", HELLO_MSG.to_vec()),
        ("length", b"5 : hello\0".to_vec()),
        ("chargen", chargen_pattern(CHARGEN_UDP_LEN)),
    ];
    for (service, want) in cases {
        let p = serve(service);
        let addr = p.udp().to_string();
        let o = run_client(&[&addr, "--proto", "udp", "--timeout", "10", "hello"], b"");
        assert_eq!(o.status.code(), Some(0), "{service}: {}", stderr(&o));
        assert_eq!(o.stdout, want, "{service}");
    }
    for (service, check) in [
        (
            "daytime",
            (|r: &[u8]| r.ends_with(b"-UTC\r\n")) as fn(&[u8]) -> bool,
        ),
        ("time", |r: &[u8]| r.len() == 4),
    ] {
        let p = serve(service);
        let o = run_client(&[&p.udp().to_string(), "--proto", "udp", "x"], b"");
        assert!(o.status.success(), "{service}: {}", stderr(&o));
        assert!(check(&o.stdout), "{service}: {:?}", o.stdout);
    }
}

#[test]
fn udp_without_a_reply_times_out_with_a_message() {
    let p = serve("discard");
    let addr = p.udp();
    let o = run_client(
        &[&addr.to_string(), "--proto=udp", "--timeout=0.3", "anyone?"],
        b"",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sockref: recvfrom() error: {addr}: no reply within 0.300s (the datagram or its \
             reply was lost, or the service sends none)\n"
        )
    );
}

#[test]
fn stdin_is_copied_and_end_of_stdin_half_closes() {
    let mut p = Proc::start(&["--proto", "tcp", "--max-connections", "1"], 1);
    let data = random_bytes(3, 300_000);
    let o = run_client(&[&p.tcp().to_string(), "--timeout", "10"], &data);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Echo closes only after reading end of file: getting everything back
    // and then end of file means the client half-closed at the end of stdin.
    assert_eq!(o.stdout.len(), data.len());
    assert_eq!(fnv1a(&o.stdout), fnv1a(&data));
    assert!(p.child.wait().unwrap().success());
    let stopped = p.next_line().unwrap();
    assert!(
        stopped.contains(&format!("bytes_in={0} bytes_out={0}", data.len())),
        "{stopped}"
    );
}

#[test]
fn stdin_mode_ends_when_the_server_closes_first() {
    // length reads once and closes: the client prints the reply and stops,
    // whatever is left of its input.
    let p = serve("length");
    let big = vec![b'a'; 5000];
    let o = run_client(&[&p.tcp().to_string(), "--timeout", "10"], &big);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.starts_with(b"1024 : aaa"), "{:?}", &o.stdout[..10]);
    assert_eq!(o.stdout.len(), "1024 : ".len() + 1024 + 1);
}

#[test]
fn chargen_until_stdout_closes_then_exit_quietly() {
    let p = serve("chargen");
    let mut child = spawn_client(&[&p.tcp().to_string(), "--timeout", "10"]);
    drop(child.stdin.take()); // end of stdin at once: half-close, keep reading
    let mut out = child.stdout.take().unwrap();
    let mut got = vec![0u8; 10_000];
    out.read_exact(&mut got).unwrap();
    assert_eq!(got, chargen_pattern(10_000));
    drop(out); // like `| head -c 10000`
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
}

#[test]
fn udp_stdin_sends_one_datagram_per_line() {
    let p = serve("length");
    let o = run_client(
        &[&p.udp().to_string(), "--proto", "udp", "--timeout", "10"],
        b"a\nbb\nccc",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Each line keeps its newline, as `nc -u` sends it; the last has none.
    assert_eq!(o.stdout, b"2 : a\n\x003 : bb\n\x003 : ccc\0");
}

#[test]
fn refused_connection_is_one_line_naming_connect() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }; // closed again: nothing listens there now
    let o = run_client(&[&addr.to_string(), "hi"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("sockref: connect() error: {addr}: Connection refused (os error 111)\n")
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn bad_address_is_one_line_naming_getaddrinfo() {
    // `.invalid` never resolves (RFC 2606): a runtime failure, exit 1.
    let o = run_client(&["no.such.host.invalid:80", "hi"], b"");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.starts_with("sockref: getaddrinfo() error: no.such.host.invalid:80: "),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1);
    // A port that is not a number is not an address at all: a usage error.
    let o = run_client(&["127.0.0.1:notaport", "hi"], b"");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "sockref: client: '127.0.0.1:notaport': the port must be a number from 0 to 65535\n"
    );
    // Names resolve too (localhost comes from /etc/hosts, not the network).
    let p = serve("echo");
    let o = run_client(&[&format!("localhost:{}", p.tcp().port()), "hi"], b"");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, b"hi");
}

#[test]
fn a_silent_server_is_a_read_timeout() {
    // Listening, never accepting: the handshake completes in the backlog,
    // and no byte ever comes back.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let o = run_client(&[&addr.to_string(), "--timeout", "0.3", "hello?"], b"");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("sockref: read() error: {addr}: timed out after 0.300s\n")
    );
}

#[test]
fn usage_errors_exit_two() {
    let o = run_client(&[], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("client needs an address"));
    let o = run_client(&["127.0.0.1:1", "--proto", "sctp"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("choose one of: tcp, udp"));
    let o = run_client(&["--help"], b"");
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("socket() -> connect()"));
}

#[test]
fn trace_goes_to_stderr_in_call_order() {
    let p = serve("echo");
    let o = run_client(&[&p.tcp().to_string(), "--trace=json", "hello"], b"");
    assert!(o.status.success());
    assert_eq!(o.stdout, b"hello", "the reply alone on stdout");
    let err = stderr(&o);
    let events: Vec<&str> = err
        .lines()
        .map(|l| {
            assert!(l.starts_with("{\"ts_us\":") && l.ends_with('}'), "{l}");
            let at = l.find("\"event\":\"").expect("event field") + 9;
            &l[at..at + l[at..].find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        events,
        ["connect", "write", "shutdown", "read", "read", "close"]
    );
    assert!(err.contains(&format!("\"peer\":\"{}\"", p.tcp())));

    let o = run_client(
        &[&p.udp().to_string(), "--proto", "udp", "--trace", "hi"],
        b"",
    );
    assert!(o.status.success());
    let lines: Vec<String> = stderr(&o).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("socket() + bind() udp 0.0.0.0:"));
    assert_eq!(lines[1], format!("sendto()   peer={} bytes=2", p.udp()));
    assert_eq!(lines[2], format!("recvfrom() peer={} bytes=2", p.udp()));
}

#[test]
fn the_library_client_takes_any_reader_and_writer() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .workers(2)
        .start()
        .unwrap();
    let opts = ClientOptions {
        addr: server.tcp_addr().unwrap().to_string(),
        proto: Proto::Tcp,
        timeout: Some(Duration::from_secs(10)),
        ..ClientOptions::default()
    };
    let mut out = Vec::new();
    client::run(
        &opts,
        std::io::Cursor::new(b"from a reader".to_vec()),
        &mut out,
        None,
    )
    .unwrap();
    assert_eq!(out, b"from a reader");
    let stats = server.shutdown(Duration::from_secs(5));
    assert_eq!((stats.accepted, stats.bytes_in), (1, 13));
}

#[test]
fn a_reset_from_the_server_is_an_error_naming_read() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let message = "more than one byte";
    let server = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut first = [0u8; 1];
        s.read_exact(&mut first).unwrap();
        // Wait until the rest is queued, unread: closing now makes the
        // kernel send a reset instead of end of file. peek() blocks until
        // data arrives (bounded by the timeout) and never consumes it.
        let mut rest = [0u8; 64];
        loop {
            let queued = s.peek(&mut rest).unwrap();
            assert!(queued > 0, "the client closed before sending its message");
            if queued >= message.len() - 1 {
                break;
            }
        }
        drop(s);
    });
    let o = run_client(&[&addr.to_string(), "--timeout", "10", message], b"");
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("sockref: read() error: {addr}: Connection reset by peer (os error 104)\n")
    );
}

#[test]
fn udp_replies_from_anyone_but_the_server_are_ignored() {
    use std::net::UdpSocket;
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let addr = server.local_addr().unwrap();
    let fake = thread::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, client) = server.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"question");
        // Someone else answers first; the client must wait for the server.
        let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
        stranger.send_to(b"stray", client).unwrap();
        server.send_to(b"answer", client).unwrap();
    });
    let o = run_client(
        &[
            &addr.to_string(),
            "--proto",
            "udp",
            "--timeout",
            "10",
            "question",
        ],
        b"",
    );
    fake.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(o.stdout, b"answer");
}

/// Endless zeros from "stdin", counting what the client took.
struct Zeros {
    taken: std::sync::Arc<std::sync::atomic::AtomicU64>,
    limit: u64,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering;
        let taken = self.taken.load(Ordering::Relaxed);
        let n = (self.limit - taken).min(buf.len() as u64) as usize;
        buf[..n].fill(0);
        self.taken.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[test]
fn stdin_waits_for_a_server_that_does_not_read_instead_of_piling_up() {
    // A server that accepts and never reads: the client's write() blocks
    // once the socket buffers are full, and must stop taking stdin too.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let holder = thread::spawn(move || l.accept().map(|(s, _)| s));
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let offered: u64 = 512 << 20;
    let input = Zeros {
        taken: taken.clone(),
        limit: offered,
    };
    let opts = ClientOptions {
        addr: addr.to_string(),
        timeout: Some(Duration::from_secs(1)),
        ..ClientOptions::default()
    };
    let result = client::run(&opts, input, std::io::sink(), None);
    let held = holder.join().unwrap();
    assert!(result.is_err(), "the write times out");
    // Socket buffers on loopback hold a few MiB; the client may hold 64 KiB
    // more. An unbounded hand-off would have taken all 512 MiB.
    let took = taken.load(std::sync::atomic::Ordering::Relaxed);
    assert!(took < 64 << 20, "client took {took} bytes of stdin");
    drop(held);
}
