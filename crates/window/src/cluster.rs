//! Property tests of the whole crate: a simulated cluster of senders, shards and one merger,
//! driven by an arbitrary schedule that respects the frontier contract, compared with the
//! naive oracle in `model.rs`, and with itself run on one shard.
//!
//! Senders are monotone sequences of steps (a timely input worker's sends: its watermark pane
//! as the time, records near it). Each step becomes one message per destination, queued in
//! order. The schedule interleaves: a sender delivering its next message, a shard advancing
//! to any frontier up to the senders' earliest unsent time, and the merger advancing to any
//! frontier up to that and up to every shard's frontier (shard results for `E` are sent at
//! time `E − 1`). Once the senders are drained, frontiers only end (`None`), as in timely.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::BuildHasher;

use proptest::prelude::*;
use rustc_hash::FxBuildHasher;

use crate::model::{self, Pushed};
use crate::{Merger, PaneStats, Shard, ShardWindow, Window, WindowSpec};

/// A small alphabet with ties, prefixes, case and non-ASCII, so byte order matters.
const TAGS: [&str; 6] = ["a", "ab", "b", "B", "é", "c"];

/// One send of one sender: its time moves on by `dt`; each record is `(pane − time, tags)`.
#[derive(Debug, Clone)]
struct Step {
    dt: u64,
    hello: bool,
    records: Vec<(i64, Vec<usize>)>,
}

#[derive(Debug, Clone)]
struct Case {
    spec: WindowSpec,
    k: usize,
    shards: usize,
    senders: Vec<Vec<Step>>,
    schedule: Vec<u32>,
    schedule_one: Vec<u32>,
    /// The bound on distinct tags per shard and pane (issue 15); senders prune their own
    /// pre-aggregates to this many tags per shard, as the engine's ingest does.
    max_tags: Option<usize>,
    /// Whether the merger cuts runs of empty windows to their first (event time).
    skip_gaps: bool,
}

/// What a sender delivers to one destination.
#[derive(Debug, Clone)]
enum Msg {
    Stats(u64, Vec<(u64, PaneStats)>, u64),
    Data(usize, u64, Vec<(u64, String, u64)>),
}

impl Msg {
    fn time(&self) -> u64 {
        match self {
            Msg::Stats(t, ..) | Msg::Data(_, t, _) => *t,
        }
    }
}

/// The fixed routing of tags to shards.
fn shard_of(tag: &str, shards: usize) -> usize {
    (FxBuildHasher.hash_one(tag) % shards as u64) as usize
}

/// Turns the senders' steps into per-sender message queues, dropping late records as a sender
/// does; also returns everything pushed, for the oracle.
fn messages(case: &Case, shards: usize) -> (Vec<VecDeque<Msg>>, Pushed) {
    let mut pushed = Pushed::default();
    let mut queues = Vec::new();
    for steps in &case.senders {
        let mut queue = VecDeque::new();
        let mut time = 0u64;
        for step in steps {
            time += step.dt;
            let (mut stats, mut late) = (BTreeMap::<u64, PaneStats>::new(), 0);
            // Per pane, every tag this step sends (a sender's pre-aggregate).
            let mut sent = BTreeMap::<u64, HashMap<&str, u64>>::new();
            let cap = case.max_tags.map(|n| n * shards);
            if step.hello {
                stats.entry(time).or_default();
            }
            for (dp, tags) in &step.records {
                let pane = time.saturating_add_signed(*dp);
                if case.spec.is_late(pane, time) {
                    late += 1;
                    continue;
                }
                let st = stats.entry(pane).or_default();
                st.records += 1;
                st.tagged += u64::from(!tags.is_empty());
                let agg = sent.entry(pane).or_default();
                for &t in tags {
                    *agg.entry(TAGS[t]).or_default() += 1;
                    pushed.data.push((time, pane, TAGS[t].to_owned(), 1));
                }
                // Past twice its bound the pre-aggregate is pruned, as the ingest does.
                if let Some(cap) = cap.filter(|&c| agg.len() > 2 * c) {
                    let p = crate::prune_map(agg, cap);
                    let st = stats.entry(pane).or_default();
                    (st.floor, st.dropped) = (st.floor + p.floor, st.dropped + p.dropped);
                }
            }
            let mut data = vec![BTreeMap::<(u64, &str), u64>::new(); shards];
            for (pane, mut agg) in sent {
                if let Some(cap) = cap {
                    let p = crate::prune_map(&mut agg, cap);
                    let st = stats.entry(pane).or_default();
                    (st.floor, st.dropped) = (st.floor + p.floor, st.dropped + p.dropped);
                }
                for (tag, n) in agg {
                    data[shard_of(tag, shards)].insert((pane, tag), n);
                }
            }
            for (&pane, &st) in &stats {
                pushed.stats.push((time, pane, st));
            }
            if late > 0 {
                pushed.late.push((time, late));
            }
            queue.push_back(Msg::Stats(time, stats.into_iter().collect(), late));
            for (j, counts) in data.into_iter().enumerate().filter(|(_, c)| !c.is_empty()) {
                let counts: Vec<(u64, String, u64)> = counts
                    .into_iter()
                    .map(|((p, t), n)| (p, t.to_owned(), n))
                    .collect();
                queue.push_back(Msg::Data(j, time, counts));
            }
        }
        queues.push(queue);
    }
    (queues, pushed)
}

/// A simulated cluster: the senders' queues, the shards and the merger, with their frontiers
/// and everything they emitted.
struct Cluster {
    queues: Vec<VecDeque<Msg>>,
    shard: Vec<Shard>,
    /// Each shard's frontier; `None`: done.
    frontier: Vec<Option<u64>>,
    merger: Merger,
    merger_frontier: u64,
    merger_done: bool,
    out: Vec<Window>,
    shard_out: Vec<Vec<ShardWindow>>,
}

impl Cluster {
    fn new(case: &Case, shards: usize, counts_limit: usize) -> Self {
        let (queues, _) = messages(case, shards);
        Cluster {
            queues,
            shard: (0..shards)
                .map(|_| {
                    // As the engine does: the shards report as many rows as the counts need.
                    let shard = Shard::new(case.spec, case.k.max(counts_limit));
                    match case.max_tags {
                        Some(n) => shard.with_max_tags(n),
                        None => shard,
                    }
                })
                .collect(),
            frontier: vec![Some(0); shards],
            merger: Merger::new(case.spec, case.k)
                .with_counts(counts_limit)
                .with_max_tags(case.max_tags.unwrap_or(0))
                .with_gaps_skipped(case.skip_gaps),
            merger_frontier: 0,
            merger_done: false,
            out: Vec::new(),
            shard_out: vec![Vec::new(); shards],
        }
    }

    /// Takes the step that `choices` picks among those the contract allows; false once
    /// there is none left. With a `cap`, no frontier passes it (and none ends).
    fn step(&mut self, choices: &mut impl Iterator<Item = u32>, cap: Option<u64>) -> bool {
        let shards = self.shard.len();
        // The earliest time a sender may still send at; None once all are drained.
        let sent_bound = self
            .queues
            .iter()
            .filter_map(|q| q.front().map(Msg::time))
            .min();
        let mut actions: Vec<(u8, usize)> = Vec::new();
        actions.extend(
            self.queues
                .iter()
                .enumerate()
                .filter(|(_, q)| !q.is_empty())
                .map(|(i, _)| (0, i)),
        );
        actions.extend(
            (0..shards)
                .filter(|&j| self.frontier[j].is_some())
                .map(|j| (1, j)),
        );
        if !self.merger_done {
            actions.push((2, 0));
        }
        if actions.is_empty() {
            return false;
        }
        let (kind, i) = actions[choices.next().unwrap_or(0) as usize % actions.len()];
        // A frontier in [from, to], or `to` once the schedule is used up.
        let mut pick = |from: u64, to: u64| match choices.next() {
            Some(c) => from + u64::from(c) % (to - from + 1),
            None => to,
        };
        let capped = |bound: Option<u64>| min_some(bound, cap);
        match kind {
            0 => self.deliver(i),
            1 => {
                let from = self.frontier[i].expect("not done");
                let f = capped(sent_bound).map(|to| pick(from, to.max(from)));
                self.advance_shard(i, f);
            }
            _ => {
                let shard_bound = self.frontier.iter().flatten().copied().min();
                let f = capped(min_some(sent_bound, shard_bound));
                let f = f.map(|to| pick(self.merger_frontier, to.max(self.merger_frontier)));
                self.advance_merger(f);
            }
        }
        true
    }

    /// Delivers sender `i`'s next message.
    fn deliver(&mut self, i: usize) {
        match self.queues[i].pop_front().expect("non-empty queue") {
            Msg::Stats(time, stats, late) => {
                for (pane, st) in stats {
                    self.merger.push_stats(time, pane, st);
                }
                self.merger.push_late(time, late);
            }
            Msg::Data(j, time, counts) => {
                for (pane, tag, n) in counts {
                    self.shard[j].push(time, pane, &tag, n);
                }
            }
        }
    }

    fn advance_shard(&mut self, i: usize, f: Option<u64>) {
        let results = self.shard[i].advance(f);
        self.shard[i].check();
        self.frontier[i] = f;
        for w in results {
            self.shard_out[i].push(w.clone());
            self.merger.push_shard(w);
        }
    }

    fn advance_merger(&mut self, f: Option<u64>) {
        self.out.extend(self.merger.advance(f));
        self.merger_frontier = f.unwrap_or(self.merger_frontier);
        self.merger_done = f.is_none();
    }

    /// Runs until everything is done.
    fn finish(&mut self, choices: &mut impl Iterator<Item = u32>) {
        while self.step(choices, None) {}
        for s in &self.shard {
            assert_eq!(s.distinct_in_state(), 0, "a finished shard holds nothing");
        }
    }
}

fn min_some(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs the cluster on `shards` shards under `schedule`; returns the merger's windows and each
/// shard's results.
fn run(case: &Case, shards: usize, schedule: &[u32]) -> (Vec<Window>, Vec<Vec<ShardWindow>>) {
    let mut cluster = Cluster::new(case, shards, 0);
    cluster.finish(&mut schedule.iter().copied());
    (cluster.out, cluster.shard_out)
}

/// Runs the cluster under `schedule` with frontiers held at `t` or below (data sent at `t`
/// or later may arrive, as in timely), then brings every shard and the merger to `t`,
/// snapshots them, restores them into a new cluster fed everything sent at `t` or later,
/// and runs that to the end under the rest of the schedule. Returns both halves' output,
/// concatenated.
fn run_with_checkpoint(
    case: &Case,
    t: u64,
    counts_limit: usize,
    schedule: &[u32],
) -> (Vec<Window>, Vec<Vec<ShardWindow>>) {
    let mut choices = schedule.iter().copied();
    let mut before = Cluster::new(case, case.shards, counts_limit);
    for _ in 0..schedule.len() / 2 {
        if !before.step(&mut choices, Some(t)) {
            break;
        }
    }
    // Everything sent before t arrives; then each shard, and the merger, advance to t.
    for i in 0..before.queues.len() {
        while before.queues[i].front().is_some_and(|m| m.time() < t) {
            before.deliver(i);
        }
    }
    for i in 0..case.shards {
        before.advance_shard(i, Some(t));
    }
    before.advance_merger(Some(t));

    let mut after = Cluster::new(case, case.shards, counts_limit);
    for q in &mut after.queues {
        q.retain(|m| m.time() >= t);
    }
    for (i, shard) in before.shard.iter().enumerate() {
        let mut bytes = vec![7]; // a snapshot is appended to what the buffer holds
        shard.snapshot(t, &mut bytes);
        let restored =
            Shard::restore(case.spec, case.k.max(counts_limit), &bytes[1..]).expect("restores");
        restored.check();
        let mut again = Vec::new();
        restored.snapshot(t, &mut again);
        assert_eq!(again, bytes[1..], "snapshot ∘ restore is the identity");
        after.shard[i] = restored;
    }
    after.frontier = vec![Some(t); case.shards];
    let mut bytes = Vec::new();
    before.merger.snapshot(t, &mut bytes);
    // Exactly what was sent before t: the same bytes as a merger that never saw later data.
    let mut clean = Cluster::new(case, case.shards, counts_limit);
    for i in 0..clean.queues.len() {
        clean.queues[i].retain(|m| m.time() < t);
        while !clean.queues[i].is_empty() {
            clean.deliver(i);
        }
    }
    for i in 0..case.shards {
        clean.advance_shard(i, Some(t));
    }
    clean.advance_merger(Some(t));
    let mut clean_bytes = Vec::new();
    clean.merger.snapshot(t, &mut clean_bytes);
    assert_eq!(
        bytes, clean_bytes,
        "the merger's snapshot holds what was sent before t"
    );
    after.merger = Merger::restore(case.spec, case.k, counts_limit, &bytes)
        .expect("restores")
        .with_max_tags(case.max_tags.unwrap_or(0))
        .with_gaps_skipped(case.skip_gaps);
    let mut again = Vec::new();
    after.merger.snapshot(t, &mut again);
    assert_eq!(again, bytes, "snapshot ∘ restore is the identity");
    after.merger_frontier = t;
    after.finish(&mut choices);

    let mut out = before.out;
    out.extend(after.out);
    let mut shard_out = before.shard_out;
    for (all, rest) in shard_out.iter_mut().zip(after.shard_out) {
        all.extend(rest);
    }
    (out, shard_out)
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![8 => 0u64..=3, 1 => 10u64..=40];
    let record = (-3i64..=3, proptest::collection::vec(0..TAGS.len(), 0..=3));
    (
        dt,
        proptest::bool::weighted(0.15),
        proptest::collection::vec(record, 1..=3),
    )
        .prop_map(|(dt, hello, records)| Step { dt, hello, records })
}

fn case() -> impl Strategy<Value = Case> {
    (1u64..=3, 1u64..=6)
        .prop_flat_map(|(b, w)| {
            let divisors: Vec<u64> = (1..=w).filter(|d| w % d == 0).collect();
            let s = prop_oneof![3 => proptest::sample::select(divisors), 1 => 1u64..=7];
            (Just(b), Just(w), s)
        })
        .prop_map(|(b, w, s)| WindowSpec::new(b * 1000, w * b * 1000, s * b * 1000).unwrap())
        .prop_flat_map(|spec| {
            let senders = proptest::collection::vec(proptest::collection::vec(step(), 0..8), 1..=3);
            let schedule = || proptest::collection::vec(any::<u32>(), 0..120);
            (
                Just(spec),
                1usize..5,
                1usize..=4,
                senders,
                schedule(),
                schedule(),
                any::<bool>(),
            )
        })
        .prop_map(
            |(spec, k, shards, senders, schedule, schedule_one, skip_gaps)| Case {
                spec,
                k,
                shards,
                senders,
                schedule,
                schedule_one,
                max_tags: None,
                skip_gaps,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The merged output equals the oracle, every shard's results equal the oracle over its
    /// tags, and one shard gives byte-for-byte the same output as many.
    #[test]
    fn cluster_matches_the_oracle_whatever_the_shards_and_schedule(case in case()) {
        let (_, pushed) = messages(&case, case.shards);
        let want = model::windows(&case.spec, case.k, &pushed, case.skip_gaps);
        let (got, shard_out) = run(&case, case.shards, &case.schedule);
        prop_assert_eq!(&got, &want);
        for (j, results) in shard_out.iter().enumerate() {
            let data: Vec<_> =
                pushed.data.iter().filter(|d| shard_of(&d.2, case.shards) == j).cloned().collect();
            prop_assert_eq!(results, &model::shard_windows(&case.spec, case.k, &data));
        }
        let (one, _) = run(&case, 1, &case.schedule_one);
        prop_assert_eq!(format!("{one:?}"), format!("{got:?}"));
    }

    /// Checkpointing at any time `t` (advance to `t`, snapshot, restore, then feed what was
    /// sent at `t` or later) changes nothing: the merger's windows and every shard's results
    /// are those of the uninterrupted run. Snapshots restore and come back byte for byte.
    /// With a bound on distinct tags (issue 15) too, where every shard's summaries depend
    /// on the data and its order per sender only.
    #[test]
    fn a_checkpoint_at_any_time_changes_nothing(
        mut case in case(),
        t in any::<u32>(),
        with_counts in any::<bool>(),
        max_tags in proptest::option::weighted(0.5, 1usize..=3),
    ) {
        case.max_tags = max_tags;
        let (queues, _) = messages(&case, case.shards);
        let last = queues.iter().flatten().map(Msg::time).max().unwrap_or(0);
        // As in `run`, no frontier passes the greatest time sent before the input ends (a
        // merger whose frontier passed it emits windows after the range's end: see lib.rs).
        let t = u64::from(t) % (last + 1);
        let counts_limit = if with_counts { case.k } else { 0 };
        let mut whole = Cluster::new(&case, case.shards, counts_limit);
        whole.finish(&mut case.schedule_one.iter().copied());
        let (got, shard_out) = run_with_checkpoint(&case, t, counts_limit, &case.schedule);
        prop_assert_eq!(got, whole.out);
        prop_assert_eq!(shard_out, whole.shard_out);
    }

    /// Issue 15: with a bound that no shard's pane exceeds, the output is the oracle's, byte
    /// for byte: nothing is pruned, by the senders or by the shards.
    #[test]
    fn below_the_bound_the_output_is_exact(mut case in case()) {
        let (_, pushed) = messages(&case, case.shards);
        let mut held: HashMap<(usize, u64), BTreeSet<&str>> = HashMap::new();
        for (_, pane, tag, _) in &pushed.data {
            held.entry((shard_of(tag, case.shards), *pane)).or_default().insert(tag);
        }
        case.max_tags = Some(held.values().map(BTreeSet::len).max().unwrap_or(1));
        let want = model::windows(&case.spec, case.k, &pushed, case.skip_gaps);
        let (got, _) = run(&case, case.shards, &case.schedule);
        prop_assert_eq!(format!("{got:?}"), format!("{want:?}"));
    }

    /// Issue 15: past the bound (1 to 3 tags per shard and pane, out of 6), every window
    /// keeps the guarantees of its summaries against the oracle's exact counts: totals exact,
    /// every count's interval `[count − error, count]` holds the true count, every tag above
    /// the window's bound is listed, the bound is at most `tags / (N + 1)`, and a window
    /// marked exact is exact. The output does not depend on the schedule.
    #[test]
    fn past_the_bound_every_count_holds_the_truth(mut case in case(), n in 1usize..=3) {
        case.max_tags = Some(n);
        let (_, pushed) = messages(&case, case.shards);
        // Every tag of every window, ranked.
        let exact = model::windows(&case.spec, TAGS.len(), &pushed, case.skip_gaps);
        let bounded = |schedule: &[u32]| {
            let mut c = Cluster::new(&case, case.shards, TAGS.len());
            c.finish(&mut schedule.iter().copied());
            c.out
        };
        let got = bounded(&case.schedule);
        prop_assert_eq!(got.len(), exact.len());
        for (g, e) in got.iter().zip(&exact) {
            let fields = |w: &Window| (w.start_ms, w.end_ms, w.records, w.tagged, w.tags, w.late);
            prop_assert_eq!(fields(g), fields(e));
            prop_assert_eq!(&g.top[..], &crate::strings(&g.counts[..g.top.len()]), "the top is the counts' head");
            let Some(a) = &g.approx else {
                prop_assert_eq!(&crate::strings(&g.counts), &e.top, "a window marked exact is exact");
                prop_assert_eq!(g.distinct, e.distinct);
                continue;
            };
            let truth: HashMap<&str, u64> = e.top.iter().map(|(t, n)| (t.as_str(), *n)).collect();
            prop_assert!(a.bound > 0 && a.bound * (n as u64 + 1) <= g.tags, "{a:?} {}", g.tags);
            prop_assert_eq!((a.top.len(), a.counts.len()), (g.top.len(), g.counts.len()));
            for ((tag, count), error) in g.counts.iter().zip(&a.counts) {
                let f = truth.get(tag.as_str()).copied().unwrap_or(0);
                prop_assert!(count - error <= f && f <= *count, "{tag}: {f} in {count} − {error}");
                prop_assert!(*error <= a.bound);
            }
            prop_assert_eq!(&a.top[..], &a.counts[..a.top.len()]);
            for (tag, f) in &truth {
                if *f > a.bound {
                    prop_assert!(g.counts.iter().any(|(t, _)| t == tag), "{tag} ({f}) > {}", a.bound);
                }
            }
            prop_assert!(g.distinct <= e.distinct);
        }
        prop_assert_eq!(bounded(&case.schedule_one), got, "whatever the schedule");
    }
}
