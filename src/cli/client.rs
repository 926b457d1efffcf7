//! `sockref client ADDR [OPTIONS] [MESSAGE]`: the textbook client's flags.
//!
//! What it does not do: connect; `client::run` does.

use super::{Args, Command, Usage};
use crate::client::ClientOptions;
use crate::net::Address;
use crate::trace::Proto;

/// The help text of `sockref client`.
pub const CLIENT_HELP: &str = "\
sockref client: the textbook client: socket() -> connect() -> write() -> read() -> close()
(UDP: socket() -> sendto() -> recvfrom())

USAGE:
    sockref client ADDR [OPTIONS] [MESSAGE]

    ADDR is HOST:PORT, or unix:PATH for a Unix-domain socket (--proto tcp: a stream
    socket; --proto udp: a datagram one, answered at a temporary socket of the client's).

    With MESSAGE: send it as is (no newline added), then print the reply on stdout.
      TCP: write(), shutdown(SHUT_WR), read() until the server closes.
      UDP: one sendto(), one recvfrom().
    Without MESSAGE: a tiny netcat. TCP: stdin goes to the socket and the socket to stdout;
      at end of stdin the client half-closes (shutdown(SHUT_WR)) and prints what is left
      until the server closes. UDP: each stdin line is one datagram; each reply is printed.

CLIENT OPTIONS:
    --proto P              tcp | udp                                           [tcp]
    --timeout SECS         longest connect(), one write(), or a wait for the reply (once
                           everything is sent) may take; 0 = forever           [30]
    --trace[=FORMAT]       print every socket call on stderr: text | json     [off]
    --                     end of options (for a MESSAGE starting with -)

EXIT STATUS: 0 ok, 1 runtime failure (connect() error, timeout, ...), 2 usage error.
";

pub(super) fn parse_client(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = ClientOptions::default();
    let mut positional = Vec::new();
    let mut args = Args::new(args);
    let mut options_done = false;
    let mut after_bare_trace = false;
    while let Some((flag, mut v)) = args.next_arg() {
        let f = flag.as_str();
        let follows_bare_trace = std::mem::take(&mut after_bare_trace);
        if options_done || !f.starts_with('-') || f == "-" {
            // `--trace json` would otherwise send "json" as the message.
            if follows_bare_trace && !options_done && (f == "json" || f == "text") {
                return Err(Usage(format!(
                    "--trace takes its format after '=': --trace={f} (to send '{f}', put -- before it)"
                )));
            }
            positional.push(match v.inline.take() {
                Some(v) => format!("{flag}={v}"),
                None => flag,
            });
            continue;
        }
        match f {
            "--" => options_done = true,
            "--help" | "-h" => return Ok(Command::Help(CLIENT_HELP)),
            "--proto" => o.proto = v.pick(&[("tcp", Proto::Tcp), ("udp", Proto::Udp)])?,
            "--timeout" => o.timeout = v.seconds(true)?,
            "--trace" => {
                after_bare_trace = v.inline.is_none();
                o.trace = Some(v.trace_format()?);
            }
            _ => return Err(Usage(format!("unknown option '{flag}' (see sockref client --help)"))),
        }
    }
    let mut positional = positional.into_iter();
    o.addr = positional.next().ok_or_else(|| {
        Usage("client needs an address, e.g. sockref client 127.0.0.1:4000".to_string())
    })?;
    // Not an address at all is a usage error; resolving is left to the run,
    // where a name that does not resolve is a runtime failure.
    Address::parse(&o.addr).map_err(|e| Usage(format!("client: {e}")))?;
    o.message = positional.next().map(String::into_bytes);
    if let Some(extra) = positional.next() {
        return Err(Usage(format!(
            "client: unexpected argument '{extra}' (quote a MESSAGE with spaces)"
        )));
    }
    Ok(Command::Client(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;
    use crate::trace::TraceFormat;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn client_takes_an_address_options_and_a_message() {
        let Ok(Command::Client(o)) = p(&[
            "client",
            "127.0.0.1:7",
            "--proto=udp",
            "--timeout",
            "2",
            "--trace=json",
            "--",
            "-hi",
        ]) else {
            panic!()
        };
        assert_eq!(o.addr, "127.0.0.1:7");
        assert_eq!(o.proto, Proto::Udp);
        assert_eq!(o.timeout, Some(std::time::Duration::from_secs(2)));
        assert_eq!(o.trace, Some(TraceFormat::Json));
        assert_eq!(o.message.as_deref(), Some(&b"-hi"[..]));
        let Ok(Command::Client(o)) = p(&["client", "localhost:4000", "--timeout=0"]) else {
            panic!()
        };
        assert_eq!((o.message, o.timeout, o.proto), (None, None, Proto::Tcp));
        let e = p(&["client"]).unwrap_err();
        assert!(e.0.contains("needs an address"), "{e}");
        let e = p(&["client", "a:1", "b", "c"]).unwrap_err();
        assert!(e.0.contains("unexpected argument 'c'"), "{e}");
        assert!(matches!(p(&["client", "--help"]), Ok(Command::Help(CLIENT_HELP))));
    }

    #[test]
    fn client_trace_format_goes_after_an_equals_sign() {
        let e = p(&["client", "127.0.0.1:4000", "--trace", "json"]).unwrap_err();
        assert!(e.0.contains("--trace=json"), "{e}");
        let Ok(Command::Client(o)) = p(&["client", "127.0.0.1:4000", "--trace", "--", "json"])
        else {
            panic!()
        };
        assert_eq!(o.message.as_deref(), Some(&b"json"[..]));
        assert_eq!(o.trace, Some(TraceFormat::Text));
    }

    #[test]
    fn client_addresses_are_checked_not_resolved() {
        for bad in ["nonsense", ":x", "127.0.0.1:notaport"] {
            let e = p(&["client", bad]).unwrap_err();
            assert!(e.0.starts_with("client: '"), "{bad}: {e}");
        }
        for good in ["unix:/tmp/s", "no.such.host.invalid:80"] {
            let Ok(Command::Client(o)) = p(&["client", good, "--proto", "udp"]) else {
                panic!("{good}")
            };
            assert_eq!(o.addr, good);
        }
        assert!(CLIENT_HELP.contains("unix:PATH"));
    }
}
