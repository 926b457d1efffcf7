//! `sockref [serve] [OPTIONS]`: the server's flags.
//!
//! Flags are parsed for their syntax (a number, a duration, one of some
//! choices, an address) and gathered into [`Limits`]; whether the numbers
//! make sense is [`Limits::validate`]'s call, so the library and the command
//! line refuse the same values. What it does not do: resolve the address or
//! bind anything; `main.rs` starts the server.

use std::time::Duration;

use super::{Args, Command, Usage, HELP};
use crate::limits::{AcceptModel, Limits, Overload, MAX_WORKERS, MAX_WS_MESSAGE};
use crate::net::{Address, DEFAULT_ADDR};
use crate::server::Protocols;
use crate::service::{builtin, SERVICE_NAMES};
use crate::trace::TraceFormat;

/// Everything `sockref serve` was told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Built-in service name.
    pub service: String,
    /// Address to bind: `host:port`, or `unix:PATH` for a Unix-domain
    /// socket (checked to be an address here, resolved only when binding).
    pub addr: String,
    /// Protocols to serve (with a `unix:PATH` address, `Tcp` means a
    /// Unix-domain stream socket and `Udp` a datagram one).
    pub protocols: Protocols,
    /// All bounds.
    pub limits: Limits,
    /// Print every socket call.
    pub trace: Option<TraceFormat>,
    /// Stop after this many connections have been served.
    pub max_connections: Option<u64>,
    /// Stop after this many UDP datagrams have been handled.
    pub max_datagrams: Option<u64>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when a `stop` line arrives on stdin, or stdin closes.
    pub stop_on_stdin: bool,
    /// Grace period for in-flight connections when stopping.
    pub grace: Duration,
    /// `--watch`: where to serve the watch page (`HOST:PORT`).
    pub watch: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            service: "echo".to_string(),
            addr: DEFAULT_ADDR.to_string(),
            protocols: Protocols::Both,
            limits: Limits::default(),
            trace: None,
            max_connections: None,
            max_datagrams: None,
            duration: None,
            stop_on_stdin: false,
            grace: Duration::from_secs(5),
            watch: None,
        }
    }
}

pub(super) fn parse_serve(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = ServeOptions::default();
    let mut args = Args::new(args);
    let mut given = Given::default();
    // Explicit or not matters: the default depends on the address family.
    let mut proto = None;
    let mut public = false;
    let mut after_bare_trace = false;
    while let Some((flag, mut v)) = args.next_arg() {
        let f = flag.as_str();
        let follows_bare_trace = std::mem::take(&mut after_bare_trace);
        match f {
            "--help" | "-h" => return Ok(Command::Help(HELP)),
            "--version" | "-V" => return Ok(Command::Version),
            "--service" => o.service = v.choice(&SERVICE_NAMES)?.to_string(),
            "--addr" => o.addr = v.text()?,
            "--proto" => {
                let table =
                    [("tcp", Protocols::Tcp), ("udp", Protocols::Udp), ("both", Protocols::Both)];
                proto = Some(v.pick(&table)?)
            }
            "--workers" => {
                let text = given.note("--workers", v.text()?);
                o.limits.workers = count(f, text, &format!("from 1 to {MAX_WORKERS}"))?;
            }
            "--udp-workers" => {
                let text = given.note("--udp-workers", v.text()?);
                o.limits.udp_workers = count(f, text, "from 1 to 1024")?;
            }
            "--idle-timeout" => o.limits.idle_timeout = v.seconds(true)?,
            "--header-timeout" => o.limits.header_timeout = v.seconds(true)?,
            "--max-message" => o.limits.ws_max_message = v.number(1, MAX_WS_MESSAGE)?,
            "--max-conn-time" => o.limits.max_conn_time = v.seconds(true)?,
            "--min-rate-out" => o.limits.min_rate_out = v.number(0, u32::MAX)?,
            "--min-rate-in" => o.limits.min_rate_in = v.number(0, u32::MAX)?,
            "--max-per-ip" => o.limits.max_per_ip = v.number(0, MAX_WORKERS)?,
            "--drain-timeout" => o.limits.drain_timeout = v.duration()?,
            "--ping-interval" => o.limits.ping_interval = v.positive()?,
            "--ping-timeout" => o.limits.ping_timeout = v.positive()?,
            "--overload" => {
                let table = [("wait", Overload::Wait), ("reject", Overload::Reject)];
                o.limits.overload = v.pick(&table)?
            }
            "--accept" => {
                let table = [("workers", AcceptModel::Workers), ("handoff", AcceptModel::Handoff)];
                o.limits.accept_model = v.pick(&table)?
            }
            "--udp-rate" => {
                let n: u32 = v.number(0, 10_000_000)?;
                o.limits.udp_rate = (n > 0).then_some(n);
            }
            "--allow-low-ports" => o.limits.udp_allow_low_ports = true,
            "--stack-size" => {
                // The upper bound is the CLI's own (Limits has none); the
                // lower one is Limits::validate's.
                let text = given.note("--stack-size", v.text()?);
                let kib: usize = count(f, text, "from 64 to 65536")?;
                if kib > 65_536 {
                    return Err(Usage(format!("{f}: '{text}' is not a number from 64 to 65536")));
                }
                o.limits.stack_size = kib * 1024;
            }
            "--trace" => {
                after_bare_trace = v.inline.is_none();
                o.trace = Some(v.trace_format()?)
            }
            // The client's hint, word for word: `--trace json` is a format
            // given the way every other flag takes its value.
            "json" | "text" if follows_bare_trace => {
                return Err(Usage(format!("--trace takes its format after '=': --trace={f}")))
            }
            "--max-connections" => o.max_connections = Some(v.number(1, u64::MAX)?),
            "--max-datagrams" => o.max_datagrams = Some(v.number(1, u64::MAX)?),
            "--duration" => o.duration = Some(v.positive()?),
            "--stop-on-stdin" => o.stop_on_stdin = true,
            "--watch" => o.watch = Some(v.text()?),
            "--watch-public" => public = true,
            "--grace" => o.grace = v.duration()?,
            _ => return Err(unknown(f)),
        }
    }
    o.protocols = protocols(&o.addr, &o.service, proto)?;
    check_stream_only(&o.service, proto)?;
    o.limits.validate().map_err(|e| given.usage(&e))?;
    check_stop_counts(&o)?;
    check_watch(o.watch.as_deref(), public)?;
    Ok(Command::Serve(Box::new(o)))
}

/// An argument serve does not know. A bare port or address is what
/// `nc 127.0.0.1 9190` habits type: say which flag takes it.
fn unknown(arg: &str) -> Usage {
    let addr = match arg.parse::<u16>() {
        Ok(port) => Some(format!("127.0.0.1:{port}")),
        Err(_) if !arg.starts_with('-') && Address::parse(arg).is_ok() => Some(arg.to_string()),
        Err(_) => None,
    };
    match addr {
        Some(a) => Usage(format!(
            "unknown option '{arg}': the address to serve on is a flag: --addr {a} \
             (see sockref --help for the options of serve)"
        )),
        None => {
            Usage(format!("unknown option '{arg}' (see sockref --help for the options of serve)"))
        }
    }
}

/// The watch page shows every client's bytes to whoever opens it: it
/// stays on this machine unless `--watch-public` says otherwise. A
/// browser cannot open a Unix-domain socket, so that is refused too.
fn check_watch(addr: Option<&str>, public: bool) -> Result<(), Usage> {
    let Some(addr) = addr else {
        return match public {
            true => Err(Usage("--watch-public goes with --watch HOST:PORT".to_string())),
            false => Ok(()),
        };
    };
    // Address::parse would suggest unix:PATH too, which a browser cannot
    // open: say HOST:PORT alone.
    if !addr.contains(':') {
        let example = match addr.parse::<u16>() {
            Ok(port) => format!("127.0.0.1:{port}"),
            Err(_) => "127.0.0.1:8080".to_string(),
        };
        return Err(Usage(format!(
            "--watch: '{addr}' is not an address: write HOST:PORT (e.g. --watch {example})"
        )));
    }
    match Address::parse(addr).map_err(|e| Usage(format!("--watch: {e}")))? {
        Address::Unix(_) => Err(Usage(format!(
            "--watch: '{addr}': a browser connects over TCP; use HOST:PORT (e.g. 127.0.0.1:8080)"
        ))),
        Address::Inet(_) if public || crate::watch::is_loopback(addr) => Ok(()),
        Address::Inet(_) => Err(Usage(format!(
            "--watch: '{addr}' is not a loopback address, and the page shows every client's \
             bytes to whoever opens it; use 127.0.0.1:PORT, or add --watch-public to serve it \
             to the network anyway"
        ))),
    }
}

/// A count of something the server does not serve would never be
/// reached: the server would run forever instead of stopping.
fn check_stop_counts(o: &ServeOptions) -> Result<(), Usage> {
    if o.max_connections.is_some() && o.protocols == Protocols::Udp {
        return Err(Usage(
            "--max-connections counts TCP connections; with --proto udp use --max-datagrams"
                .to_string(),
        ));
    }
    if o.max_datagrams.is_some() && o.protocols == Protocols::Tcp {
        return Err(Usage(
            "--max-datagrams counts UDP datagrams; with --proto tcp use --max-connections"
                .to_string(),
        ));
    }
    Ok(())
}

/// A service that speaks only over a stream (HTTP, WebSocket) serves TCP
/// alone when `--proto` is left out, and refuses a datagram socket.
fn check_stream_only(service: &str, asked: Option<Protocols>) -> Result<(), Usage> {
    if !builtin(service).is_some_and(|s| s.stream_only()) {
        return Ok(());
    }
    match asked {
        Some(Protocols::Udp | Protocols::Both) => Err(Usage(format!(
            "--service {service} runs over a stream (TCP or a Unix stream socket) only: \
             leave out --proto or use --proto tcp"
        ))),
        _ => Ok(()),
    }
}

/// The protocols to serve at `addr`. A Unix-domain address is one socket,
/// stream or datagram, so `both` cannot be honoured there; left unsaid, it
/// means stream, as the inet default would serve stream among others.
fn protocols(addr: &str, service: &str, asked: Option<Protocols>) -> Result<Protocols, Usage> {
    let unix = match Address::parse(addr).map_err(|e| Usage(format!("--addr: {e}")))? {
        Address::Unix(_) => true,
        Address::Inet(_) => false,
    };
    let stream_only = builtin(service).is_some_and(|s| s.stream_only());
    match (unix, asked) {
        (true, Some(Protocols::Both)) => Err(Usage(format!(
            "--proto both: '{addr}' is one Unix-domain socket, stream or datagram: \
             use --proto tcp (stream) or --proto udp (datagram)"
        ))),
        (false, None) if !stream_only => Ok(Protocols::Both),
        (_, None) => Ok(Protocols::Tcp),
        (_, Some(p)) => Ok(p),
    }
}

/// A count, checked for syntax only: `want` completes the message
/// (`from 1 to 20000`) so that a typo reads like an out-of-range value.
fn count(flag: &str, value: &str, want: &str) -> Result<usize, Usage> {
    value.parse().map_err(|_| Usage(format!("{flag}: '{value}' is not a number {want}")))
}

/// The [`Limits`] fields [`Limits::validate`] names, and the flag that sets each.
const LIMIT_FLAGS: [(&str, &str); 3] =
    [("workers", "--workers"), ("udp_workers", "--udp-workers"), ("stack_size", "--stack-size")];

/// The values given for the flags in [`LIMIT_FLAGS`], so that a value
/// [`Limits::validate`] refuses is reported against the flag that set it.
#[derive(Default)]
struct Given(Vec<(&'static str, String)>);

impl Given {
    /// Remembers `value` for `flag` (the last one given wins, as in parsing).
    fn note(&mut self, flag: &'static str, value: String) -> &str {
        self.0.retain(|(f, _)| *f != flag);
        self.0.push((flag, value));
        self.0.last().map_or("", |(_, v)| v.as_str())
    }

    /// `validate`'s message, about a field of [`Limits`] ("stack_size must
    /// be at least 64 KiB"), told in the command line's words: the flag
    /// and the value given replace the field's name, which a user never typed.
    fn usage(&self, message: &str) -> Usage {
        let (field, rest) = message.split_once(' ').unwrap_or((message, ""));
        let flag = LIMIT_FLAGS.iter().find(|(n, _)| *n == field).map(|(_, f)| *f);
        match self.0.iter().find(|(f, _)| Some(*f) == flag) {
            Some((f, v)) => Usage(format!("{f}: '{v}' is out of range: {rest}")),
            None if field.contains('_') || flag.is_some() => {
                Usage(format!("--{}: {rest}", field.replace('_', "-")))
            }
            None => Usage(message.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn no_arguments_serve_echo_on_4000_both() {
        let Ok(Command::Serve(o)) = p(&[]) else { panic!() };
        assert_eq!(o.service, "echo");
        assert_eq!(o.addr, "127.0.0.1:4000");
        assert_eq!(o.protocols, Protocols::Both);
    }

    #[test]
    fn help_states_the_default_address() {
        assert!(HELP.contains(&format!("[{DEFAULT_ADDR}]")), "{HELP}");
        assert!(HELP.contains(&format!("echo on {DEFAULT_ADDR}")), "{HELP}");
        assert!(HELP.contains("unix:PATH"), "{HELP}");
    }

    #[test]
    fn max_message_is_bytes_from_1_to_64_mib() {
        let Ok(Command::Serve(o)) = p(&["--service", "websocket", "--max-message", "8388608"])
        else {
            panic!()
        };
        assert_eq!(o.limits.ws_max_message, 8 << 20);
        let Ok(Command::Serve(o)) = p(&["--service", "websocket"]) else { panic!() };
        assert_eq!(o.limits.ws_max_message, 1 << 20);
        for bad in ["0", "67108865", "1MiB", "-1"] {
            let e = p(&["--service", "websocket", "--max-message", bad]).unwrap_err();
            assert_eq!(e.0, format!("--max-message: '{bad}' is not a number from 1 to 67108864"));
        }
        assert!(HELP.contains("--max-message BYTES"), "{HELP}");
    }

    #[test]
    fn help_lists_every_service_of_the_table() {
        let listed = SERVICE_NAMES.join(" | ");
        assert!(HELP.contains(&listed), "{HELP}");
    }

    #[test]
    fn flags_take_values_both_ways() {
        let Ok(Command::Serve(o)) = p(&["serve", "--workers=8", "--service", "length", "--trace"])
        else {
            panic!()
        };
        assert_eq!(o.limits.workers, 8);
        assert_eq!(o.service, "length");
        assert_eq!(o.trace, Some(TraceFormat::Text));
    }

    #[test]
    fn bad_values_name_the_choices() {
        let e = p(&["--service", "ftp"]).unwrap_err();
        assert!(e.0.contains("echo, discard, chargen"), "{e}");
        let e = p(&["--workers", "0"]).unwrap_err();
        assert!(e.0.contains("from 1 to 20000"), "{e}");
        let e = p(&["--bogus"]).unwrap_err();
        assert!(e.0.contains("unknown option '--bogus'"), "{e}");
        let e = p(&["--idle-timeout"]).unwrap_err();
        assert_eq!(e.0, "--idle-timeout needs a value");
    }

    #[test]
    fn limits_validate_refusals_name_the_flag_and_value() {
        let e = p(&["--workers", "7", "--workers", "0"]).unwrap_err();
        assert_eq!(e.0, "--workers: '0' is out of range: must be from 1 to 20000");
        let e = p(&["--udp-workers=2000"]).unwrap_err();
        assert!(e.0.starts_with("--udp-workers: '2000' "), "{e}");
        let e = p(&["--stack-size", "10"]).unwrap_err();
        assert!(e.0.starts_with("--stack-size: '10' "), "{e}");
        assert_eq!(e.0, "--stack-size: '10' is out of range: must be at least 64 KiB");
        let e = p(&["--stack-size", "65537"]).unwrap_err();
        assert_eq!(e.0, "--stack-size: '65537' is not a number from 64 to 65536");
        let e = p(&["--udp-workers", "x"]).unwrap_err();
        assert_eq!(e.0, "--udp-workers: 'x' is not a number from 1 to 1024");
    }

    #[test]
    fn rate_floors_and_the_per_ip_cap_take_numbers_with_0_for_off() {
        let Ok(Command::Serve(o)) = p(&[]) else { panic!() };
        let l = &o.limits;
        assert_eq!((l.min_rate_out, l.min_rate_in, l.max_per_ip), (16384, 0, 0));
        let Ok(Command::Serve(o)) =
            p(&["--min-rate-out", "0", "--min-rate-in=4096", "--max-per-ip", "4"])
        else {
            panic!()
        };
        let l = &o.limits;
        assert_eq!((l.min_rate_out, l.min_rate_in, l.max_per_ip), (0, 4096, 4));
        let e = p(&["--max-per-ip", "-1"]).unwrap_err();
        assert!(e.0.starts_with("--max-per-ip: "), "{e}");
        let e = p(&["--max-per-ip", "20001"]).unwrap_err();
        assert!(e.0.starts_with("--max-per-ip: "), "{e}");
        assert!(HELP.contains("--max-per-ip N") && HELP.contains("--min-rate-out"), "{HELP}");
    }

    #[test]
    fn stop_counts_must_match_the_protocol() {
        let e = p(&["--proto", "udp", "--max-connections", "1"]).unwrap_err();
        assert!(e.0.contains("use --max-datagrams"), "{e}");
        let e = p(&["--proto", "tcp", "--max-datagrams", "1"]).unwrap_err();
        assert!(e.0.contains("use --max-connections"), "{e}");
        let Ok(Command::Serve(o)) = p(&["--max-connections=2", "--max-datagrams=3"]) else {
            panic!()
        };
        assert_eq!((o.max_connections, o.max_datagrams), (Some(2), Some(3)));
    }

    #[test]
    fn unix_addresses_serve_one_socket_stream_unless_udp() {
        let proto_of = |args: &[&str]| match p(args) {
            Ok(Command::Serve(o)) => Ok(o.protocols),
            Ok(_) => panic!("not serve"),
            Err(e) => Err(e),
        };
        assert_eq!(proto_of(&["--addr", "unix:/tmp/s"]), Ok(Protocols::Tcp));
        assert_eq!(proto_of(&["--addr=unix:/tmp/s", "--proto", "tcp"]), Ok(Protocols::Tcp));
        assert_eq!(proto_of(&["--proto", "udp", "--addr", "unix:/tmp/s"]), Ok(Protocols::Udp));
        let e = proto_of(&["--addr", "unix:/tmp/s", "--proto", "both"]).unwrap_err();
        assert!(e.0.starts_with("--proto both: "), "{e}");
        let Ok(Command::Serve(o)) = p(&["--addr", "unix:/tmp/s"]) else { panic!() };
        assert_eq!(o.addr, "unix:/tmp/s", "kept as written for ServerBuilder::addr");
    }

    #[test]
    fn the_watch_page_stays_on_loopback_unless_made_public() {
        let Ok(Command::Serve(o)) = p(&["--watch", "127.0.0.1:8080"]) else { panic!() };
        assert_eq!(o.watch.as_deref(), Some("127.0.0.1:8080"));
        let e = p(&["--watch", "0.0.0.0:8080"]).unwrap_err();
        assert!(e.0.contains("add --watch-public"), "{e}");
        let Ok(Command::Serve(o)) = p(&["--watch=0.0.0.0:8080", "--watch-public"]) else {
            panic!()
        };
        assert_eq!(o.watch.as_deref(), Some("0.0.0.0:8080"));
        let e = p(&["--watch", "unix:/tmp/w"]).unwrap_err();
        assert!(e.0.contains("over TCP"), "{e}");
        let e = p(&["--watch-public"]).unwrap_err();
        assert!(e.0.contains("goes with --watch"), "{e}");
        assert!(HELP.contains("--watch ADDR") && HELP.contains("--watch-public"), "{HELP}");
    }

    #[test]
    fn what_is_not_an_address_is_a_usage_error_but_names_are_not_resolved() {
        for bad in ["nonsense", ":x", "127.0.0.1", "host:", "unix:"] {
            let e = p(&["--addr", bad]).unwrap_err();
            assert!(e.0.starts_with("--addr: '"), "{bad}: {e}");
        }
        let Ok(Command::Serve(o)) = p(&["--addr", "no.such.host.invalid:80"]) else { panic!() };
        assert_eq!(o.addr, "no.such.host.invalid:80");
    }
}
