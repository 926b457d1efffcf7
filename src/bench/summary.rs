//! A comparison's runs, summed up per server: the median of the main
//! metric, how far the runs spread, latency, server cost, and the ratio to
//! the baseline; printed as a Markdown table.
//!
//! The main metric is the rate (requests, connections or datagrams a
//! second, higher is better), except in idle mode, where it is the
//! server's peak resident memory (lower is better). Every figure is a
//! median over the server's runs, so that one disturbed run moves none of
//! them; the spread says how disturbed they were.

use std::fmt::Write as _;

use super::Mode;

/// What one run measured, as the summary needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunFigures {
    /// Requests (or connections, datagrams) per second.
    pub rate: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
    /// 99.9th percentile, microseconds.
    pub p999_us: f64,
    /// The server's CPU per request, microseconds (from `/proc/PID/stat`).
    pub server_us_per_req: Option<f64>,
    /// The server's peak resident memory (`VmHWM`), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Failed requests.
    pub errors: u64,
}

/// One server's line of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The server's name.
    pub name: String,
    /// Runs summed up.
    pub runs: usize,
    /// Median of the main metric (see the module docs); `None` with no run.
    pub median: Option<f64>,
    /// Lowest and highest value of the main metric over the runs.
    pub min: f64,
    /// See `min`.
    pub max: f64,
    /// (max - min) / median.
    pub spread: Option<f64>,
    /// Median p50 latency over the runs, microseconds.
    pub p50_us: Option<f64>,
    /// Median p99 latency, microseconds.
    pub p99_us: Option<f64>,
    /// Median p99.9 latency, microseconds.
    pub p999_us: Option<f64>,
    /// Median server CPU per request, microseconds.
    pub server_us_per_req: Option<f64>,
    /// Median peak RSS, KiB.
    pub peak_rss_kib: Option<f64>,
    /// Failed requests over all runs.
    pub errors: u64,
    /// Median main metric over the baseline's.
    pub ratio: Option<f64>,
}

/// The median of `xs` (the mean of the middle two for an even count);
/// `None` if empty. NaNs are not expected and sort last.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// (max - min) / median: 0.25 means the runs spread over a quarter of
/// their median. `None` if empty or the median is 0.
pub fn spread(xs: &[f64]) -> Option<f64> {
    let m = median(xs)?;
    let max = xs.iter().copied().fold(f64::MIN, f64::max);
    let min = xs.iter().copied().fold(f64::MAX, f64::min);
    (m != 0.0).then(|| (max - min) / m)
}

/// `value / baseline`; `None` when the baseline is 0 (or missing).
pub fn ratio(value: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    match (value, baseline) {
        (Some(v), Some(b)) if b != 0.0 => Some(v / b),
        _ => None,
    }
}

/// The main metric of a run in `mode` (see the module docs).
pub fn main_value(mode: Mode, f: &RunFigures) -> Option<f64> {
    match mode {
        Mode::Idle => f.peak_rss_kib.map(|k| k as f64),
        _ => Some(f.rate),
    }
}

/// The name and unit of the main metric, and whether higher is better.
pub fn metric_label(mode: Mode) -> (&'static str, bool) {
    match mode {
        Mode::Idle => ("peak RSS KiB", false),
        rate => (rate.unit(), true),
    }
}

/// Sums up `runs` (server index, figures) for each of `names`; ratios are
/// to server `baseline`.
pub fn summarize(
    mode: Mode,
    names: &[String],
    runs: &[(usize, RunFigures)],
    baseline: usize,
) -> Vec<Summary> {
    let mut out: Vec<Summary> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mine: Vec<&RunFigures> =
                runs.iter().filter(|(s, _)| *s == i).map(|(_, r)| r).collect();
            let med = |f: fn(&RunFigures) -> Option<f64>| {
                let xs: Vec<f64> = mine.iter().filter_map(|r| f(r)).collect();
                median(&xs)
            };
            let values: Vec<f64> = mine.iter().filter_map(|r| main_value(mode, r)).collect();
            Summary {
                name: name.clone(),
                runs: mine.len(),
                median: median(&values),
                min: values.iter().copied().fold(f64::INFINITY, f64::min),
                max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                spread: spread(&values),
                p50_us: med(|r| Some(r.p50_us)),
                p99_us: med(|r| Some(r.p99_us)),
                p999_us: med(|r| Some(r.p999_us)),
                server_us_per_req: med(|r| r.server_us_per_req),
                peak_rss_kib: med(|r| r.peak_rss_kib.map(|k| k as f64)),
                errors: mine.iter().map(|r| r.errors).sum(),
                ratio: None,
            }
        })
        .collect();
    let base = out.get(baseline).and_then(|s| s.median);
    for s in &mut out {
        s.ratio = ratio(s.median, base);
    }
    out
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < -0.5 {
        out.insert(0, '-');
    }
    out
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_string(), f)
}

/// The Markdown table: one line per server, the baseline's name in the
/// ratio column's heading.
pub fn markdown(mode: Mode, summaries: &[Summary], baseline: usize) -> String {
    let (unit, higher) = metric_label(mode);
    let base = summaries.get(baseline).map_or("", |s| s.name.as_str());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| server | runs | median {unit} | spread | p50 us | p99 us | p99.9 us | server CPU us/req | peak RSS MiB | errors | vs {base} ({} is better) |",
        if higher { "higher" } else { "lower" }
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for x in summaries {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            x.name,
            x.runs,
            opt(x.median, thousands),
            opt(x.spread, |v| format!("{:.0} %", v * 100.0)),
            opt(x.p50_us, |v| format!("{v:.1}")),
            opt(x.p99_us, |v| format!("{v:.1}")),
            opt(x.p999_us, |v| format!("{v:.1}")),
            opt(x.server_us_per_req, |v| format!("{v:.2}")),
            opt(x.peak_rss_kib, |v| format!("{:.1}", v / 1024.0)),
            x.errors,
            opt(x.ratio, |v| format!("{v:.2}x")),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_spreads_and_ratios() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(spread(&[90.0, 100.0, 110.0]), Some(0.2));
        assert_eq!(spread(&[0.0, 0.0]), None);
        assert_eq!(ratio(Some(150.0), Some(100.0)), Some(1.5));
        assert_eq!(ratio(Some(150.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
    }

    #[test]
    fn the_baseline_is_one_and_the_others_relative_to_it() {
        let run = |rate, rss| RunFigures { rate, peak_rss_kib: Some(rss), ..RunFigures::default() };
        let names = vec!["a".to_string(), "b".to_string()];
        let runs = vec![
            (0, run(100.0, 2048)),
            (1, run(300.0, 1024)),
            (0, run(200.0, 2048)),
            (1, run(100.0, 1024)),
            (0, run(300.0, 4096)),
            (1, run(200.0, 1024)),
        ];
        let s = summarize(Mode::Pingpong, &names, &runs, 1);
        assert_eq!((s[0].median, s[1].median), (Some(200.0), Some(200.0)));
        assert_eq!((s[0].ratio, s[1].ratio), (Some(1.0), Some(1.0)));
        assert_eq!(s[0].spread, Some(1.0));
        // Idle compares peak memory: a's median 2048 KiB against b's 1024.
        let s = summarize(Mode::Idle, &names, &runs, 1);
        assert_eq!(s[0].ratio, Some(2.0));
        let table = markdown(Mode::Idle, &s, 1);
        assert!(table.contains("vs b (lower is better)"), "{table}");
        assert!(table.contains("| a | 3 | 2,048 | 100 % |"), "{table}");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234567.8), "1,234,568");
    }
}
