use super::*;
use proptest::prelude::*;

/// Windows of 3 panes sliding by 1.
fn spec() -> WindowSpec {
    WindowSpec::new(1, 3, 1).unwrap()
}

/// Applies every delivery before window `end` and returns the authors of each tag in `tags`.
fn authors_at(a: &mut Authors, end: u64, budget: usize, tags: &[u64]) -> Vec<u64> {
    a.apply_before(end, &spec(), budget);
    tags.iter().map(|&t| a.distinct(t)).collect()
}

/// Pairs of tag 1 by authors `0..n` and of tag 2 by one author, all in pane 0.
fn flood(a: &mut Authors, n: u64, budget: usize) {
    for author in 0..n {
        a.push(0, 0, 1, author, budget);
    }
    a.push(0, 0, 2, 7, budget);
}

#[test]
fn exact_within_the_budget() {
    let mut a = Authors::default();
    for (pane, author) in [(0, 1), (0, 1), (0, 2), (1, 2), (1, 3)] {
        a.push(0, pane, 9, author, 5);
    }
    assert_eq!(authors_at(&mut a, 2, 5, &[9]), [3]);
    assert_eq!(a.level(), 0);
    a.move_to(2, 4, &spec());
    assert_eq!(a.distinct(9), 2, "pane 0 left the window");
}

#[test]
fn a_flood_of_authors_is_sampled_within_the_budget() {
    let (n, budget) = (100_000, 1_000);
    let mut a = Authors::default();
    flood(&mut a, n, budget);
    assert!(a.pairs() <= budget, "stash: {}", a.pairs());
    let got = authors_at(&mut a, 1, budget, &[1])[0];
    assert!(
        a.pairs() <= 2 * budget,
        "the pane's and the window's: {}",
        a.pairs()
    );
    assert!(a.level() > 0);
    // The sample holds ~n / 2^level > budget / 2 pairs: a relative error of a few percent.
    let err = (got as f64 - n as f64).abs() / n as f64;
    assert!(err < 0.15, "{got} for {n} authors (level {})", a.level());
    // Unbounded, the same pairs are counted exactly.
    let mut exact = Authors::default();
    flood(&mut exact, n, usize::MAX);
    assert_eq!(authors_at(&mut exact, 1, usize::MAX, &[1, 2]), [n, 1]);
}

#[test]
fn the_window_is_exact_again_once_the_sampled_pane_leaves() {
    let budget = 100;
    let mut a = Authors::default();
    flood(&mut a, 10_000, budget);
    for author in 0..5 {
        a.push(1, 1, 3, author, budget);
    }
    a.apply_before(2, &spec(), budget);
    let level = a.level();
    assert!(level > 0);
    // Tag 3's pairs are counted at the window's level while pane 0 is in it.
    let sampled = (0..5).filter(|&au| passes((3, au), level)).count() as u64;
    assert_eq!(a.distinct(3), sampled << level);
    a.move_to(2, 3, &spec());
    assert_eq!(a.level(), level, "pane 0 is still in [0, 3)");
    a.move_to(3, 4, &spec());
    assert_eq!((a.level(), a.distinct(3), a.distinct(1)), (0, 5, 0));
}

#[test]
fn a_high_level_pane_entering_the_window_raises_its_level() {
    let budget = 100;
    let mut a = Authors::default();
    for author in 0..5 {
        a.push(0, 0, 3, author, budget);
    }
    // Pane 2 is flooded before it is in the window (delivered at 0, the window ends at 1).
    for author in 0..10_000 {
        a.push(0, 2, 1, author, budget);
    }
    assert_eq!(authors_at(&mut a, 1, budget, &[3]), [5]);
    assert_eq!(a.level(), 0);
    a.move_to(1, 3, &spec());
    let level = a.level();
    assert!(level > 0);
    let sampled = (0..5).filter(|&au| passes((3, au), level)).count() as u64;
    assert_eq!(a.distinct(3), sampled << level);
}

#[test]
fn snapshots_keep_the_levels_and_restore_refuses_what_none_writes() {
    let budget = 50;
    let mut a = Authors::default();
    flood(&mut a, 5_000, budget);
    a.push(5, 1, 4, 4, budget);
    a.apply_before(1, &spec(), budget);
    let snap = |a: &Authors| {
        let mut bytes = Vec::new();
        let mut w = Writer::begin(&mut bytes, crate::codec::SHARD, &spec());
        a.snapshot(u64::MAX, &mut w);
        w.finish();
        bytes
    };
    let bytes = snap(&a);
    let mut r = Reader::open(&bytes, crate::codec::SHARD, &spec()).unwrap();
    let back = Authors::restore(&mut r, 1, &spec()).unwrap();
    r.finish().unwrap();
    assert_eq!((back.level(), back.distinct(1)), (a.level(), a.distinct(1)));
    assert_eq!(back.panes, a.panes);
    assert_eq!(back.stash, a.stash);
    assert_eq!(snap(&back), bytes);

    // A set at level 1 holding a pair whose hash is odd (level 0 only) is refused.
    let odd = (0..).find(|&au| !passes((1, au), 1)).unwrap();
    let mut bad = Authors::default();
    bad.panes.insert(
        0,
        Pairs {
            level: 1,
            set: [(1, odd)].into_iter().collect(),
        },
    );
    let bytes = snap(&bad);
    let mut r = Reader::open(&bytes, crate::codec::SHARD, &spec()).unwrap();
    let err = Authors::restore(&mut r, 1, &spec()).unwrap_err();
    assert!(err.contains("an author pair outside its sample"), "{err}");

    // A pane no open window holds: the window ending at 10 holds panes 7, 8 and 9.
    let mut r = Reader::open(&bytes, crate::codec::SHARD, &spec()).unwrap();
    let err = Authors::restore(&mut r, 10, &spec()).unwrap_err();
    assert!(
        err.contains("author pane 0 is out of order or in no open window"),
        "{err}"
    );
}

#[test]
fn a_later_pane_is_held_to_the_budget_over_many_deliveries() {
    let budget = 100;
    // Pane 5 gets 100 authors at each of times 0 and 1, before any window holds it.
    let mut split = Authors::default();
    for (time, authors) in [(0, 0..100), (1, 100..200)] {
        for author in authors {
            split.push(time, 5, 1, author, budget);
        }
    }
    split.apply_before(2, &spec(), budget);
    assert!(split.panes[&5].len() <= budget, "{}", split.panes[&5].len());
    assert!(split.panes[&5].level > 0);
    let mut whole = Authors::default();
    for author in 0..200 {
        whole.push(0, 5, 1, author, budget);
    }
    whole.apply_before(2, &spec(), budget);
    assert_eq!(split.panes, whole.panes);
}

/// The window's counts after `a`'s incremental steps: as a restore counts them from the panes.
fn recounted(a: &Authors, end: u64, tags: &[u64]) -> (u32, Vec<u64>) {
    let mut bytes = Vec::new();
    let mut w = Writer::begin(&mut bytes, crate::codec::SHARD, &spec());
    a.snapshot(u64::MAX, &mut w);
    w.finish();
    let mut r = Reader::open(&bytes, crate::codec::SHARD, &spec()).unwrap();
    let b = Authors::restore(&mut r, end, &spec()).unwrap();
    (b.level(), tags.iter().map(|&t| b.distinct(t)).collect())
}

proptest! {
    /// Window by window, with deliveries for panes in and after the window, what the window
    /// counts incrementally (pairs entering and leaving, rebuilt when a level changes) is what
    /// a count from its panes gives.
    #[test]
    fn the_window_counts_what_its_panes_hold(
        pairs in prop::collection::vec((0u64..6, 0u64..300, 0u64..9, 0u64..5), 0..1500),
        budget in 1usize..200,
    ) {
        let mut a = Authors::default();
        for &(tag, author, pane, time) in &pairs {
            // A datum delivered at `time` counts in windows ending after it.
            if pane + 3 > time {
                a.push(time, pane, tag, author, budget);
            }
        }
        let tags: Vec<u64> = (0..6).collect();
        for end in 1..=12 {
            a.apply_before(end, &spec(), budget);
            let here = (a.level(), tags.iter().map(|&t| a.distinct(t)).collect::<Vec<_>>());
            prop_assert_eq!(here, recounted(&a, end, &tags), "window {}", end);
            prop_assert!(a.panes.values().all(|p| p.len() <= budget));
            a.move_to(end, end + 1, &spec());
        }
    }

    /// The sample is a function of the pairs alone: the same pairs pushed in any order, split
    /// into any deliveries, give the same panes, levels and counts.
    #[test]
    fn the_sample_does_not_depend_on_order_or_split(
        pairs in prop::collection::vec((0u64..40, 0u64..400, 0u64..3), 0..1500),
        cut in 0usize..1500,
        budget in 1usize..300,
    ) {
        let mut one = Authors::default();
        for &(tag, author, pane) in &pairs {
            one.push(0, pane, tag, author, budget);
        }
        let mut two = Authors::default();
        let cut = cut.min(pairs.len());
        for (i, &(tag, author, pane)) in pairs.iter().enumerate().rev() {
            two.push(if i < cut { 0 } else { 1 }, pane, tag, author, budget);
        }
        let tags: Vec<u64> = (0..40).collect();
        let a = authors_at(&mut one, 3, budget, &tags);
        let b = authors_at(&mut two, 3, budget, &tags);
        prop_assert_eq!(&one.panes, &two.panes);
        prop_assert_eq!(a, b);
        prop_assert!(one.panes.values().all(|p| p.len() <= budget));
    }
}
