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

use std::collections::{BTreeMap, VecDeque};
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
            let mut data = vec![BTreeMap::<(u64, &str), u64>::new(); shards];
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
                for &t in tags {
                    *data[shard_of(TAGS[t], shards)]
                        .entry((pane, TAGS[t]))
                        .or_default() += 1;
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
                pushed
                    .data
                    .extend(counts.iter().map(|(p, t, n)| (time, *p, t.clone(), *n)));
                queue.push_back(Msg::Data(j, time, counts));
            }
        }
        queues.push(queue);
    }
    (queues, pushed)
}

/// Runs the cluster on `shards` shards under `schedule`; returns the merger's windows and each
/// shard's results.
fn run(case: &Case, shards: usize, schedule: &[u32]) -> (Vec<Window>, Vec<Vec<ShardWindow>>) {
    let (mut queues, _) = messages(case, shards);
    let mut shard = (0..shards)
        .map(|_| Shard::new(case.spec, case.k))
        .collect::<Vec<_>>();
    let mut frontier: Vec<Option<u64>> = vec![Some(0); shards]; // None: done
    let mut merger = Merger::new(case.spec, case.k);
    let (mut merger_frontier, mut merger_done) = (0u64, false);
    let (mut out, mut shard_out) = (Vec::new(), vec![Vec::new(); shards]);
    let mut choices = schedule.iter().copied();
    loop {
        // The earliest time a sender may still send at; None once all are drained.
        let sent_bound = queues.iter().filter_map(|q| q.front().map(Msg::time)).min();
        let mut actions: Vec<(u8, usize)> = Vec::new();
        actions.extend(
            queues
                .iter()
                .enumerate()
                .filter(|(_, q)| !q.is_empty())
                .map(|(i, _)| (0, i)),
        );
        actions.extend(
            (0..shards)
                .filter(|&j| frontier[j].is_some())
                .map(|j| (1, j)),
        );
        if !merger_done {
            actions.push((2, 0));
        }
        if actions.is_empty() {
            break;
        }
        let (kind, i) = actions[choices.next().unwrap_or(0) as usize % actions.len()];
        // A frontier in [from, to], or `to` once the schedule is used up.
        let mut pick = |from: u64, to: u64| match choices.next() {
            Some(c) => from + u64::from(c) % (to - from + 1),
            None => to,
        };
        match kind {
            0 => match queues[i].pop_front().expect("non-empty queue") {
                Msg::Stats(time, stats, late) => {
                    for (pane, st) in stats {
                        merger.push_stats(time, pane, st);
                    }
                    merger.push_late(time, late);
                }
                Msg::Data(j, time, counts) => {
                    for (pane, tag, n) in counts {
                        shard[j].push(time, pane, &tag, n);
                    }
                }
            },
            1 => {
                let f =
                    sent_bound.map(|to| pick(frontier[i].unwrap(), to.max(frontier[i].unwrap())));
                let results = shard[i].advance(f);
                shard[i].check();
                frontier[i] = f;
                for w in results {
                    shard_out[i].push(w.clone());
                    merger.push_shard(w);
                }
            }
            _ => {
                let shard_bound = frontier.iter().flatten().copied().min();
                let f = match (sent_bound, shard_bound) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(u64::MAX).min(b.unwrap_or(u64::MAX))),
                };
                let f = f.map(|to| pick(merger_frontier, to.max(merger_frontier)));
                out.extend(merger.advance(f));
                merger_frontier = f.unwrap_or(merger_frontier);
                merger_done = f.is_none();
            }
        }
    }
    for s in &shard {
        assert_eq!(s.distinct_in_state(), 0, "a finished shard holds nothing");
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
            )
        })
        .prop_map(|(spec, k, shards, senders, schedule, schedule_one)| Case {
            spec,
            k,
            shards,
            senders,
            schedule,
            schedule_one,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The merged output equals the oracle, every shard's results equal the oracle over its
    /// tags, and one shard gives byte-for-byte the same output as many.
    #[test]
    fn cluster_matches_the_oracle_whatever_the_shards_and_schedule(case in case()) {
        let (_, pushed) = messages(&case, case.shards);
        let want = model::windows(&case.spec, case.k, &pushed);
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
}
