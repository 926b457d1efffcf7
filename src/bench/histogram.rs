//! A latency histogram with log-linear buckets (the HDR histogram idea),
//! small enough to read in one sitting.
//!
//! Values (nanoseconds) below 1024 get one bucket each. Above that, every
//! power of two is split into 1024 equal buckets, so a value is known to
//! within 1/1024 (0.1 %) of itself whatever its size, from nanoseconds to
//! centuries: three significant digits, HdrHistogram's usual setting, and
//! enough to tell p99.9 from max at any rate the generator reaches (a
//! bucket never merges values further apart than 0.1 %). Recording is one
//! array increment: cheap enough for the load generator to do on every
//! request without becoming the bottleneck it measures.
//!
//! The rows (one per power of two, 8 KiB each) are allocated on first use:
//! a run whose latencies span 20 us to 200 ms touches 14 of the 55 rows,
//! about 112 KiB, where a full table would take 440 KiB per client thread.
//!
//! What it does not do: lock. Each client thread keeps its own histogram and
//! the report merges them at the end.

/// Sub-buckets per power of two, as a power of two: 2^10 = 1024.
const SUB_BITS: u32 = 10;
const SUB: u64 = 1 << SUB_BITS;
/// One row for the values below 1024, then one row per power of two from
/// 2^10 to 2^63.
const ROWS: usize = (64 - SUB_BITS + 1) as usize;
/// The resolution of [`Histogram::coarse_buckets`]: 32 per power of two
/// (3 %), plenty for a chart and 32 times fewer numbers to write.
const COARSE_BITS: u32 = 5;

/// Counts of values in log-linear buckets, plus the exact min, max and sum.
#[derive(Clone)]
pub struct Histogram {
    rows: Vec<Option<Box<[u64]>>>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("min", &self.min())
            .field("max", &self.max)
            .finish()
    }
}

/// The bucket a value falls in, as (row, sub-bucket), with `bits`
/// sub-bucket bits per power of two.
fn index(v: u64, bits: u32) -> (usize, usize) {
    let sub = 1u64 << bits;
    if v < sub {
        return (0, v as usize);
    }
    let msb = 63 - v.leading_zeros(); // >= bits
    let shift = msb - bits;
    ((shift + 1) as usize, ((v >> shift) - sub) as usize)
}

/// The smallest and largest value bucket (row, sub) holds, with `bits`
/// sub-bucket bits.
fn bounds(row: usize, sub: usize, bits: u32) -> (u64, u64) {
    if row == 0 {
        return (sub as u64, sub as u64);
    }
    let shift = row as u32 - 1;
    let low = ((1u64 << bits) + sub as u64) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram { rows: vec![None; ROWS], total: 0, min: u64::MAX, max: 0, sum: 0 }
    }

    fn row(&mut self, row: usize) -> &mut [u64] {
        self.rows[row].get_or_insert_with(|| vec![0; SUB as usize].into_boxed_slice())
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        let (row, sub) = index(v, SUB_BITS);
        self.row(row)[sub] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (i, theirs) in other.rows.iter().enumerate() {
            if let Some(theirs) = theirs {
                for (a, b) in self.row(i).iter_mut().zip(theirs.iter()) {
                    *a += b;
                }
            }
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Smallest value recorded (0 when empty).
    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    /// Largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Arithmetic mean, exactly (0 when empty).
    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value below which `p` percent of the values lie: the top of the
    /// bucket holding that rank, never above the true maximum. So the
    /// answer is at most 1/1024 above the exact percentile, never below it
    /// (a latency is never reported better than it was).
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // The rank in integer parts per million: in floating point,
        // 99.9 / 100 * 1000 is 999.0000000000001, whose ceiling would make
        // p99.9 of 1000 values the largest one.
        let ppm = (p.clamp(0.0, 100.0) * 10_000.0).round() as u128;
        let rank = ((ppm * u128::from(self.total)).div_ceil(1_000_000) as u64).clamp(1, self.total);
        let mut seen = 0;
        for (_, hi, c) in self.buckets() {
            seen += c;
            if seen >= rank {
                return hi.clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// How many values recorded are above `v` (within one bucket: a
    /// bucket straddling `v` counts as above): how many requests a tail
    /// threshold caught.
    pub fn count_above(&self, v: u64) -> u64 {
        self.buckets().filter(|(_, hi, _)| *hi > v).map(|(_, _, c)| c).sum()
    }

    /// The non-empty buckets as (lowest value, highest value, count), in
    /// increasing order: what a chart of the distribution is drawn from.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.rows
            .iter()
            .enumerate()
            .filter_map(|(r, row)| row.as_ref().map(|row| (r, row)))
            .flat_map(|(r, row)| {
                row.iter().enumerate().filter(|(_, &c)| c > 0).map(move |(s, &c)| {
                    let (lo, hi) = bounds(r, s, SUB_BITS);
                    (lo, hi, c)
                })
            })
    }

    /// The same distribution at 32 buckets per power of two (3 %): what
    /// the JSON report writes, small enough for a line per run, fine
    /// enough for a chart. Every fine bucket lies inside one coarse one
    /// (both split powers of two evenly), so nothing is split or moved.
    pub fn coarse_buckets(&self) -> Vec<(u64, u64, u64)> {
        let mut out: Vec<(u64, u64, u64)> = Vec::new();
        for (lo, _, c) in self.buckets() {
            let (row, sub) = index(lo, COARSE_BITS);
            let (clo, chi) = bounds(row, sub, COARSE_BITS);
            match out.last_mut() {
                Some(last) if last.0 == clo => last.2 += c,
                _ => out.push((clo, chi, c)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..32 {
            h.record(v);
        }
        assert_eq!(h.count(), 32);
        assert_eq!(h.percentile(50.0), 15);
        assert_eq!(h.percentile(100.0), 31);
        assert_eq!(h.min(), 0);
    }

    #[test]
    fn every_bucket_holds_what_it_says() {
        for v in [32u64, 33, 63, 64, 65, 1000, 123_456, 1 << 40, u64::MAX] {
            let (row, sub) = index(v, SUB_BITS);
            let (lo, hi) = bounds(row, sub, SUB_BITS);
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            // Relative width of a bucket is at most 1/1024: three digits.
            assert!((hi - lo) as f64 <= lo as f64 / 1024.0, "{v}: [{lo}, {hi}]");
            assert!(row < ROWS && sub < SUB as usize);
        }
    }

    #[test]
    fn percentiles_of_a_uniform_run_are_within_one_bucket() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v);
        }
        for (p, exact) in [(50.0, 50_000u64), (90.0, 90_000), (99.0, 99_000), (99.9, 99_900)] {
            let got = h.percentile(p);
            assert!(got >= exact, "p{p}: {got} < {exact}");
            assert!(got as f64 <= exact as f64 * (1.0 + 1.0 / 1024.0), "p{p}: {got}");
        }
        assert_eq!(h.percentile(100.0), 100_000);
        assert_eq!(h.max(), 100_000);
        assert_eq!(h.min(), 1);
        assert!((h.mean() - 50_000.5).abs() < 1e-6);
    }

    #[test]
    fn one_slow_request_shows_at_the_tail_only() {
        let mut h = Histogram::new();
        for _ in 0..999 {
            h.record(20_000);
        }
        h.record(5_000_000);
        assert!(h.percentile(99.0) < 21_000);
        assert_eq!(h.percentile(99.95), 5_000_000);
        assert_eq!(h.max(), 5_000_000);
    }

    #[test]
    fn p999_of_a_thousand_values_is_not_the_maximum() {
        let mut h = Histogram::new();
        for _ in 0..999 {
            h.record(1_000);
        }
        h.record(5_000_000);
        // Rank 999 of 1000: the 1 us values, not the one 5 ms value.
        assert_eq!(h.percentile(99.9), 1_000);
        assert_eq!(h.percentile(100.0), 5_000_000);
        // And the same at other multiples of 1000.
        for _ in 0..1_000 {
            h.record(1_000);
        }
        h.record(5_000_000);
        assert!(h.percentile(99.9) < 5_000_000);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5_000u64 {
            let x = v * v % 77_777;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        for p in [1.0, 50.0, 99.0, 99.9] {
            assert_eq!(a.percentile(p), all.percentile(p));
        }
        assert_eq!(a.buckets().count(), all.buckets().count());
    }

    #[test]
    fn p999_is_exact_to_three_digits_at_a_million_values() {
        // A million latencies from 20 us to 10 ms, as an open-loop run at
        // 100k req/s for 10 s might see: p99.9 is within 0.1 % above the
        // exact value, and never below it.
        let mut h = Histogram::new();
        let value = |i: u64| 20_000 + (i * 7_919 % 1_000_000) * 10;
        let mut all: Vec<u64> = (0..1_000_000).map(value).collect();
        for &v in &all {
            h.record(v);
        }
        all.sort_unstable();
        for p in [50.0, 99.0, 99.9, 99.99] {
            let exact = all[(p / 100.0 * all.len() as f64).ceil() as usize - 1];
            let got = h.percentile(p);
            assert!(got >= exact && got - exact <= exact / 1024, "p{p}: {got} vs {exact}");
        }
    }

    #[test]
    fn coarse_buckets_regroup_without_moving_a_value() {
        let mut h = Histogram::new();
        for v in [5u64, 31, 1_000, 1_023, 1_024, 1_060, 123_456, 123_999] {
            h.record(v);
        }
        let coarse = h.coarse_buckets();
        assert_eq!(coarse.iter().map(|b| b.2).sum::<u64>(), 8);
        // At 32 per power of two 1,024 and 1,060 are apart (width 32),
        // 123,456 and 123,999 together (width 2,048).
        assert_eq!(coarse.len(), 7, "{coarse:?}");
        assert_eq!(coarse[6], (122_880, 124_927, 2));
        for w in coarse.windows(2) {
            assert!(w[0].1 < w[1].0, "in order, disjoint: {coarse:?}");
        }
        assert_eq!(h.count_above(1_023), 4);
        assert_eq!(h.count_above(1_024), 3);
        assert_eq!(h.count_above(200_000), 0);
    }

    #[test]
    fn empty_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.mean(), 0.0);
    }
}
