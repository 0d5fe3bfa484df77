//! The two operators of the pipeline, each a thin shell around the pure state machines of
//! `crates/window`: they stash data by time, follow the frontier, and hold a capability so
//! that windows close on time even when no data arrives.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concat, Exchange as _};
use timely::dataflow::{Stream, StreamVec};
use timely::progress::frontier::MutableAntichain;
use window::{Merger, Shard, ShardWindow, Window};

use super::checkpoint::{Acks, Snapshots};
use super::ingest::{StatsMsg, Tag};

/// Fixed routing hash of a tag: the same in every process and run (never `RandomState`).
pub fn route(tag: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(tag.as_bytes())
}

/// The author of the message that carries a worker's earliest pane.
const FIRST: u64 = u64::MAX;

fn first(frontier: &MutableAntichain<u64>) -> Option<u64> {
    frontier.frontier().iter().next().copied()
}

/// Exchanges `(pane, tag, n)` and `(pane, tag, author)` by tag and keeps each shard's sliding
/// windows and trends (starting from `shard`); emits each shard's result for window E at time
/// E − 1. With `snaps`, snapshots the shard whenever its frontier rests at an epoch.
pub fn shard_windows<'s>(
    tags: StreamVec<'s, u64, (u64, Tag, u64)>,
    authors: StreamVec<'s, u64, (u64, Tag, u64)>,
    firsts: StreamVec<'s, u64, u64>,
    shard: Shard,
    snaps: Option<Rc<Snapshots>>,
    state_bytes: Arc<AtomicU64>,
) -> StreamVec<'s, u64, ShardWindow> {
    let by_tag = || Exchange::new(|x: &(u64, Tag, u64)| route(&x.1));
    // Beside the authors (by tag), every worker's earliest pane goes to every shard: as
    // `(pane, "", FIRST)`, a tag no record has.
    let side = authors
        .exchange(|x: &(u64, Tag, u64)| route(&x.1))
        .concat(firsts.broadcast().map(|pane| (pane, Tag::default(), FIRST)));
    type Out = CapacityContainerBuilder<Vec<ShardWindow>>;
    tags.binary_frontier::<_, Out, _, _, _, _>(
        side,
        by_tag(),
        Pipeline,
        "ShardWindows",
        move |cap, _info| {
            let mut cap = Some(cap);
            let mut shard = shard;
            move |(tags, f1), (authors, f2), output| {
                tags.for_each(|stamp, data| {
                    if let Some(&t) = stamp.least() {
                        for (pane, tag, n) in data.drain(..) {
                            shard.push(t, pane, &tag, n);
                        }
                    }
                });
                authors.for_each(|stamp, data| {
                    if let Some(&t) = stamp.least() {
                        for (pane, tag, author) in data.drain(..) {
                            if author == FIRST && tag.is_empty() {
                                shard.push_first(t, pane);
                            } else {
                                shard.push_author(t, pane, &tag, author);
                            }
                        }
                    }
                });
                let f = match (first(f1), first(f2)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let Some(held) = cap.as_mut() else { return };
                if Some(*held.time()) == f {
                    return;
                }
                for w in shard.advance(f) {
                    // Sent at E − 1 (never below the held time, which is < E): the merger may
                    // then close window E as soon as its frontier reaches E, without waiting
                    // for another batch.
                    let at = held.delayed(&w.end.saturating_sub(1).max(*held.time()));
                    output.session(&at).give(w);
                }
                // Once per move of the frontier: the gauge of `/metrics` (issue 15).
                state_bytes.store(shard.state_bytes(), Relaxed);
                if let (Some(t), Some(snaps)) = (f, snaps.as_ref()) {
                    if snaps.is_epoch(t) {
                        let mut bytes = Vec::new();
                        shard.snapshot(t, &mut bytes);
                        snaps.put(t, bytes);
                    }
                }
                match f {
                    Some(f) => held.downgrade(&f),
                    None => cap = None,
                }
            }
        },
    )
}

/// Gathers statistics and shard results at worker 0 and hands each complete window to
/// `emit`; with `snaps`, snapshots the merger whenever its frontier rests at an epoch.
/// Produces no data; its output exists so a probe can watch the whole pipeline.
pub fn merge<'s>(
    stats: StreamVec<'s, u64, StatsMsg>,
    shards: StreamVec<'s, u64, ShardWindow>,
    mut merger: Merger,
    snaps: Option<Rc<Snapshots>>,
    mut emit: impl FnMut(Window) + 'static,
) -> Stream<'s, u64, Vec<()>> {
    let to_zero = Exchange::new(|_: &StatsMsg| 0);
    let shards_to_zero = Exchange::new(|_: &ShardWindow| 0);
    type Out = CapacityContainerBuilder<Vec<()>>;
    stats.binary_frontier::<_, Out, _, _, _, _>(
        shards,
        to_zero,
        shards_to_zero,
        "Merge",
        move |_cap, _info| {
            let mut last: Option<Option<u64>> = None;
            move |(stats, f1), (shards, f2), _output| {
                stats.for_each(|stamp, data| {
                    if let Some(&t) = stamp.least() {
                        for m in data.drain(..) {
                            match m {
                                StatsMsg::Pane {
                                    pane,
                                    records,
                                    tagged,
                                } => merger.push_stats(
                                    t,
                                    pane,
                                    window::PaneStats {
                                        records,
                                        tagged,
                                        ..Default::default()
                                    },
                                ),
                                StatsMsg::Late(n) => merger.push_late(t, n),
                                StatsMsg::Floor {
                                    pane,
                                    floor,
                                    dropped,
                                } => merger.push_stats(
                                    t,
                                    pane,
                                    window::PaneStats {
                                        floor,
                                        dropped,
                                        ..Default::default()
                                    },
                                ),
                            }
                        }
                    }
                });
                shards.for_each(|_stamp, data| {
                    for w in data.drain(..) {
                        merger.push_shard(w);
                    }
                });
                let f = match (first(f1), first(f2)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if last == Some(f) {
                    return;
                }
                last = Some(f);
                merger.advance_each(f, &mut emit);
                if let (Some(t), Some(snaps)) = (f, snaps.as_ref()) {
                    if snaps.is_epoch(t) {
                        let mut bytes = Vec::new();
                        merger.snapshot(t, &mut bytes);
                        snaps.put(t, bytes);
                    }
                }
            }
        },
    )
}

/// Counts at worker 0 the workers' acknowledgements of saved checkpoint epochs, and calls
/// `commit` with each epoch that every one of the `peers` workers has saved.
pub fn acks<'s>(acks: StreamVec<'s, u64, u64>, peers: u64, mut commit: impl FnMut(u64) + 'static) {
    let mut count = Acks::default();
    acks.sink(
        Exchange::new(|_: &u64| 0),
        "Acks",
        move |(input, _frontier)| {
            input.for_each(|_, data| {
                for epoch in data.drain(..) {
                    if let Some(e) = count.ack(epoch, peers) {
                        commit(e);
                    }
                }
            });
        },
    );
}
