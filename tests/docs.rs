//! Every command in README.md and docs/*.md runs as written.
//!
//! THE CONVENTION (docs/testing.md says the same, for the people writing pages):
//!
//! 1. Commands go in ```` ```sh ```` blocks, one command per line exactly as a user types it,
//!    with `sockref` on the PATH (`cargo install --path .`). A line ending in `\` goes on.
//!    Every line is read as sh reads it (quotes, `|`, `&&`, `;`, `&`, redirections,
//!    `for ... do ... done`, `# comments`) and each simple command in it is checked:
//!    - `sockref ARGS` (or `target/release/sockref ARGS`): ARGS must parse by the binary's
//!      own parser, `sockref::cli::parse`, so a renamed or removed flag fails here; the
//!      servers inside `sockref compare`'s NAME=COMMAND arguments too.
//!    - `cargo ...`: a known subcommand; `--example NAME` must be `examples/NAME.rs` and the
//!      options after `--` must parse by the labs' parser (`examples/common`); `cargo run
//!      -- ARGS` must be sockref's ARGS; `--test NAME` must be `tests/NAME.rs`.
//!    - a path (`benches/peers/build.sh`) must exist in the repository.
//!    - any other program must be in [`OTHER_PROGRAMS`], with the reason it is not run here.
//! 2. A ```` ```text ```` block right after a `sh` block (only blank lines between) is that
//!    block's output, and this test runs the block to compare:
//!    - the block's server is its `sockref serve` or `cargo run --example NAME` line, or,
//!      without one, the nearest such line above it on the page. The test starts it on a
//!      free port: every address it would bind becomes `127.0.0.1:0` (a `unix:` path, one in
//!      a temporary directory); in the block's other lines, the address it was given
//!      (`--addr`, default `127.0.0.1:4000`, labs `127.0.0.1:9000`) becomes the real one.
//!    - the other lines run in order with `sh -c`, in a fresh temporary directory, `sockref`
//!      on the PATH, each bounded in time; a line with an interactive program (`nc`, a
//!      browser: see [`OTHER_PROGRAMS`]) is skipped. A file a server writes (`> server.jsonl`)
//!      is read by a later line only after that server has stopped (`--max-connections`).
//!    - ```` ```text ```` is the stdout of the block's last line; ```` ```text server ```` is
//!      the server's stdout (as many lines as the block shows, read after the other lines).
//!    - both sides are compared after masking what changes from run to run: each run of
//!      digits becomes `#`, each run of spaces one space, NUL bytes are dropped (a terminal
//!      shows nothing), trailing spaces and blank lines are ignored.
//!
//!    Output that cannot be reproduced (timings, a browser, an interleaving) goes in a
//!    `text` block with a sentence before it: it is then an illustration, not checked.
//! 3. A ```` ```rust ```` block must be a doc test in `src/` (line for line, without
//!    rustdoc's hidden `# ` lines), so `cargo test --doc` runs it.
//! 4. Relative links to `.md` files resolve;
//!    every docs/ page is in docs/README.md's contents and opens with `# Title` and a
//!    sentence saying what it is for; README.md stays a front door (at most 250 lines).

// Each lab program brings its own copy of examples/common (a program of its
// own needs it); this test includes several programs, so several copies.
#![allow(clippy::duplicate_mod)]

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use sockref::cli::{self, Command as Cli};

#[allow(dead_code)]
#[path = "../examples/common/mod.rs"]
mod lab_options;

// The lab programs a page's output block may run, by example name: the
// same `server` function `cargo run --example NAME` starts.
#[allow(dead_code)]
#[path = "../examples/fragile.rs"]
mod fragile;
#[allow(dead_code)]
#[path = "../examples/lab1.rs"]
mod lab1;
#[allow(dead_code)]
#[path = "../examples/lab2.rs"]
mod lab2;
#[allow(dead_code)]
#[path = "../examples/lab3.rs"]
mod lab3;
#[allow(dead_code)]
#[path = "../examples/lab5.rs"]
mod lab5;

type LabServer = fn(&str) -> sockref::ServerBuilder;

/// Every example, so an output block can start it (a new example goes here).
const LABS: &[(&str, LabServer)] = &[
    ("lab1", lab1::server),
    ("lab2", lab2::server),
    ("lab3", lab3::server),
    ("lab5", lab5::server),
    ("fragile", fragile::server),
];

/// How a program other than sockref and cargo is treated.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Run when its block's output is checked (a plain tool, always there).
    Run,
    /// Never run here: it waits for a person, or needs a tool the tests do
    /// not install for this; the reason says what tests the same thing.
    Skip,
}

/// Programs the pages may use besides sockref and cargo, and why each is or
/// is not run by this test. A page that uses another program fails until it
/// is added here with its reason.
const OTHER_PROGRAMS: &[(&str, Kind, &str)] = &[
    (
        "nc",
        Kind::Skip,
        "interactive: a person types into it (tests/unix.rs drives nc itself)",
    ),
    (
        "curl",
        Kind::Skip,
        "an HTTP client for a person; tests/http.rs sends the same requests",
    ),
    (
        "wrk",
        Kind::Skip,
        "an outside load generator; speed is never a test",
    ),
    (
        "python3",
        Kind::Skip,
        "the websockets client, interactive; tests/websocket.rs speaks the protocol",
    ),
    (
        "chromium",
        Kind::Skip,
        "a browser; tests/watch.rs renders the page headless",
    ),
    (
        "socat",
        Kind::Skip,
        "interactive, as nc; tests/unix.rs drives it",
    ),
    (
        "jq",
        Kind::Skip,
        "a JSON filter a reader may not have; tests/trace.rs checks the JSON lines",
    ),
    (
        "sleep",
        Kind::Skip,
        "only used to never read a pipe (lab 7); tests/min_rate.rs is that lab",
    ),
    (
        "cc",
        Kind::Skip,
        "builds the check lab's C programs; tests/check.rs builds and grades the same programs",
    ),
    ("head", Kind::Run, "coreutils"),
    ("echo", Kind::Run, "a shell builtin"),
    ("grep", Kind::Run, "a standard tool"),
    ("cat", Kind::Run, "coreutils"),
];

/// The subcommands of cargo the pages may use.
const CARGO_SUBCOMMANDS: &[&str] = &[
    "run", "test", "build", "install", "bench", "doc", "fmt", "clippy", "tree",
];

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// README.md and every page of docs/, as (path, text).
fn pages() -> Vec<(String, String)> {
    let mut names: Vec<String> = fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| {
            e.expect("docs/ entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    names.sort();
    names.insert(0, "README.md".to_string());
    names.into_iter().map(|n| (n.clone(), read(&n))).collect()
}

/// One fenced block of a page.
#[derive(Debug)]
struct Block {
    /// The info string: `sh`, `text`, `text server`, `rust`, ...
    info: String,
    /// Line number of the opening fence (1-based).
    line: usize,
    lines: Vec<String>,
    /// Only blank lines between the previous block's closing fence and this one.
    right_after_previous: bool,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut open: Option<Block> = None;
    let mut only_blank_since_close = false;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (Some(_), Some(_)) => {
                out.extend(open.take());
                only_blank_since_close = true;
            }
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    line: i + 1,
                    lines: Vec::new(),
                    right_after_previous: only_blank_since_close,
                })
            }
            (Some(b), None) => b.lines.push(line.to_string()),
            (None, None) => only_blank_since_close &= line.trim().is_empty(),
        }
    }
    assert!(open.is_none(), "a fenced block is never closed");
    out
}

/// A word or an operator of a shell line.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `|`, `||`, `&&`, `;`, `&`: ends a simple command.
    Sep(String),
    /// `>`, `>>`, `<`, `2>`, `2>&1`, `&>`: takes the next word (except `2>&1`).
    Redirect(String),
}

/// Splits a line as sh does, without expanding anything.
fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    fn flush(toks: &mut Vec<Tok>, word: &mut String, in_word: &mut bool) {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(word)));
            *in_word = false;
        }
    }
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unclosed '".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unclosed \"".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unclosed \"".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            ' ' | '\t' => flush(&mut toks, &mut word, &mut in_word),
            '|' | '&' | ';' => {
                let doubled = chars.peek() == Some(&c) && c != ';';
                if c == '&' && chars.peek() == Some(&'>') {
                    chars.next();
                    flush(&mut toks, &mut word, &mut in_word);
                    toks.push(Tok::Redirect("&>".into()));
                    continue;
                }
                flush(&mut toks, &mut word, &mut in_word);
                if doubled {
                    chars.next();
                    toks.push(Tok::Sep(format!("{c}{c}")));
                } else {
                    toks.push(Tok::Sep(c.to_string()));
                }
            }
            '>' | '<' => {
                // `2>` and `1>`: the digit is the descriptor, not a word.
                let mut op = String::new();
                if in_word && (word == "1" || word == "2") {
                    op = std::mem::take(&mut word);
                    in_word = false;
                }
                flush(&mut toks, &mut word, &mut in_word);
                op.push(c);
                if c == '>' && chars.peek() == Some(&'>') {
                    op.push(chars.next().unwrap_or('>'));
                }
                if chars.peek() == Some(&'&') {
                    chars.next();
                    op.push('&');
                    let fd: String =
                        std::iter::from_fn(|| chars.next_if(char::is_ascii_digit)).collect();
                    op.push_str(&fd);
                }
                toks.push(Tok::Redirect(op));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut toks, &mut word, &mut in_word);
    Ok(toks)
}

/// One simple command: its words and its redirections (operator, target).
#[derive(Debug, Default)]
struct Simple {
    words: Vec<String>,
    redirects: Vec<(String, String)>,
}

/// The simple commands of a tokenized line, with the shell's keywords
/// (`for x in ...`, `do`, `done`) taken off.
fn simple_commands(toks: &[Tok]) -> Result<Vec<Simple>, String> {
    let mut out = vec![Simple::default()];
    let mut toks = toks.iter();
    while let Some(t) = toks.next() {
        let cur = out.last_mut().expect("one at least");
        match t {
            Tok::Word(w) => cur.words.push(w.clone()),
            Tok::Sep(_) => out.push(Simple::default()),
            Tok::Redirect(op) if op.ends_with('&') || op.contains("&1") || op.contains("&2") => {
                cur.redirects.push((op.clone(), String::new()))
            }
            Tok::Redirect(op) => match toks.next() {
                Some(Tok::Word(target)) => cur.redirects.push((op.clone(), target.clone())),
                _ => return Err(format!("'{op}' without a file")),
            },
        }
    }
    let mut kept = Vec::new();
    for mut s in out {
        match s.words.first().map(String::as_str) {
            Some("for" | "while" | "until" | "if") => continue, // the loop's head
            Some("do" | "then") => {
                s.words.remove(0);
            }
            Some("done" | "fi") if s.words.len() == 1 => continue,
            _ => {}
        }
        // Environment assignments before the program.
        while s.words.first().is_some_and(|w| {
            w.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            })
        }) {
            s.words.remove(0);
        }
        if !s.words.is_empty() {
            kept.push(s);
        }
    }
    Ok(kept)
}

/// The lines of a `sh` block, continuation lines joined.
fn command_lines(block: &Block) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in block.lines.iter().enumerate() {
        let n = block.line + 1 + i;
        let (start, mut text) = pending.take().unwrap_or((n, String::new()));
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            }
            None => {
                text.push_str(line);
                if !text.trim().is_empty() && !text.trim_start().starts_with('#') {
                    out.push((start, text));
                }
            }
        }
    }
    out.extend(pending);
    out
}

fn is_sockref(program: &str) -> bool {
    matches!(
        program,
        "sockref" | "target/release/sockref" | "target/debug/sockref"
    )
}

fn usage(result: Result<Cli, cli::Usage>) -> Result<Cli, String> {
    result.map_err(|u| format!("sockref refuses it: {u}"))
}

/// Checks one simple command; the error says what is wrong.
fn check(s: &Simple) -> Result<(), String> {
    let program = s.words[0].as_str();
    let args = &s.words[1..];
    if is_sockref(program) {
        let command = usage(cli::parse(args.to_vec()))?;
        if let Cli::Compare(_) = command {
            // The servers it starts are sockref command lines too.
            for spec in args
                .iter()
                .filter_map(|a| a.split_once('='))
                .map(|(_, c)| c)
            {
                let words: Vec<String> = spec
                    .replace("{port}", "0")
                    .replace("{workers}", "16")
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                if words.first().is_some_and(|w| is_sockref(w)) {
                    usage(cli::parse(words[1..].to_vec()))
                        .map_err(|e| format!("in '{spec}': {e}"))?;
                }
            }
        }
        return Ok(());
    }
    if program == "cargo" {
        return check_cargo(args);
    }
    if program.contains('/') {
        let path = Path::new(ROOT).join(program);
        return if path.is_file() {
            Ok(())
        } else {
            Err(format!("{program}: no such file"))
        };
    }
    match OTHER_PROGRAMS.iter().find(|(name, ..)| *name == program) {
        Some(_) => Ok(()),
        None => Err(format!(
            "'{program}' is not sockref or cargo: add it to OTHER_PROGRAMS in tests/docs.rs with the reason it is (or is not) run"
        )),
    }
}

fn check_cargo(args: &[String]) -> Result<(), String> {
    let sub = args.first().map(String::as_str).unwrap_or("");
    if !CARGO_SUBCOMMANDS.contains(&sub) {
        return Err(format!(
            "cargo {sub}: not a subcommand the pages use (CARGO_SUBCOMMANDS)"
        ));
    }
    let (own, after) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[1..i], &args[i + 1..]),
        None => (&args[1..], &[][..]),
    };
    let value = |flag: &str| {
        own.iter()
            .position(|a| a == flag)
            .and_then(|i| own.get(i + 1))
    };
    if let Some(name) = value("--test") {
        if !Path::new(ROOT).join(format!("tests/{name}.rs")).is_file() {
            return Err(format!("cargo --test {name}: no tests/{name}.rs"));
        }
    }
    if let Some(path) = value("--path") {
        if !Path::new(ROOT).join(path).join("Cargo.toml").is_file() {
            return Err(format!("cargo --path {path}: no Cargo.toml there"));
        }
    }
    match (sub, value("--example")) {
        ("run", Some(name)) => {
            if !Path::new(ROOT)
                .join(format!("examples/{name}.rs"))
                .is_file()
            {
                return Err(format!("cargo --example {name}: no examples/{name}.rs"));
            }
            lab_options::parse(after)
                .map(drop)
                .map_err(|e| format!("the lab refuses it: {e}"))
        }
        ("run", None) => usage(cli::parse(after.to_vec())).map(drop),
        (_, Some(name)) => Err(format!(
            "cargo {sub} --example {name}: use cargo run --example"
        )),
        _ => Ok(()),
    }
}

/// Each run of digits one `#`, each run of spaces one space, NUL dropped,
/// trailing spaces and blank lines ignored.
fn mask(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|line| {
            let mut out = String::new();
            for c in line.chars().filter(|c| *c != '\0') {
                let last = out.chars().last();
                if c.is_ascii_digit() {
                    if last != Some('#') {
                        out.push('#');
                    }
                } else if c == ' ' || c == '\t' {
                    if last != Some(' ') {
                        out.push(' ');
                    }
                } else {
                    out.push(c);
                }
            }
            out.trim_end().to_string()
        })
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// A server a block's output needs, as the page wrote it.
#[derive(Debug, Clone)]
struct ServerLine {
    line: usize,
    text: String,
}

fn server_line(text: &str) -> Option<bool> {
    // Some(true): sockref serve; Some(false): cargo run --example.
    let toks = tokenize(text).ok()?;
    let commands = simple_commands(&toks).ok()?;
    let first = commands.first()?;
    let w = &first.words;
    if is_sockref(&w[0]) && matches!(cli::parse(w[1..].to_vec()), Ok(Cli::Serve(_))) {
        return Some(true);
    }
    if w[0] == "cargo" && w.get(1).is_some_and(|s| s == "run") && w.iter().any(|a| a == "--example")
    {
        return Some(false);
    }
    None
}

static SCRATCH: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty temporary directory for one block.
fn scratch() -> PathBuf {
    let n = SCRATCH.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("sockref-docs-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Longest any line of a block may run before the test fails it.
const LINE_LIMIT: Duration = Duration::from_secs(30);

/// Kills `pid` if `done` is not signalled within `limit`.
fn watchdog(pid: u32, limit: Duration) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(limit) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    });
    done
}

/// A server the test started for a block.
enum Started {
    /// `sockref serve`: the process, unless a thread copies its stdout to a file.
    Binary(Option<common::Proc>),
    /// `cargo run --example NAME`, in this process.
    Lab(sockref::ServerHandle),
}

struct Running {
    started: Started,
    /// (documented address, real address) pairs to replace in other lines.
    rewrites: Vec<(String, String)>,
    /// The file the server's stdout goes to, and the signal that it is complete.
    writes: Option<(String, mpsc::Receiver<()>, u32)>,
}

/// Starts a page's server line on free ports, in `dir`.
fn start(server: &ServerLine, dir: &Path) -> Result<Running, String> {
    let toks = tokenize(&server.text)?;
    let commands = simple_commands(&toks)?;
    let s = &commands[0];
    if s.words[0] == "cargo" {
        let name = s
            .words
            .iter()
            .skip_while(|w| *w != "--example")
            .nth(1)
            .cloned()
            .unwrap_or_default();
        let after: Vec<String> = s
            .words
            .iter()
            .skip_while(|w| *w != "--")
            .skip(1)
            .cloned()
            .collect();
        let options = lab_options::parse(&after)?;
        let lab = LABS.iter().find(|(n, _)| *n == name).ok_or(format!(
            "examples/{name}.rs is not in LABS in tests/docs.rs"
        ))?;
        if !s.redirects.is_empty() {
            return Err("a lab whose output is checked cannot redirect its stdout".into());
        }
        // Its trace (--trace) goes to the lab's stdout, which a `text` block never shows.
        let handle = (lab.1)("127.0.0.1:0").start().map_err(|e| e.to_string())?;
        let real = handle
            .tcp_addr()
            .or(handle.udp_addr())
            .ok_or("no address")?;
        return Ok(Running {
            started: Started::Lab(handle),
            rewrites: vec![(options.addr, real.to_string())],
            writes: None,
        });
    }
    let Ok(Cli::Serve(options)) = cli::parse(s.words[1..].to_vec()) else {
        return Err("not a server".into());
    };
    let mut args: Vec<String> = Vec::new();
    let mut words = s.words[1..].iter();
    let mut given_addr = "127.0.0.1:4000".to_string();
    let mut unix_path = None;
    while let Some(w) = words.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if w.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (w.clone(), None),
        };
        if flag == "--addr" || flag == "--watch" {
            let value = inline.or_else(|| words.next().cloned()).unwrap_or_default();
            let free = match value.strip_prefix("unix:") {
                Some(path) => {
                    let name = Path::new(path).file_name().ok_or("unix: path")?;
                    let local = dir.join(name);
                    unix_path = Some(local.display().to_string());
                    format!("unix:{}", local.display())
                }
                None => "127.0.0.1:0".to_string(),
            };
            if flag == "--addr" {
                given_addr = value;
            }
            args.push(flag);
            args.push(free);
        } else {
            args.push(w.clone());
        }
    }
    if !s.words[1..].iter().any(|w| w.starts_with("--addr")) {
        args.push("--addr".into());
        args.push("127.0.0.1:0".into());
    }
    let mut cmd = Command::new(common::bin());
    cmd.args(&args).current_dir(dir);
    let protos = if options.protocols == sockref::Protocols::Both {
        2
    } else {
        1
    };
    let proc = common::Proc::spawn(cmd, protos);
    let real = match (&unix_path, proc.tcp, proc.udp) {
        (Some(path), ..) => format!("unix:{path}"),
        (None, Some(a), _) | (None, None, Some(a)) => a.to_string(),
        _ => return Err("no address".into()),
    };
    let mut running = Running {
        started: Started::Binary(Some(proc)),
        rewrites: vec![(given_addr, real)],
        writes: None,
    };
    if let Some((_, file)) = s.redirects.iter().find(|(op, _)| op == ">") {
        // Copy its stdout to the file as it comes; done when the server exits.
        let Started::Binary(proc) = &mut running.started else {
            unreachable!()
        };
        let mut proc = proc.take().expect("just started");
        let pid = proc.pid();
        let mut out = fs::File::create(dir.join(file)).map_err(|e| format!("{file}: {e}"))?;
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            for l in &proc.lines {
                let _ = writeln!(out, "{l}");
            }
            while let Some(l) = proc.next_line() {
                let _ = writeln!(out, "{l}");
                let _ = out.flush();
            }
            let _ = done.send(());
        });
        running.writes = Some((file.clone(), finished, pid));
    }
    Ok(running)
}

/// Runs one line with `sh -c` in `dir`; its stdout, or why it failed.
fn run_line(line: &str, dir: &Path) -> Result<String, String> {
    let bin_dir = Path::new(common::bin())
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("sh: {e}"))?;
    let done = watchdog(child.id(), LINE_LIMIT);
    let out = child.wait_with_output().map_err(|e| format!("sh: {e}"))?;
    let _ = done.send(());
    if !out.status.success() {
        return Err(format!(
            "exit {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a `sh` block whose output a `text` block shows; what it printed.
fn run_block(
    page: &str,
    sh: &Block,
    text: &Block,
    server_above: Option<&ServerLine>,
) -> Result<(), String> {
    let lines = command_lines(sh);
    let own = lines.iter().find(|(_, l)| server_line(l).is_some());
    let server = match own {
        Some((n, l)) => Some(ServerLine {
            line: *n,
            text: l.clone(),
        }),
        None => server_above.cloned(),
    };
    let dir = scratch();
    let mut running = match &server {
        Some(s) => Some(start(s, &dir).map_err(|e| format!("starting line {}: {e}", s.line))?),
        None => None,
    };
    let mut last = None;
    for (n, line) in &lines {
        if own.is_some_and(|(m, _)| m == n) {
            continue;
        }
        let toks = tokenize(line)?;
        let commands = simple_commands(&toks)?;
        let skipped = commands.iter().any(|s| {
            OTHER_PROGRAMS
                .iter()
                .any(|(name, kind, _)| *name == s.words[0] && *kind == Kind::Skip)
        });
        if skipped {
            continue;
        }
        let mut line = line.clone();
        if let Some(r) = running.as_mut() {
            for (given, real) in &r.rewrites {
                line = line.replace(given.as_str(), real);
            }
            // A file the server writes is read only once it is complete.
            if let Some((file, finished, pid)) = &r.writes {
                let words: Vec<&str> = commands
                    .iter()
                    .flat_map(|s| &s.words)
                    .map(String::as_str)
                    .collect();
                if words.contains(&file.as_str()) {
                    let done = finished.recv_timeout(LINE_LIMIT);
                    if done.is_err() {
                        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                        return Err(format!("line {n} reads {file}, but the server writing it never stopped (give it --max-connections)"));
                    }
                    r.writes = None;
                }
            }
        }
        last = Some(run_line(&line, &dir).map_err(|e| format!("{page}:{n}: {line}\n{e}"))?);
    }
    let got = if text.info == "text server" {
        let Some(Running {
            started: Started::Binary(Some(proc)),
            ..
        }) = running.as_mut()
        else {
            return Err(
                "a `text server` block needs a sockref serve line whose stdout is not redirected"
                    .into(),
            );
        };
        let mut got = proc.lines.clone();
        let done = watchdog(proc.pid(), LINE_LIMIT);
        while got.len() < text.lines.len() {
            match proc.next_line() {
                Some(l) => got.push(l),
                None => break,
            }
        }
        let _ = done.send(());
        got.truncate(text.lines.len());
        got.join("\n")
    } else {
        last.ok_or("a `text` block after a block with no line to run")?
    };
    // The real addresses read back as the page's (masking does the rest).
    let got = running
        .iter()
        .flat_map(|r| &r.rewrites)
        .fold(got, |got, (given, real)| {
            got.replace(
                real.trim_start_matches("unix:"),
                given.trim_start_matches("unix:"),
            )
        });
    if let Some(Running {
        started: Started::Lab(handle),
        ..
    }) = running
    {
        handle.shutdown(Duration::from_secs(5));
    }
    let _ = fs::remove_dir_all(&dir);
    let (want, got) = (mask(&text.lines.join("\n")), mask(&got));
    if want != got {
        return Err(format!(
            "output differs (digits masked)\n--- the page ---\n{}\n--- the run ---\n{}",
            want.join("\n"),
            got.join("\n")
        ));
    }
    Ok(())
}

#[test]
fn every_command_in_the_pages_is_one_sockref_and_cargo_accept() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (page, text) in pages() {
        for block in blocks(&text).iter().filter(|b| b.info == "sh") {
            for (n, line) in command_lines(block) {
                let result = tokenize(&line)
                    .and_then(|t| simple_commands(&t))
                    .and_then(|cmds| {
                        cmds.iter().try_for_each(|s| {
                            checked += 1;
                            check(s)
                        })
                    });
                if let Err(e) = result {
                    failures.push(format!("{page}:{n}: {}\n    {e}", line.trim()));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} commands fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked > 40,
        "only {checked} commands found: is the block parser broken?"
    );
}

#[test]
fn every_output_shown_after_a_command_is_what_it_prints() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (page, text) in pages() {
        let all = blocks(&text);
        let mut server_above: Option<ServerLine> = None;
        for (i, block) in all.iter().enumerate() {
            if block.info != "sh" {
                continue;
            }
            if let Some(next) = all.get(i + 1) {
                if next.right_after_previous && next.info.split_whitespace().next() == Some("text")
                {
                    ran += 1;
                    if let Err(e) = run_block(&page, block, next, server_above.as_ref()) {
                        failures.push(format!("{page}:{}: {e}", next.line));
                    }
                }
            }
            for (n, line) in command_lines(block) {
                if server_line(&line).is_some() {
                    server_above = Some(ServerLine {
                        line: n,
                        text: line,
                    });
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 3, "only {ran} output blocks found");
}

#[test]
fn every_rust_block_is_a_doc_test() {
    let mut tested: Vec<Vec<String>> = Vec::new();
    let mut stack = vec![Path::new(ROOT).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir)
            .expect("src")
            .map(|e| e.expect("entry").path())
        {
            if entry.is_dir() {
                stack.push(entry);
            } else if entry.extension().is_some_and(|e| e == "rs") {
                let text = fs::read_to_string(&entry).expect("source");
                let doc: String = text
                    .lines()
                    .filter_map(|l| {
                        let t = l.trim_start();
                        t.strip_prefix("//! ")
                            .or_else(|| t.strip_prefix("/// "))
                            .or_else(|| (t == "//!" || t == "///").then_some(""))
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                for b in blocks(&doc) {
                    if b.info.is_empty() || b.info == "rust" {
                        tested.push(
                            b.lines
                                .into_iter()
                                .filter(|l| {
                                    let t = l.trim_start();
                                    !(t.starts_with("# ") || t == "#")
                                })
                                .collect(),
                        );
                    }
                }
            }
        }
    }
    let mut failures = Vec::new();
    for (page, text) in pages() {
        for b in blocks(&text).into_iter().filter(|b| b.info == "rust") {
            if !tested.contains(&b.lines) {
                failures.push(format!("{page}:{}", b.line));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "these rust blocks are not (line for line) a doc test in src/: {failures:?}"
    );
}

#[test]
fn links_resolve_blocks_say_their_language_and_every_page_is_in_the_contents() {
    let contents = read("docs/README.md");
    let mut failures = Vec::new();
    for (page, text) in pages() {
        let base = Path::new(&page).parent().expect("page dir").to_path_buf();
        for link in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split(')').next())
        {
            let target = link.split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || !target.ends_with(".md") {
                continue;
            }
            let path = normalize(&base.join(target));
            let exists = Path::new(ROOT).join(&path).is_file();
            if !exists {
                failures.push(format!("{page}: link to {target} ({path}): no such page"));
            }
        }
        for b in blocks(&text).iter().filter(|b| b.info.is_empty()) {
            failures.push(format!(
                "{page}:{}: say the block's language (sh, text, rust)",
                b.line
            ));
        }
        if let Some(name) = page.strip_prefix("docs/") {
            if name != "README.md" && !contents.contains(&format!("]({name})")) {
                failures.push(format!("{page}: not in docs/README.md's contents"));
            }
            let mut lines = text.lines();
            let title = lines.next().unwrap_or("");
            let lead = lines.find(|l| !l.trim().is_empty()).unwrap_or("");
            if !title.starts_with("# ") || lead.starts_with('#') || lead.starts_with("```") {
                failures.push(format!(
                    "{page}: open with `# Title`, then what the page is for"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `docs/../README.md` -> `README.md`.
fn normalize(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c.as_os_str().to_string_lossy().as_ref() {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other.to_string()),
        }
    }
    parts.join("/")
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines: move the detail into docs/"
    );
    for must in [
        "cargo install --path .",
        "cargo run --release",
        "cargo test",
        "docs/README.md",
    ] {
        assert!(readme.contains(must), "README.md no longer says {must}");
    }
}

#[test]
fn the_readme_map_is_the_rustdoc_map() {
    let rows = |text: &str, prefix: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .skip_while(|l| !l.starts_with("| C call |"))
            .take_while(|l| l.starts_with('|'))
            .map(String::from)
            .collect()
    };
    let readme = rows(&read("README.md"), "");
    let rustdoc = rows(&read("src/lib.rs"), "//! ");
    assert!(readme.len() > 10, "README.md lost its C <-> Rust map");
    assert_eq!(
        readme, rustdoc,
        "README.md's C <-> Rust map differs from src/lib.rs's"
    );
}

/// The checker itself: what it accepts and what it refuses.
#[test]
fn the_checker_refuses_a_renamed_flag_and_an_unknown_program() {
    let check_line = |line: &str| -> Result<(), String> {
        simple_commands(&tokenize(line)?)?
            .iter()
            .try_for_each(check)
    };
    assert!(check_line("sockref serve --workers 4 --trace=json > server.jsonl &").is_ok());
    assert!(check_line("sockref serve --worker 4").is_err());
    assert!(check_line("head -c 10 /dev/zero | sockref client 127.0.0.1:4000 2> c.jsonl").is_ok());
    assert!(check_line("for i in 1 2; do echo \"a $i\" | nc -u -w1 127.0.0.1 4000; done").is_ok());
    assert!(check_line("cargo run --example lab1 -- --addr 127.0.0.1:9000").is_ok());
    assert!(check_line("cargo run --example lab1 -- --adr 127.0.0.1:9000").is_err());
    assert!(check_line("cargo run --example nosuch").is_err());
    assert!(check_line("cargo test --test nosuch").is_err());
    assert!(check_line("cargo run --release -- --service nosuch").is_err());
    assert!(check_line("telnet 127.0.0.1 4000").is_err());
    assert!(
        check_line("sockref compare 'a=sockref serve --addr 127.0.0.1:{port} --wrkers 2'").is_err()
    );
    assert_eq!(
        mask("close()    conn=12 duration=0.4ms\0  \n\n"),
        ["close() conn=# duration=#.#ms"]
    );
    let toks = tokenize(r#"a 'b c' "d \"e\"" 2>&1 2> f # g"#).unwrap();
    assert_eq!(
        toks,
        [
            Tok::Word("a".into()),
            Tok::Word("b c".into()),
            Tok::Word("d \"e\"".into()),
            Tok::Redirect("2>&1".into()),
            Tok::Redirect("2>".into()),
            Tok::Word("f".into()),
        ]
    );
}
