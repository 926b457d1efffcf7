//! What every lab program shares: its few options, the ready signal, and
//! waiting until it is stopped. The lab itself is one function, `server`,
//! in its own file: the doc test's server, line for line.
//!
//! Not an example of its own: cargo builds `examples/NAME.rs` and
//! `examples/NAME/main.rs`, and this folder has no `main.rs`.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sockref::{Observer, ServerBuilder, TraceFormat, TraceWriter};

/// Where a lab listens unless `--addr` says otherwise: not sockref's 4000,
/// so that a lab and `sockref serve` can run side by side.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9000";

/// The usage line every lab prints for `--help` or a wrong option.
pub const USAGE: &str = "\
OPTIONS (after `--`: cargo run --example LAB -- OPTIONS):
    --addr ADDR            HOST:PORT to bind, or unix:PATH               [127.0.0.1:9000]
    --trace[=text|json]    print every socket call on stdout, as sockref serve --trace
    --max-connections N    stop after serving N TCP connections
    --max-datagrams N      stop after answering N datagrams
    --help";

/// A lab program's options.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// The address to bind.
    pub addr: String,
    /// Print every socket call, and how.
    pub trace: Option<TraceFormat>,
    /// Stop after this many connections.
    pub max_connections: Option<u64>,
    /// Stop after this many datagrams.
    pub max_datagrams: Option<u64>,
    /// `--help` was asked for.
    pub help: bool,
}

/// Parses a lab's arguments (without the program name); the error is the
/// one line to print before the usage.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        addr: DEFAULT_ADDR.to_string(),
        trace: None,
        max_connections: None,
        max_datagrams: None,
        help: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if arg.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next().cloned());
        match flag {
            "--addr" => o.addr = value().ok_or("--addr needs a value (HOST:PORT)")?,
            "--trace" => {
                o.trace = match inline.as_deref() {
                    None | Some("text") => Some(TraceFormat::Text),
                    Some("json") => Some(TraceFormat::Json),
                    Some(other) => {
                        return Err(format!(
                            "--trace: unknown format '{other}' (choose one of: text, json)"
                        ))
                    }
                }
            }
            "--max-connections" | "--max-datagrams" => {
                let v = value().ok_or(format!("{flag} needs a value"))?;
                let n = v.parse().ok().filter(|n| *n > 0);
                let n = Some(n.ok_or(format!("{flag}: '{v}' is not a number above 0"))?);
                if flag == "--max-connections" {
                    o.max_connections = n;
                } else {
                    o.max_datagrams = n;
                }
            }
            "--help" | "-h" => o.help = true,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(o)
}

/// Runs a lab: parse the options, start `server`, print the `listening`
/// lines `sockref serve` prints, serve until stopped (Ctrl-C, or
/// `--max-connections`), then print the counters. Exit 0 ok, 1 a runtime
/// failure (a bind() error), 2 a usage error.
pub fn run(name: &str, server: fn(&str) -> ServerBuilder) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) if o.help => {
            println!("{name}: a sockref lab as a program (docs/labs.md)\n\n{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(o) => o,
        Err(e) => {
            eprintln!("{name}: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = server(&o.addr);
    if let Some(format) = o.trace {
        builder =
            builder.observer(Arc::new(TraceWriter::new(format, io::stdout())) as Arc<dyn Observer>);
    }
    if let Some(n) = o.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(n) = o.max_datagrams {
        builder = builder.max_datagrams(n);
    }
    let server = match builder.start() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(1);
        }
    };
    {
        let mut out = io::stdout().lock();
        let service = server.service_name();
        for l in server.listening() {
            let (proto, addr, workers) = (l.proto, l.addr, l.workers);
            let _ = writeln!(
                out,
                "listening {proto} {addr} service={service} workers={workers}"
            );
        }
        let _ = out.flush();
    }
    server.wait(None);
    let stats = server.shutdown(Duration::from_secs(5));
    let _ = writeln!(io::stdout(), "stopped {stats}");
    ExitCode::SUCCESS
}
