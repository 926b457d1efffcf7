//! Every service, over TCP and UDP, byte for byte against its RFC or the
//! textbook program, through the real binary.

mod common;
use common::*;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockref::service::{chargen_pattern, daytime_line, CHARGEN_UDP_LEN};

fn serve(service: &str) -> Proc {
    Proc::start(
        &["--service", service, "--proto", "both", "--workers", "4"],
        2,
    )
}

#[test]
fn listening_lines_name_protocol_address_service_and_workers() {
    let p = serve("echo");
    let l: Vec<&String> = p
        .lines
        .iter()
        .filter(|l| l.starts_with("listening"))
        .collect();
    assert_eq!(l.len(), 2);
    assert_eq!(
        *l[0],
        format!("listening tcp {} service=echo workers=4", p.tcp())
    );
    assert!(l[1].starts_with(&format!("listening udp {} service=echo workers=", p.udp())));
    assert_eq!(p.tcp().port(), p.udp().port());
    assert_ne!(p.tcp().port(), 0);
}

#[test]
fn echo_returns_the_bytes_over_tcp_and_udp() {
    let p = serve("echo");
    let msg = random_bytes(1, 3000);
    assert_eq!(tcp_exchange(p.tcp(), &msg), msg);
    assert_eq!(tcp_exchange(p.tcp(), b""), b"");
    assert_eq!(udp_exchange(p.udp(), b"datagram"), b"datagram");
    assert_eq!(
        udp_exchange(p.udp(), b""),
        b"",
        "zero-length datagram echoed"
    );
    let big = random_bytes(2, 65_507);
    assert_eq!(udp_exchange(p.udp(), &big), big, "largest IPv4 datagram");
}

#[test]
fn discard_answers_nothing() {
    let p = serve("discard");
    assert_eq!(tcp_exchange(p.tcp(), &random_bytes(3, 100_000)), b"");
    let u = udp_client();
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    u.send_to(b"into the void", p.udp()).unwrap();
    let mut buf = [0u8; 64];
    assert!(u.recv_from(&mut buf).is_err(), "discard must not reply");
    // The server is still serving: the same socket's later datagram is also
    // silently read (shown by a TCP exchange still working afterwards).
    assert_eq!(tcp_exchange(p.tcp(), b"x"), b"");
}

#[test]
fn chargen_streams_the_rfc_pattern_from_line_zero() {
    let p = serve("chargen");
    let mut s = connect(p.tcp());
    s.write_all(b"input is ignored").unwrap();
    let want = chargen_pattern(74 * 300);
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
    drop(s);
    let reply = udp_exchange(p.udp(), b"any");
    assert_eq!(reply.len(), CHARGEN_UDP_LEN);
    assert_eq!(reply, chargen_pattern(CHARGEN_UDP_LEN));
    assert_eq!(
        udp_exchange(p.udp(), b""),
        reply,
        "no state between datagrams"
    );
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn daytime_is_one_rfc_867_line_in_utc() {
    let p = serve("daytime");
    for reply in [tcp_read_all(p.tcp()), udp_exchange(p.udp(), b"")] {
        let text = String::from_utf8(reply).unwrap();
        // Accept the line for any second around the exchange.
        let now = unix_now();
        let ok =
            (now - 2..=now + 1).any(|t| text == daytime_line(UNIX_EPOCH + Duration::from_secs(t)));
        assert!(ok, "unexpected daytime line {text:?}");
        assert!(text.ends_with("-UTC\r\n"));
    }
}

#[test]
fn time_is_four_big_endian_bytes_since_1900() {
    let p = serve("time");
    for reply in [tcp_read_all(p.tcp()), udp_exchange(p.udp(), b"")] {
        assert_eq!(reply.len(), 4);
        let secs = u32::from_be_bytes(reply.try_into().unwrap()) as u64;
        let want = (unix_now() + 2_208_988_800) % (1 << 32);
        assert!(want.abs_diff(secs) <= 2, "time {secs} vs {want}");
    }
}

#[test]
fn hello_sends_thirteen_bytes_with_the_nul() {
    let p = serve("hello");
    assert_eq!(tcp_read_all(p.tcp()), b"Hello World!\0");
    assert_eq!(udp_exchange(p.udp(), b"hi"), b"Hello World!\0");
}

#[test]
fn length_replies_like_the_textbook_server() {
    let p = serve("length");
    // The textbook client sends strlen(argv[1]) + 1 bytes: the NUL too.
    assert_eq!(tcp_exchange(p.tcp(), b"hello\0"), b"5 : hello\0");
    assert_eq!(tcp_exchange(p.tcp(), b""), b"0 : \0");
    assert_eq!(
        tcp_exchange(p.tcp(), "한국어".as_bytes()),
        "9 : 한국어\0".as_bytes()
    );
    assert_eq!(udp_exchange(p.udp(), b"abc"), b"3 : abc\0");
    let long = vec![b'z'; 2000];
    let reply = udp_exchange(p.udp(), &long);
    assert_eq!(&reply[..7], b"1024 : ");
    assert_eq!(reply.len(), 7 + 1024 + 1);
}

#[test]
fn length_reply_survives_unread_input() {
    // 5,000 bytes: the service reads 1,024 and replies while 3,976 remain
    // unread. Without the drain before close, the kernel would reset the
    // connection and the reply could be lost.
    let p = serve("length");
    for _ in 0..20 {
        let mut s = connect(p.tcp());
        s.write_all(&vec![b'a'; 5000]).unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        let mut want = b"1024 : ".to_vec();
        want.extend(std::iter::repeat(b'a').take(1024));
        want.push(0);
        // One read() may return fewer than 1024 bytes if the message arrived
        // in pieces; whatever was read must be echoed consistently.
        let n: usize =
            std::str::from_utf8(&reply[..reply.iter().position(|&b| b == b' ').unwrap()])
                .unwrap()
                .parse()
                .unwrap();
        assert!(n > 0 && n <= 1024);
        assert_eq!(reply.len(), n.to_string().len() + 3 + n + 1);
        if n == 1024 {
            assert_eq!(reply, want);
        }
    }
}
