//! The labs page is the doc-tested labs: the fenced blocks of docs/labs.md
//! are, line for line, the examples of `src/labs.rs` (which `cargo test`
//! compiles and runs), without the lines rustdoc hides.

use std::fs;

fn read(path: &str) -> String {
    fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The contents of the fenced blocks in `lines`, fences excluded.
fn blocks<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    let (mut out, mut cur) = (Vec::new(), None::<Vec<String>>);
    for line in lines {
        if line.trim_start().starts_with("```") {
            match cur.take() {
                Some(block) => out.push(block),
                None => cur = Some(Vec::new()),
            }
        } else if let Some(block) = cur.as_mut() {
            block.push(line.to_string());
        }
    }
    out
}

#[test]
fn the_labs_page_is_the_doc_tested_labs() {
    let labs = read("src/labs.rs");
    let doc = labs
        .lines()
        .filter_map(|l| l.strip_prefix("//! ").or_else(|| l.strip_prefix("//!")));
    let tested: Vec<Vec<String>> = blocks(doc)
        .into_iter()
        .map(|b| {
            b.into_iter()
                .filter(|l| {
                    let t = l.trim_start();
                    !(t.starts_with("# ") || t == "#")
                })
                .collect()
        })
        .collect();

    let page = read("docs/labs.md");
    let shown = blocks(page.lines());

    assert_eq!(
        tested.len(),
        14,
        "src/labs.rs: three labs, the failing handler, and five experiments (a shell block and a doc test each)"
    );
    assert_eq!(shown.len(), tested.len(), "docs/labs.md blocks");
    for (i, (s, t)) in shown.iter().zip(&tested).enumerate() {
        assert_eq!(
            s,
            t,
            "docs/labs.md block {} differs from src/labs.rs",
            i + 1
        );
    }
}
