//! Picking one engine within a group: [`RoutingStrategy`].
//!
//! Both strategies honour weights exactly. Round-robin walks a precomputed *smooth weighted
//! round-robin* sequence (the nginx algorithm): weights 2 and 1 give `a b a a b a ...`
//! interleaved, never `a a ... b b ...` bursts, and every window of `sum(weights)` picks holds
//! each engine exactly `weight` times. Random draws from the same sequence uniformly, so each
//! engine's chance is `weight / sum(weights)`.
//!
//! Picking is one atomic increment (round-robin) or one random number (random): no lock, no
//! allocation.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Deserializer, Serialize};

/// How an engine is picked within a group.
///
/// Written `round_robin` (also `round-robin`, `RoundRobin`) or `random`, the same way in TOML,
/// environment variables and [`str::parse`].
///
/// ```
/// use dbroute::RoutingStrategy;
///
/// assert_eq!("round-robin".parse(), Ok(RoutingStrategy::RoundRobin));
/// assert_eq!("Random".parse(), Ok(RoutingStrategy::Random));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoutingStrategy {
    /// Engines in turn, interleaved smoothly by weight. The default.
    #[default]
    RoundRobin,
    /// A random engine, with probability proportional to its weight.
    Random,
}

impl std::str::FromStr for RoutingStrategy {
    type Err = String;

    /// Case-insensitive; `-` and `_` are the same. The error does not repeat the input.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "round_robin" | "roundrobin" => Ok(RoutingStrategy::RoundRobin),
            "random" => Ok(RoutingStrategy::Random),
            _ => Err("not a routing strategy; use round_robin or random".into()),
        }
    }
}

impl<'de> Deserialize<'de> for RoutingStrategy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The largest sum of weights in one group (after dividing out their common factor).
pub(crate) const MAX_TOTAL_WEIGHT: u64 = 10_000;

/// Weights whose reduced sum exceeds [`MAX_TOTAL_WEIGHT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WeightSum {
    pub(crate) total: u64,
    pub(crate) divisor: u32,
}

/// Picks engine indices for one group.
#[derive(Debug)]
pub(crate) struct Picker {
    strategy: RoutingStrategy,
    sequence: Box<[u32]>,
    cursor: AtomicUsize,
}

impl Picker {
    /// A picker over engines with these weights (each at least 1).
    pub(crate) fn new(strategy: RoutingStrategy, weights: &[u32]) -> Result<Self, WeightSum> {
        Ok(Picker {
            strategy,
            sequence: smooth_sequence(weights)?.into_boxed_slice(),
            cursor: AtomicUsize::new(0),
        })
    }

    /// Round-robin over `engines` engines of weight 1.
    pub(crate) fn uniform(engines: usize) -> Self {
        Picker {
            strategy: RoutingStrategy::RoundRobin,
            sequence: (0..engines.max(1) as u32).collect(),
            cursor: AtomicUsize::new(0),
        }
    }

    /// The index of the next engine that is `usable`; `None` when none is. `all_usable` is
    /// the fast path: one atomic increment (or one random number). Otherwise the turns of the
    /// unusable engines are skipped, so the usable ones keep their exact shares: each still
    /// gets its weight's worth of every period of the sequence.
    #[inline]
    pub(crate) fn pick(&self, all_usable: bool, usable: impl Fn(usize) -> bool) -> Option<usize> {
        if all_usable {
            return Some(self.next());
        }
        // One period of turns is enough alone; concurrent pickers (or random draws) may miss
        // every usable turn in it, so a plain scan settles what is left.
        let turns = self.sequence.len().max(1) * 4;
        (0..turns)
            .map(|_| self.next())
            .find(|index| usable(*index))
            .or_else(|| {
                self.sequence
                    .iter()
                    .map(|index| *index as usize)
                    .find(|index| usable(*index))
            })
    }

    #[inline]
    fn next(&self) -> usize {
        let len = self.sequence.len();
        if len <= 1 {
            return 0;
        }
        let slot = match self.strategy {
            RoutingStrategy::RoundRobin => self.cursor.fetch_add(1, Ordering::Relaxed) % len,
            RoutingStrategy::Random => fastrand::usize(..len),
        };
        self.sequence[slot] as usize
    }
}

/// One period of smooth weighted round-robin over `weights`.
fn smooth_sequence(weights: &[u32]) -> Result<Vec<u32>, WeightSum> {
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let weights: Vec<i64> = weights.iter().map(|w| i64::from(w / divisor)).collect();
    let total: i64 = weights.iter().sum();
    if total as u64 > MAX_TOTAL_WEIGHT {
        return Err(WeightSum {
            total: total as u64,
            divisor,
        });
    }
    let mut current = vec![0i64; weights.len()];
    let mut sequence = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .unwrap_or((0, &0));
        current[best] -= total;
        sequence.push(best as u32);
    }
    Ok(sequence)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_interleaves_by_weight() {
        let picker = Picker::new(RoutingStrategy::RoundRobin, &[2, 1]).unwrap();
        let picks: Vec<usize> = (0..6).map(|_| picker.next()).collect();
        assert_eq!(picks, [0, 1, 0, 0, 1, 0]);
    }

    #[test]
    fn round_robin_is_exact_over_a_period() {
        let picker = Picker::new(RoutingStrategy::RoundRobin, &[5, 3, 1]).unwrap();
        let mut counts = [0; 3];
        for _ in 0..9 * 100 {
            counts[picker.next()] += 1;
        }
        assert_eq!(counts, [500, 300, 100]);
    }

    #[test]
    fn with_an_engine_out_the_others_keep_exact_shares_without_bursts() {
        let picker = Picker::new(RoutingStrategy::RoundRobin, &[3, 2, 1]).unwrap();
        let without_first = |i: usize| i != 0;
        let picks: Vec<usize> = (0..300)
            .map(|_| picker.pick(false, without_first).unwrap())
            .collect();
        let second = picks.iter().filter(|i| **i == 1).count();
        assert_eq!((second, picks.len() - second), (200, 100), "2 : 1 exactly");
        let longest_run = picks.split(|i| *i == 2).map(<[usize]>::len).max();
        assert!(longest_run <= Some(2), "{picks:?}");
        assert_eq!(picker.pick(false, |_| false), None, "none usable");
        let random = Picker::new(RoutingStrategy::Random, &[1, 1]).unwrap();
        assert!((0..100).all(|_| random.pick(false, |i| i == 1) == Some(1)));
    }

    #[test]
    fn common_factors_shrink_the_sequence() {
        assert_eq!(smooth_sequence(&[2000, 1000]).unwrap().len(), 3);
        assert_eq!(
            smooth_sequence(&[20_000, 1]).unwrap_err(),
            WeightSum {
                total: 20_001,
                divisor: 1
            }
        );
    }

    #[test]
    fn random_follows_weights() {
        let picker = Picker::new(RoutingStrategy::Random, &[3, 1]).unwrap();
        let n = 40_000;
        let first = (0..n).filter(|_| picker.next() == 0).count();
        // Expected 30,000; 5 standard deviations is about 430.
        assert!((29_500..=30_500).contains(&first), "{first}");
    }
}
