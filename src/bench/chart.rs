//! A comparison as an SVG bar chart: one bar per server at its median,
//! an error bar from its slowest to its fastest run, the ratio to the
//! baseline above it. Plain SVG 1.1 written by hand, readable in any
//! browser, no script, no external font or style.

use std::fmt::Write as _;

use super::summary::{metric_label, thousands, Summary};
use super::Mode;
use crate::diagram::svg::escape as xml_escape;

/// The chart of `summaries` under `title` (e.g. the workload).
pub fn svg(mode: Mode, title: &str, summaries: &[Summary]) -> String {
    const BAR: f64 = 64.0;
    const GAP: f64 = 48.0;
    const LEFT: f64 = 90.0;
    const TOP: f64 = 60.0;
    const PLOT: f64 = 260.0;
    let (unit, higher) = metric_label(mode);
    let width = LEFT + summaries.len() as f64 * (BAR + GAP) + GAP;
    let height = TOP + PLOT + 70.0;
    let top_value = summaries
        .iter()
        .map(|s| if s.max.is_finite() { s.max } else { 0.0 })
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let y = |v: f64| TOP + PLOT - (v / top_value * PLOT).clamp(0.0, PLOT);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>
<text x="{:.0}" y="24" text-anchor="middle" font-size="15">{}</text>
<text x="{:.0}" y="42" text-anchor="middle" fill="#555">median {} ({} is better); bars: slowest to fastest run</text>"##,
        width / 2.0,
        xml_escape(title),
        width / 2.0,
        xml_escape(unit),
        if higher { "higher" } else { "lower" },
    );
    for i in 0..=4 {
        let v = top_value * f64::from(i) / 4.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ddd"/>
<text x="{2}" y="{3:.1}" text-anchor="end" fill="#555">{4}</text>"##,
            y(v),
            width - GAP / 2.0,
            LEFT - 6.0,
            y(v) + 4.0,
            thousands(v),
        );
    }
    for (i, x) in summaries.iter().enumerate() {
        let left = LEFT + GAP / 2.0 + i as f64 * (BAR + GAP);
        let mid = left + BAR / 2.0;
        let name = xml_escape(&x.name);
        if let Some(m) = x.median {
            let _ = writeln!(
                s,
                r##"<rect x="{left:.1}" y="{:.1}" width="{BAR}" height="{:.1}" fill="#4a7fb5"><title>{name}: {}</title></rect>"##,
                y(m),
                TOP + PLOT - y(m),
                thousands(m),
            );
            if x.min.is_finite() && x.max.is_finite() {
                let (lo, hi) = (y(x.min), y(x.max));
                let _ = writeln!(
                    s,
                    r##"<path d="M{mid:.1} {lo:.1}V{hi:.1}M{:.1} {lo:.1}H{:.1}M{:.1} {hi:.1}H{:.1}" stroke="black" stroke-width="1.5" fill="none"/>"##,
                    mid - 8.0,
                    mid + 8.0,
                    mid - 8.0,
                    mid + 8.0,
                );
            }
            let label = match x.ratio {
                Some(r) => format!("{} ({r:.2}x)", thousands(m)),
                None => thousands(m),
            };
            let _ = writeln!(
                s,
                r#"<text x="{mid:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                y(x.max.max(m)) - 8.0,
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{mid:.1}" y="{:.1}" text-anchor="middle">{name}</text>"#,
            TOP + PLOT + 20.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="black"/>
</svg>"#,
        TOP + PLOT,
        width - GAP / 2.0,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        assert_eq!(xml_escape(r#"a<b & "c">'"#), "a&lt;b &amp; &quot;c&quot;&gt;&apos;");
    }
}
