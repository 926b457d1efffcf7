//! `sockref check --service http|websocket`, checked: sockref's own HTTP
//! and WebSocket services pass every check (the `--hostile` ones too) over
//! TCP and a Unix-domain socket, and small deliberately broken servers
//! (std Rust, below), each the correct server with one realistic fault,
//! fail exactly the checks named for that fault and no others.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use sockref::check::{self, CheckOptions};
use sockref::service::websocket::{accept_key, base64, sha1};

/// The checks' wait: generous, so that a loaded machine never turns a slow
/// correct answer into a failure (the verdicts rest on bytes, not on time).
const WAIT: Duration = Duration::from_secs(5);

/// Runs the checks of `service` against `addr`: the names of those that
/// failed, and the summary counts (passed, failed, skipped, noted).
fn run(addr: &str, service: &str, hostile: bool) -> (BTreeSet<String>, check::Summary, String) {
    let opts = CheckOptions {
        addr: Some(addr.to_string()),
        service: service.to_string(),
        hostile,
        wait: WAIT,
        ..CheckOptions::default()
    };
    let mut out = Vec::new();
    let summary = check::run(&opts, &mut out, Box::new(io::sink())).expect("the checks ran");
    let text = String::from_utf8_lossy(&out).into_owned();
    let failed = text
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL  "))
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_string())
        .collect();
    (failed, summary, text)
}

fn assert_all_pass(addr: &str, service: &str) {
    let (failed, summary, text) = run(addr, service, true);
    assert!(
        failed.is_empty(),
        "{service} at {addr} failed {failed:?}:\n{text}"
    );
    assert_eq!(
        (summary.failed, summary.skipped, summary.noted),
        (0, 0, 0),
        "{text}"
    );
    let all = check::checks(service)
        .expect("the service has checks")
        .len();
    assert_eq!(summary.passed, all, "{text}");
}

#[test]
fn sockref_http_and_websocket_pass_every_check_over_tcp() {
    let http = Proc::start(&["--service", "http", "--header-timeout", "2"], 1);
    let ws = Proc::start(&["--service", "websocket"], 1);
    let (h, w) = (http.tcp().to_string(), ws.tcp().to_string());
    let other = thread::spawn(move || assert_all_pass(&w, "websocket"));
    assert_all_pass(&h, "http");
    other.join().expect("the websocket run");
}

#[test]
fn sockref_http_and_websocket_pass_every_check_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("sockref-checkweb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    for service in ["http", "websocket"] {
        let path = dir.join(format!("{service}.sock"));
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--addr")
            .arg(format!("unix:{}", path.display()));
        cmd.args(["--service", service, "--header-timeout", "2"]);
        let p = Proc::spawn(cmd, 1);
        assert_all_pass(&format!("unix:{}", path.display()), service);
        drop(p);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// One realistic fault each: the correct server below with one thing wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// None: the server as it should be.
    Correct,
    /// HTTP: no Date field at all.
    NoDate,
    /// HTTP: Date in asctime() format, `Sun Nov  6 08:49:37 1994`.
    AsctimeDate,
    /// HTTP: what one read() brought past the first request is thrown away.
    DropsPipelined,
    /// HTTP: closes after every response (keep-alive ignored, unannounced).
    ClosesEach,
    /// HTTP: a HEAD response carries GET's body.
    HeadBody,
    /// HTTP: an HTTP/1.0 connection is kept open as if it were 1.1.
    Http10KeepsOpen,
    /// HTTP: a 1.1 request without Host is served.
    NoHostCheck,
    /// HTTP: Content-Length + Transfer-Encoding is read as chunked, and
    /// the connection kept: the bytes after the chunked body are served.
    SmugglesClTe,
    /// HTTP: the head is buffered however large it grows.
    NoHeaderLimit,
    /// HTTP: every method is served as GET.
    AnyMethod,
    /// HTTP: one connection at a time (an iterative server).
    Iterative,
    /// WebSocket: server frames masked, as a client's.
    WsMasked,
    /// WebSocket: the accept is computed without the GUID.
    WsAcceptNoGuid,
    /// WebSocket: pings are not answered.
    WsNoPong,
    /// WebSocket: unmasked client frames are taken.
    WsTakesUnmasked,
    /// WebSocket: text is echoed without a UTF-8 check.
    WsNoUtf8Check,
    /// WebSocket: a FIN 0 frame is echoed as a whole message, continuations
    /// dropped.
    WsNoReassembly,
    /// WebSocket: a close frame is answered by closing the TCP connection.
    WsNoCloseReply,
    /// WebSocket: the 16-bit length is written little-endian.
    WsLittleEndian16,
}

use Fault::*;

/// Starts an HTTP (or, with `ws`, WebSocket) server with `fault` on
/// 127.0.0.1, port 0; its address. Its threads end with the test process
/// (each connection's reads time out).
fn start(fault: Fault, ws: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
            let serve = move || {
                if ws {
                    ws_conn(s, fault)
                } else {
                    http_conn(s, fault)
                }
            };
            if fault == Iterative {
                let _ = serve();
            } else {
                thread::spawn(serve);
            }
        }
    });
    addr
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads more into `buf`; false at the end (or an error).
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16384];
    match s.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// Half-closes, reads what the client still sends (briefly), closes: no
/// reset destroys the last answer.
fn finish(mut s: TcpStream) -> io::Result<()> {
    s.shutdown(Shutdown::Write)?;
    s.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut sink = [0u8; 4096];
    while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}

fn http_date(fault: Fault) -> String {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let fix = sockref::service::http::response::imf_fixdate(secs);
    let fix = String::from_utf8_lossy(&fix).into_owned();
    match fault {
        NoDate => String::new(),
        // "Sun, 06 Nov 1994 08:49:37 GMT" -> "Sun Nov 06 08:49:37 1994"
        AsctimeDate => format!(
            "Date: {} {} {} {} {}\r\n",
            &fix[..3],
            &fix[8..11],
            &fix[5..7],
            &fix[17..25],
            &fix[12..16]
        ),
        _ => format!("Date: {fix}\r\n"),
    }
}

fn respond(
    s: &mut TcpStream,
    fault: Fault,
    status: &str,
    ty: &str,
    body: &[u8],
    close: bool,
    head: bool,
) -> io::Result<()> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nServer: broken\r\n{}",
        http_date(fault)
    )
    .into_bytes();
    out.extend_from_slice(
        format!("Content-Type: {ty}\r\nContent-Length: {}\r\n", body.len()).as_bytes(),
    );
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head || fault == HeadBody {
        out.extend_from_slice(body);
    }
    s.write_all(&out)
}

/// A small HTTP/1.1 server with sockref's routes: /plaintext, /json, POST /echo.
fn http_conn(mut s: TcpStream, fault: Fault) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > 16 * 1024 && fault != NoHeaderLimit {
                respond(
                    &mut s,
                    fault,
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    b"",
                    true,
                    false,
                )?;
                return finish(s);
            }
            if !fill(&mut s, &mut buf) {
                return Ok(());
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let parts: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
        let refuse = |s: &mut TcpStream, status: &str| -> io::Result<()> {
            respond(s, fault, status, "text/plain", b"refused\n", true, false)
        };
        if parts.len() != 3 || !parts[2].starts_with("HTTP/1.") {
            refuse(&mut s, "400 Bad Request")?;
            return finish(s);
        }
        let (method, path, v11) = (
            parts[0],
            parts[1].split('?').next().unwrap_or(""),
            parts[2] == "HTTP/1.1",
        );
        let fields: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let all = |name: &str| {
            fields
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.to_ascii_lowercase())
                .collect::<Vec<_>>()
        };
        let (hosts, lengths, te, conn) = (
            all("host"),
            all("content-length"),
            all("transfer-encoding"),
            all("connection"),
        );
        if v11 && hosts.is_empty() && fault != NoHostCheck {
            refuse(&mut s, "400 Bad Request")?;
            return finish(s);
        }
        if lengths.iter().any(|l| *l != lengths[0])
            || (!te.is_empty() && !lengths.is_empty() && fault != SmugglesClTe)
        {
            refuse(&mut s, "400 Bad Request")?;
            return finish(s);
        }
        let known = matches!(method, "GET" | "HEAD" | "POST");
        if !known && fault != AnyMethod {
            refuse(&mut s, "501 Not Implemented")?;
            return finish(s);
        }
        buf.drain(..end);
        // The body: chunked, or Content-Length bytes.
        let mut body = Vec::new();
        if te.iter().any(|t| t.contains("chunked")) {
            loop {
                let line = loop {
                    if let Some(p) = find(&buf, b"\r\n") {
                        break p;
                    }
                    if !fill(&mut s, &mut buf) {
                        return Ok(());
                    }
                };
                let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line]).trim(), 16)
                    .unwrap_or(0);
                while buf.len() < line + 2 + size + 2 {
                    if !fill(&mut s, &mut buf) {
                        return Ok(());
                    }
                }
                body.extend_from_slice(&buf[line + 2..line + 2 + size]);
                buf.drain(..line + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = lengths.first().and_then(|l| l.parse::<usize>().ok()) {
            while buf.len() < n {
                if !fill(&mut s, &mut buf) {
                    return Ok(());
                }
            }
            body = buf.drain(..n).collect();
        }
        if fault == DropsPipelined {
            buf.clear();
        }
        let persist = if v11 {
            !conn.iter().any(|c| c == "close")
        } else {
            conn.iter().any(|c| c == "keep-alive") || fault == Http10KeepsOpen
        };
        let (method, head) = (if known { method } else { "GET" }, method == "HEAD");
        match (method, path) {
            ("GET" | "HEAD", "/plaintext") => respond(
                &mut s,
                fault,
                "200 OK",
                "text/plain",
                b"Hello, World!",
                !persist,
                head,
            )?,
            ("GET" | "HEAD", "/json") => respond(
                &mut s,
                fault,
                "200 OK",
                "application/json",
                br#"{"message":"Hello, World!"}"#,
                !persist,
                head,
            )?,
            ("POST", "/echo") => respond(
                &mut s,
                fault,
                "200 OK",
                "application/octet-stream",
                &body,
                !persist,
                false,
            )?,
            _ => respond(
                &mut s,
                fault,
                "404 Not Found",
                "text/plain",
                b"no such path\n",
                !persist,
                head,
            )?,
        }
        if !persist || fault == ClosesEach {
            return finish(s);
        }
    }
}

/// Writes a server frame (FIN set) with `fault`'s mistakes.
fn send_frame(s: &mut TcpStream, fault: Fault, opcode: u8, payload: &[u8]) -> io::Result<()> {
    let mask = if fault == WsMasked { 0x80 } else { 0 };
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n <= 125 => f.push(mask | n as u8),
        n if n <= 65535 => {
            f.push(mask | 126);
            let len = n as u16;
            f.extend_from_slice(&if fault == WsLittleEndian16 {
                len.to_le_bytes()
            } else {
                len.to_be_bytes()
            });
        }
        n => {
            f.push(mask | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if fault == WsMasked {
        let k = [1u8, 2, 3, 4];
        f.extend_from_slice(&k);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    s.write_all(&f)
}

fn fail_ws(mut s: TcpStream, fault: Fault, code: u16) -> io::Result<()> {
    send_frame(&mut s, fault, 0x8, &code.to_be_bytes())?;
    finish(s)
}

/// A small WebSocket echo server (RFC 6455).
fn ws_conn(mut s: TcpStream, fault: Fault) -> io::Result<()> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > 16384 || !fill(&mut s, &mut buf) {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let key = head
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_string());
    let Some(key) = key.filter(|k| base64::decode(k.as_bytes()).is_some_and(|n| n.len() == 16))
    else {
        s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return finish(s);
    };
    let accept = if fault == WsAcceptNoGuid {
        let mut a = Vec::new();
        base64::encode(&sha1::sha1(key.as_bytes()), &mut a);
        String::from_utf8_lossy(&a).into_owned()
    } else {
        String::from_utf8_lossy(&accept_key(key.as_bytes())).into_owned()
    };
    let reply = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    s.write_all(reply.as_bytes())?;
    let mut open: Option<(u8, Vec<u8>)> = None;
    loop {
        while buf.len() < 2 {
            if !fill(&mut s, &mut buf) {
                return Ok(());
            }
        }
        let (b0, b1) = (buf[0], buf[1]);
        let (fin, rsv, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x70, b0 & 0x0f, b1 & 0x80 != 0);
        let control = opcode >= 0x8;
        let bad = rsv != 0
            || (!masked && fault != WsTakesUnmasked)
            || !matches!(opcode, 0x0..=0x2 | 0x8..=0xA)
            || (control && (!fin || b1 & 0x7f > 125))
            || (opcode == 0 && open.is_none() && fault != WsNoReassembly);
        if bad {
            return fail_ws(s, fault, 1002);
        }
        let ext = match b1 & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let hlen = 2 + ext + if masked { 4 } else { 0 };
        while buf.len() < hlen {
            if !fill(&mut s, &mut buf) {
                return Ok(());
            }
        }
        let len = match ext {
            0 => u64::from(b1 & 0x7f),
            2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            _ => buf[2..10].iter().fold(0u64, |n, &b| n << 8 | u64::from(b)),
        };
        if len > 1 << 20 {
            return fail_ws(s, fault, 1009);
        }
        let len = len as usize;
        while buf.len() < hlen + len {
            if !fill(&mut s, &mut buf) {
                return Ok(());
            }
        }
        let mut payload = buf[hlen..hlen + len].to_vec();
        if masked {
            let k = [buf[hlen - 4], buf[hlen - 3], buf[hlen - 2], buf[hlen - 1]];
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b ^= k[i % 4]);
        }
        buf.drain(..hlen + len);
        match opcode {
            0x9 if fault != WsNoPong => send_frame(&mut s, fault, 0xA, &payload)?,
            0x9 | 0xA => {}
            0x8 => {
                if fault == WsNoCloseReply {
                    return Ok(());
                }
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                if payload.len() == 1
                    || code.is_some_and(|c| !matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999))
                {
                    return fail_ws(s, fault, 1002);
                }
                send_frame(&mut s, fault, 0x8, &payload[..payload.len().min(2)])?;
                return finish(s);
            }
            _ => {
                if fault == WsNoReassembly {
                    if opcode == 0x1 && std::str::from_utf8(&payload).is_err() {
                        return fail_ws(s, fault, 1007);
                    }
                    if opcode != 0 {
                        send_frame(&mut s, fault, opcode, &payload)?;
                    }
                    continue;
                }
                if opcode != 0 && open.is_some() {
                    return fail_ws(s, fault, 1002);
                }
                let (op, mut msg) = open.take().unwrap_or((opcode, Vec::new()));
                msg.extend_from_slice(&payload);
                if !fin {
                    open = Some((op, msg));
                    continue;
                }
                if op == 0x1 && std::str::from_utf8(&msg).is_err() && fault != WsNoUtf8Check {
                    return fail_ws(s, fault, 1007);
                }
                send_frame(&mut s, fault, op, &msg)?;
            }
        }
    }
}

/// Each fault, its service, and the checks that must fail for it (and only
/// those): the broken-server table.
const TABLE: &[(Fault, &str, &[&str])] = &[
    (NoDate, "http", &["http.tcp.date"]),
    (AsctimeDate, "http", &["http.tcp.date"]),
    (DropsPipelined, "http", &["http.tcp.pipelining"]),
    (
        ClosesEach,
        "http",
        &["http.tcp.keep-alive", "http.tcp.pipelining"],
    ),
    (HeadBody, "http", &["http.tcp.head"]),
    (Http10KeepsOpen, "http", &["http.tcp.http10-close"]),
    (NoHostCheck, "http", &["http.tcp.missing-host"]),
    (SmugglesClTe, "http", &["http.tcp.smuggling-cl-te"]),
    (NoHeaderLimit, "http", &["http.tcp.header-limit"]),
    (AnyMethod, "http", &["http.tcp.unknown-method"]),
    (Iterative, "http", &["http.tcp.concurrent"]),
    (WsMasked, "websocket", &["websocket.tcp.server-unmasked"]),
    (WsAcceptNoGuid, "websocket", &["websocket.tcp.accept"]),
    (
        WsNoPong,
        "websocket",
        &["websocket.tcp.ping", "websocket.tcp.interleaved-ping"],
    ),
    (
        WsTakesUnmasked,
        "websocket",
        &["websocket.tcp.client-unmasked"],
    ),
    (WsNoUtf8Check, "websocket", &["websocket.tcp.invalid-utf8"]),
    (
        WsNoReassembly,
        "websocket",
        &["websocket.tcp.fragmented", "websocket.tcp.interleaved-ping"],
    ),
    (WsNoCloseReply, "websocket", &["websocket.tcp.close"]),
    (WsLittleEndian16, "websocket", &["websocket.tcp.lengths"]),
];

#[test]
fn each_broken_server_fails_exactly_the_checks_named_for_its_fault() {
    // All at once: the runs wait on sockets, not on the CPU.
    let runs: Vec<_> = TABLE
        .iter()
        .map(|&(fault, service, want)| {
            let addr = start(fault, service == "websocket");
            (
                fault,
                want,
                thread::spawn(move || run(&addr, service, false)),
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for (fault, want, handle) in runs {
        let (failed, _, text) = handle.join().expect("a check run");
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        if failed != want {
            wrong.push(format!(
                "{fault:?}: failed {failed:?}, want {want:?}\n{text}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_broken_servers_without_their_fault_pass_but_for_the_head_deadline_they_lack() {
    // The table's servers without their fault: proof that each failure
    // above is the fault's, not the test server's. With --hostile, the
    // HTTP one fails the one rule it never kept: it reads a head for as
    // long as the client trickles it.
    let http = start(Correct, false);
    let ws = start(Correct, true);
    for (addr, service, want) in [
        (http, "http", &["http.tcp.slow-header"][..]),
        (ws, "websocket", &[][..]),
    ] {
        let (failed, _, text) = run(&addr, service, false);
        assert!(failed.is_empty(), "{service}: {failed:?}\n{text}");
        let (failed, _, text) = run(&addr, service, true);
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(failed, want, "{service} --hostile\n{text}");
    }
}
