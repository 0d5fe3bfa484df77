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
        assert_eq!(results[0].top[0], ("steady".to_owned(), steady));
        shard.check();
    }
    assert_eq!(shard.distinct_in_state(), 1);
    assert!(
        shard.tags.slots() < 10,
        "compacted: {} slots",
        shard.tags.slots()
    );
}
