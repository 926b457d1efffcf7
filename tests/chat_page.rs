//! The chat lab: `GET /` of `--service chat` is a page whose script joins
//! the room of its own path with the browser's WebSocket; two headless
//! Chromium pages in one room exchange a message through the server.
//! Chromium is driven over its DevTools protocol (a WebSocket too), with
//! the std-only frame code of tests/common/ws.rs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::ws::{frame, read_frame};
use common::{connect, Proc};

/// One request, the whole answer (the server closes after the page).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = connect(addr);
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn get_slash_is_a_page_that_joins_the_room_of_its_own_path() {
    let p = Proc::start(&["--service", "chat"], 1);
    for path in ["/", "/room/lab1"] {
        let page = get(p.tcp(), path);
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("\r\nContent-Type: text/html; charset=utf-8\r\n"));
        assert!(page.contains("connect-src 'self'"), "{page}");
        // The socket goes back to the page's own host and path: the room.
        assert!(page.contains(r#"const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + location.pathname;"#), "{page}");
        assert!(page.contains("new WebSocket(url)"));
        // Nothing from elsewhere, and messages put in as text only.
        for outside in ["src=\"http", "href=\"http", "innerHTML"] {
            assert!(!page.contains(outside), "{outside}");
        }
    }
    // A path that is no room is still refused; an upgrade still upgrades.
    assert!(get(p.tcp(), "/nope").starts_with("HTTP/1.1 404 "));
    let mut s = common::ws::open(p.tcp(), "/room/lab1");
    s.write_all(&frame(9, b"x")).unwrap();
    assert_eq!(read_frame(&mut s), (10, b"x".to_vec()));
}

#[test]
fn the_pages_policy_allows_its_inline_script_and_style_by_their_sha256_alone() {
    // CSP hash-sources: the page's one <script> and one <style> run because
    // the policy names their SHA-256; nothing else inline may. std has no
    // SHA-256, so Python recomputes them from the page the server sent.
    let Some(python) = common::tools::need_command("python3", "python3") else {
        return;
    };
    let p = Proc::start(&["--service", "chat"], 1);
    let page = get(p.tcp(), "/");
    let body = &page[page.find("\r\n\r\n").unwrap() + 4..];
    let policy = page
        .lines()
        .find_map(|l| l.strip_prefix("Content-Security-Policy: "))
        .expect("a Content-Security-Policy field");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let script = r#"
import base64, hashlib, re, sys
page = sys.stdin.read()
for tag in ("script", "style"):
    inner = re.search("<%s>(.*?)</%s>" % (tag, tag), page, re.S).group(1)
    print(tag, base64.b64encode(hashlib.sha256(inner.encode()).digest()).decode())
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let hashes = String::from_utf8(out.stdout).unwrap();
    for line in hashes.lines() {
        let (tag, hash) = line.split_once(' ').unwrap();
        let want = format!("{tag}-src 'sha256-{hash}'");
        assert!(policy.contains(&want), "{want} not in {policy}");
    }
    assert_eq!(hashes.lines().count(), 2, "{hashes}");
}

/// A headless Chromium with its DevTools endpoint, killed on drop.
struct Browser {
    child: Child,
    profile: std::path::PathBuf,
    devtools: TcpStream,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    fn start(chromium: &std::path::Path) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("sockref-chat-chromium-{}", std::process::id()));
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID";
        // a watchdog ends a browser that never says it.
        let pid = child.id().to_string();
        let (said, watchdog) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if watchdog.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        });
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let url = loop {
            line.clear();
            assert!(err.read_line(&mut line).unwrap() > 0, "chromium ended");
            if let Some(at) = line.find("ws://") {
                break line[at..].trim().to_string();
            }
        };
        let _ = said.send(());
        // Keep reading stderr so that chromium never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
        let rest = url.trim_start_matches("ws://");
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut devtools = connect(host.parse().unwrap());
        // DevTools takes a Host that is an IP address only.
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        devtools.write_all(req.as_bytes()).unwrap();
        let head = common::ws::read_head(&mut devtools);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Browser {
            child,
            profile,
            devtools,
            next_id: 0,
        }
    }

    /// Sends a DevTools command (in `session`, if any) and returns its
    /// answer, skipping the events that come between.
    fn call(&mut self, session: Option<&str>, method: &str, params: &str) -> String {
        self.next_id += 1;
        let id = self.next_id;
        let session = session.map_or(String::new(), |s| format!(",\"sessionId\":\"{s}\""));
        let msg = format!("{{\"id\":{id}{session},\"method\":\"{method}\",\"params\":{params}}}");
        self.devtools.write_all(&frame(1, msg.as_bytes())).unwrap();
        let tag = format!("{{\"id\":{id},");
        loop {
            let (op, payload) = read_frame(&mut self.devtools);
            assert_eq!(op, 1, "a DevTools message is text");
            let text = String::from_utf8(payload).unwrap();
            if text.starts_with(&tag) {
                assert!(
                    !text.starts_with(&format!("{tag}\"error\"")),
                    "{method}: {text}"
                );
                return text;
            }
        }
    }

    /// Opens `url` in a new page; returns the page's session.
    fn page(&mut self, url: &str) -> String {
        let made = self.call(
            None,
            "Target.createTarget",
            &format!("{{\"url\":\"{url}\"}}"),
        );
        let target = between(&made, "\"targetId\":\"", "\"");
        let params = format!("{{\"targetId\":\"{target}\",\"flatten\":true}}");
        let attached = self.call(None, "Target.attachToTarget", &params);
        between(&attached, "\"sessionId\":\"", "\"")
    }

    /// Evaluates `js` in the page; the answer as DevTools wrote it.
    fn eval(&mut self, session: &str, js: &str) -> String {
        let params = format!("{{\"expression\":\"{js}\",\"returnByValue\":true}}");
        self.call(Some(session), "Runtime.evaluate", &params)
    }

    /// Evaluates `js` until its answer contains `want`, for at most 30 s
    /// (a bound for a slow machine, never a pause the test relies on).
    fn until(&mut self, session: &str, js: &str, want: &str) -> String {
        let start = Instant::now();
        loop {
            let got = self.eval(session, js);
            if got.contains(want) {
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{js} never showed {want}: {got}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let len = text[from..].find(end).unwrap();
    text[from..from + len].to_string()
}

#[test]
fn two_browser_pages_in_a_room_exchange_messages_through_the_server() {
    let Some(chromium) = common::tools::need_any_command(
        &["chromium", "chromium-browser", "google-chrome"],
        "chromium",
    ) else {
        return;
    };
    let p = Proc::start(&["--service", "chat"], 1);
    let mut b = Browser::start(&chromium);
    let room = format!("http://{}/room/lab", p.tcp());
    let ann = b.page(&format!("{room}?name=ann"));
    let bob = b.page(&format!("{room}?name=bob"));
    // `?.`: the page may not have loaded yet.
    let state = "document.getElementById('state')?.textContent";
    let joined = format!("in the room: ws://{}/room/lab", p.tcp());
    b.until(&ann, state, &joined);
    b.until(&bob, state, &joined);

    let log = "document.getElementById('log')?.textContent";
    b.eval(&ann, "send('hello from ann')");
    b.until(&bob, log, "ann: hello from ann");
    b.eval(&bob, "send('hi ann')");
    let ann_log = b.until(&ann, log, "bob: hi ann");
    // The room sends a message to the others only: ann saw hers once (as
    // her own line), then bob's.
    assert_eq!(
        ann_log.matches("ann: hello from ann").count(),
        1,
        "{ann_log}"
    );
    let ann_first = ann_log.find("ann: hello from ann").unwrap();
    assert!(
        ann_first < ann_log.find("bob: hi ann").unwrap(),
        "{ann_log}"
    );
}
