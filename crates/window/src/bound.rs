//! Bounded memory at any cardinality (issue 15): Misra–Gries heavy-hitter summaries.
//!
//! Past `--max-tags N` a pane no longer counts every tag. It keeps a **summary**: at most N
//! tags, each with a counter `c`, and one **floor** `Δ` for the whole summary. A prune (the
//! batched Misra–Gries step) takes `t`, the (N+1)-th largest counter, subtracts it from every
//! counter, drops the counters that reach 0 and adds `t` to the floor. Every tag `x`, listed
//! or not (`c = 0`), then keeps
//!
//! ```text
//!     c(x) ≤ f(x) ≤ c(x) + Δ            (f: the true count)
//!     Σ c + (N + 1) · Δ ≤ n             (n: the occurrences summarised)
//! ```
//!
//! so `Δ ≤ n / (N + 1)`: a tag that occurs more than `n / (N + 1)` times cannot be left out.
//! The engine reports a listed tag's count as its upper bound `c + Δ` with the error `Δ`: the
//! truth is in `[count − Δ, count]`. A tag listed since before the first prune has lost
//! exactly `Δ`, so its reported count is its true count (as in Space-Saving).
//!
//! Why Misra–Gries and not Space-Saving: both keep the same tags, but Misra–Gries summaries
//! are *mergeable* with the same bound (Agarwal et al., "Mergeable summaries", PODS 2012):
//! the sum of two summaries (counters added, floors added) obeys both lines above with
//! `n = n₁ + n₂`, and stays so after a prune. Sliding windows are sums of panes, panes are
//! sums of what each worker sent, and shards are disjoint, so the bound holds for every
//! window whatever the number of workers, shards or processes. Apache DataSketches'
//! frequent-items sketch is the same algorithm with a hash map of its own; its Rust port needs
//! a C++ toolchain, and nothing here would gain from it.
//!
//! **Determinism.** A prune keeps exactly the counters above `t` (ties at `t` all leave), so
//! its result depends on the multiset of counters only, never on hash order or arrival order.
//! Where a summary is pruned (after each sender's batch, after each apply of a pane's data)
//! is a function of the input order per share: the output is too.
//!
//! **Below the bound nothing changes**: a summary is pruned only when it holds more than N
//! tags, so while no pane of any shard exceeds N, every floor is 0 and every count is exact,
//! byte for byte the output of the exact path.
//!
//! # Hook for other per-tag state
//!
//! Anything else a shard keeps per tag and pane (the distinct authors of trends, issue 14)
//! is bounded the same way by keying it on the pane's summary: when [`crate::Shard`] prunes a
//! pane it reports the tags that left it ([`Pruned`] names the floor and the mass dropped;
//! the shard's `pane_pruned` hook in `shard.rs` receives the tag keys), and the per-tag
//! state of those tags in that pane can be dropped with them. A tag absent from a pane's
//! summary then has at most `Δ` occurrences there, hence at most `Δ` distinct authors: the
//! same floor bounds both. [`prune_map`] applies the same step to any map of weights (a
//! worker's pre-aggregate, a per-pane map of author counts).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// `t`, subtracted from every counter and added to the summary's floor.
    pub floor: u64,
    /// Occurrences removed from the counters: `Σ min(c, t)`. Counters plus everything dropped
    /// is the exact total.
    pub dropped: u64,
}

impl Pruned {
    /// Adds another prune of the same summary.
    pub fn add(&mut self, other: Pruned) {
        self.floor += other.floor;
        self.dropped += other.dropped;
    }
}

/// The (cap+1)-th largest of `counts` (which it reorders), or `None` if there are at most
/// `cap`: the amount a Misra–Gries prune to `cap` counters subtracts. O(len).
pub(crate) fn threshold(counts: &mut [u64], cap: usize) -> Option<u64> {
    if counts.len() <= cap {
        return None;
    }
    let (_, t, _) = counts.select_nth_unstable_by(cap, |a, b| b.cmp(a));
    Some(*t)
}

/// Prunes `map` (key → weight) to at most `cap` keys the Misra–Gries way, if it holds more:
/// every weight loses the (cap+1)-th largest one, and the keys left at 0 are removed. Returns
/// what was subtracted (`Pruned::floor`, 0 when nothing was pruned) and removed.
///
/// ```
/// use std::collections::HashMap;
/// let mut m: HashMap<&str, u64> = [("a", 9), ("b", 3), ("c", 3), ("d", 1)].into();
/// let p = window::prune_map(&mut m, 2);
/// assert_eq!((p.floor, p.dropped), (3, 3 + 3 + 3 + 1));
/// assert_eq!(m, [("a", 6)].into()); // ties at the threshold all leave: no order matters
/// ```
pub fn prune_map<K: Eq + Hash, S: BuildHasher>(map: &mut HashMap<K, u64, S>, cap: usize) -> Pruned {
    let mut counts: Vec<u64> = map.values().copied().collect();
    let Some(t) = threshold(&mut counts, cap) else {
        return Pruned::default();
    };
    let mut dropped = 0;
    map.retain(|_, c| {
        let lost = (*c).min(t);
        dropped += lost;
        *c -= lost;
        *c > 0
    });
    Pruned { floor: t, dropped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A summary as the property tests see it: counters and a floor.
    #[derive(Debug, Clone, Default)]
    struct Summary {
        counts: HashMap<u8, u64>,
        floor: u64,
    }

    impl Summary {
        fn add(&mut self, key: u8, n: u64) {
            *self.counts.entry(key).or_default() += n;
        }

        fn merge(&mut self, other: &Summary) {
            for (&k, &n) in &other.counts {
                self.add(k, n);
            }
            self.floor += other.floor;
        }

        fn prune(&mut self, cap: usize) {
            self.floor += prune_map(&mut self.counts, cap).floor;
        }

        /// Checks the two invariants against the true counts `truth` (n = their sum).
        fn check(&self, truth: &BTreeMap<u8, u64>, cap: usize) -> Result<(), TestCaseError> {
            let n: u64 = truth.values().sum();
            for k in 0..=u8::MAX {
                let c = self.counts.get(&k).copied().unwrap_or(0);
                let f = truth.get(&k).copied().unwrap_or(0);
                prop_assert!(
                    c <= f && f <= c + self.floor,
                    "{k}: c {c}, f {f}, Δ {}",
                    self.floor
                );
            }
            let sum: u64 = self.counts.values().sum();
            prop_assert!(sum + (cap as u64 + 1) * self.floor <= n);
            Ok(())
        }
    }

    fn stream() -> impl Strategy<Value = Vec<(u8, u64)>> {
        // Few keys with skew, so that prunes happen and heavy keys exist.
        proptest::collection::vec((0u8..24, 1u64..6), 0..80)
    }

    proptest! {
        /// One stream, pruned after every item or in batches: both invariants hold, and the
        /// survivors do not depend on the order of a batch.
        #[test]
        fn a_pruned_stream_keeps_the_bounds(items in stream(), cap in 1usize..6, every in 1usize..10) {
            let mut s = Summary::default();
            let mut truth = BTreeMap::new();
            for (i, &(k, n)) in items.iter().enumerate() {
                s.add(k, n);
                *truth.entry(k).or_default() += n;
                if i % every == 0 {
                    s.prune(cap);
                }
                s.check(&truth, cap)?;
            }
            s.prune(cap);
            prop_assert!(s.counts.len() <= cap);
            s.check(&truth, cap)?;
            let mut reversed = Summary::default();
            for &(k, n) in items.iter().rev() {
                reversed.add(k, n);
            }
            reversed.prune(cap);
            let mut all = Summary::default();
            for (&k, &n) in &truth {
                all.add(k, n);
            }
            all.prune(cap);
            prop_assert_eq!(reversed.counts, all.counts, "one prune depends on the multiset only");
        }

        /// Summaries of disjoint parts, each pruned, merged (in any grouping) and pruned again,
        /// keep the bounds of their union: panes into windows, senders into panes, shards.
        #[test]
        fn merged_summaries_keep_the_bounds(
            parts in proptest::collection::vec(stream(), 1..5),
            cap in 1usize..6,
        ) {
            let mut merged = Summary::default();
            let mut truth = BTreeMap::new();
            for items in &parts {
                let mut s = Summary::default();
                for &(k, n) in items {
                    s.add(k, n);
                    *truth.entry(k).or_default() += n;
                    if s.counts.len() > 2 * cap {
                        s.prune(cap);
                    }
                }
                s.prune(cap);
                merged.merge(&s);
                merged.check(&truth, cap)?;
                merged.prune(cap);
                merged.check(&truth, cap)?;
            }
            let n: u64 = truth.values().sum();
            for (&k, &f) in &truth {
                if f * (cap as u64 + 1) > n {
                    prop_assert!(merged.counts.contains_key(&k), "heavy key {k} ({f} of {n}) kept");
                }
            }
        }
    }

    #[test]
    fn below_the_cap_nothing_changes() {
        let mut m: HashMap<u32, u64> = (0..10).map(|i| (i, u64::from(i) + 1)).collect();
        let before = m.clone();
        assert_eq!(prune_map(&mut m, 10), Pruned::default());
        assert_eq!(m, before);
        assert_eq!(prune_map(&mut m, 9).floor, 1, "the 10th largest is 1");
        assert_eq!(m.len(), 9);
    }
}
