//! The ASCII figure for a terminal: the client's calls on the left, the
//! server's on the right, a lifeline for each, and what crossed the
//! network drawn between them. At most 79 columns, so that an 80-column
//! terminal or a projected shell never wraps a line.
//!
//! ```text
//! write() = 5            |------------ 5 bytes ---------->|
//! ```
//!
//! Data segments are drawn with `-`, TCP control segments (SYN, ACK, FIN)
//! with `.`; calls inferred from the other side's trace are `[bracketed]`,
//! errors start with `!`.

use super::model::{Diagram, Row, Side};
use super::wrap;

/// Width of the client's text column.
const CLIENT: usize = 22;
/// Width between the two lifelines.
const MIDDLE: usize = 30;
/// Width of the server's text column: 22 + " |" + 30 + "| " + 23 = 79.
const SERVER: usize = 23;
/// The whole line.
const WIDTH: usize = CLIENT + 2 + MIDDLE + 2 + SERVER;
const _: () = assert!(WIDTH < 80, "an 80-column terminal must not wrap a line");

/// One line of the figure: text, lifeline, middle, lifeline, text.
fn line(client: &str, middle: &str, server: &str) -> String {
    let pad = CLIENT.saturating_sub(client.chars().count());
    let mut l = format!("{client}{} |{middle:<MIDDLE$}| {server}", " ".repeat(pad));
    l.truncate(l.trim_end().len());
    l.push('\n');
    l
}

/// `------- label ------->` from the client, `<------- label -------` from
/// the server, `MIDDLE` characters wide.
fn arrow(from: Side, label: &str, control: bool) -> String {
    let fill = if control { '.' } else { '-' };
    let label: String = label.chars().take(MIDDLE - 5).collect();
    let label = format!(" {label} ");
    let free = MIDDLE - 1 - label.chars().count();
    let (left, right) = (free / 2, free - free / 2);
    let body =
        format!("{}{label}{}", fill.to_string().repeat(left), fill.to_string().repeat(right));
    match from {
        Side::Client => format!("{body}>"),
        Side::Server => format!("<{body}"),
    }
}

fn notes(out: &mut String, notes: &[String]) {
    for note in notes {
        for (i, l) in wrap(note, WIDTH - 6).iter().enumerate() {
            out.push_str(if i == 0 { "note: " } else { "      " });
            out.push_str(l);
            out.push('\n');
        }
    }
}

/// Draws the figure.
pub(super) fn render(d: &Diagram) -> String {
    let mut out = String::new();
    for l in wrap(&format!("sockref diagram: {}", d.title), WIDTH) {
        out.push_str(&l);
        out.push('\n');
    }
    notes(&mut out, &d.notes);
    out.push('\n');
    out.push_str(&line("client", "", "server"));
    for section in &d.sections {
        for l in wrap(&section.heading, WIDTH - 4) {
            let head = format!("== {l} ");
            let fill = WIDTH.saturating_sub(head.chars().count());
            out.push_str(&format!("{head}{}\n", "=".repeat(fill)));
        }
        for row in &section.rows {
            match row {
                Row::Call(call) => {
                    let width = if call.side == Side::Client { CLIENT } else { SERVER };
                    let mut lines = Vec::new();
                    for (i, text) in call.lines.iter().enumerate() {
                        let text =
                            if i == 0 && call.alert { format!("! {text}") } else { text.clone() };
                        lines.extend(wrap(&text, width));
                    }
                    for l in lines {
                        out.push_str(&match call.side {
                            Side::Client => line(&l, "", ""),
                            Side::Server => line("", "", &l),
                        });
                    }
                }
                Row::Arrow { from, label, control } => {
                    out.push_str(&line("", &arrow(*from, label, *control), ""));
                }
                Row::Fold(text) => {
                    for l in wrap(text, WIDTH - 2) {
                        out.push_str(&format!("  {l}\n"));
                    }
                }
            }
        }
    }
    if !d.footnotes.is_empty() {
        out.push('\n');
        notes(&mut out, &d.footnotes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_fill_the_middle_and_point_at_the_receiver() {
        let a = arrow(Side::Client, "5 bytes", false);
        assert_eq!(a, "---------- 5 bytes ---------->");
        assert_eq!(a.len(), MIDDLE);
        let a = arrow(Side::Server, "SYN-ACK", true);
        assert_eq!(a, "<.......... SYN-ACK ..........");
        let long = arrow(Side::Client, &"x".repeat(40), false);
        assert_eq!(long.chars().count(), MIDDLE);
    }

    #[test]
    fn lines_keep_the_lifelines_in_place_and_fit_80_columns() {
        assert_eq!(
            line("write() = 5", "", ""),
            format!("write() = 5{}|{}|\n", " ".repeat(12), " ".repeat(MIDDLE))
        );
        let l = line("", "", &"s".repeat(SERVER));
        assert_eq!(l.trim_end().chars().count(), WIDTH);
    }
}
