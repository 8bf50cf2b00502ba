//! Latency percentiles in bounded memory: a log-linear histogram of
//! milliseconds, exact below 64 ms and within about 3 % above.

/// Values below this are counted exactly, one slot each.
const EXACT: u64 = 64;
/// Each power of two above [`EXACT`] is split into this many slots.
const SUB: u64 = 32;

/// Counts of values by slot; a few hundred slots at most, whatever the
/// number of values.
#[derive(Clone, Debug, Default)]
pub(crate) struct Histogram {
    slots: Vec<u64>,
    count: u64,
    max: u64,
}

/// The slot a value falls in.
fn slot(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - u64::from(v.leading_zeros()); // v >= 2^exp, exp >= 6
    let sub = (v >> (exp - 5)) - SUB; // the next five bits
    (EXACT + (exp - 6) * SUB + sub) as usize
}

/// The largest value a slot holds.
fn slot_max(i: usize) -> u64 {
    let i = i as u64;
    if i < EXACT {
        return i;
    }
    let (exp, sub) = ((i - EXACT) / SUB + 6, (i - EXACT) % SUB);
    let low = (SUB + sub) << (exp - 5);
    low.saturating_add((1u64 << (exp - 5)) - 1)
}

impl Histogram {
    /// Counts one value.
    pub(crate) fn add(&mut self, v: u64) {
        let i = slot(v);
        if self.slots.len() <= i {
            self.slots.resize(i + 1, 0);
        }
        self.slots[i] += 1;
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// The value at quantile `q` (0.0–1.0): the largest value of the slot
    /// that holds it, never above the largest value seen. `None` when
    /// empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // The rank of the value wanted, from 1 (nearest-rank method).
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.slots.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(slot_max(i).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..5000).chain([u64::MAX / 2, u64::MAX]) {
            let i = slot(v);
            assert!(i >= last, "slot of {v} went back");
            assert!(slot_max(i) >= v, "slot {i} of {v} ends at {}", slot_max(i));
            last = i;
        }
        assert_eq!(slot_max(slot(u64::MAX)), u64::MAX);
    }

    #[test]
    fn quantiles_are_exact_for_small_values_and_close_for_large() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=50 {
            h.add(v);
        }
        assert_eq!(h.quantile(0.5), Some(25));
        assert_eq!(h.quantile(0.99), Some(50));
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.add(v);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p99 = h.quantile(0.99).unwrap();
        assert!((5000..=5000 + 5000 / 32).contains(&p50), "{p50}");
        assert!((9900..=10_000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(10_000));
        assert!(h.slots.len() < 400);
    }
}
