//! `sockref check ADDR --service NAME [OPTIONS]`: the oracle's flags.
//!
//! What it does not do: probe anything; `check::run` does.

use super::{Args, Command, Usage};
use crate::check::{self, CheckOptions};
use crate::net::Address;
use crate::trace::Proto;

/// The help text of `sockref check`.
pub const CHECK_HELP: &str = "\
sockref check: grade a server against its service's rules (RFC 862-868, 9110/9112, 6455, the textbook programs)

USAGE:
    sockref check ADDR --service NAME [OPTIONS]
    sockref check --server 'COMMAND {port}' --service NAME [OPTIONS]

    ADDR is HOST:PORT, or unix:PATH for a Unix-domain socket (stream, or datagram with
    --proto udp). With --server, COMMAND (with {port} replaced by a free port) is started as
    `sh -c \"exec COMMAND\"`, waited for until it accepts on 127.0.0.1:{port} (with --proto
    udp: until a datagram there is no longer refused), checked, and stopped, with every
    process it forked. Without --proto, a service that has both is checked over TCP and UDP;
    when nothing is bound to the UDP port at all (a TCP-only server), the UDP checks are
    skipped, saying so (--proto udp checks them anyway).

    Each check prints one line: PASS, FAIL, SKIP or NOTE, its name SERVICE.PROTO.rule and
    where the rule is written. A FAIL adds what was sent, what came back (bytes as the trace
    shows them: C escapes), what the rule wants, and a hint for the program's author. A NOTE
    is sockref's own stricter choice not met where the RFC allows it (daytime's format,
    chargen's UDP length): never a failure. Last line: N passed, N failed, N skipped.

OPTIONS:
    --service NAME         echo | discard | chargen | daytime | time | hello | length |
                           http | websocket                                   [echo]
    --proto P              tcp | udp: check one kind of socket only   [both; unix:PATH: tcp]
    --only GLOB[,GLOB]     only the checks whose names match (* and ?), e.g. 'echo.udp.*';
                           a named --hostile check runs without --hostile
    --list                 name the selected checks and their rules; run none
    --hostile              add the reliability checks: a client that never reads, one that
                           resets mid-exchange                                  [off]
    --json                 one JSON object per check, then a summary object
    --trace[=FORMAT]       print the probes' socket calls on stderr: text | json
    --timeout SECS         longest wait for what a rule says must come      [2]
    --start-timeout SECS   with --server: longest wait for it to accept      [10]

EXAMPLE: the textbook's iterative echo server (examples/student/iterative_echo.c), which
serves one client at a time, fails one rule:
    $ sockref check --server './iterative_echo {port}' --service echo --proto tcp
    PASS  echo.tcp.short                     RFC 862
    PASS  echo.tcp.binary                    RFC 862
    PASS  echo.tcp.split-writes              RFC 862
    PASS  echo.tcp.large                     RFC 862
    PASS  echo.tcp.half-close                RFC 862; RFC 9293 §3.6
    FAIL  echo.tcp.concurrent                RFC 862; UNP ch. 5
          rule: a second client is echoed while a first one is connected and idle
          sent: (a first connection, open and idle) then, on a second one: \"hello, echo\\r\\n\" (13 bytes)
          got:  nothing within 2s
          want: \"hello, echo\\r\\n\" (13 bytes)
          hint: the second client waited until the first closed: the server serves one connection
          at a time (an iterative server). A blocking read() on the first client keeps accept()
          from running; hand each accepted socket to a thread (pthread_create) or a process
          (fork), or use poll()/select() over all of them
    5 passed, 1 failed, 0 skipped
(the hint is one line; wrapped here). See docs/check.md for the lab.

EXIT STATUS: 0 every check passed (or was skipped or noted), 1 a check failed or the server
could not be started, 2 usage error.
";

pub(super) fn parse_check(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = CheckOptions::default();
    let mut service = None;
    let mut args = Args::new(args);
    while let Some((flag, mut v)) = args.next_arg() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(Command::Help(CHECK_HELP)),
            "--service" => service = Some(v.text()?),
            "--server" => o.server = Some(v.text()?),
            "--proto" => o.proto = Some(v.pick(&[("tcp", Proto::Tcp), ("udp", Proto::Udp)])?),
            "--only" => {
                o.only.extend(v.text()?.split(',').filter(|g| !g.is_empty()).map(String::from))
            }
            "--list" => o.list = true,
            "--hostile" => o.hostile = true,
            "--json" => o.json = true,
            "--trace" => o.trace = Some(v.trace_format()?),
            "--timeout" => o.wait = v.positive()?,
            "--start-timeout" => o.start_timeout = v.positive()?,
            f if !f.starts_with('-') && o.addr.is_none() => o.addr = Some(flag),
            f if !f.starts_with('-') => {
                return Err(Usage(format!("check: unexpected argument '{f}'")));
            }
            _ => return Err(Usage(format!("unknown option '{flag}' (see sockref check --help)"))),
        }
    }
    let names: Vec<&str> = check::SERVICES.iter().map(|(n, _)| *n).collect();
    o.service = match service {
        Some(s) if names.contains(&s.as_str()) => s,
        Some(s) => {
            return Err(Usage(format!(
                "--service: unknown value '{s}' (choose one of: {})",
                names.join(", ")
            )))
        }
        None => "echo".into(),
    };
    match (&o.addr, &o.server) {
        (Some(_), Some(_)) => {
            return Err(Usage("check: give ADDR or --server, not both".into()));
        }
        (None, None) if !o.list => {
            return Err(Usage(
                "check needs an address or --server, e.g. sockref check 127.0.0.1:7 --service echo"
                    .into(),
            ));
        }
        (Some(a), None) => {
            Address::parse(a).map_err(|e| Usage(format!("check: {e}")))?;
        }
        (None, Some(cmd)) if !cmd.contains("{port}") => {
            return Err(Usage("--server: the command must contain {port}".into()));
        }
        _ => {}
    }
    if check::selected(&o).is_empty() {
        return Err(Usage(format!(
            "check: no {} check matches (see sockref check --service {} --list)",
            o.service, o.service
        )));
    }
    Ok(Command::Check(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn check_takes_an_address_or_a_server() {
        let Ok(Command::Check(o)) =
            p(&["check", "127.0.0.1:7", "--service", "hello", "--only=hello.tcp.*", "--json"])
        else {
            panic!()
        };
        assert_eq!(
            (o.addr.as_deref(), o.service.as_str(), o.json),
            (Some("127.0.0.1:7"), "hello", true)
        );
        assert_eq!(o.only, ["hello.tcp.*"]);
        let Ok(Command::Check(o)) = p(&["check", "--server", "x {port}", "--proto", "udp"]) else {
            panic!()
        };
        assert_eq!((o.server.as_deref(), o.proto), (Some("x {port}"), Some(Proto::Udp)));
        for (bad, why) in [
            (&["check"][..], "needs an address"),
            (&["check", "a:1", "--server", "x {port}"], "not both"),
            (&["check", "--server", "x"], "{port}"),
            (&["check", "a:1", "--service", "nope"], "choose one of: echo"),
            (&["check", "a:1", "--only", "nothing.*"], "no echo check matches"),
            (&["check", "nonsense"], "check: '"),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.0.contains(why), "{bad:?}: {e}");
        }
        assert!(matches!(p(&["check", "--help"]), Ok(Command::Help(CHECK_HELP))));
    }
}
