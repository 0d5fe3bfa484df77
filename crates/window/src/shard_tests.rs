use super::*;

/// 10 s batches, 60 s windows, 10 s slide: w = 6, s = 1.
fn spec() -> WindowSpec {
    WindowSpec::new(10_000, 60_000, 10_000).unwrap()
}

fn ends(results: &[ShardWindow]) -> Vec<u64> {
    results.iter().map(|w| w.end).collect()
}

fn top(w: &ShardWindow) -> Vec<(&str, u64)> {
    w.top.iter().map(|(t, n)| (t.as_str(), *n)).collect()
}

#[test]
fn a_datum_counts_only_in_windows_ending_after_its_time() {
    // Pane 2 is in the windows ending at 3..=8; delivered at time 3 it counts in 4..=8 only.
    let mut shard = Shard::new(spec(), 3);
    shard.push(3, 2, "x", 1);
    assert_eq!(ends(&shard.advance(None)), [4, 5, 6, 7, 8]);
}

#[test]
fn the_frontier_closes_windows_at_or_before_it() {
    let mut shard = Shard::new(spec(), 3);
    shard.push(0, 0, "x", 2);
    assert_eq!(ends(&shard.advance(Some(0))), Vec::<u64>::new());
    assert_eq!(ends(&shard.advance(Some(3))), [1, 2, 3]);
    // Data delivered early (time 5 while the frontier is 3) waits for its windows.
    shard.push(5, 4, "y", 1);
    let results = shard.advance(Some(6));
    assert_eq!(ends(&results), [4, 5, 6]);
    assert_eq!(top(&results[2]), [("x", 2), ("y", 1)]);
    assert_eq!((results[2].distinct, results[2].tags), (2, 3));
    shard.check();
    assert_eq!(ends(&shard.advance(None)), [7, 8, 9, 10]);
    shard.check();
    assert_eq!(shard.distinct_in_state(), 0);
}

#[test]
fn counts_slide_in_and_out() {
    let mut shard = Shard::new(spec(), 2);
    for pane in 0..8 {
        shard.push(pane, pane, "every", 1);
        shard.push(pane, pane, if pane % 2 == 0 { "even" } else { "odd" }, 3);
        shard.check();
    }
    let results = shard.advance(Some(8));
    shard.check();
    let w8 = &results[7];
    assert_eq!(w8.end, 8);
    assert_eq!(
        top(w8),
        [("even", 9), ("odd", 9)],
        "panes 2..8: a tie, cut by tag"
    );
    assert_eq!((w8.distinct, w8.tags), (3, 24));
    assert_eq!(top(&results[0]), [("even", 3), ("every", 1)]);
}

#[test]
fn empty_windows_are_not_reported_and_gaps_are_jumped() {
    let mut shard = Shard::new(spec(), 1);
    let far = 1u64 << 60; // a gap of ~10^18 panes: stepping through it would never end
    shard.push(0, 0, "old", 1);
    shard.push(far, far, "new", 1);
    let results = shard.advance(Some(far + 2));
    assert_eq!(ends(&results), [1, 2, 3, 4, 5, 6, far + 1, far + 2]);
    assert_eq!(
        shard.panes.len(),
        1,
        "pane 0 is dropped once no window needs it"
    );
    shard.check();
    assert_eq!(
        ends(&shard.advance(Some(u64::MAX - 1))),
        [far + 3, far + 4, far + 5, far + 6]
    );
    assert_eq!(shard.distinct_in_state(), 0);
    assert!(shard.advance(None).is_empty());
}

#[test]
fn late_or_closed_data_is_ignored() {
    let mut shard = Shard::new(spec(), 1);
    shard.push(0, 0, "a", 1);
    shard.advance(Some(10));
    shard.push(10, 2, "closed", 1); // windows holding pane 2 end by 8: closed, and late
    shard.push(4, 3, "behind", 1); // time behind the frontier, but windows up to 9 hold it: none open
    shard.push(20, 20, "none", 0);
    assert_eq!(shard.distinct_in_state(), 0);
    // A datum behind the frontier whose pane is still open counts from the next window on.
    shard.push(4, 9, "kept", 1);
    assert_eq!(ends(&shard.advance(None)), (11..=15).collect::<Vec<_>>());
}

#[test]
fn slide_longer_than_window_leaves_gaps() {
    // 10 s windows every 30 s: windows end at 3, 6, 9 and hold panes 2, 5, 8.
    let spec = WindowSpec::new(10_000, 10_000, 30_000).unwrap();
    let mut shard = Shard::new(spec, 5);
    for pane in 0..9 {
        shard.push(0, pane, &format!("p{pane}"), 1);
    }
    assert_eq!(
        shard.distinct_in_state(),
        3,
        "panes between windows are not kept"
    );
    let results = shard.advance(None);
    assert_eq!(ends(&results), [3, 6, 9]);
    assert_eq!(top(&results[1]), [("p5", 1)]);
}

#[test]
fn windows_sliding_by_several_panes() {
    // 60 s windows every 20 s: w = 6, s = 2; pane 3 is in the windows ending at 4, 6, 8.
    let spec = WindowSpec::new(10_000, 60_000, 20_000).unwrap();
    let mut shard = Shard::new(spec, 5);
    shard.push(3, 3, "x", 1);
    shard.push(5, 5, "y", 1);
    let results = shard.advance(None);
    assert_eq!(ends(&results), [4, 6, 8, 10]);
    assert_eq!(top(&results[1]), [("x", 1), ("y", 1)]);
    assert_eq!(top(&results[3]), [("y", 1)]);
}

#[test]
fn pushes_aggregate_and_reuse_interned_tags() {
    let mut shard = Shard::new(spec(), 5);
    for _ in 0..3 {
        shard.push(0, 0, "x", 2);
    }
    shard.push(1, 0, "x", 1);
    assert_eq!((shard.distinct_in_state(), shard.tags.slots()), (1, 1));
    let results = shard.advance(Some(2));
    assert_eq!(top(&results[0]), [("x", 6)]);
    assert_eq!(
        top(&results[1]),
        [("x", 7)],
        "the push at time 1 counts from window 2 on"
    );
    assert_eq!(shard.panes[&0].len(), 1, "one entry per tag and pane");
    shard.check();
}

#[test]
fn memory_follows_the_live_tags_after_a_burst() {
    let mut shard = Shard::new(spec(), 3);
    for i in 0..20_000 {
        shard.push(0, 0, &format!("burst{i}"), 1);
    }
    shard.push(0, 0, "steady", 5);
    assert_eq!(shard.advance(Some(1))[0].distinct, 20_001);
    for pane in 1..10 {
        shard.push(pane, pane, "steady", 1);
        let results = shard.advance(Some(pane + 1));
        let steady = if pane <= 5 { 5 + pane } else { 6 }; // pane 0 leaves after window 6
        assert_eq!(results[0].top[0], ("steady".into(), steady));
        shard.check();
    }
    assert_eq!(shard.distinct_in_state(), 1);
    assert!(
        shard.tags.slots() < 10,
        "compacted: {} slots",
        shard.tags.slots()
    );
}

/// A shard with applied panes, a stash before time 7 and data delivered at 7 and later.
fn busy() -> Shard {
    let mut shard = Shard::new(spec(), 3);
    for pane in 0..6 {
        for (i, tag) in ["a", "b", "é", "long tag"].iter().enumerate() {
            shard.push(pane, pane, tag, 1 + (i as u64 + pane) % 3);
        }
    }
    shard.push(5, 4, "late-ish", 2);
    assert_eq!(ends(&shard.advance(Some(5))), [1, 2, 3, 4, 5]);
    shard.push(5, 5, "stashed", 1);
    shard.push(6, 6, "stashed", 1);
    shard.push(7, 7, "after", 1); // delivered at the checkpoint time: left out
    shard.push(9, 8, "b", 4);
    shard.advance(Some(5));
    shard
}

fn snapshot(shard: &Shard, before: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    shard.snapshot(before, &mut bytes);
    bytes
}

#[test]
fn a_snapshot_holds_what_was_delivered_before_its_time() {
    let shard = busy();
    let bytes = snapshot(&shard, 7);
    assert_eq!(bytes, snapshot(&shard, 7), "deterministic");
    let mut restored = Shard::restore(spec(), 3, &bytes).unwrap();
    restored.check();
    assert_eq!(
        restored.distinct_in_state(),
        6,
        "not \"after\", not b's later datum twice"
    );
    // Send again what was delivered at 7 or later: the same windows as without the restore.
    restored.push(7, 7, "after", 1);
    restored.push(9, 8, "b", 4);
    let mut whole = busy();
    assert_eq!(restored.advance(None), whole.advance(None));
    assert_eq!(restored.distinct_in_state(), 0);
}

#[test]
fn large_counts_long_tags_and_finished_shards_survive_a_checkpoint() {
    let mut shard = Shard::new(spec(), 2);
    let long = "x".repeat(70_000);
    shard.push(0, 0, "hot", 3 << 32);
    shard.push(0, 0, "hot", u64::MAX >> 2);
    shard.push(0, 1, &long, 1);
    shard.push(2, 2, "hot", 1 << 40);
    shard.advance(Some(1));
    let bytes = snapshot(&shard, 2);
    let mut restored = Shard::restore(spec(), 2, &bytes).unwrap();
    restored.check();
    assert_eq!(snapshot(&restored, 2), bytes);
    restored.push(2, 2, "hot", 1 << 40);
    let results = restored.advance(None);
    assert_eq!(results, shard.advance(None));
    assert_eq!(results[0].end, 2);
    assert_eq!(
        results[0].top[0],
        ("hot".into(), (3 << 32) + (u64::MAX >> 2))
    );
    assert_eq!(results[1].top[0].1, (3 << 32) + (u64::MAX >> 2) + (1 << 40));
    let done = snapshot(&restored, 100);
    let mut finished = Shard::restore(spec(), 2, &done).unwrap();
    assert!(finished.advance(None).is_empty());
    finished.push(200, 200, "x", 1);
    assert_eq!(
        finished.distinct_in_state(),
        0,
        "a finished shard stays finished"
    );
}

#[test]
fn restore_refuses_another_shape_or_k() {
    let bytes = snapshot(&busy(), 7);
    let other = WindowSpec::new(10_000, 30_000, 10_000).unwrap();
    assert_eq!(
        Shard::restore(other, 3, &bytes).unwrap_err(),
        "shard checkpoint has window 1m/10s/10s, this run 30s/10s/10s (window/slide/batch)"
    );
    let slower = WindowSpec::new(5_000, 60_000, 5_000).unwrap();
    assert_eq!(
        Shard::restore(slower, 3, &bytes).unwrap_err(),
        "shard checkpoint has window 1m/10s/10s, this run 1m/5s/5s (window/slide/batch)"
    );
    assert_eq!(
        Shard::restore(spec(), 10, &bytes).unwrap_err(),
        "shard checkpoint has ranked tags a window 3, this run 10"
    );
    let mut merger = Vec::new();
    crate::Merger::new(spec(), 3).snapshot(0, &mut merger);
    assert_eq!(
        Shard::restore(spec(), 3, &merger).unwrap_err(),
        "this is a merger checkpoint, not a shard checkpoint"
    );
}

#[test]
fn truncated_or_flipped_snapshots_are_refused() {
    let bytes = snapshot(&busy(), 7);
    for len in 0..bytes.len() {
        let err = Shard::restore(spec(), 3, &bytes[..len]).unwrap_err();
        assert!(
            err.starts_with("shard checkpoint is truncated") || len < 4,
            "{len}: {err}"
        );
    }
    crate::codec::assert_every_bit_flip_refused(&bytes, |b| Shard::restore(spec(), 3, b).is_err());
}

mod fuzz {
    use super::*;
    use crate::codec::damage;
    use proptest::prelude::*;

    proptest! {
        /// Random bytes, with or without a shard checkpoint's header, are refused.
        #[test]
        fn garbage_is_refused(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            header in any::<bool>(),
        ) {
            if header {
                bytes.splice(0..0, *b"TSws\x02");
            }
            prop_assert!(Shard::restore(spec(), 3, &bytes).is_err());
        }

        /// Bodies changed behind a valid checksum get past it, into the body's checks:
        /// restore never panics, and a shard it accepts keeps its invariants and runs.
        #[test]
        fn changed_bodies_never_panic(
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = snapshot(&busy(), 7);
            damage(&mut bytes, &changes, cut, truncate);
            if let Ok(mut shard) = Shard::restore(spec(), 3, &bytes) {
                shard.check();
                shard.advance(Some(20));
                shard.check();
                shard.advance(None);
            }
        }
    }
}

fn with_errors(w: &ShardWindow) -> (Vec<(&str, u64)>, u64) {
    (top(w), w.error)
}

#[test]
fn issue_15_a_pane_past_the_bound_becomes_a_summary() {
    let mut shard = Shard::new(spec(), 3).with_max_tags(2);
    for (tag, n) in [("a", 5), ("b", 3), ("c", 1), ("d", 1)] {
        shard.push(0, 0, tag, n);
    }
    // The third largest count, 1, leaves every count: c and d are gone, the floor is 1.
    let results = shard.advance(Some(1));
    assert_eq!(with_errors(&results[0]), (vec![("a", 5), ("b", 3)], 1));
    assert_eq!((results[0].distinct, results[0].tags), (2, 10));
    shard.check();
    shard.push(1, 1, "e", 1);
    let results = shard.advance(Some(2));
    // a's counter is 4 and the window's floor 1: 5, its true count; e (truth 1) shows 2.
    assert_eq!(
        with_errors(&results[0]),
        (vec![("a", 5), ("b", 3), ("e", 2)], 1)
    );
    assert_eq!(results[0].tags, 11);
    shard.check();
    // Pane 0 leaves after window 6: the rest is exact again.
    let results = shard.advance(Some(7));
    assert_eq!(with_errors(&results[4]), (vec![("e", 1)], 0));
    assert_eq!(shard.max_tags(), Some(2));
}

#[test]
fn issue_15_a_pane_pruned_to_nothing_still_reports_its_floor_and_total() {
    let mut shard = Shard::new(spec(), 3).with_max_tags(1);
    shard.push(0, 0, "x", 1);
    shard.push(0, 0, "y", 1);
    let results = shard.advance(None);
    assert_eq!(ends(&results), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        (results[0].top.len(), results[0].error, results[0].tags),
        (0, 1, 2)
    );
}

#[test]
fn issue_15_below_the_bound_nothing_changes() {
    let push = |shard: &mut Shard| {
        for pane in 0..12u64 {
            for i in 0..(pane % 5 + 1) {
                shard.push(pane, pane, &format!("t{}", (i * 7 + pane) % 9), 1 + i % 3);
            }
        }
    };
    let (mut exact, mut bounded) = (
        Shard::new(spec(), 4),
        Shard::new(spec(), 4).with_max_tags(5),
    );
    push(&mut exact);
    push(&mut bounded);
    let want = exact.advance(None);
    assert!(want.iter().all(|w| w.error == 0));
    assert_eq!(bounded.advance(None), want);
}

#[test]
fn issue_15_a_bounded_shard_survives_a_checkpoint() {
    let mut shard = Shard::new(spec(), 3).with_max_tags(2);
    for (tag, n) in [("a", 5), ("b", 3), ("c", 1), ("d", 1)] {
        shard.push(0, 0, tag, n);
    }
    shard.push(1, 1, "c", 2);
    shard.advance(Some(1));
    let bytes = snapshot(&shard, 1);
    let mut restored = Shard::restore(spec(), 3, &bytes).unwrap();
    restored.check();
    assert_eq!(
        restored.max_tags(),
        Some(2),
        "the bound is in the checkpoint"
    );
    assert_eq!(snapshot(&restored, 1), bytes);
    restored.push(1, 1, "c", 2);
    assert_eq!(restored.advance(None), shard.advance(None));
    // The same bytes claiming no bound: a pruned pane cannot be.
    let mut unbounded = bytes.clone();
    // After the header (13 bytes), the shape (3 + 2 + 2 varint bytes) and k (1).
    assert_eq!(unbounded[13 + 7 + 1], 2);
    unbounded[13 + 7 + 1] = 0;
    crate::codec::reseal(&mut unbounded);
    assert_eq!(
        Shard::restore(spec(), 3, &unbounded).unwrap_err(),
        "shard checkpoint is inconsistent: pane 0 was pruned by a shard with no bound"
    );
    let mut tighter = bytes;
    tighter[13 + 7 + 1] = 1;
    crate::codec::reseal(&mut tighter);
    assert_eq!(
        Shard::restore(spec(), 3, &tighter).unwrap_err(),
        "shard checkpoint is inconsistent: pane 0 holds 2 tags, past its bound 1"
    );
}

#[test]
fn issue_15_state_follows_the_bound_not_the_flood() {
    let flood = |shard: &mut Shard| {
        for pane in 0..6u64 {
            // One sender's batch per pane, as a pruning sender would send it: 2 000 tags.
            for i in 0..2_000u64 {
                shard.push(pane, pane, &format!("#flood{pane}x{i}"), 1 + i % 3);
            }
            shard.push(pane, pane, "#steady", 100);
            shard.advance(Some(pane + 1));
        }
        shard.state_bytes()
    };
    let exact = flood(&mut Shard::new(spec(), 3));
    let mut shard = Shard::new(spec(), 3).with_max_tags(100);
    let bounded = flood(&mut shard);
    shard.check();
    assert!(
        shard.distinct_in_state() <= 6 * 100,
        "{}",
        shard.distinct_in_state()
    );
    assert!(bounded * 10 < exact, "bounded {bounded} B, exact {exact} B");
    // Window 7 holds panes 1 to 5: the heavy tag was counted since before each prune, so its
    // count is exact, with the error of the 5 panes' floors (3 each).
    let w = shard.advance(Some(7)).remove(0);
    assert_eq!((w.top[0].clone(), w.error), (("#steady".into(), 500), 15));
}

/// Issue 18: a window of many tags with a large k (`--counts`) ranks on a second thread while
/// its trends are scored; its lists are those of a shard doing both in turn (k below
/// `PARALLEL_RANK`: the same head) and of `top_k` over the known counts.
#[test]
fn ranking_beside_the_trend_scoring_gives_the_same_lists() {
    let n = PARALLEL_RANK + 5_000;
    let count = |i: usize| 1 + (i * 7919 % 13) as u64;
    let run = |k: usize| {
        let mut shard = Shard::new(spec(), k).with_trends(TrendSpec::new(10, 60.0), false);
        shard.push_first(0, 0);
        for pane in 0..12u64 {
            // A steady background, then a burst of one tag: something trends in the last.
            for i in 0..n {
                shard.push(pane, pane, &format!("#tag{i}"), count(i));
            }
            shard.push(pane, pane, "#burst", if pane == 11 { 50_000 } else { 1 });
        }
        shard
            .advance(Some(12))
            .pop()
            .expect("the window ending at 12")
    };
    let (parallel, in_turn) = (run(n + 1), run(PARALLEL_RANK - 1));
    assert_eq!(parallel.end, 12);
    assert_eq!(parallel.top.len(), n + 1);
    assert_eq!(&parallel.top[..in_turn.top.len()], &in_turn.top[..]);
    assert_eq!(parallel.trending, in_turn.trending);
    assert_eq!(parallel.trending[0].tag, "#burst");
    // The window holds panes 6..=11: six of each background count, and the burst.
    let names: Vec<String> = (0..n).map(|i| format!("#tag{i}")).collect();
    let mut want: Vec<(&str, u64)> = names
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), 6 * count(i)))
        .collect();
    want.push(("#burst", 50_005));
    assert_eq!(crate::strings(&parallel.top), crate::top_k(want, n + 1));
}

/// Issue 15 for issue 14: past `--max-tags`, a flood of tags by distinct authors leaves the
/// trends' author pairs within their budget (`crate::authors`), where without a bound they
/// grow with every record; a tag's authors are then an estimate near the truth.
#[test]
fn past_the_bound_a_flood_of_authors_is_held_within_the_budget() {
    let trends = TrendSpec::new(10, 60.0);
    let flood = |shard: &mut Shard| {
        for i in 0..50_000u64 {
            // One tag of its own and one shared tag a line, each line by an author of its own.
            let own = format!("#t{i}");
            for tag in [own.as_str(), "#hot"] {
                shard.push(0, 0, tag, 1);
                shard.push_author(0, 0, tag, i);
            }
        }
        shard.push_first(0, 0);
    };
    let mut bounded = Shard::new(spec(), 10)
        .with_max_tags(100)
        .with_trends(trends, true);
    flood(&mut bounded);
    let budget = 100 * crate::authors::PAIRS_PER_TAG;
    let pairs = |shard: &Shard| shard.trends.as_ref().unwrap().pairs();
    let held = pairs(&bounded);
    assert!(held <= budget, "{held} pairs in the stash");
    bounded.advance(Some(1));
    let held = pairs(&bounded);
    assert!(
        held <= 2 * budget,
        "{held} pairs in the pane and the window"
    );
    assert!(bounded.state_bytes() < 200_000, "{}", bounded.state_bytes());

    let mut exact = Shard::new(spec(), 10).with_trends(trends, true);
    flood(&mut exact);
    exact.advance(Some(1));
    assert_eq!(pairs(&exact), 2 * 100_000);

    // The first full window (pane 0 is its first): #hot's 50,000 authors, estimated.
    let authors = |shard: &mut Shard| {
        let w = shard.advance(Some(6)).pop().unwrap();
        let hot = w.trending.iter().find(|t| t.tag == "#hot").unwrap();
        hot.authors.unwrap()
    };
    assert_eq!(authors(&mut exact), 50_000);
    let estimate = authors(&mut bounded);
    assert!(
        estimate.abs_diff(50_000) < 50_000 / 5,
        "{estimate} for 50,000 authors"
    );
}

#[test]
fn past_the_bound_new_tags_at_every_slide_keep_a_bounded_number_of_baselines() {
    // 19 new tags a pane, each once, under a bound of 20: no pane is pruned, but without a
    // bound on baselines every one of them would keep its own for hours of slides.
    let trends = TrendSpec::new(10, 60.0);
    let mut shard = Shard::new(spec(), 10)
        .with_max_tags(20)
        .with_trends(trends, false);
    shard.push_first(0, 0);
    let budget = 20 * (6 + crate::trend::BASELINE_SLACK_PANES);
    let mut most_bytes = 0;
    for pane in 0..300u64 {
        for i in 0..19 {
            shard.push(pane, pane, &format!("#p{pane}_{i}"), 1);
        }
        shard.push(pane, pane, "#steady", 10);
        shard.advance(Some(pane + 1));
        let held = shard.trends.as_ref().unwrap().baselines();
        assert!(held <= budget, "pane {pane}: {held} baselines");
        most_bytes = most_bytes.max(shard.state_bytes());
    }
    assert!(most_bytes < 100_000, "{most_bytes} bytes of window state");
    // #steady kept its baseline: its burst is measured against its level (10 a pane, 60 a
    // window), not against the floor.
    shard.push(300, 300, "#steady", 1_000);
    let w = shard.advance(Some(301)).pop().unwrap();
    let steady = w.trending.iter().find(|t| t.tag == "#steady").unwrap();
    assert!((59.0..=61.0).contains(&steady.expected), "{steady:?}");
}
