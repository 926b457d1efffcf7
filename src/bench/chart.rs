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
    let better = if higher { "higher" } else { "lower" };
    let subtitle = format!("median {unit} ({better} is better); bars: slowest to fastest run");
    // Wide enough for the titles too: renderers other than browsers (rsvg,
    // ImageMagick) clip at the width, and a two-bar chart is narrower than
    // its subtitle.
    let width = (LEFT + summaries.len() as f64 * (BAR + GAP) + GAP)
        .max(text_width(title, 15.0) + 24.0)
        .max(text_width(&subtitle, 12.0) + 24.0)
        .ceil();
    let height = TOP + PLOT + 70.0;
    let highest = summaries
        .iter()
        .map(|s| if s.max.is_finite() { s.max } else { 0.0 })
        .fold(0.0, f64::max)
        .max(1.0);
    let (top_value, step) = ticks(highest * 1.05);
    let y = |v: f64| TOP + PLOT - (v / top_value * PLOT).clamp(0.0, PLOT);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>
<text x="{:.0}" y="24" text-anchor="middle" font-size="15">{}</text>
<text x="{:.0}" y="42" text-anchor="middle" fill="#555">{}</text>"##,
        width / 2.0,
        xml_escape(title),
        width / 2.0,
        xml_escape(&subtitle),
    );
    let lines = (top_value / step).round() as u32;
    for i in 0..=lines {
        let v = step * f64::from(i);
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

/// A generous guess at the width of `text` in a sans-serif font of
/// `size` pixels (0.6 em a character; most are narrower).
fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// The y axis for values up to `max`: a round step (1, 2, 2.5 or 5 times
/// a power of ten) giving at most 6 intervals, and the top, a multiple of
/// it at or above `max`: ticks read 0, 10,000, 20,000, not 25,506.
fn ticks(max: f64) -> (f64, f64) {
    let rough = max.max(1e-9) / 6.0;
    let power = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * power);
    ((max / step).ceil().max(1.0) * step, step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_y_axis_ticks_are_round() {
        // The issue's chart: top 51,013 in quarters gave 25,506.
        assert_eq!(ticks(51_013.0), (60_000.0, 10_000.0));
        assert_eq!(ticks(161_636.0), (200_000.0, 50_000.0));
        assert_eq!(ticks(9.0), (10.0, 2.0));
        for max in [3.0, 77.0, 999.0, 12_345.0, 250_000.0, 3.7e6] {
            let (top, step) = ticks(max);
            assert!(top >= max && top / step <= 6.0 + 1e-9, "{max}: {top} {step}");
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 2.5, 5.0].iter().any(|m| (m - mantissa).abs() < 1e-9),
                "{max}: step {step}"
            );
        }
    }

    #[test]
    fn the_chart_is_as_wide_as_its_titles() {
        let title = "pingpong, 100 conns, 2 threads, 64 B, pinned 0:1, 5 rounds of 2.5 s";
        let svg = svg(Mode::Pingpong, title, &[]);
        let width: f64 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap_or_default();
        assert!(width >= text_width(title, 15.0), "{width}");
        assert!(svg.contains(">median req/s (higher is better); bars"), "{svg}");
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(xml_escape(r#"a<b & "c">'"#), "a&lt;b &amp; &quot;c&quot;&gt;&apos;");
    }
}
