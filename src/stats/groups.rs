//! Counting records by a key in bounded memory: at most a set number of
//! distinct keys are told apart, the records of any further key are
//! counted together, and the largest come out first.

use std::collections::HashMap;

use serde::Serialize;

/// How many records share one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Count {
    /// The key: one value per dimension counted by (`["payment_failed"]`,
    /// `["error", "acme"]`); an absent value is the empty string.
    pub key: Vec<String>,
    /// The records.
    pub count: u64,
}

/// Counts of records by key, listed largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// The largest keys, largest first (ties by key), as many as asked for.
    pub top: Vec<Count>,
    /// The records of the keys not in `top`.
    pub rest: u64,
    /// How many distinct keys were told apart.
    pub distinct: u64,
    /// Whether more distinct keys were met than were told apart: their
    /// records are in `rest`, and `distinct` is a lower bound.
    pub cut: bool,
}

impl Counts {
    /// All records counted.
    pub fn total(&self) -> u64 {
        self.top.iter().map(|c| c.count).sum::<u64>() + self.rest
    }

    /// The count of one single-dimension key, when it is in `top`.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.top
            .iter()
            .find(|c| c.key.len() == 1 && c.key[0] == key)
            .map(|c| c.count)
    }
}

/// Counting as records come.
#[derive(Debug)]
pub(crate) struct Counter {
    counts: HashMap<Vec<String>, u64>,
    /// Keys of one dimension, kept apart so that finding one allocates
    /// nothing.
    singles: HashMap<String, u64>,
    max_keys: usize,
    overflow: u64,
}

impl Counter {
    /// A counter that tells apart at most `max_keys` keys.
    pub(crate) fn new(max_keys: usize) -> Counter {
        Counter {
            counts: HashMap::new(),
            singles: HashMap::new(),
            max_keys,
            overflow: 0,
        }
    }

    /// Counts `n` records of `key`.
    pub(crate) fn add_n(&mut self, key: &[String], n: u64) {
        if let Some(c) = self.counts.get_mut(key) {
            *c += n;
        } else if self.counts.len() + self.singles.len() < self.max_keys {
            self.counts.insert(key.to_vec(), n);
        } else {
            self.overflow += n;
        }
    }

    /// Counts one record of the single-dimension key `key`.
    pub(crate) fn add_one(&mut self, key: &str) {
        self.add_single_n(key, 1);
    }

    /// Counts `n` records of a one-dimension key.
    pub(crate) fn add_single_n(&mut self, key: &str, n: u64) {
        if let Some(c) = self.singles.get_mut(key) {
            *c += n;
        } else if self.counts.len() + self.singles.len() < self.max_keys {
            self.singles.insert(key.to_owned(), n);
        } else {
            self.overflow += n;
        }
    }

    /// The `top` largest keys (all when `None`) and the rest.
    pub(crate) fn finish(self, top: Option<usize>) -> Counts {
        let distinct = (self.counts.len() + self.singles.len()) as u64;
        let singles = self
            .singles
            .into_iter()
            .map(|(key, count)| (vec![key], count));
        let mut all: Vec<Count> = self
            .counts
            .into_iter()
            .chain(singles)
            .map(|(key, count)| Count { key, count })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        let rest_list = all.split_off(top.unwrap_or(usize::MAX).min(all.len()));
        Counts {
            top: all,
            rest: self.overflow + rest_list.iter().map(|c| c.count).sum::<u64>(),
            distinct,
            cut: self.overflow > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_first_and_the_rest_summed() {
        let mut c = Counter::new(100);
        for (k, n) in [("a", 3), ("b", 5), ("c", 1), ("d", 5)] {
            for _ in 0..n {
                c.add_one(k);
            }
        }
        let counts = c.finish(Some(2));
        let keys: Vec<_> = counts
            .top
            .iter()
            .map(|c| (c.key[0].as_str(), c.count))
            .collect();
        assert_eq!(keys, [("b", 5), ("d", 5)]);
        assert_eq!((counts.rest, counts.distinct, counts.cut), (4, 4, false));
        assert_eq!(counts.total(), 14);
        assert_eq!(counts.get("d"), Some(5));
    }

    #[test]
    fn keys_past_the_limit_are_counted_together() {
        let mut c = Counter::new(2);
        for k in ["a", "b", "c", "a", "d"] {
            c.add_one(k);
        }
        let counts = c.finish(None);
        assert_eq!(counts.top.len(), 2);
        assert_eq!((counts.rest, counts.cut, counts.total()), (2, true, 5));
    }
}
