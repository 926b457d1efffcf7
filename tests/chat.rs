//! `--service chat`: WebSocket rooms. Real clients (Python `websockets`)
//! in a room: every message reaches exactly the others, in order per
//! sender; a member that stops reading is cut (1008) while the room goes
//! on. A std-only client for the close codes, the heartbeat and the stop.

mod common;

use std::io::Write;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::ws::{
    expect_close, frame, open, read_frame, read_head, read_text, send_text, upgrade_request,
};
use common::{connect, tools, Proc};
use sockref::service::Chat;
use sockref::trace::{json_line, text_line};
use sockref::{Event, Limits, Observer, Protocols, ServerBuilder};

/// Opens a member at `target` and waits until it is in its room: the 101
/// goes out before the join, a pong from the member's loop after it.
fn member(addr: std::net::SocketAddr, target: &str) -> std::net::TcpStream {
    let mut s = open(addr, target);
    s.write_all(&frame(9, b"in?")).unwrap();
    assert_eq!(read_frame(&mut s), (10, b"in?".to_vec()));
    s
}

fn python_ok() -> bool {
    tools::need_python_module("websockets", "websockets")
}

fn python(script: &str, args: &[String]) -> Output {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("timeout")
        .arg("120")
        .arg("python3")
        .arg(path)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    eprint!("{stdout}");
    out
}

#[test]
fn every_message_reaches_exactly_the_other_members_in_order_per_sender() {
    if !python_ok() {
        return;
    }
    let p = Proc::start(&["--service", "chat", "--max-message", "65536"], 1);
    let out = python(
        "chat_room.py",
        &[p.tcp().port().to_string(), "5".into(), "50".into()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "5 clients x 50 messages: each got exactly the others', in order",
        "other room heard nothing",
        "oversized message: 1009",
        "room goes on",
        "closed 1000",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}

#[test]
fn a_member_that_stops_reading_is_cut_with_1008_and_the_room_goes_on() {
    if !python_ok() {
        return;
    }
    let p = Proc::start(&["--service", "chat"], 1);
    // 200 messages of 60,000 bytes: 12 MB, far more than a loopback
    // socket's buffers hold for the member that does not read.
    let out = python(
        "chat_stalled.py",
        &[p.tcp().port().to_string(), "200".into()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("the reading member got all 200 messages"),
        "{stdout}"
    );
    assert!(stdout.contains("stalled member cut after "), "{stdout}");
}

#[test]
fn rooms_are_paths_and_other_paths_are_refused() {
    let p = Proc::start(&["--service", "chat"], 1);
    let mut a = member(p.tcp(), "/");
    let mut b = member(p.tcp(), "/");
    let mut x = member(p.tcp(), "/room/x");
    send_text(&mut a, "to the lobby");
    assert_eq!(read_text(&mut b), "to the lobby");
    send_text(&mut x, "alone in x");
    send_text(&mut b, "lobby again");
    assert_eq!(read_text(&mut a), "lobby again", "x's message went nowhere");
    for (target, status) in [
        ("/other", "404"),
        ("/room/", "400"),
        ("/room/a/b", "400"),
        (&format!("/room/{}", "n".repeat(65)), "400"),
    ] {
        let mut s = connect(p.tcp());
        s.write_all(upgrade_request(target).as_bytes()).unwrap();
        let head = read_head(&mut s);
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{target}: {head}"
        );
    }
}

#[test]
fn broken_frames_get_their_close_codes_and_the_room_goes_on() {
    let p = Proc::start(&["--service", "chat"], 1);
    let mut stays = member(p.tcp(), "/room/r");
    let mut other = member(p.tcp(), "/room/r");
    // RFC 6455 §5.1: unmasked.
    let mut s = open(p.tcp(), "/room/r");
    s.write_all(&[0x81, 0x01, b'x']).unwrap();
    expect_close(&mut s, 1002);
    // §8.1: not UTF-8.
    let mut s = open(p.tcp(), "/room/r");
    s.write_all(&frame(1, b"\xff")).unwrap();
    expect_close(&mut s, 1007);
    // §5.2: a 64-bit length with its top bit set is a protocol error (as
    // the echo says), not a message too big, and no overflow.
    let mut s = open(p.tcp(), "/room/r");
    s.write_all(&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4])
        .unwrap();
    expect_close(&mut s, 1002);
    // A ping is answered with a pong (§5.5.2) by the member's own thread.
    stays.write_all(&frame(9, b"p")).unwrap();
    assert_eq!(read_frame(&mut stays), (10, b"p".to_vec()));
    send_text(&mut other, "still here");
    assert_eq!(read_text(&mut stays), "still here");
    // A close is answered with its code (§5.5.1).
    stays.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    expect_close(&mut stays, 1000);
}

#[test]
fn an_unanswered_ping_closes_with_1011() {
    let p = Proc::start(
        &[
            "--service",
            "chat",
            "--ping-interval",
            "0.1",
            "--ping-timeout",
            "0.2",
        ],
        1,
    );
    let mut s = open(p.tcp(), "/");
    // A ping after the interval of silence; not answered: 1011.
    assert_eq!(read_frame(&mut s).0, 9);
    let reason = expect_close(&mut s, 1011);
    assert!(reason.contains("no pong"), "{reason}");
    // A member that answers stays: two pings answered, then it is alive.
    let mut s = open(p.tcp(), "/");
    for _ in 0..2 {
        let (op, payload) = read_frame(&mut s);
        assert_eq!(op, 9);
        s.write_all(&frame(10, &payload)).unwrap();
    }
    s.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    expect_close(&mut s, 1000);
}

/// Every event's text and JSON trace lines, in order.
#[derive(Default)]
struct Lines(Mutex<Vec<(String, String)>>);

impl Observer for Lines {
    fn event(&self, event: &Event<'_>) {
        let mut lines = self.0.lock().unwrap();
        lines.push((text_line(event), json_line(event)));
    }
}

#[test]
fn a_heartbeat_tick_traces_as_a_timed_out_read_not_an_error_and_counts_no_timeout() {
    let lines = Arc::new(Lines::default());
    let limits = Limits {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .limits(limits)
        .service(Chat::new())
        .observer(lines.clone())
        .workers(2)
        .start()
        .unwrap();
    let mut s = open(server.tcp_addr().unwrap(), "/");
    // Two ticks of the heartbeat: each a read() the timer cut, then a ping.
    for _ in 0..2 {
        let (op, payload) = read_frame(&mut s);
        assert_eq!(op, 9);
        s.write_all(&frame(10, &payload)).unwrap();
    }
    s.write_all(&frame(8, &1000u16.to_be_bytes())).unwrap();
    expect_close(&mut s, 1000);
    drop(s);
    let stats = server.shutdown(Duration::from_secs(5));
    let lines = lines.0.lock().unwrap();
    let text: String = lines.iter().map(|(t, _)| t.as_str()).collect();
    let counted = (stats.timed_out, stats.io_errors, stats.reset);
    assert_eq!(counted, (0, 0, 0), "{stats:?}\n{text}");
    let tick = "read()     timed out conn=1: heartbeat due\n";
    assert!(text.matches(tick).count() >= 2, "{text}");
    assert!(!text.contains(" error"), "{text}");
    // The ping follows the tick (RFC 6455 §5.5.2: an empty ping, 2 bytes).
    let after = &text[text.find(tick).unwrap() + tick.len()..];
    assert!(after.starts_with("write()    conn=1 bytes=2\n"), "{text}");
    let json: Vec<&str> = lines.iter().map(|(_, j)| j.as_str()).collect();
    let wake = json
        .iter()
        .find(|j| j.contains("\"event\":\"wake\""))
        .unwrap();
    assert!(
        wake.contains(
            "\"call\":\"read()\",\"event\":\"wake\",\"conn\":1,\"what\":\"heartbeat due\"}"
        ),
        "{wake}"
    );
    assert!(
        json.iter().all(|j| !j.contains("\"event\":\"error\"")),
        "{json:?}"
    );
}

#[test]
fn a_full_room_is_refused_with_1013() {
    let chat = Arc::new(Chat::new());
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .service_arc(chat.clone())
        .workers(sockref::limits::CHAT_ROOM_MEMBERS + 2)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let members: Vec<_> = (0..sockref::limits::CHAT_ROOM_MEMBERS)
        .map(|_| member(addr, "/room/full"))
        .collect();
    let mut one_more = open(addr, "/room/full");
    let reason = expect_close(&mut one_more, 1013);
    assert!(reason.contains("room full"), "{reason}");
    assert_eq!(chat.members("full"), sockref::limits::CHAT_ROOM_MEMBERS);
    drop(members);
    drop(server);
}

#[test]
fn the_stop_closes_every_member_with_1001() {
    let server = ServerBuilder::new()
        .addr("127.0.0.1:0")
        .protocols(Protocols::Tcp)
        .service(Chat::new())
        .workers(4)
        .start()
        .unwrap();
    let addr = server.tcp_addr().unwrap();
    let mut a = member(addr, "/room/s");
    let mut b = member(addr, "/room/s");
    send_text(&mut b, "joined");
    assert_eq!(read_text(&mut a), "joined");
    let stopper = thread::spawn(move || server.shutdown(Duration::from_millis(50)));
    for s in [&mut a, &mut b] {
        let reason = expect_close(s, 1001);
        assert_eq!(reason, "server stopping");
    }
    let stats = stopper.join().unwrap();
    assert_eq!(stats.closed, 2);
}
