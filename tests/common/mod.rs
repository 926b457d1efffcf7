//! Shared test helpers: start the real binary or the library on port 0,
//! wait for the ready signal, talk to it over 127.0.0.1 with bounded timeouts.
#![allow(dead_code)]

pub mod procfs;
pub mod tools;
pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Every socket a test opens gets this timeout: a broken server fails the
/// test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a server may take to print its ready signal before the test
/// gives up on it (a bound, never a wait: tests read the signal itself).
pub const READY_LIMIT: Duration = Duration::from_secs(60);

/// Path of the `sockref` binary cargo built for these tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sockref")
}

/// A `sockref serve` child process, killed on drop.
pub struct Proc {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub tcp: Option<SocketAddr>,
    pub udp: Option<SocketAddr>,
    /// The path of a Unix-domain socket (`listening unix|unixgram PATH`).
    pub unix: Option<std::path::PathBuf>,
    /// Lines read from stdout before (and including) the listening lines.
    pub lines: Vec<String>,
}

impl Proc {
    /// Starts `sockref serve --addr 127.0.0.1:0 ARGS...` and reads stdout
    /// until one `listening` line per protocol has been printed (the ready
    /// signal). `protos` is how many listening lines to expect.
    pub fn start(args: &[&str], protos: usize) -> Proc {
        let mut cmd = Command::new(bin());
        cmd.arg("serve").arg("--addr").arg("127.0.0.1:0").args(args);
        Self::spawn(cmd, protos)
    }

    /// Like [`Proc::start`] with a prepared command (for `prlimit` etc.).
    pub fn spawn(mut cmd: Command, protos: usize) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn sockref");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        // A server that hangs before its ready signal must fail the test,
        // not hang it: past READY_LIMIT the watchdog kills it, and the read
        // below sees end of file.
        let (ready, watchdog) = std::sync::mpsc::channel::<()>();
        let pid = child.id().to_string();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                watchdog.recv_timeout(READY_LIMIT)
            {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        });
        let (mut tcp, mut udp, mut unix, mut lines) = (None, None, None, Vec::new());
        let mut line = String::new();
        while usize::from(tcp.is_some()) + usize::from(udp.is_some()) + usize::from(unix.is_some())
            < protos
        {
            line.clear();
            let n = stdout.read_line(&mut line).expect("read stdout");
            if n == 0 {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                let _ = child.wait();
                panic!("sockref exited before listening: {lines:?} {err}");
            }
            let l = line.trim_end().to_string();
            if let Some(rest) = l.strip_prefix("listening ") {
                let mut parts = rest.split_whitespace();
                let proto = parts.next().unwrap();
                let addr = parts.next().unwrap();
                match proto {
                    "tcp" => tcp = Some(addr.parse().unwrap()),
                    "udp" => udp = Some(addr.parse().unwrap()),
                    "unix" | "unixgram" => unix = Some(addr.into()),
                    other => panic!("unexpected protocol {other}"),
                }
            }
            lines.push(l);
        }
        let _ = ready.send(());
        Proc {
            child,
            stdout,
            tcp,
            udp,
            unix,
            lines,
        }
    }

    pub fn tcp(&self) -> SocketAddr {
        self.tcp.expect("tcp address")
    }

    pub fn udp(&self) -> SocketAddr {
        self.udp.expect("udp address")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads one more stdout line (None at EOF).
    pub fn next_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_string()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects with the standard timeouts set.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Sends `request`, half-closes, reads everything until the server closes.
pub fn tcp_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    if !request.is_empty() {
        s.write_all(request).expect("write");
    }
    s.shutdown(Shutdown::Write).expect("shutdown");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read_to_end");
    out
}

/// Reads until the server closes, without sending anything first.
pub fn tcp_read_all(addr: SocketAddr) -> Vec<u8> {
    let mut s = connect(addr);
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read_to_end");
    out
}

/// A UDP socket on 127.0.0.1 with the standard timeout.
pub fn udp_client() -> UdpSocket {
    let u = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    u.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    u
}

/// Sends one datagram and returns the reply.
pub fn udp_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let u = udp_client();
    u.send_to(request, addr).expect("sendto");
    let mut buf = vec![0u8; 65_536];
    let (n, from) = u.recv_from(&mut buf).expect("recvfrom");
    assert_eq!(from, addr);
    buf.truncate(n);
    buf
}

/// Deterministic pseudo-random bytes (xorshift64*), std only.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// FNV-1a 64-bit hash, for comparing large payloads cheaply.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The number after `"key":` in a one-line JSON object.
pub fn field(json: &str, key: &str) -> f64 {
    let pat = format!("\"{key}\":");
    let start = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}
