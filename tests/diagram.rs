//! `sockref diagram`: the figure drawn from checked-in traces of real runs
//! matches the checked-in expected output byte for byte (text, Mermaid),
//! the SVG is well-formed XML with one call element per traced call, a
//! damaged trace is refused with its file and line, and a live run of the
//! real server and client draws its own exchange.
//!
//! The fixtures under `tests/fixtures/diagram/` are real: `tcp_server.jsonl`
//! is the stdout of `sockref serve --proto tcp --trace=json
//! --max-connections 2` while `sockref client ADDR --trace=json hello` and
//! `... "second one"` ran (their stderr appended in `tcp_client.jsonl`);
//! `udp_*.jsonl` the same over UDP with `--max-datagrams 2`. To redraw the
//! expected files after a deliberate change of the figure, run the commands
//! in each test's message and read the diff.

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{bin, Proc};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/diagram")
        .join(name)
}

fn read(name: &str) -> String {
    fs::read_to_string(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn diagram(args: &[&str]) -> Output {
    Command::new(bin())
        .arg("diagram")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sockref diagram")
}

fn stdout_of(args: &[&str]) -> String {
    let out = diagram(args);
    assert!(
        out.status.success(),
        "sockref diagram {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn path(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// A file in the temp directory, unique to this process and test.
fn temp(name: &str, contents: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("sockref-diagram-{}-{name}", std::process::id()));
    fs::write(&p, contents).expect("write temp file");
    p
}

fn assert_same(got: &str, expected: &str, redraw: &str) {
    if got != expected {
        let first = got
            .lines()
            .zip(expected.lines())
            .position(|(g, e)| g != e)
            .unwrap_or(got.lines().count().min(expected.lines().count()));
        panic!(
            "differs from {expected_file} at line {line}:\n--- got ---\n{got}\n(redraw: {redraw})",
            expected_file = redraw.rsplit(' ').next().unwrap_or(""),
            line = first + 1
        );
    }
}

#[test]
fn the_diagram_page_shows_what_sockref_diagram_draws() {
    let page =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/diagram.md"))
            .unwrap();
    let block = page
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/diagram.md has a mermaid block");
    let drawn = stdout_of(&[
        &path("readme_server.jsonl"),
        "--client",
        &path("readme_client.jsonl"),
        "--format",
        "mermaid",
    ]);
    assert_same(
        block,
        &drawn,
        "sockref diagram readme_server.jsonl --client readme_client.jsonl --format mermaid, into docs/diagram.md",
    );
}

/// JSON lines in a trace: the calls it reports.
fn events(name: &str) -> usize {
    read(name).lines().filter(|l| l.starts_with('{')).count()
}

#[test]
fn tcp_text_matches_the_expected_figure() {
    let got = stdout_of(&[
        &path("tcp_server.jsonl"),
        "--client",
        &path("tcp_client.jsonl"),
    ]);
    assert_same(
        &got,
        &read("tcp.txt"),
        "sockref diagram tcp_server.jsonl --client tcp_client.jsonl > tcp.txt",
    );
}

#[test]
fn tcp_mermaid_matches_the_expected_figure() {
    let got = stdout_of(&[
        &path("tcp_server.jsonl"),
        "--client",
        &path("tcp_client.jsonl"),
        "--format",
        "mermaid",
    ]);
    assert_same(
        &got,
        &read("tcp.mmd"),
        "sockref diagram tcp_server.jsonl --client tcp_client.jsonl --format mermaid > tcp.mmd",
    );
    assert!(got.starts_with("sequenceDiagram\n"));
}

#[test]
fn without_the_client_trace_the_client_side_is_inferred_and_said_so() {
    let got = stdout_of(&[&path("tcp_server.jsonl")]);
    assert_same(
        &got,
        &read("tcp_inferred.txt"),
        "sockref diagram tcp_server.jsonl > tcp_inferred.txt",
    );
    assert!(got.contains("note: client side inferred"), "{got}");
    assert!(
        got.contains("[connect()]") && got.contains("[write() = 5]"),
        "{got}"
    );
}

#[test]
fn udp_datagrams_are_drawn_per_peer_from_sendto_to_recvfrom() {
    let args = [
        path("udp_server.jsonl"),
        "--client".into(),
        path("udp_client.jsonl"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let got = stdout_of(&args);
    assert_same(
        &got,
        &read("udp.txt"),
        "sockref diagram udp_server.jsonl --client udp_client.jsonl > udp.txt",
    );
    assert_eq!(
        got.matches("== datagrams: client 127.0.0.1:").count(),
        2,
        "{got}"
    );
    assert!(
        !got.contains("SYN") && !got.contains("FIN"),
        "UDP has no connection: {got}"
    );
    let mut m = args.clone();
    m.extend(["--format", "mermaid"]);
    assert_same(
        &stdout_of(&m),
        &read("udp.mmd"),
        "sockref diagram udp_server.jsonl --client udp_client.jsonl --format mermaid > udp.mmd",
    );
}

#[test]
fn text_fits_an_80_column_terminal() {
    for name in ["tcp.txt", "tcp_inferred.txt", "udp.txt"] {
        for l in read(name).lines() {
            assert!(
                l.chars().count() < 80,
                "{name}: {} columns: {l}",
                l.chars().count()
            );
        }
    }
}

/// A minimal XML well-formedness check, std only: tags balance, attribute
/// values are quoted, `&` starts a known entity, no raw `<` in text.
/// Returns the start tags as written (without `<` `>`).
fn check_xml(doc: &str) -> Result<Vec<String>, String> {
    fn entities_ok(s: &str) -> bool {
        s.split('&').skip(1).all(|rest| {
            let name = rest.split(';').next().unwrap_or("");
            rest.contains(';')
                && (["amp", "lt", "gt", "quot", "apos"].contains(&name)
                    || (name.starts_with('#') && name.len() > 1))
        })
    }
    let mut stack: Vec<String> = Vec::new();
    let mut starts = Vec::new();
    let mut rest = doc.strip_prefix("<?xml").ok_or("no XML declaration")?;
    rest = &rest[rest.find("?>").ok_or("unclosed declaration")? + 2..];
    let mut root_seen = false;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if !entities_ok(text) || text.contains('>') {
            return Err(format!("bad text: {text:?}"));
        }
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        let gt = rest[lt..].find('>').ok_or("unclosed tag")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad tag name in <{tag}>"));
        }
        // Attributes: name="value" pairs, values escaped.
        let mut attrs = body[name.len()..].trim();
        while !attrs.is_empty() {
            let eq = attrs
                .find("=\"")
                .ok_or_else(|| format!("unquoted attribute in <{tag}>"))?;
            let value_end = attrs[eq + 2..].find('"').ok_or("unclosed attribute")? + eq + 2;
            let value = &attrs[eq + 2..value_end];
            if value.contains('<') || !entities_ok(value) {
                return Err(format!("bad attribute value in <{tag}>"));
            }
            attrs = attrs[value_end + 1..].trim_start();
        }
        if stack.is_empty() {
            if root_seen {
                return Err("two root elements".into());
            }
            root_seen = true;
        }
        starts.push(body.to_string());
        if !self_closing {
            stack.push(name);
        }
    }
    if !rest.trim().is_empty() {
        return Err(format!("text after the root: {rest:?}"));
    }
    match stack.last() {
        Some(open) => Err(format!("<{open}> never closed")),
        None if root_seen => Ok(starts),
        None => Err("no root element".into()),
    }
}

#[test]
fn the_xml_checker_can_fail() {
    assert!(check_xml("<?xml version=\"1.0\"?>\n<svg><g></g></svg>\n").is_ok());
    for bad in [
        "<?xml?><svg><g></svg>",
        "<?xml?><svg>a < b</svg>",
        "<?xml?><svg>AT&T</svg>",
        "<?xml?><svg><g class=call></g></svg>",
        "<?xml?><svg></svg><svg></svg>",
        "<svg></svg>",
    ] {
        assert!(check_xml(bad).is_err(), "{bad}");
    }
}

#[test]
fn svg_is_well_formed_with_one_call_element_per_traced_call() {
    let out = temp("tcp.svg", "");
    stdout_of(&[
        &path("tcp_server.jsonl"),
        "--client",
        &path("tcp_client.jsonl"),
        "--format",
        "svg",
        "-o",
        &out.to_string_lossy(),
    ]);
    let svg = fs::read_to_string(&out).expect("svg written");
    let _ = fs::remove_file(&out);
    let starts = check_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
    assert!(
        starts[0].starts_with("svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{}",
        starts[0]
    );
    let calls = starts
        .iter()
        .filter(|t| t.as_str() == "g class=\"call\"")
        .count();
    assert_eq!(
        calls,
        events("tcp_server.jsonl") + events("tcp_client.jsonl")
    );
    // Standalone: nothing fetched from anywhere.
    for outside in ["href", "<image", "<script", "@import", "url(http"] {
        assert!(!svg.contains(outside), "{outside} in the SVG");
    }
    // The server's trace alone: its calls, and the client's inferred ones apart.
    let svg = stdout_of(&[&path("udp_server.jsonl"), "--format", "svg"]);
    let starts = check_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    let count = |class: &str| {
        starts
            .iter()
            .filter(|t| **t == format!("g class=\"{class}\""))
            .count()
    };
    assert_eq!(count("call"), events("udp_server.jsonl"));
    assert_eq!(count("inferred"), 2, "one sendto() per datagram received");
}

#[test]
fn svg_escapes_text_from_the_trace() {
    let trace = temp(
        "escape.jsonl",
        "{\"event\":\"accept\",\"conn\":1,\"peer\":\"127.0.0.1:5000\",\"worker\":0}\n\
         {\"event\":\"error\",\"conn\":1,\"failed\":\"handler\",\"error\":\"<&> \\\"quoted\\\" 'it' ; #1\"}\n",
    );
    let svg = stdout_of(&[&trace.to_string_lossy(), "--format", "svg"]);
    let mermaid = stdout_of(&[&trace.to_string_lossy(), "--format", "mermaid"]);
    let _ = fs::remove_file(&trace);
    check_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}\n{svg}"));
    assert!(
        svg.contains("&lt;&amp;&gt; &quot;quoted&quot; &apos;it&apos;"),
        "{svg}"
    );
    assert!(
        mermaid.contains("#60;#38;#62; \"quoted\" 'it' #59; #35;1"),
        "{mermaid}"
    );
}

#[test]
fn a_damaged_line_is_named_by_file_and_line() {
    let good = read("tcp_server.jsonl");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(3, "{\"ts_us\":1,\"event\":\"read\",\"conn\":1,\"bytes\":5");
    let trace = temp("damaged.jsonl", &lines.join("\n"));
    let name = trace.to_string_lossy().into_owned();
    let out = diagram(&[&name]);
    let _ = fs::remove_file(&trace);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!("sockref: diagram: {name}:4: malformed JSON at column 45: expected ',' or '}}', found the end of the line")
    );

    // The client's trace is checked the same way.
    let client = temp("damaged-client.jsonl", "{\"event\":\"write\",\"conn\":1}\n");
    let cname = client.to_string_lossy().into_owned();
    let out = diagram(&[&path("tcp_server.jsonl"), "--client", &cname]);
    let _ = fs::remove_file(&client);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{cname}:1: a \"write\" event needs a number \"bytes\""
        )),
        "{err}"
    );
}

#[test]
fn a_text_trace_or_a_missing_file_is_refused_with_what_to_do() {
    let text = temp(
        "text.trace",
        "accept()   conn=1 peer=127.0.0.1:53122 worker=3\n",
    );
    let name = text.to_string_lossy().into_owned();
    let out = diagram(&[&name]);
    let _ = fs::remove_file(&text);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace=json"));
    let out = diagram(&["/nonexistent/server.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("read() error: /nonexistent/server.jsonl: No such file"),
        "{err}"
    );
    assert_eq!(diagram(&[]).status.code(), Some(2));
    assert_eq!(diagram(&["x", "--format", "png"]).status.code(), Some(2));
}

#[test]
fn the_server_trace_can_come_from_stdin() {
    let mut child = Command::new(bin())
        .args(["diagram", "-", "--format", "mermaid"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let trace = read("udp_server.jsonl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(trace.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let got = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        got,
        stdout_of(&[&path("udp_server.jsonl"), "--format", "mermaid"])
    );
}

#[test]
fn many_connections_are_capped_and_long_ones_folded() {
    let mut trace = String::from(
        "{\"event\":\"listen\",\"proto\":\"tcp\",\"addr\":\"127.0.0.1:4000\",\"backlog\":128}\n",
    );
    for conn in 1..=12 {
        trace.push_str(&format!(
            "{{\"event\":\"accept\",\"conn\":{conn},\"peer\":\"127.0.0.1:{}\",\"worker\":0}}\n",
            5000 + conn
        ));
        for _ in 0..100 {
            trace.push_str(&format!(
                "{{\"event\":\"write\",\"conn\":{conn},\"bytes\":74}}\n"
            ));
        }
        trace.push_str(&format!("{{\"event\":\"close\",\"conn\":{conn}}}\n"));
    }
    let file = temp("many.jsonl", &trace);
    let name = file.to_string_lossy().into_owned();
    let got = stdout_of(&[&name]);
    let all = stdout_of(&[&name, "--connections", "0", "--calls", "0"]);
    let _ = fs::remove_file(&file);
    assert_eq!(got.matches("== connection ").count(), 8, "{got}");
    assert!(
        got.contains("note: 4 more connections or peers not drawn"),
        "{got}"
    );
    assert_eq!(
        got.matches("... 79 calls folded: server write() x79 (5846 bytes) ...")
            .count(),
        8
    );
    assert!(got.lines().count() < 500, "{} lines", got.lines().count());
    assert_eq!(all.matches("== connection ").count(), 12);
    assert_eq!(all.matches("| write() = 74").count(), 1200);
}

/// The whole path a teacher takes: run the real server and client with
/// `--trace=json`, capture both, draw them.
#[test]
fn a_live_exchange_draws_itself() {
    let mut server = Proc::start(
        &[
            "--proto",
            "tcp",
            "--trace=json",
            "--max-connections",
            "1",
            "--workers",
            "1",
        ],
        1,
    );
    let addr = server.tcp().to_string();
    let client = Command::new(bin())
        .args(["client", &addr, "--trace=json", "--timeout", "10", "hello"])
        .stdin(Stdio::null())
        .output()
        .expect("run client");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    assert_eq!(client.stdout, b"hello");
    // The server stops by itself after its one connection: read to the end.
    let mut lines = server.lines.clone();
    while let Some(l) = server.next_line() {
        lines.push(l);
    }
    assert!(
        lines.last().is_some_and(|l| l.starts_with("stopped ")),
        "{lines:?}"
    );
    let server_trace = temp("live-server.jsonl", &(lines.join("\n") + "\n"));
    let client_trace = temp(
        "live-client.jsonl",
        &String::from_utf8_lossy(&client.stderr),
    );
    let (s, c) = (
        server_trace.to_string_lossy().into_owned(),
        client_trace.to_string_lossy().into_owned(),
    );
    let text = stdout_of(&[&s, "--client", &c]);
    let mermaid = stdout_of(&[&s, "--client", &c, "--format", "mermaid"]);
    let svg = stdout_of(&[&s, "--client", &c, "--format", "svg"]);
    let _ = (
        fs::remove_file(&server_trace),
        fs::remove_file(&client_trace),
    );

    let client_port = String::from_utf8_lossy(&client.stderr)
        .split("\"local\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the client's trace names its local address")
        .to_string();
    assert!(
        text.contains(&format!("sockref diagram: server tcp {addr}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("== connection 1: client {client_port}, worker 0 ")),
        "{text}"
    );
    assert!(
        text.contains("note: client trace matched to the server's by address"),
        "{text}"
    );
    assert!(!text.contains('['), "nothing inferred: {text}");
    // Each call of the textbook sequence, on its side, in causal order.
    // Where accept() falls against the client's write() is the clocks' call
    // (the client need not wait for it), so it is checked on its own chain.
    let chains: [&[&str]; 2] = [
        &[
            "socket() + connect()   |",
            "|............ SYN ............>|",
            "|<.......... SYN-ACK ..........|",
            "|............ ACK ............>|",
            "| accept()",
            "| read() = 5",
        ],
        &[
            "|............ ACK ............>|",
            "write() = 5            |",
            "|---------- 5 bytes ---------->|",
            "| read() = 5",
            "|<---------- 5 bytes ----------|",
            "| read() = 0 (EOF)",
            "| close()",
            "read() = 0 (EOF)       |",
            "close()                |",
        ],
    ];
    for chain in chains {
        let mut from = 0;
        for step in chain {
            let at = text[from..]
                .find(step)
                .unwrap_or_else(|| panic!("{step:?} missing or out of order:\n{text}"));
            from += at + step.len();
        }
    }
    // One FIN from each side, each acknowledged.
    assert_eq!(text.matches(" FIN ").count(), 2, "{text}");
    assert_eq!(text.matches(" ACK ").count(), 3, "{text}");
    assert!(
        mermaid.contains("    C->>S: 5 bytes\n") && mermaid.contains("    S->>C: 5 bytes\n"),
        "{mermaid}"
    );
    let starts = check_xml(&svg).unwrap_or_else(|e| panic!("not well-formed: {e}"));
    let calls = starts
        .iter()
        .filter(|t| t.as_str() == "g class=\"call\"")
        .count();
    let traced = lines.iter().filter(|l| l.starts_with('{')).count()
        + String::from_utf8_lossy(&client.stderr)
            .lines()
            .filter(|l| l.starts_with('{'))
            .count();
    assert_eq!(calls, traced);
}
