//! The `sockref` command: parse the arguments, run the library, map the
//! outcome to an exit status (0 ok, 1 runtime failure, 2 usage error).

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use sockref::cli::{self, Command, ServeOptions};
use sockref::client::{self, ClientOptions};
use sockref::trace::Tee;
use sockref::watch::{self, Hub, WatchPage};
use sockref::{Observer, Protocols, ServerBuilder, ServerHandle, TraceWriter};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cli::parse(args) {
        Ok(Command::Help(text)) => {
            // A closed stdout (`| head`) is not an error worth a panic.
            let _ = io::stdout().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            let _ = writeln!(io::stdout(), "sockref {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve(opts)) => match serve(*opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sockref: {e}");
                ExitCode::from(1)
            }
        },
        Ok(Command::Client(opts)) => match run_client(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sockref: {e}");
                ExitCode::from(1)
            }
        },
        Ok(Command::Bench(opts)) => bench(&opts),
        Ok(Command::Diagram(opts)) => match sockref::diagram::run(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sockref: diagram: {e}");
                ExitCode::from(if e.is_usage() { 2 } else { 1 })
            }
        },
        Ok(Command::Compare(opts)) => compare(&opts),
        Ok(Command::Check(opts)) => check(&opts),
        Err(usage) => {
            eprintln!("sockref: {usage}");
            ExitCode::from(2)
        }
    }
}

fn serve(opts: ServeOptions) -> Result<(), String> {
    let mut builder = ServerBuilder::new()
        .addr(&opts.addr)
        .protocols(opts.protocols)
        .builtin(&opts.service)
        .map_err(|e| e.to_string())?
        .limits(opts.limits.clone());
    let hub = opts.watch.as_ref().map(|_| Arc::new(Hub::new()));
    let trace = opts
        .trace
        .map(|format| Arc::new(TraceWriter::new(format, io::stdout())) as Arc<dyn Observer>);
    let watched = hub.clone().map(|h| h as Arc<dyn Observer>);
    match (trace, watched) {
        (Some(t), Some(w)) => builder = builder.observer(Arc::new(Tee(t, w))),
        (Some(o), None) | (None, Some(o)) => builder = builder.observer(o),
        (None, None) => {}
    }
    if let Some(n) = opts.max_connections {
        builder = builder.max_connections(n);
    }
    if let Some(n) = opts.max_datagrams {
        builder = builder.max_datagrams(n);
    }
    let server = builder.start().map_err(|e| e.to_string())?;
    let watching = match (&opts.watch, &hub) {
        (Some(addr), Some(hub)) => {
            Some(start_watch(addr, hub).map_err(|e| watch_failed(addr, &e, &server))?)
        }
        _ => None,
    };
    {
        // The ready signal scripts and tests wait for: one line per protocol.
        let mut out = io::stdout().lock();
        let service = server.service_name();
        for l in server.listening() {
            let (proto, addr, workers) = (l.proto, l.addr, l.workers);
            let _ = writeln!(out, "listening {proto} {addr} service={service} workers={workers}");
        }
        if let Some(addr) = watching.as_ref().and_then(ServerHandle::tcp_addr) {
            if !addr.ip().is_loopback() {
                eprintln!("sockref: warning: the watch page at {addr} shows every client's bytes to anyone who can reach it (--watch-public)");
            }
            let _ = writeln!(out, "watching http://{addr}/");
        }
        let _ = out.flush();
    }
    if opts.stop_on_stdin {
        // A graceful stop without signal handlers (which need raw libc calls or a
        // dependency): whoever started the server writes `stop`. End of
        // file counts too, so the server does not outlive its controller.
        // Opt-in: with stdin closed or /dev/null it would stop at once.
        let signal = server.stop_signal();
        let _ = std::thread::Builder::new().name("sockref-stdin".into()).spawn(move || {
            for line in io::stdin().lock().lines() {
                match line {
                    Ok(l) if l.trim() != "stop" => continue,
                    _ => break,
                }
            }
            signal.stop();
        });
    }
    server.wait(opts.duration);
    let stats = server.shutdown(opts.grace);
    // After the server, so that pages see its last close()s; closing the
    // hub ends every event stream, so the watch listener stops at once.
    if let (Some(hub), Some(watching)) = (hub, watching) {
        hub.close();
        watching.shutdown(Duration::ZERO);
    }
    let _ = writeln!(io::stdout(), "stopped {stats}");
    Ok(())
}

/// The watch listener: a second, small server whose service is the page
/// (see `sockref::watch`). It is not traced: its own writes would be
/// events to write.
fn start_watch(addr: &str, hub: &Arc<Hub>) -> Result<ServerHandle, sockref::Error> {
    ServerBuilder::new()
        .addr(addr)
        .protocols(Protocols::Tcp)
        // Off loopback only with --watch-public (the command line checked).
        .service(WatchPage::new(Arc::clone(hub), public_watch(addr)))
        .limits(watch::limits())
        .start()
}

/// The watch listener is a second socket: say that it is the one that
/// failed, and when it asked for the server's own port, say so.
fn watch_failed(addr: &str, e: &sockref::Error, server: &ServerHandle) -> String {
    let mut msg = format!("--watch {addr}: the watch page's listener failed: {e}");
    let own = server.tcp_addr().is_some_and(|s| {
        addr.parse::<std::net::SocketAddr>().is_ok_and(|w| w.port() == s.port() && w.port() != 0)
    });
    if own {
        msg.push_str("; the server itself listens on that port: give --watch another one");
    }
    msg
}

/// Whether the watch address is meant to be reached from elsewhere: any
/// address but a loopback one (a name such as `localhost` counts as loopback).
fn public_watch(addr: &str) -> bool {
    addr.parse::<std::net::SocketAddr>().is_ok_and(|a| !a.ip().is_loopback())
}

/// The client's trace goes to stderr: stdout carries the server's bytes.
fn run_client(opts: &ClientOptions) -> Result<(), sockref::Error> {
    let trace = opts.trace.map(|format| TraceWriter::new(format, io::stderr()));
    let observer = trace.as_ref().map(|t| t as &dyn Observer);
    client::run(opts, io::stdin(), io::stdout(), observer)
}

/// Runs a comparison and prints its table: exit 1 if a server did not
/// start (every server started is stopped first) or a run had no
/// successful request, 0 otherwise.
fn compare(opts: &sockref::bench::compare::CompareOptions) -> ExitCode {
    match sockref::bench::compare::run(opts, &mut io::stderr()) {
        Ok(done) => {
            let _ = write!(io::stdout(), "{}", done.markdown(opts.bench.mode));
            let empty: Vec<String> = done
                .runs
                .iter()
                .filter(|r| r.report.requests == 0)
                .map(|r| format!("{} (run {})", done.names[r.server], r.run))
                .collect();
            if empty.is_empty() {
                return ExitCode::SUCCESS;
            }
            // Why, once: the first empty run's first failure.
            let why = done
                .runs
                .iter()
                .filter(|r| r.report.requests == 0)
                .find_map(|r| r.report.first_error.as_deref())
                .map(|e| format!(" (first: {e})"));
            eprintln!(
                "sockref: compare: no request succeeded in: {}{}",
                empty.join(", "),
                why.unwrap_or_default()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("sockref: compare: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs one load test and prints its report: exit 1 when nothing got
/// through (a wrong address, no server), 0 otherwise; failed requests are
/// reported, not fatal, since a server under test may drop some.
fn bench(opts: &sockref::bench::BenchOptions) -> ExitCode {
    match sockref::bench::run(opts) {
        Ok(report) => {
            // A closed stdout (`| head`) is not worth a panic.
            let mut out = io::stdout();
            let _ = if opts.json {
                writeln!(out, "{}", report.json())
            } else {
                write!(out, "{}", report.human())
            };
            if report.requests == 0 {
                let why = report.first_error.as_deref().map(|e| format!(": {e}"));
                eprintln!(
                    "sockref: bench: no request succeeded against {}{}",
                    opts.addr,
                    why.unwrap_or_default()
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sockref: bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// Runs the checks: exit 0 when none failed, 1 when one did or the server
/// under test could not be started. The probes' trace goes to stderr.
fn check(opts: &sockref::check::CheckOptions) -> ExitCode {
    let mut out = io::stdout();
    if opts.list {
        let _ = sockref::check::list(opts, &mut out);
        return ExitCode::SUCCESS;
    }
    match sockref::check::run(opts, &mut out, Box::new(io::stderr())) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("sockref: check: {e}");
            ExitCode::from(1)
        }
    }
}
