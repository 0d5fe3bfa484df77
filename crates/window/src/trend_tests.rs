use super::*;

fn run(t: &mut Trends, end: u64, tags: &[(&str, u64)]) -> Vec<Trend> {
    // 1-pane windows, the stream from pane 0.
    t.first = Some(0);
    t.score(
        end,
        &WindowSpec::new(1, 1, 1).unwrap(),
        tags.iter().copied(),
    )
}

#[test]
fn a_steady_tag_does_not_trend_a_rising_one_does() {
    let mut t = Trends::new(TrendSpec::new(10, 60.0), false);
    // The first window sees both as new (against the floor).
    let first = run(&mut t, 1, &[("#big", 1000), ("#small", 3)]);
    assert_eq!(first[0].tag, "#big");
    for end in 2..100 {
        let rows = run(&mut t, end, &[("#big", 1000 + end % 7), ("#small", 3)]);
        assert!(rows.is_empty(), "window {end}: {rows:?}");
    }
    let rows = run(&mut t, 100, &[("#big", 1100), ("#small", 40)]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].tag, "#small");
    assert_eq!(rows[0].expected, 3.0);
    assert_eq!(rows[0].score, round3(37.0 * 37.0 / 3.0));
}

#[test]
fn absent_windows_count_as_zero_and_old_baselines_are_forgotten() {
    let spec = TrendSpec::new(10, 10.0);
    let mut t = Trends::new(spec, false);
    for end in 1..=50 {
        run(&mut t, end, &[("#x", 100)]);
    }
    // 10 half-lives later the baseline is ~0.1: the floor again.
    let rows = run(&mut t, 150, &[("#x", 100)]);
    assert_eq!(rows[0].expected, 2.0, "{rows:?}");
    // Swept or not, a forgotten baseline gives the same answer.
    let mut swept = Trends::new(spec, false);
    let mut kept = Trends::new(spec, false);
    for s in [&mut swept, &mut kept] {
        run(s, 1, &[("#y", 5)]);
    }
    swept.sweep(10_000, 1, spec.rate());
    assert!(swept.baselines.is_empty());
    assert_eq!(
        run(&mut swept, 10_001, &[("#y", 9)]),
        run(&mut kept, 10_001, &[("#y", 9)])
    );
}

#[test]
fn authors_are_distinct_over_the_window() {
    let wspec = WindowSpec::new(1, 2, 1).unwrap();
    let mut t = Trends::new(TrendSpec::new(10, 60.0), true);
    for (pane, author) in [(0, 1), (0, 1), (0, 2), (1, 2), (1, 3)] {
        t.push_author(0, pane, "#a", author, usize::MAX);
    }
    t.apply_before(1, &wspec, usize::MAX);
    t.move_to(1, 2, &wspec);
    t.apply_before(2, &wspec, usize::MAX);
    assert_eq!(t.authors.as_ref().unwrap().distinct(key("#a")), 3);
    t.move_to(2, 3, &wspec);
    assert_eq!(t.authors.as_ref().unwrap().distinct(key("#a")), 2);
    let bytes = snapshot(&t, &wspec);
    let mut r = crate::codec::Reader::open(&bytes, crate::codec::SHARD, &wspec).unwrap();
    let back = Trends::restore(t.spec, true, &mut r, 3, &wspec).unwrap();
    r.finish().unwrap();
    assert_eq!(back.authors.as_ref().unwrap().distinct(key("#a")), 2);
    let again = snapshot(&back, &wspec);
    assert_eq!(bytes, again);
}

/// Window `end` of a stream that brings 30 new tags at every slide, each once, beside one
/// tag with a steady level: in `order`, forward or reversed.
fn churn(t: &mut Trends, end: u64, reversed: bool) -> Vec<Trend> {
    let fresh: Vec<String> = (0..30).map(|i| format!("#f{end}_{i}")).collect();
    let mut tags: Vec<(&str, u64)> = fresh.iter().map(|f| (f.as_str(), 1)).collect();
    tags.push(("#steady", 20));
    if reversed {
        tags.reverse();
    }
    run(t, end, &tags)
}

/// The bytes `t` writes into a shard checkpoint of windows `wspec`.
fn snapshot(t: &Trends, wspec: &WindowSpec) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut w = crate::codec::Writer::begin(&mut bytes, crate::codec::SHARD, wspec);
    t.snapshot(u64::MAX, &mut w);
    w.finish();
    bytes
}

#[test]
fn past_the_budget_the_faintest_baselines_are_forgotten() {
    let spec = TrendSpec::new(10, 60.0);
    let (mut bounded, mut exact) = (Trends::new(spec, false), Trends::new(spec, false));
    for end in 1..=300 {
        churn(&mut bounded, end, false);
        bounded.bound_baselines(end, 1, 100, 75);
        assert!(
            bounded.baselines() <= 100,
            "window {end}: {}",
            bounded.baselines()
        );
        churn(&mut exact, end, false);
    }
    // Without a bound a tag seen once keeps its baseline for hundreds of slides (the first
    // ones are forgotten only as these 300 end).
    assert!(exact.baselines() > 8_000, "{}", exact.baselines());
    // The steady tag keeps its own: its rise is measured against its level, not the floor,
    // as without the bound; and a tag never seen is measured against the floor in both.
    let burst = [("#steady", 200), ("#new", 40)];
    let rows = run(&mut bounded, 301, &burst);
    assert_eq!(rows, run(&mut exact, 301, &burst));
    assert_eq!(rows.len(), 2, "{rows:?}");
    let steady = rows.iter().find(|r| r.tag == "#steady").unwrap();
    assert!((19.0..=21.0).contains(&steady.expected), "{steady:?}");
}

/// The keys `bound_baselines(end, 1, _, keep)` should keep: the `keep` greatest by level
/// (the mean brought forward to `end`), then key.
fn model_kept(t: &Trends, end: u64, keep: usize) -> Vec<u64> {
    let mut levels: Vec<(f64, u64)> = (t.baselines.iter())
        .map(|(&k, &b)| (forwarded(b, end, 1, t.spec.rate()).mean, k))
        .collect();
    levels.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut keys: Vec<u64> = levels.iter().take(keep).map(|&(_, k)| k).collect();
    keys.sort_unstable();
    keys
}

fn keys(t: &Trends) -> Vec<u64> {
    let mut keys: Vec<u64> = t.baselines.keys().copied().collect();
    keys.sort_unstable();
    keys
}

#[test]
fn what_is_kept_is_a_function_of_the_baselines_alone() {
    // The same windows, their tags met in the opposite order and in a table of another size
    // (so the tables walk them in other orders): both keep what a sort of them keeps, ties
    // among the fresh tags' equal levels included.
    let spec = TrendSpec::new(10, 60.0);
    let (mut a, mut b) = (Trends::new(spec, false), Trends::new(spec, false));
    b.baselines.reserve(1 << 12);
    for end in 1..=40 {
        churn(&mut a, end, false);
        churn(&mut b, end, true);
        let want = model_kept(&a, end, 40);
        let cut = a.baselines() > 50;
        a.bound_baselines(end, 1, 50, 40);
        b.bound_baselines(end, 1, 50, 40);
        if cut {
            assert_eq!(keys(&a), want, "window {end}");
        }
        let one = WindowSpec::new(1, 1, 1).unwrap();
        assert_eq!(snapshot(&a, &one), snapshot(&b, &one), "window {end}");
    }
    // Within the budget nothing is forgotten; a budget of none forgets all.
    let mut c = Trends::new(spec, false);
    churn(&mut c, 1, false);
    c.bound_baselines(1, 1, 31, 0);
    assert_eq!(c.baselines(), 31);
    c.bound_baselines(1, 1, 0, 0);
    assert_eq!(c.baselines(), 0);
}

#[test]
fn of_many_rising_tags_the_k_best_are_those_of_all() {
    // 500 new tags in the first full window, all rising against the floor, on 40 levels:
    // most scores tie, and the tag breaks the ties.
    let tags: Vec<String> = (0..500).map(|i| format!("#t{i}")).collect();
    let counts: Vec<(&str, u64)> = (tags.iter().enumerate())
        .map(|(i, t)| (t.as_str(), 10 + (i as u64 * 7919) % 40))
        .collect();
    for k in [0, 1, 3, 10, 499] {
        let mut held = Trends::new(TrendSpec::new(k, 60.0), false);
        let mut all = Trends::new(TrendSpec::new(usize::MAX, 60.0), false);
        let got = run(&mut held, 1, &counts);
        let mut want = run(&mut all, 1, &counts);
        assert_eq!(want.len(), 500);
        rank_trends(&mut want, k);
        assert_eq!(got, want, "k {k}");
    }
}

#[test]
fn room_is_made_before_scoring_for_the_missing_baselines_only() {
    let wspec = WindowSpec::new(1, 1, 1).unwrap();
    let tags: Vec<String> = (0..3500).map(|i| format!("#t{i}")).collect();
    let counts: Vec<(&str, u64)> = tags.iter().map(|t| (t.as_str(), 1)).collect();
    let mut t = Trends::new(TrendSpec::new(10, 60.0), false);
    // A window before the stream's first record makes no baseline: no room either.
    t.reserve(1, &wspec, 2000, counts[..2000].iter().copied());
    assert_eq!(t.baselines.capacity(), 0);
    run(&mut t, 1, &counts[..2000]);
    assert_eq!(t.baselines(), 2000);
    // 2000 of the next window's 3500 tags have a baseline: room for 1500 more, not 3500.
    t.reserve(2, &wspec, 3500, counts.iter().copied());
    let room = t.baselines.capacity();
    assert!((3500..5500).contains(&room), "capacity {room}");
    // Scoring then adds them without growing the table.
    run(&mut t, 2, &counts);
    assert_eq!(t.baselines(), 3500);
    assert_eq!(t.baselines.capacity(), room);
    // With no baselines yet, room for every tag of the window, without counting them.
    let mut fresh = Trends::new(TrendSpec::new(10, 60.0), false);
    fresh.first = Some(0);
    fresh.reserve(1, &wspec, 3500, counts.iter().copied());
    let room = fresh.baselines.capacity();
    assert!(room >= 3500, "capacity {room}");
    run(&mut fresh, 1, &counts);
    assert_eq!(fresh.baselines.capacity(), room);
}
