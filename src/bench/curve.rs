//! Latency-throughput curves (`sockref compare --rates`): every server
//! under the same open-loop rates, and per rate the rate each achieved and
//! the latency its users saw, as a Markdown table (one row per rate).
//!
//! A rate is absolute (`20000`) or a share of a closed-loop peak (`50%`).
//! The peak is the *highest* server's: compare first runs the closed-loop
//! workload on every server (the usual throughput table) and takes the
//! largest median, so that every server is asked for the same absolute
//! rates and the curves share one x axis. A slower server is then pushed
//! past its own peak at the top rates, which is where its knee shows.
//!
//! Every figure is a median over the rounds. Latencies are taken only
//! from the runs whose load generator kept to its schedule (see
//! [`Report::generator_behind`](super::Report::generator_behind)); a rate
//! where none did shows `client behind` instead of numbers that would
//! measure the client.

use std::fmt::Write as _;

use super::summary::{median, spread, thousands};

/// One rate of a curve, as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RatePoint {
    /// Requests per second.
    PerSecond(f64),
    /// Percent of the highest server's closed-loop median peak.
    PercentOfPeak(f64),
}

impl RatePoint {
    /// Parses `--rates`: comma-separated, each `N` (req/s) or `N%`.
    pub fn parse_list(list: &str) -> Result<Vec<RatePoint>, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim) {
            let point = match item.strip_suffix('%') {
                Some(p) => match p.trim().parse::<f64>() {
                    Ok(p) if p > 0.0 && p <= 1000.0 => RatePoint::PercentOfPeak(p),
                    _ => return Err(format!("'{item}' is not a percentage from 0 to 1000")),
                },
                None => match item.parse::<f64>() {
                    Ok(r) if (1.0..=super::MAX_RATE).contains(&r) => RatePoint::PerSecond(r),
                    _ => {
                        return Err(format!(
                            "'{item}' is neither a rate from 1 to {} nor a percentage like 50%",
                            super::MAX_RATE
                        ))
                    }
                },
            };
            out.push(point);
        }
        if out.len() > 64 {
            return Err("at most 64 rates".into());
        }
        Ok(out)
    }

    /// Whether this rate needs the closed-loop peak first.
    pub fn needs_peak(&self) -> bool {
        matches!(self, RatePoint::PercentOfPeak(_))
    }

    /// As written: `50%` or `20000`.
    pub fn label(&self) -> String {
        match self {
            RatePoint::PerSecond(r) => format!("{r}"),
            RatePoint::PercentOfPeak(p) => format!("{p}%"),
        }
    }

    /// The requests per second this point asks for, given the peak (at
    /// least 1).
    pub fn resolve(&self, peak: Option<f64>) -> f64 {
        match self {
            RatePoint::PerSecond(r) => *r,
            RatePoint::PercentOfPeak(p) => (peak.unwrap_or(0.0) * p / 100.0).max(1.0),
        }
    }
}

/// What one open-loop run measured, as the curve needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointRun {
    /// Requests per second answered.
    pub achieved: f64,
    /// Percentiles from the due time, microseconds: p50, p90, p99, p99.9.
    pub p50_us: f64,
    /// See `p50_us`.
    pub p90_us: f64,
    /// See `p50_us`.
    pub p99_us: f64,
    /// See `p50_us`.
    pub p999_us: f64,
    /// Whether the load generator fell behind its schedule.
    pub generator_behind: bool,
    /// Failed requests.
    pub errors: u64,
}

/// One server at one rate, over the rounds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PointSummary {
    /// Runs made.
    pub runs: usize,
    /// Median achieved rate.
    pub achieved: Option<f64>,
    /// Spread of the achieved rate, (max - min) / median.
    pub achieved_spread: Option<f64>,
    /// Median percentiles over the runs whose generator kept up.
    pub p50_us: Option<f64>,
    /// See `p50_us`.
    pub p90_us: Option<f64>,
    /// See `p50_us`.
    pub p99_us: Option<f64>,
    /// Spread of p99 over those runs.
    pub p99_spread: Option<f64>,
    /// See `p50_us`.
    pub p999_us: Option<f64>,
    /// Runs whose generator fell behind (their latencies are left out).
    pub behind: usize,
    /// Failed requests over all runs.
    pub errors: u64,
}

/// One rate: what was asked, and each server's summary, in server order.
#[derive(Clone, Debug, PartialEq)]
pub struct CurveRow {
    /// As given (`50%`, `20000`).
    pub label: String,
    /// Requests per second asked for.
    pub target: f64,
    /// One per server.
    pub servers: Vec<PointSummary>,
}

/// Sums up the runs of one server at one rate.
pub fn summarize(runs: &[&PointRun]) -> PointSummary {
    let achieved: Vec<f64> = runs.iter().map(|r| r.achieved).collect();
    let kept: Vec<&&PointRun> = runs.iter().filter(|r| !r.generator_behind).collect();
    let med = |f: fn(&PointRun) -> f64| median(&kept.iter().map(|r| f(r)).collect::<Vec<_>>());
    let p99: Vec<f64> = kept.iter().map(|r| r.p99_us).collect();
    PointSummary {
        runs: runs.len(),
        achieved: median(&achieved),
        achieved_spread: spread(&achieved),
        p50_us: med(|r| r.p50_us),
        p90_us: med(|r| r.p90_us),
        p99_us: med(|r| r.p99_us),
        p99_spread: spread(&p99),
        p999_us: med(|r| r.p999_us),
        behind: runs.len() - kept.len(),
        errors: runs.iter().map(|r| r.errors).sum(),
    }
}

/// A latency in microseconds as a table shows it: three digits at most
/// below 1 ms, then milliseconds.
pub fn latency(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0}")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// The curve table: one row per rate, two columns per server (the rate
/// it achieved, and its p50 / p99 / p99.9 from the due time).
pub fn markdown(names: &[String], rows: &[CurveRow], unit: &str) -> String {
    let mut s = String::new();
    let _ = write!(s, "| load | target {unit} |");
    for n in names {
        let _ = write!(s, " {n} achieved | {n} p50 / p99 / p99.9 us |");
    }
    s.push_str("\n|---|---:|");
    for _ in names {
        s.push_str("---:|---:|");
    }
    s.push('\n');
    for row in rows {
        let _ = write!(s, "| {} | {} |", row.label, thousands(row.target));
        for p in &row.servers {
            let achieved = match (p.achieved, p.achieved_spread) {
                (Some(a), Some(sp)) => format!("{} ±{:.0}%", thousands(a), sp * 50.0),
                (Some(a), None) => thousands(a),
                _ => "-".into(),
            };
            let lat = match (p.p50_us, p.p99_us, p.p999_us) {
                (Some(a), Some(b), Some(c)) => {
                    let mut t = format!("{} / {} / {}", latency(a), latency(b), latency(c));
                    if let Some(sp) = p.p99_spread.filter(|_| p.runs - p.behind > 1) {
                        let _ = write!(t, " (p99 ±{:.0}%)", sp * 50.0);
                    }
                    if p.behind > 0 {
                        let _ = write!(t, " [{} of {} runs: client behind]", p.behind, p.runs);
                    }
                    t
                }
                _ if p.runs > 0 => "client behind".into(),
                _ => "-".into(),
            };
            let errors = if p.errors > 0 { format!(" err={}", p.errors) } else { String::new() };
            let _ = write!(s, " {achieved}{errors} | {lat} |");
        }
        s.push('\n');
    }
    s
}

/// Where each server's p99 first reaches 1 ms and 10 ms: one line per
/// server, naming the rate asked for and the rate achieved there (the
/// knee, in req/s). Rates whose generator fell behind in every run are
/// skipped; a threshold no rate reached says so.
pub fn knees(names: &[String], rows: &[CurveRow], unit: &str) -> String {
    let mut s = String::new();
    for (i, name) in names.iter().enumerate() {
        let _ = write!(s, "- {name}: p99");
        for (n, (limit, label)) in [(1_000.0, "1 ms"), (10_000.0, "10 ms")].into_iter().enumerate()
        {
            let at = rows.iter().find_map(|row| {
                let p = row.servers.get(i)?;
                (p.p99_us? >= limit).then(|| (row.label.clone(), p.achieved.unwrap_or(0.0)))
            });
            let sep = if n == 0 { "" } else { ";" };
            let _ = match at {
                Some((rate, achieved)) => write!(
                    s,
                    "{sep} reaches {label} at {rate} ({} {unit} achieved)",
                    thousands(achieved)
                ),
                None => write!(s, "{sep} stays under {label} at every rate measured"),
            };
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_absolute_or_shares_of_the_peak() {
        let r = RatePoint::parse_list("10%, 50%,20000").unwrap_or_default();
        assert_eq!(
            r,
            vec![
                RatePoint::PercentOfPeak(10.0),
                RatePoint::PercentOfPeak(50.0),
                RatePoint::PerSecond(20000.0)
            ]
        );
        assert_eq!(r[1].resolve(Some(120_000.0)), 60_000.0);
        assert_eq!(r[2].resolve(None), 20_000.0);
        assert!(r[0].needs_peak() && !r[2].needs_peak());
        assert_eq!(r[0].label(), "10%");
        for bad in ["", "0%", "x", "-5", "50%%", "1e9"] {
            assert!(RatePoint::parse_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latencies_leave_out_the_runs_whose_client_fell_behind() {
        let run = |achieved, p99, behind| PointRun {
            achieved,
            p50_us: 10.0,
            p90_us: 20.0,
            p99_us: p99,
            p999_us: 2.0 * p99,
            generator_behind: behind,
            errors: 0,
        };
        let (a, b, c) = (run(100.0, 50.0, false), run(98.0, 70.0, false), run(60.0, 9e6, true));
        let p = summarize(&[&a, &b, &c]);
        assert_eq!(p.achieved, Some(98.0));
        assert_eq!(p.p99_us, Some(60.0));
        assert_eq!(p.behind, 1);
        let all_behind = summarize(&[&c]);
        assert_eq!(all_behind.p99_us, None);
        let rows =
            vec![CurveRow { label: "50%".into(), target: 100.0, servers: vec![p, all_behind] }];
        let t = markdown(&["a".into(), "b".into()], &rows, "req/s");
        assert!(t.starts_with("| load | target req/s | a achieved |"), "{t}");
        assert!(t.contains("| 10 / 60 / 120 (p99 ±17%) [1 of 3 runs: client behind] |"), "{t}");
        assert!(t.contains("| 60 ±0% | client behind |"), "{t}");
        let k = knees(&["a".into(), "b".into()], &rows, "req/s");
        assert_eq!(
            k,
            "- a: p99 stays under 1 ms at every rate measured; stays under 10 ms at every rate measured\n\
             - b: p99 stays under 1 ms at every rate measured; stays under 10 ms at every rate measured\n"
        );
    }

    #[test]
    fn knees_name_the_first_rate_past_each_threshold() {
        let at = |p99: f64, achieved: f64| PointSummary {
            runs: 1,
            achieved: Some(achieved),
            p99_us: Some(p99),
            ..PointSummary::default()
        };
        let row = |label: &str, p: PointSummary| CurveRow {
            label: label.into(),
            target: 0.0,
            servers: vec![p],
        };
        let rows = vec![
            row("50%", at(80.0, 50_000.0)),
            row("90%", at(2_500.0, 89_000.0)),
            row("95%", at(40_000.0, 91_000.0)),
        ];
        assert_eq!(
            knees(&["s".into()], &rows, "req/s"),
            "- s: p99 reaches 1 ms at 90% (89,000 req/s achieved); reaches 10 ms at 95% (91,000 req/s achieved)\n"
        );
    }

    #[test]
    fn latencies_read_in_the_unit_that_fits() {
        assert_eq!(latency(85.3), "85");
        assert_eq!(latency(1234.0), "1.23 ms");
        assert_eq!(latency(45_600.0), "45.6 ms");
        assert_eq!(latency(2_500_000.0), "2.50 s");
    }
}
