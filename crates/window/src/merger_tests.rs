use super::*;
use crate::strings;

/// 10 s batches, 60 s windows, 10 s slide: w = 6, s = 1.
fn spec() -> WindowSpec {
    WindowSpec::new(10_000, 60_000, 10_000).unwrap()
}

fn stats(records: u64, tagged: u64) -> PaneStats {
    PaneStats {
        records,
        tagged,
        ..PaneStats::default()
    }
}

fn ends(windows: &[Window]) -> Vec<u64> {
    windows.iter().map(|w| w.end_ms / 10_000).collect()
}

fn shard_window(end: u64, top: &[(&str, u64)], distinct: u64, tags: u64) -> ShardWindow {
    let top = top.iter().map(|&(t, n)| (t.into(), n)).collect();
    ShardWindow {
        end,
        top,
        distinct,
        tags,
        trending: Vec::new(),
        error: 0,
    }
}

#[test]
fn nothing_before_stats_and_skipped_windows_stay_skipped() {
    let mut m = Merger::new(spec(), 3);
    assert!(m.advance(Some(50)).is_empty());
    m.push_stats(50, 50, PaneStats::default()); // the processing-time "hello" for pane 50
    assert!(
        m.advance(Some(50)).is_empty(),
        "window 51 is complete once the frontier reaches it, not before"
    );
    let windows = m.advance(Some(53));
    assert_eq!(ends(&windows), [51, 52, 53]);
    assert!(
        windows.iter().all(|w| w.records == 0 && w.top.is_empty()),
        "empty, but emitted"
    );
    assert_eq!((windows[0].start_ms, windows[0].end_ms), (450_000, 510_000));
}

#[test]
fn empty_windows_are_emitted_while_running_but_the_range_ends_with_the_data() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(1, 1));
    m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
    assert_eq!(ends(&m.advance(Some(2))), [1, 2]);
    m.push_stats(3, 3, stats(2, 0));
    let rest = m.advance(None);
    assert_eq!(
        ends(&rest),
        (3..=9).collect::<Vec<_>>(),
        "pane 3's last window ends at 9"
    );
    assert_eq!(
        rest.iter().map(|w| w.records).collect::<Vec<_>>(),
        [1, 3, 3, 3, 2, 2, 2]
    );
    assert_eq!(
        rest.iter().map(|w| w.tagged).collect::<Vec<_>>(),
        [1, 1, 1, 1, 0, 0, 0]
    );
    assert!(m.advance(None).is_empty(), "done");
}

/// Event time: a record from about 3,000 years after the first (2^38 panes of 10 s) leaves a
/// gap of that many empty windows. Only the first is emitted, and the jump over the rest
/// costs one step, whichever frontiers pass over it.
#[test]
fn a_gap_of_empty_windows_is_cut_to_its_first() {
    const FAR: u64 = 1 << 38;
    let skipping = || Merger::new(spec(), 3).with_gaps_skipped(true);
    let push = |m: &mut Merger| {
        m.push_stats(0, 0, stats(1, 1));
        m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
        m.push_late(2, 5);
        m.push_stats(FAR - 1, FAR, stats(2, 2));
        m.push_shard(shard_window(FAR + 1, &[("b", 2)], 1, 2));
    };
    let mut m = skipping();
    push(&mut m);
    let all = m.advance(None);
    let want: Vec<u64> = (1..=7).chain(FAR + 1..=FAR + 6).collect();
    assert_eq!(ends(&all), want);
    assert_eq!(all[6].records, 0, "window 7: the first empty one, kept");
    assert_eq!(all[7].top, [("b".to_owned(), 2)]);
    assert_eq!(
        (all[6].late, all[7].late),
        (5, 5),
        "late counts still add up"
    );
    // Frontiers that stop in the gap, or just before the data after it, change nothing.
    for frontiers in [
        vec![3, 7, 8, 1 << 20, FAR - 1, FAR],
        vec![FAR + 2],
        vec![9, FAR + 1],
    ] {
        let mut m = skipping();
        push(&mut m);
        let mut got = Vec::new();
        for f in frontiers {
            got.extend(m.advance(Some(f)));
        }
        got.extend(m.advance(None));
        assert_eq!(got, all);
    }
    // Without skipping (processing time) the same start emits every window.
    let mut m = Merger::new(spec(), 3);
    push(&mut m);
    assert_eq!(ends(&m.advance(Some(40))), (1..=40).collect::<Vec<_>>());
}

/// Sparse data all stashed before the frontier moves (a worker far ahead of another): each
/// record's six windows and one empty window, nothing between, in one advance. (Each jump
/// walks the stash only up to the next record: 20,000 jumps over 20,000 stats, not 4 · 10^8.)
#[test]
fn sparse_stashed_stats_emit_their_windows_and_one_empty_each() {
    let mut m = Merger::new(spec(), 3).with_gaps_skipped(true);
    const N: u64 = 20_000;
    for i in 0..N {
        m.push_stats(i * 100, i * 100, stats(1, 0));
    }
    let out = m.advance(None);
    assert_eq!(out.len() as u64, N * 7 - 1);
    assert!(out.iter().all(|w| w.records <= 1));
    assert_eq!(out.iter().filter(|w| w.records == 0).count() as u64, N - 1);
}

/// Data at the end of u64 time, where no window comes after the last: the jump stops at the
/// last window rather than stepping one by one (it did, 2^64 steps, for a moment).
#[test]
fn a_gap_up_to_the_end_of_time_is_jumped_too() {
    let mut m = Merger::new(spec(), 3).with_gaps_skipped(true);
    m.push_stats(0, 0, stats(1, 0));
    m.push_stats(u64::MAX - 4, u64::MAX - 3, stats(1, 0));
    let out = m.advance(None);
    let records: Vec<u64> = out.iter().map(|w| w.records).collect();
    assert_eq!(records, [1, 1, 1, 1, 1, 1, 0, 1, 1, 1]);
}

/// A snapshot taken in a gap restores to the same output: where the next window is, and
/// that the window before it held nothing, come back with it.
#[test]
fn a_snapshot_in_a_gap_restores_the_same_windows() {
    let run = |cut: Option<u64>| {
        let mut m = Merger::new(spec(), 3).with_gaps_skipped(true);
        m.push_stats(0, 0, stats(1, 1));
        let mut out = Vec::new();
        if let Some(t) = cut {
            out.extend(m.advance(Some(t)));
            m = Merger::restore(spec(), 3, 0, &snapshot(&m, t))
                .unwrap()
                .with_gaps_skipped(true);
        }
        m.push_stats(500, 500, stats(3, 0));
        out.extend(m.advance(None));
        ends(&out)
    };
    let whole = run(None);
    assert_eq!(whole, (1..=7).chain(501..=506).collect::<Vec<_>>());
    for t in [1, 6, 7, 8, 9, 100, 499, 500] {
        assert_eq!(run(Some(t)), whole, "snapshot at {t}");
    }
}

#[test]
fn stats_follow_the_time_ordering_rule() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, PaneStats::default());
    m.push_stats(3, 2, stats(1, 1)); // pane 2 at time 3: in windows 4..=8, not 3
    let windows = m.advance(None);
    assert_eq!(ends(&windows), (1..=8).collect::<Vec<_>>());
    assert_eq!(
        windows.iter().map(|w| w.records).collect::<Vec<_>>(),
        [0, 0, 0, 1, 1, 1, 1, 1]
    );
}

#[test]
fn late_counts_are_cumulative_by_time() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(1, 0));
    m.push_late(2, 4);
    m.push_late(4, 1);
    m.push_late(4, 2);
    let windows = m.advance(None);
    assert_eq!(
        windows.iter().map(|w| w.late).collect::<Vec<_>>(),
        [0, 0, 4, 4, 7, 7]
    );
}

#[test]
fn shard_tops_merge_exactly_with_ties_cut_by_tag() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(9, 9));
    m.push_shard(shard_window(1, &[("c", 4), ("z", 2)], 2, 6));
    m.push_shard(shard_window(1, &[("b", 4), ("a", 2)], 5, 9));
    m.push_shard(shard_window(1, &[("y", 4)], 1, 4));
    let windows = m.advance(Some(1));
    assert_eq!(windows.len(), 1);
    let w = &windows[0];
    assert_eq!((w.records, w.tagged, w.tags, w.distinct), (9, 9, 19, 8));
    let top: Vec<(&str, u64)> = w.top.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    assert_eq!(top, [("b", 4), ("c", 4), ("y", 4)]);
}

#[test]
fn a_later_stat_may_still_open_the_range_earlier() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(19, 19, stats(1, 0)); // first window 20
    assert!(m.advance(Some(5)).is_empty());
    m.push_stats(6, 6, stats(1, 0)); // time 6 >= frontier 5: legal, first window 7
    assert_eq!(ends(&m.advance(Some(8))), [7, 8]);
}

#[test]
fn results_for_emitted_windows_are_ignored() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(1, 1));
    assert_eq!(m.advance(Some(2)).len(), 2);
    m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
    let rest = m.advance(None);
    assert_eq!(ends(&rest), [3, 4, 5, 6]);
    assert!(rest.iter().all(|w| w.tags == 0));
}

#[test]
fn range_end_covers_the_greatest_time_pushed() {
    // Late records detected at time 12: the frontier may have passed window 12 before the
    // end, so the range runs to 12 whether or not it did.
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(1, 1));
    m.push_late(12, 1);
    let windows = m.advance(None);
    assert_eq!(ends(&windows), (1..=12).collect::<Vec<_>>());
    assert_eq!(
        windows[11].late, 0,
        "pushed at 12: counts from window 13 on"
    );
}

/// The types that cross processes implement serde's traits (checked at compile time).
#[test]
fn results_are_serde() {
    fn is_serde<T: Serialize + for<'de> Deserialize<'de>>() {}
    is_serde::<Window>();
    is_serde::<ShardWindow>();
    is_serde::<PaneStats>();
}

#[test]
fn a_stat_between_windows_extends_the_range_to_its_time() {
    // 10 s windows every 30 s: windows end at 3, 6, … and hold panes 2, 5, …; pane 4 is in
    // none. Its stat, delivered at time 7, lets the frontier pass window 6 before the end.
    let spec = WindowSpec::new(10_000, 10_000, 30_000).unwrap();
    let mut m = Merger::new(spec, 3);
    m.push_stats(2, 2, stats(1, 0));
    m.push_stats(7, 4, stats(1, 0));
    let windows = m.advance(None);
    assert_eq!(
        windows
            .iter()
            .map(|w| (w.end_ms, w.records))
            .collect::<Vec<_>>(),
        [(30_000, 1), (60_000, 0)]
    );
}

#[test]
fn counts_hold_every_tag_in_rank_order_and_top_is_their_head() {
    let mut m = Merger::new(spec(), 2).with_counts(100);
    m.push_stats(0, 0, stats(5, 5));
    m.push_shard(shard_window(1, &[("b", 3), ("d", 1)], 2, 4));
    m.push_shard(shard_window(1, &[("a", 3), ("c", 2)], 2, 5));
    let w = m.advance(Some(1)).remove(0);
    let tags: Vec<(&str, u64)> = w.counts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    assert_eq!(tags, [("a", 3), ("b", 3), ("c", 2), ("d", 1)]);
    assert_eq!(w.top, strings(&w.counts[..2]));
    let mut plain = Merger::new(spec(), 2);
    plain.push_stats(0, 0, stats(5, 5));
    plain.push_shard(shard_window(1, &[("a", 3), ("b", 3)], 2, 6));
    assert!(plain.advance(Some(1))[0].counts.is_empty());
}

/// A merger with emitted windows, stashed stats and late counts before time 4, a shard
/// result for window 4, and stats, late counts and results delivered at 4 or later.
fn busy() -> Merger {
    let mut m = Merger::new(spec(), 2).with_counts(5);
    for pane in 0..3 {
        m.push_stats(pane, pane, stats(2, 1));
    }
    m.push_late(1, 3);
    m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
    m.push_shard(shard_window(2, &[("a", 2)], 1, 2));
    assert_eq!(ends(&m.advance(Some(2))), [1, 2]);
    m.push_stats(3, 3, stats(4, 4));
    m.push_stats(3, 2, stats(1, 1));
    m.push_late(3, 1);
    m.push_shard(shard_window(3, &[("b", 5), ("a", 2)], 2, 7));
    m.push_stats(4, 4, stats(7, 7)); // delivered at the checkpoint time: left out
    m.push_late(4, 9);
    m.push_stats(30, 30, PaneStats::default()); // extends the range: left out
    m.push_shard(shard_window(5, &[("c", 1)], 1, 1)); // sent at 4: left out
    m
}

fn snapshot(m: &Merger, before: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    m.snapshot(before, &mut bytes);
    bytes
}

#[test]
fn a_snapshot_holds_what_was_delivered_before_its_time() {
    let bytes = snapshot(&busy(), 4);
    let mut restored = Merger::restore(spec(), 2, 5, &bytes).unwrap();
    assert_eq!(snapshot(&restored, 4), bytes);
    let mut whole = busy();
    let (a, b) = (whole.advance(Some(4)), restored.advance(Some(4)));
    assert_eq!((ends(&a), &a), (vec![3, 4], &b));
    // What was delivered at 4 or later comes again.
    restored.push_stats(4, 4, stats(7, 7));
    restored.push_late(4, 9);
    restored.push_stats(30, 30, PaneStats::default());
    restored.push_shard(shard_window(5, &[("c", 1)], 1, 1));
    let rest = restored.advance(None);
    assert_eq!(rest, whole.advance(None));
    assert_eq!(
        ends(&rest),
        (5..=36).collect::<Vec<_>>(),
        "pane 30's last window"
    );
    let mut bare = Merger::restore(spec(), 2, 5, &bytes).unwrap();
    assert_eq!(
        ends(&bare.advance(None)),
        (3..=9).collect::<Vec<_>>(),
        "the range of what came before 4"
    );
}

#[test]
fn restore_refuses_another_shape_top_or_counts_limit() {
    let bytes = snapshot(&busy(), 4);
    let other = WindowSpec::new(10_000, 60_000, 20_000).unwrap();
    assert_eq!(
        Merger::restore(other, 2, 5, &bytes).unwrap_err(),
        "merger checkpoint has window 1m/10s/10s, this run 1m/20s/10s (window/slide/batch)"
    );
    assert_eq!(
        Merger::restore(spec(), 3, 5, &bytes).unwrap_err(),
        "merger checkpoint has top 2, this run 3"
    );
    assert_eq!(
        Merger::restore(spec(), 2, 0, &bytes).unwrap_err(),
        "merger checkpoint has counts limit 5, this run 0"
    );
    let mut done = Merger::new(spec(), 2);
    done.advance(None);
    let mut m = Merger::restore(spec(), 2, 0, &snapshot(&done, 9)).unwrap();
    m.push_stats(10, 10, stats(1, 1));
    assert!(
        m.advance(None).is_empty(),
        "a finished merger stays finished"
    );
}

#[test]
fn restore_refuses_a_tag_in_two_shards_lists() {
    // Shards hold disjoint tags; a checkpoint saying otherwise is corrupt. Found by fuzzing:
    // the two rows tie, and which run's error each row took hung on the order of the runs.
    let mut m = Merger::new(spec(), 2).with_counts(5);
    m.push_stats(1, 1, stats(2, 2));
    m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
    m.push_shard(shard_window(1, &[("b", 2), ("a", 1)], 2, 3));
    let bytes = snapshot(&m, 1);
    assert_eq!(
        Merger::restore(spec(), 2, 5, &bytes).unwrap_err(),
        "merger checkpoint is inconsistent: a tag is in two shards' lists for window 1"
    );
}

#[test]
fn truncated_or_flipped_snapshots_are_refused() {
    let bytes = snapshot(&busy(), 4);
    for len in 0..bytes.len() {
        assert!(
            Merger::restore(spec(), 2, 5, &bytes[..len]).is_err(),
            "{len}"
        );
    }
    crate::codec::assert_every_bit_flip_refused(&bytes, |b| {
        Merger::restore(spec(), 2, 5, b).is_err()
    });
}

mod fuzz {
    use super::*;
    use crate::codec::damage;
    use proptest::prelude::*;

    proptest! {
        /// Random bytes, with or without a merger checkpoint's header, are refused.
        #[test]
        fn garbage_is_refused(
            mut bytes in proptest::collection::vec(any::<u8>(), 0..200),
            header in any::<bool>(),
        ) {
            if header {
                bytes.splice(0..0, *b"TSwm\x02");
            }
            prop_assert!(Merger::restore(spec(), 2, 5, &bytes).is_err());
        }

        /// Bodies changed behind a valid checksum: restore never panics, and a merger it
        /// accepts runs (up to a bounded frontier: a changed range end may be far away).
        #[test]
        fn changed_bodies_never_panic(
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = snapshot(&busy(), 4);
            damage(&mut bytes, &changes, cut, truncate);
            if let Ok(mut m) = Merger::restore(spec(), 2, 5, &bytes) {
                let f = m.cur.saturating_add(20);
                m.push_stats(f, f, stats(1, 1));
                m.advance(Some(f));
            }
        }
    }
}

fn bounded_shard(end: u64, top: &[(&str, u64)], tags: u64, error: u64) -> ShardWindow {
    ShardWindow {
        error,
        ..shard_window(end, top, top.len() as u64, tags)
    }
}

#[test]
fn issue_15_runs_merge_with_their_errors_and_the_senders_floor() {
    let mut m = Merger::new(spec(), 2).with_counts(10).with_max_tags(20_000);
    let st = PaneStats {
        records: 9,
        tagged: 9,
        floor: 2,
        dropped: 5,
    };
    m.push_stats(0, 0, st);
    m.push_shard(bounded_shard(1, &[("b", 7), ("d", 4)], 11, 1));
    m.push_shard(bounded_shard(1, &[("a", 7), ("c", 6), ("e", 1)], 14, 0));
    let w = m.advance(Some(1)).remove(0);
    let rows = |r: &[(String, u64)]| {
        r.iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
    };
    // Ranked by count (each plus the senders' floor 2), then tag; each with its shard's error.
    assert_eq!(
        rows(&strings(&w.counts)),
        ["a 9", "b 9", "c 8", "d 6", "e 3"]
    );
    assert_eq!(rows(&w.top), ["a 9", "b 9"]);
    let a = w.approx.expect("approximate");
    assert_eq!((a.max_tags, a.bound), (20_000, 3));
    assert_eq!(a.counts, [2, 3, 2, 3, 2]);
    assert_eq!(a.top, [2, 3]);
    assert_eq!((w.tags, w.distinct), (11 + 14 + 5, 5));
}

#[test]
fn issue_15_a_window_is_exact_until_something_was_pruned() {
    let mut m = Merger::new(spec(), 3);
    m.push_stats(0, 0, stats(1, 1));
    m.push_shard(shard_window(1, &[("a", 1)], 1, 1));
    m.push_stats(
        1,
        1,
        PaneStats {
            floor: 1,
            dropped: 2,
            ..stats(2, 2)
        },
    );
    m.push_shard(bounded_shard(2, &[("a", 1)], 3, 0));
    let ws = m.advance(Some(2));
    assert_eq!(ws[0].approx, None);
    let a = ws[1].approx.as_ref().expect("the senders pruned pane 1");
    assert_eq!((a.bound, &a.top[..]), (1, &[1][..]));
    assert_eq!((ws[1].top[0].1, ws[1].tags), (2, 5));
}

#[test]
fn issue_15_runs_and_floors_survive_a_checkpoint() {
    let mut m = Merger::new(spec(), 2).with_counts(5);
    m.push_stats(
        0,
        0,
        PaneStats {
            floor: 2,
            dropped: 5,
            ..stats(3, 3)
        },
    );
    m.push_shard(bounded_shard(1, &[("b", 7), ("d", 4)], 11, 1));
    m.push_shard(bounded_shard(1, &[("a", 7)], 7, 0));
    let mut bytes = Vec::new();
    m.snapshot(1, &mut bytes);
    let mut back = Merger::restore(spec(), 2, 5, &bytes).unwrap();
    let mut again = Vec::new();
    back.snapshot(1, &mut again);
    assert_eq!(again, bytes);
    assert_eq!(back.advance(None), m.advance(None));
}
