//! A comparison as SVG: a bar chart of the closed-loop medians ([`svg`]),
//! or the latency-throughput curves of `--rates` ([`curve_svg`]). Plain
//! SVG 1.1 written by hand, readable in any browser, no script, no
//! external font or style.
//!
//! Renderers other than browsers (rsvg, Inkscape, image viewers) clip
//! text at the picture's edge and know nothing of the text's real width,
//! so every picture is made wide enough for its title at a generous
//! estimate of a sans-serif glyph, and axis ticks fall on round numbers.

use std::fmt::Write as _;

use super::curve::{latency, CurveRow};
use super::summary::{metric_label, thousands, Summary};
use super::Mode;
use crate::diagram::svg::escape as xml_escape;

/// The SVG's opening: the white page and the title and subtitle, left
/// aligned so that no renderer's idea of "centre" can push them off it.
fn page(s: &mut String, width: f64, height: f64, title: &str, subtitle: &str) {
    let _ = writeln!(
        s,
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>
<text x="16" y="24" font-size="15">{}</text>
<text x="16" y="42" fill="#555">{}</text>"##,
        xml_escape(title),
        xml_escape(subtitle),
    );
}

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

/// Colours of the servers' lines, in order (then again).
const COLOURS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/// The latency-throughput curves: x the achieved rate (linear, from 0),
/// y the latency from the due time (log, a line per power of ten), per
/// server a solid line through its p50 and a dashed one through its p99,
/// a point per rate. Rates whose load generator fell behind in every run
/// have no latency and no point.
pub fn curve_svg(mode: Mode, title: &str, names: &[String], rows: &[CurveRow]) -> String {
    const LEFT: f64 = 80.0;
    const TOP: f64 = 64.0;
    const PLOT_W: f64 = 560.0;
    const PLOT_H: f64 = 340.0;
    const LEGEND: f64 = 170.0;
    let unit = mode.unit();
    let subtitle = "latency from each request's due time (log scale) against the rate achieved; \
                    medians over the rounds";
    let width = (LEFT + PLOT_W + LEGEND)
        .max(text_width(title, 15.0) + 32.0)
        .max(text_width(subtitle, 12.0) + 32.0);
    let height = TOP + PLOT_H + 60.0;
    // Every point drawn: (server, achieved, p50, p99).
    let mut points: Vec<(usize, f64, Option<f64>, Option<f64>)> = Vec::new();
    for row in rows {
        for (i, p) in row.servers.iter().enumerate() {
            if let Some(a) = p.achieved {
                points.push((i, a, p.p50_us, p.p99_us));
            }
        }
    }
    let x_most =
        rows.iter().map(|r| r.target).chain(points.iter().map(|p| p.1)).fold(1.0, f64::max);
    let (x_top, x_step) = ticks(x_most);
    let x_ticks = (x_top / x_step).round();
    let lats = points.iter().flat_map(|p| [p.2, p.3]).flatten().filter(|v| *v > 0.0);
    let (lo, hi) = lats.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (d_lo, d_hi) = if lo <= hi {
        (lo.log10().floor(), hi.log10().ceil().max(lo.log10().floor() + 1.0))
    } else {
        (1.0, 3.0)
    };
    let x = |v: f64| LEFT + (v / x_top).clamp(0.0, 1.0) * PLOT_W;
    let y = |us: f64| {
        let f = (us.max(1e-3).log10() - d_lo) / (d_hi - d_lo);
        TOP + PLOT_H - f.clamp(0.0, 1.0) * PLOT_H
    };
    let mut s = String::new();
    page(&mut s, width, height, title, subtitle);
    // The grid: a labelled line per power of ten, faint ones at 2 and 5.
    for d in d_lo as i32..=d_hi as i32 {
        let v = 10f64.powi(d);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#ccc"/>
<text x="{2}" y="{3:.1}" text-anchor="end" fill="#555">{4}</text>"##,
            y(v),
            LEFT + PLOT_W,
            LEFT - 6.0,
            y(v) + 4.0,
            latency_label(v),
        );
        for m in [2.0, 5.0] {
            if f64::from(d) < d_hi {
                let _ = writeln!(
                    s,
                    r##"<line x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#eee"/>"##,
                    y(v * m),
                    LEFT + PLOT_W,
                );
            }
        }
    }
    for i in 0..=x_ticks as u32 {
        let v = x_step * f64::from(i);
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{TOP}" x2="{0:.1}" y2="{1:.1}" stroke="#eee"/>
<text x="{0:.1}" y="{2:.1}" text-anchor="middle" fill="#555">{3}</text>"##,
            x(v),
            TOP + PLOT_H,
            TOP + PLOT_H + 18.0,
            thousands(v),
        );
    }
    let _ = writeln!(
        s,
        r##"<path d="M{LEFT} {TOP}V{0:.1}H{1:.1}" stroke="black" fill="none"/>
<text x="{2:.1}" y="{3:.1}" text-anchor="middle">achieved {unit}</text>"##,
        TOP + PLOT_H,
        LEFT + PLOT_W,
        LEFT + PLOT_W / 2.0,
        TOP + PLOT_H + 40.0,
    );
    for (i, name) in names.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mine: Vec<&(usize, f64, Option<f64>, Option<f64>)> =
            points.iter().filter(|p| p.0 == i).collect();
        for (which, dash) in [(0, ""), (1, r#" stroke-dasharray="6 4""#)] {
            let pts: Vec<(f64, f64)> = mine
                .iter()
                .filter_map(|p| if which == 0 { p.2 } else { p.3 }.map(|l| (x(p.1), y(l))))
                .collect();
            if pts.is_empty() {
                continue;
            }
            let d: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                d.join(" ")
            );
            for (a, b) in pts {
                let _ = writeln!(
                    s,
                    r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{colour}"><title>{}</title></circle>"#,
                    xml_escape(name)
                );
            }
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + PLOT_W + 20.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/>
<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            xml_escape(name),
        );
    }
    let ly = TOP + 20.0 + names.len() as f64 * 20.0;
    let lx = LEFT + PLOT_W + 20.0;
    let _ = writeln!(
        s,
        r##"<line x1="{lx}" y1="{ly:.1}" x2="{0:.1}" y2="{ly:.1}" stroke="#333" stroke-width="2"/>
<text x="{1:.1}" y="{2:.1}">p50</text>
<line x1="{lx}" y1="{3:.1}" x2="{0:.1}" y2="{3:.1}" stroke="#333" stroke-width="2" stroke-dasharray="6 4"/>
<text x="{1:.1}" y="{4:.1}">p99</text>
</svg>"##,
        lx + 24.0,
        lx + 30.0,
        ly + 4.0,
        ly + 20.0,
        ly + 24.0,
    );
    s
}

/// A power of ten of microseconds as an axis label: `10 us`, `1 ms`, `1 s`.
fn latency_label(us: f64) -> String {
    if us < 1.0 {
        format!("{us} us")
    } else {
        latency(us).replace(".00", "").replace(".0 ", " ") + if us < 1000.0 { " us" } else { "" }
    }
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

    /// The `width` attribute of the chart's root element (0 if none).
    fn svg_width(svg: &str) -> f64 {
        svg.split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap_or_default()
    }

    #[test]
    fn the_chart_is_as_wide_as_its_titles() {
        let title = "pingpong, 100 conns, 2 threads, 64 B, pinned 0:1, 5 rounds of 2.5 s";
        let svg = svg(Mode::Pingpong, title, &[]);
        let width = svg_width(&svg);
        assert!(width >= text_width(title, 15.0), "{width}");
        assert!(svg.contains(">median req/s (higher is better); bars"), "{svg}");
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(xml_escape(r#"a<b & "c">'"#), "a&lt;b &amp; &quot;c&quot;&gt;&apos;");
    }

    #[test]
    fn the_latency_axis_is_labelled_in_powers_of_ten() {
        assert_eq!(latency_label(1.0), "1 us");
        assert_eq!(latency_label(100.0), "100 us");
        assert_eq!(latency_label(1000.0), "1 ms");
        assert_eq!(latency_label(10_000.0), "10 ms");
        assert_eq!(latency_label(1e6), "1 s");
    }

    #[test]
    fn the_curve_chart_is_as_wide_as_its_title_and_skips_missing_latencies() {
        use crate::bench::curve::PointSummary;
        let title = "open loop: pingpong, 100 conns, 64 B, pinned 0:1, and a long tail to it";
        let point = |achieved: f64, p99: Option<f64>| PointSummary {
            runs: 1,
            achieved: Some(achieved),
            p50_us: p99.map(|p| p / 3.0),
            p99_us: p99,
            ..PointSummary::default()
        };
        let rows = vec![
            CurveRow { label: "10%".into(), target: 1e4, servers: vec![point(1e4, Some(80.0))] },
            CurveRow { label: "90%".into(), target: 9e4, servers: vec![point(8.8e4, None)] },
        ];
        let svg = curve_svg(Mode::Pingpong, title, &["a".into()], &rows);
        let width = svg_width(&svg);
        assert!(width >= text_width(title, 15.0), "{width}");
        // One point each for p50 and p99: the client-behind rate has none.
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
        assert!(svg.contains(">100 us<") && svg.contains(">10 us<"), "{svg}");
        assert!(svg.contains(">100,000<"), "x ticks are round: {svg}");
    }
}
