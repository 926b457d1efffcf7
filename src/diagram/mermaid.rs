//! The figure as a Mermaid `sequenceDiagram`, which GitHub draws inside a
//! README's ```` ```mermaid ```` block: a participant per side, each call
//! a note beside its side, each segment a message (solid for data,
//! dotted for TCP control segments).
//!
//! Mermaid reads `;` as the end of a statement and `#` as the start of an
//! entity code, and treats `<` `>` `&` as HTML: text carries them as entity
//! codes (`#59;` `#35;` `#60;` `#62;` `#38;`), which Mermaid draws as the
//! characters. A call's lines are joined with `<br/>`.

use super::model::{Diagram, Row, Side};

/// `text` with the characters Mermaid would misread replaced by entity codes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            // Else `&` and the code after it could read as an HTML entity.
            '&' => out.push_str("#38;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            // A statement is one line.
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn note_over(out: &mut String, text: &str) {
    out.push_str(&format!("    Note over C,S: {}\n", escape(text)));
}

/// Draws the figure.
pub(super) fn render(d: &Diagram) -> String {
    let mut out = String::from("sequenceDiagram\n");
    out.push_str("    participant C as client\n");
    out.push_str("    participant S as server\n");
    note_over(&mut out, &d.title);
    for note in &d.notes {
        note_over(&mut out, note);
    }
    for section in &d.sections {
        note_over(&mut out, &section.heading);
        for row in &section.rows {
            match row {
                Row::Call(call) => {
                    let lines: Vec<String> = call
                        .lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| {
                            if i == 0 && call.alert {
                                escape(&format!("! {l}"))
                            } else {
                                escape(l)
                            }
                        })
                        .collect();
                    let place = match call.side {
                        Side::Client => "left of C",
                        Side::Server => "right of S",
                    };
                    out.push_str(&format!("    Note {place}: {}\n", lines.join("<br/>")));
                }
                Row::Arrow { from, label, control } => {
                    let (a, b) = match from {
                        Side::Client => ("C", "S"),
                        Side::Server => ("S", "C"),
                    };
                    let line = if *control { "-->>" } else { "->>" };
                    out.push_str(&format!("    {a}{line}{b}: {}\n", escape(label)));
                }
                Row::Fold(text) => note_over(&mut out, text),
            }
        }
    }
    for note in &d.footnotes {
        note_over(&mut out, note);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_mermaid_misreads_become_entity_codes() {
        assert_eq!(escape("a;b#c<d>e\nf&g"), "a#59;b#35;c#60;d#62;e f#38;g");
        assert_eq!(escape("read() = 0 (EOF)"), "read() = 0 (EOF)");
    }
}
