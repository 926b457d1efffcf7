//! The figure as a standalone SVG picture, for handouts: no script, no
//! font file, no link to anything outside it; monospace text, so that the
//! widths below hold in any viewer.
//!
//! One `<g class="call">` per traced call (an inferred one is
//! `<g class="inferred">`, drawn dashed), one `<g class="arrow">` per
//! segment (`class="arrow control"` for SYN, ACK and FIN, dashed), one
//! `<g class="section">` per heading and `<g class="fold">` per folded run.

use std::fmt::Write as _;

use super::model::{Diagram, Row, Side};
use super::wrap;

const WIDTH: u32 = 760;
const MARGIN: u32 = 10;
const BOX: u32 = 210;
const CLIENT_LINE: u32 = MARGIN + BOX + 20;
const SERVER_LINE: u32 = WIDTH - MARGIN - BOX - 20;
/// Height of a line of 12px monospace text.
const LINE: u32 = 15;
/// Characters of 12px monospace (about 7.2px each) that fit in a box.
const BOX_CHARS: usize = 27;
/// Characters across the whole picture.
const WIDE_CHARS: usize = 100;

const STYLE: &str = "text{font-family:monospace;font-size:12px;fill:#111}\
.title{font-size:14px;font-weight:bold}.note{fill:#444}\
rect.box{fill:#fff;stroke:#333}rect.alert{fill:#fde8e8;stroke:#c00}\
rect.inferred{fill:#fff;stroke:#888;stroke-dasharray:4 3}.inferred text{fill:#666}\
.lifeline{stroke:#aaa;stroke-width:1}line.data{stroke:#036;stroke-width:1.5}\
line.control{stroke:#036;stroke-dasharray:5 4}.section rect{fill:#eef}\
.fold text{font-style:italic;fill:#444}.head rect{fill:#f4f4f4;stroke:#333}";

/// `text` safe inside XML text and attribute values (the diagram's SVG
/// and bench's chart).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters, escaped or not.
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn text(out: &mut String, x: u32, y: u32, anchor: &str, class: &str, s: &str) {
    let class = if class.is_empty() { String::new() } else { format!(" class=\"{class}\"") };
    let _ = writeln!(
        out,
        "<text x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\"{class}>{}</text>",
        escape(s)
    );
}

/// Lines of text across the picture, from `y`; returns the new `y`.
fn wide(out: &mut String, y: u32, class: &str, s: &str) -> u32 {
    let mut y = y;
    for l in wrap(s, WIDE_CHARS) {
        y += LINE;
        text(out, MARGIN, y, "start", class, &l);
    }
    y
}

/// Draws the figure.
pub(super) fn render(d: &Diagram) -> String {
    let mut body = String::new();
    let mut y = wide(&mut body, 6, "title", &format!("sockref diagram: {}", d.title));
    for note in &d.notes {
        y = wide(&mut body, y, "note", note);
    }
    y += 12;
    let top = y;
    for (x, name) in [(CLIENT_LINE, "client"), (SERVER_LINE, "server")] {
        let _ = writeln!(
            body,
            "<g class=\"head\"><rect x=\"{}\" y=\"{y}\" width=\"80\" height=\"22\"/>",
            x - 40
        );
        text(&mut body, x, y + 15, "middle", "", name);
        body.push_str("</g>\n");
    }
    y += 32;
    for section in &d.sections {
        let lines = wrap(&section.heading, WIDE_CHARS);
        let h = lines.len() as u32 * LINE + 6;
        body.push_str("<g class=\"section\">\n");
        let _ = writeln!(
            body,
            "<rect x=\"{MARGIN}\" y=\"{y}\" width=\"{}\" height=\"{h}\"/>",
            WIDTH - 2 * MARGIN
        );
        for (i, l) in lines.iter().enumerate() {
            text(&mut body, MARGIN + 6, y + (i as u32 + 1) * LINE, "start", "", l);
        }
        body.push_str("</g>\n");
        y += h + 8;
        for row in &section.rows {
            match row {
                Row::Call(call) => {
                    let mut lines = Vec::new();
                    for (i, l) in call.lines.iter().enumerate() {
                        let l = if i == 0 && call.alert { format!("! {l}") } else { l.clone() };
                        lines.extend(wrap(&l, BOX_CHARS));
                    }
                    let h = lines.len() as u32 * LINE + 8;
                    let x = match call.side {
                        Side::Client => MARGIN,
                        Side::Server => WIDTH - MARGIN - BOX,
                    };
                    let (group, rect) = match (call.inferred, call.alert) {
                        (true, _) => ("inferred", "inferred"),
                        (false, true) => ("call", "alert"),
                        (false, false) => ("call", "box"),
                    };
                    let _ = writeln!(body, "<g class=\"{group}\">");
                    let _ = writeln!(body, "<rect class=\"{rect}\" x=\"{x}\" y=\"{y}\" width=\"{BOX}\" height=\"{h}\" rx=\"3\"/>");
                    for (i, l) in lines.iter().enumerate() {
                        text(&mut body, x + 6, y + 2 + (i as u32 + 1) * LINE, "start", "", l);
                    }
                    body.push_str("</g>\n");
                    y += h + 6;
                }
                Row::Arrow { from, label, control } => {
                    let (x1, x2) = match from {
                        Side::Client => (CLIENT_LINE, SERVER_LINE),
                        Side::Server => (SERVER_LINE, CLIENT_LINE),
                    };
                    let (group, line) =
                        if *control { ("arrow control", "control") } else { ("arrow", "data") };
                    let _ = writeln!(body, "<g class=\"{group}\">");
                    text(&mut body, (CLIENT_LINE + SERVER_LINE) / 2, y + 12, "middle", "", label);
                    let _ = writeln!(
                        body,
                        "<line class=\"{line}\" x1=\"{x1}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\" marker-end=\"url(#head)\"/>",
                        y + 18,
                        y + 18
                    );
                    body.push_str("</g>\n");
                    y += 28;
                }
                Row::Fold(s) => {
                    body.push_str("<g class=\"fold\">\n");
                    for l in wrap(s, WIDE_CHARS) {
                        y += LINE;
                        text(&mut body, WIDTH / 2, y, "middle", "", &l);
                    }
                    body.push_str("</g>\n");
                    y += 10;
                }
            }
        }
    }
    let bottom = y + 4;
    y += 8;
    for note in &d.footnotes {
        y = wide(&mut body, y, "note", note);
    }
    let height = y + 12;
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">"
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&format!("sockref diagram: {}", d.title)));
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str("<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#036\"/></marker></defs>\n");
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{height}\" fill=\"#fff\"/>"
    );
    // Lifelines first, so that the boxes are drawn over them.
    for x in [CLIENT_LINE, SERVER_LINE] {
        let _ = writeln!(
            out,
            "<line class=\"lifeline\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\"/>",
            top + 22
        );
    }
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(escape("a<b>&\"c'\u{1}"), "a&lt;b&gt;&amp;&quot;c&apos; ");
    }
}
