//! `sockref diagram SERVER.jsonl [OPTIONS]`: the figure's flags.
//!
//! What it does not do: read a trace; `diagram::run` does.

use super::{Args, Command, Usage};
use crate::diagram::{DiagramOptions, Format};

/// The help text of `sockref diagram`.
pub const DIAGRAM_HELP: &str = "\
sockref diagram: draw a traced exchange as the textbook's figure: client and server side by
side, every call in time order, the segments between them (SYN, SYN-ACK, ACK; data with its
byte count; FIN and its ACK; UDP datagrams)

USAGE:
    sockref diagram SERVER.jsonl [--client CLIENT.jsonl] [--format text|mermaid|svg] [-o FILE]

    SERVER.jsonl is what `sockref serve --trace=json` printed on stdout (the listening and
    stopped lines are skipped); - reads it from stdin. CLIENT.jsonl is what `sockref client
    --trace=json` printed on stderr; several runs may be appended to one file. Each client
    run is matched to the server's connection by its port (Unix-domain stream clients have
    none: by order). Without --client the client side holds what the server's trace proves
    (a connect() per accept(), a write() per read(), a FIN per read() = 0), in [brackets].

    sockref serve --addr 127.0.0.1:4000 --proto tcp --trace=json --max-connections 1 > server.jsonl &
    sockref client 127.0.0.1:4000 --trace=json hello 2> client.jsonl
    sockref diagram server.jsonl --client client.jsonl --format svg -o exchange.svg

DIAGRAM OPTIONS:
    --client FILE          the client's trace                                  [none]
    --format F             text: ASCII, 79 columns | mermaid: a sequenceDiagram for a
                           README | svg: a standalone picture                  [text]
    -o, --output FILE      write the figure to FILE                            [stdout]
    --connections N        draw the first N connections (or UDP peers); 0 = all [8]
    --calls N              past N calls in one connection, fold the middle ones into
                           lines that count them (the connect, shutdown, FIN, EOF,
                           close and errors among them are still drawn); 0 = never [24]

EXIT STATUS: 0 ok, 1 a trace that cannot be read or has a damaged line (named by file and
line), 2 usage error (also: a client's trace given as the server's, or the other way round).
";

pub(super) fn parse_diagram(args: Vec<String>) -> Result<Command, Usage> {
    let mut o = DiagramOptions::default();
    let mut server = None;
    let mut args = Args::new(args);
    while let Some((flag, mut v)) = args.next_arg() {
        let f = flag.as_str();
        if f == "-" || !f.starts_with('-') {
            if let Some(first) = &server {
                return Err(Usage(format!(
                    "diagram: one server trace only ('{first}' and '{flag}'); the client's goes after --client"
                )));
            }
            server = Some(flag);
            continue;
        }
        match f {
            "--help" | "-h" => return Ok(Command::Help(DIAGRAM_HELP)),
            "--client" => o.client = Some(v.text()?),
            "--format" => {
                let table =
                    [("text", Format::Text), ("mermaid", Format::Mermaid), ("svg", Format::Svg)];
                o.format = v.pick(&table)?
            }
            "-o" | "--output" => o.output = Some(v.text()?),
            "--connections" => o.limits.connections = v.number(0, usize::MAX)?,
            "--calls" => o.limits.calls = v.number(0, usize::MAX)?,
            _ => {
                return Err(Usage(format!("unknown option '{flag}' (see sockref diagram --help)")))
            }
        }
    }
    o.server = server.ok_or_else(|| {
        Usage("diagram needs the server's trace, e.g. sockref diagram server.jsonl".to_string())
    })?;
    Ok(Command::Diagram(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse;
    use crate::diagram::Limits;

    fn p(args: &[&str]) -> Result<Command, Usage> {
        parse(args.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn diagram_takes_a_server_trace_and_options() {
        let Ok(Command::Diagram(o)) = p(&[
            "diagram",
            "s.jsonl",
            "--client=c.jsonl",
            "--format",
            "svg",
            "-o",
            "x.svg",
            "--calls",
            "0",
        ]) else {
            panic!()
        };
        assert_eq!(o.server, "s.jsonl");
        assert_eq!(o.client.as_deref(), Some("c.jsonl"));
        assert_eq!((o.format, o.output.as_deref()), (Format::Svg, Some("x.svg")));
        assert_eq!(o.limits, Limits { connections: 8, calls: 0 });
        let Ok(Command::Diagram(o)) = p(&["diagram", "-", "--format=mermaid"]) else { panic!() };
        assert_eq!((o.server.as_str(), o.format, o.client), ("-", Format::Mermaid, None));
        assert!(matches!(p(&["diagram", "--help"]), Ok(Command::Help(DIAGRAM_HELP))));
    }

    #[test]
    fn diagram_usage_errors_say_what_to_do() {
        let e = p(&["diagram"]).unwrap_err();
        assert!(e.0.contains("needs the server's trace"), "{e}");
        let e = p(&["diagram", "a", "b"]).unwrap_err();
        assert!(e.0.contains("--client"), "{e}");
        let e = p(&["diagram", "a", "--format", "png"]).unwrap_err();
        assert!(e.0.contains("text, mermaid, svg"), "{e}");
        let e = p(&["diagram", "a", "--connections", "-1"]).unwrap_err();
        assert!(e.0.contains("not a number"), "{e}");
        let e = p(&["diagram", "a", "--frobnicate"]).unwrap_err();
        assert!(e.0.contains("sockref diagram --help"), "{e}");
    }
}
