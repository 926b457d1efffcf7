//! A latency histogram with log-linear buckets (the HDR histogram idea),
//! small enough to read in one sitting.
//!
//! Values (nanoseconds) below 32 get one bucket each. Above that, every
//! power of two is split into 32 equal buckets, so a value is known to
//! within 1/32 (3.1 %) of itself whatever its size, from nanoseconds to
//! hours, in a fixed 15 KiB table. Recording is one array increment: cheap
//! enough for the load generator to do on every request without becoming
//! the bottleneck it measures.
//!
//! What it does not do: lock. Each client thread keeps its own histogram and
//! the report merges them at the end.

/// Sub-buckets per power of two, as a power of two: 2^5 = 32.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// One row of 32 buckets for the values below 32, then one row per power
/// of two from 2^5 to 2^63.
const BUCKETS: usize = ((64 - SUB_BITS + 1) as usize) << SUB_BITS;

/// Counts of values in log-linear buckets, plus the exact min, max and sum.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
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

/// The bucket a value falls in.
fn index(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = msb - SUB_BITS;
    let row = (shift + 1) as usize;
    let sub = ((v >> shift) - SUB) as usize;
    (row << SUB_BITS) + sub
}

/// The smallest and largest value a bucket holds.
fn bounds(i: usize) -> (u64, u64) {
    let row = (i >> SUB_BITS) as u32;
    let sub = (i as u64) & (SUB - 1);
    if row == 0 {
        return (sub, sub);
    }
    let shift = row - 1;
    let low = (SUB + sub) << shift;
    (low, low + ((1u64 << shift) - 1))
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, min: u64::MAX, max: 0, sum: 0 }
    }

    /// Records one value.
    pub fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += u128::from(v);
    }

    /// Adds every value recorded in `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
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
    /// answer is at most 1/32 above the exact percentile, never below it
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
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bounds(i).1.clamp(self.min(), self.max);
            }
        }
        self.max
    }

    /// The non-empty buckets as (lowest value, highest value, count), in
    /// increasing order: what a chart of the distribution is drawn from.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, &c)| c > 0).map(|(i, &c)| {
            let (lo, hi) = bounds(i);
            (lo, hi, c)
        })
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
            let (lo, hi) = bounds(index(v));
            assert!(lo <= v && v <= hi, "{v} not in [{lo}, {hi}]");
            // Relative width of a bucket is at most 1/32.
            assert!((hi - lo) as f64 <= lo as f64 / 32.0, "{v}: [{lo}, {hi}]");
        }
        assert!(index(u64::MAX) < BUCKETS);
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
            assert!(got as f64 <= exact as f64 * (1.0 + 1.0 / 32.0), "p{p}: {got}");
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
        assert!(h.percentile(99.9) <= 1_000 + 1_000 / 32, "{}", h.percentile(99.9));
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
    fn empty_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        assert_eq!(h.max(), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.mean(), 0.0);
    }
}
