//! Trends: which tags are rising now against their own history, counted in distinct authors.
//!
//! For each tag of a window a shard knows its count and (when the input names authors) its
//! distinct authors (past a bound on distinct tags, estimated from a sample: `crate::authors`);
//! the *observed* value `o` is the authors (else the count). Each tag keeps
//! a baseline: an exponentially decayed mean of its past observed values, one per slide,
//! where a slide without the tag counts as 0. The *expected* value is `e = max(mean, floor)`,
//! so a tag never seen before is measured against the floor, not against zero.
//!
//! The first windows of a stream, those that start before its first record, list no trends
//! and teach no baseline: they hold less than a window of data, so every tag seems to rise.
//! Every worker tells every shard its earliest pane (`Shard::push_first`) for this.
//!
//! The score is the chi-square term of Mastodon's trending tags and of Twitter's Poisson trend
//! detection, `(o − e)² / e` when `o > e` (else 0): how surprising `o` is if the tag went on at
//! its usual rate. A tag is listed only with at least `min_authors` observed and `o ≥
//! min_ratio × e`: a tag that does not at least double its usual level is not "rising", however
//! large its random wobble (this keeps the always-big tags out), and one account posting a tag
//! a thousand times is one author (this keeps spam out); and only with a score of at least
//! `min_score` (a 5σ surprise by default: the wobble of the many small tags stays below it).
//!
//! The baseline learns as a running average until it has `1/α` windows, then as an
//! exponential mean with half-life `halflife` slides. A baseline that decayed below
//! [`FORGET_BELOW`] is the same as none (a fresh tag), whenever it is looked at; entries
//! found so are dropped, so memory follows the tags seen recently. Everything is a function
//! of one tag's own history, in window order: the same for any number of shards, workers or
//! processes, and restored from checkpoints (past the bound on baselines below, it also
//! depends on the tags a shard holds, as the counts past `--max-tags` do).
//!
//! "Recently" is hours: a tag seen once keeps its baseline for about five half-lives. So a
//! stream that brings new tags at every slide (bots posting random tags, each a few times)
//! would make baselines without end, whatever `--max-tags` bounds the window to. Past that
//! bound a shard therefore also keeps at most `N × (window panes + 10)` of them; past that it
//! forgets the faintest, those with the lowest mean, down to `N × (window panes + 5)`: room
//! for every tag of a window (at most `window panes × N`) and five panes' worth of others.
//! The faintest are the nearest to being forgotten anyway, and one below the floor scores as
//! a fresh tag does.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::authors::Authors;
use crate::WindowSpec;

/// Baselines a shard keeps past the bound, per tag of `--max-tags`, more than the panes of a
/// window: a window holds at most `window_panes × N` tags of a shard, and every one has a
/// baseline while it is scored. Past `N × (window_panes + BASELINE_SLACK_PANES)` they are
/// cut to `N × (window_panes + BASELINE_SLACK_PANES / 2)`, so a cut comes at most once in
/// `5 N` new baselines.
pub(crate) const BASELINE_SLACK_PANES: usize = 10;

/// A decayed mean below this is no baseline at all.
pub const FORGET_BELOW: f64 = 1e-3;

/// How trends are found.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrendSpec {
    /// Rows of `trending` per window.
    pub k: usize,
    /// Half-life of a baseline, in slides.
    pub halflife: f64,
    /// The least expected value (a tag never seen is measured against this).
    pub floor: f64,
    /// The least observed value (distinct authors, or posts) to be listed.
    pub min_authors: u64,
    /// The least ratio of observed to expected to be listed.
    pub min_ratio: f64,
    /// The least score to be listed: 25 is a 5σ surprise for a Poisson count, which random
    /// wobble of the many small tags does not reach.
    pub min_score: f64,
}

impl TrendSpec {
    /// Defaults for `k` rows with a half-life of `halflife` slides.
    pub fn new(k: usize, halflife: f64) -> TrendSpec {
        TrendSpec {
            k,
            halflife: halflife.max(1.0),
            floor: 2.0,
            min_authors: 3,
            min_ratio: 2.0,
            min_score: 25.0,
        }
    }

    fn rate(&self) -> Rate {
        Rate {
            alpha: 1.0 - 0.5f64.powf(1.0 / self.halflife),
        }
    }
}

/// One row of a window's `trending` list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// The tag.
    pub tag: String,
    /// `(o − e)² / e`, rounded to 3 decimals.
    pub score: f64,
    /// Occurrences in the window.
    pub count: u64,
    /// The expected observed value `e`, rounded to 3 decimals.
    pub expected: f64,
    /// Distinct authors in the window, when the input names authors.
    pub authors: Option<u64>,
}

/// Rounds to 3 decimals, so that the output text is the same wherever it is computed.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Trend order: score descending, then tag ascending by bytes.
pub fn rank_trends(rows: &mut Vec<Trend>, k: usize) {
    rows.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.tag.as_bytes().cmp(b.tag.as_bytes()))
    });
    rows.truncate(k);
}

/// A tag's history.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Baseline {
    mean: f64,
    /// Windows it has learned from (capped), for the running-average start.
    n: u32,
    /// The window (end pane) it was last brought up to date at.
    at: u64,
}

/// A tag's key in the trend state: a hash of the tag's bytes (64 bits: two tags sharing one
/// would share a baseline, with odds far below one in a billion at a billion tags).
pub(crate) fn key(tag: &str) -> u64 {
    crate::tags::hash_tag(tag.as_bytes())
}

/// A shard's trend state: authors (optional) and baselines.
#[derive(Debug)]
pub(crate) struct Trends {
    pub(crate) spec: TrendSpec,
    authors: Option<Authors>,
    /// The stream's earliest pane, as every worker reports it (the least delivered before the
    /// next window), and reports not yet applied, by delivery time.
    first: Option<u64>,
    first_stash: BTreeMap<u64, u64>,
    baselines: FxHashMap<u64, Baseline>,
    /// Windows scored since the last sweep of forgotten baselines.
    since_sweep: u64,
}

impl Trends {
    pub(crate) fn new(spec: TrendSpec, authors: bool) -> Trends {
        Trends {
            spec,
            authors: authors.then(Authors::default),
            first: None,
            first_stash: BTreeMap::new(),
            baselines: FxHashMap::default(),
            since_sweep: 0,
        }
    }

    pub(crate) fn tracks_authors(&self) -> bool {
        self.authors.is_some()
    }

    /// Buffers that `author` wrote `tag` in `pane`, delivered at `time` (the shard's rules
    /// for what may still count apply: the caller checked them); `budget` is the most pairs
    /// a pane may hold (`crate::authors`).
    pub(crate) fn push_author(
        &mut self,
        time: u64,
        pane: u64,
        tag: &str,
        author: u64,
        budget: usize,
    ) {
        if let Some(a) = self.authors.as_mut() {
            a.push(time, pane, key(tag), author, budget);
        }
    }

    /// Notes that a worker's earliest record is in `pane` (delivered at `time`).
    pub(crate) fn push_first(&mut self, time: u64, pane: u64) {
        let f = self.first_stash.entry(time).or_insert(pane);
        *f = (*f).min(pane);
    }

    /// Applies what was delivered before `end` (the next window to close), as the shard does
    /// with its counts.
    pub(crate) fn apply_before(&mut self, end: u64, spec: &WindowSpec, budget: usize) {
        while let Some(e) = self.first_stash.first_entry() {
            if *e.key() >= end {
                break;
            }
            let pane = e.remove();
            self.first = Some(self.first.map_or(pane, |f| f.min(pane)));
        }
        if let Some(a) = self.authors.as_mut() {
            a.apply_before(end, spec, budget);
        }
    }

    /// Slides the author window from `cur` to `target`.
    pub(crate) fn move_to(&mut self, cur: u64, target: u64, spec: &WindowSpec) {
        if let Some(a) = self.authors.as_mut() {
            a.move_to(cur, target, spec);
        }
    }

    /// Whether window `end` starts before the stream's first record: it then holds part of a
    /// window, and every tag in it seems to rise. It lists nothing, and teaches the baselines
    /// nothing.
    fn partial(&self, end: u64, wspec: &WindowSpec) -> bool {
        self.first
            .is_none_or(|f| end < f.saturating_add(wspec.window_panes()))
    }

    /// Makes room in the baselines for the tags of window `end` (`distinct` of them, in `tags`)
    /// that have none yet, as `score` would add them. The table's growth holds its old and new
    /// buckets at once: done first, it is over before the shard ranks the window's counts,
    /// whose rows would otherwise add to that peak of memory (issue 18). The missing tags are
    /// counted only when the table's spare room might not hold them and it holds any (an
    /// empty table misses them all).
    pub(crate) fn reserve<'t>(
        &mut self,
        end: u64,
        wspec: &WindowSpec,
        distinct: usize,
        tags: impl Iterator<Item = (&'t str, u64)>,
    ) {
        if self.partial(end, wspec) || distinct <= self.baselines.capacity() - self.baselines.len()
        {
            return;
        }
        let missing = if self.baselines.is_empty() {
            distinct
        } else {
            tags.filter(|(tag, _)| !self.baselines.contains_key(&key(tag)))
                .count()
        };
        self.baselines.reserve(missing);
    }

    /// The trending rows of window `end` (its tags and counts in `tags`), and each tag's
    /// baseline brought forward by this window. `slide` is the slide in panes.
    pub(crate) fn score<'t>(
        &mut self,
        end: u64,
        wspec: &WindowSpec,
        tags: impl Iterator<Item = (&'t str, u64)>,
    ) -> Vec<Trend> {
        let spec = self.spec;
        let rate = spec.rate();
        let slide = wspec.slide_panes();
        let partial = self.partial(end, wspec);
        // The first window length of full windows: every baseline is new, and learns fully
        // (after it, a tag that trends learns only slowly from it: see `learn`).
        let early = self
            .first
            .is_some_and(|f| end < f.saturating_add(2 * wspec.window_panes()));
        let mut rows = Vec::new();
        let bound = spec.k.saturating_mul(2).max(1);
        if partial {
            // Nothing to list or learn: a baseline met here would start as it starts anyway
            // in the first full window (`forward` of an unlearned one), so none is made.
            self.count_window(end, slide, rate);
            return rows;
        }
        for (tag, count) in tags {
            let k = key(tag);
            let authors = self.authors.as_ref().map(|a| a.distinct(k));
            let o = authors.unwrap_or(count) as f64;
            let b = self.baselines.entry(k).or_default();
            forward(b, end, slide, rate);
            let e = b.mean.max(spec.floor);
            let score = if o > e { (o - e) * (o - e) / e } else { 0.0 };
            let listed =
                o >= spec.min_authors as f64 && o >= spec.min_ratio * e && score >= spec.min_score;
            if listed {
                rows.push(Trend {
                    tag: tag.to_owned(),
                    score: round3(score),
                    count,
                    expected: round3(e),
                    authors,
                });
                // The k best of what is kept are the k best of all (tags are distinct, the
                // order total): at most 2k rows are held, not every tag that qualifies (all
                // of a new stream's tags in its first full window).
                if rows.len() >= bound {
                    rank_trends(&mut rows, spec.k);
                }
            }
            learn(b, o, rate, listed && !early);
        }
        rank_trends(&mut rows, spec.k);
        self.count_window(end, slide, rate);
        rows
    }

    /// Counts a scored window, and sweeps forgotten baselines every 64.
    fn count_window(&mut self, end: u64, slide: u64, rate: Rate) {
        self.since_sweep += 1;
        if self.since_sweep >= 64 {
            self.sweep(end, slide, rate);
        }
    }

    /// Drops baselines that are forgotten by now (as `forward` would find them).
    fn sweep(&mut self, end: u64, slide: u64, rate: Rate) {
        self.since_sweep = 0;
        self.baselines
            .retain(|_, b| forwarded(*b, end, slide, rate).n > 0);
    }

    /// Holds the baselines to `most` after window `end` was scored: past it, forgets the
    /// faintest (the lowest mean brought forward to `end`, then the least key) down to `keep`
    /// (at most `most`). What is kept is a function of the set of baselines alone: the same
    /// after a restore, whatever order the table holds them in.
    pub(crate) fn bound_baselines(&mut self, end: u64, slide: u64, most: usize, keep: usize) {
        if self.baselines.len() <= most {
            return;
        }
        let keep = keep.min(most);
        if keep == 0 {
            self.baselines.clear();
            return;
        }
        let rate = self.spec.rate();
        let mut levels: Vec<(f64, u64)> = (self.baselines.iter())
            .map(|(&k, &b)| (forwarded(b, end, slide, rate).mean, k))
            .collect();
        // Keys are distinct, so the order is total: the `cut` before the bar are exactly
        // the faintest.
        let cut = levels.len() - keep;
        levels.select_nth_unstable_by(cut, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, k) in &levels[..cut] {
            self.baselines.remove(k);
        }
    }

    /// Baselines held.
    #[cfg(test)]
    pub(crate) fn baselines(&self) -> usize {
        self.baselines.len()
    }

    /// Heap bytes of the trend state, for metrics: a (tag, author) pair is 16 bytes, a
    /// control byte and the table's slack; a baseline's bucket 32 bytes and a control byte
    /// (a table's capacity is 7/8 of its buckets).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.pairs() * 24 + self.baselines.capacity() / 7 * 8 * 33
    }

    /// Distinct (tag, author) pairs held, for metrics.
    pub(crate) fn pairs(&self) -> usize {
        self.authors.as_ref().map_or(0, Authors::pairs)
    }

    /// Writes the state as of time `before` (stashed data delivered before it) into a
    /// shard's checkpoint, in a fixed order: the same state gives the same bytes.
    pub(crate) fn snapshot(&self, before: u64, w: &mut crate::codec::Writer<'_>) {
        w.u64(self.baselines.len() as u64);
        let mut keys: Vec<_> = self.baselines.iter().collect();
        keys.sort_by_key(|(k, _)| **k);
        for (k, b) in keys {
            w.u64(*k);
            w.u64(b.mean.to_bits());
            w.u64(u64::from(b.n));
            w.u64(b.at);
        }
        w.u64(self.since_sweep);
        w.option(self.first);
        let firsts: Vec<_> = self.first_stash.range(..before).collect();
        w.u64(firsts.len() as u64);
        for (time, pane) in firsts {
            w.u64(*time);
            w.u64(*pane);
        }
        w.bool(self.authors.is_some());
        if let Some(a) = &self.authors {
            a.snapshot(before, w);
        }
    }

    /// Reads what [`Trends::snapshot`] wrote; `cur` is the shard's next window, to rebuild the
    /// window's author counts from its panes. `authors` is whether this run tracks them.
    pub(crate) fn restore(
        spec: TrendSpec,
        authors: bool,
        r: &mut crate::codec::Reader<'_>,
        cur: u64,
        wspec: &WindowSpec,
    ) -> Result<Trends, String> {
        let mut t = Trends::new(spec, false);
        for _ in 0..r.count(4)? {
            let k = r.u64()?;
            let mean = f64::from_bits(r.u64()?);
            let n = u32::try_from(r.u64()?).map_err(|_| r.bad("a baseline's window count"))?;
            let at = r.u64()?;
            if !mean.is_finite() || mean < 0.0 {
                return Err(r.bad("a baseline's mean"));
            }
            t.baselines.insert(k, Baseline { mean, n, at });
        }
        t.since_sweep = r.u64()?;
        t.first = r.option()?;
        for _ in 0..r.count(2)? {
            let (time, pane) = (r.u64()?, r.u64()?);
            t.first_stash.insert(time, pane);
        }
        if r.bool()? != authors {
            return Err(r.bad(
                "it was made with distinct authors on where this run has them off, or the \
                 reverse (use the same --author-field)",
            ));
        }
        if !authors {
            return Ok(t);
        }
        let a = Authors::restore(r, cur, wspec)?;
        t.authors = Some(a);
        Ok(t)
    }
}

/// `b` brought to window `end` ([`forward`]), the stored one left as it is.
fn forwarded(mut b: Baseline, end: u64, slide: u64, rate: Rate) -> Baseline {
    forward(&mut b, end, slide, rate);
    b
}

/// Brings a baseline to window `end`: the windows since its last one had the tag at 0.
fn forward(b: &mut Baseline, end: u64, slide: u64, rate: Rate) {
    if b.n == 0 {
        b.at = end;
        return;
    }
    let gap = end.saturating_sub(b.at) / slide.max(1);
    if gap > 1 {
        // gap − 1 windows without the tag (this one is learned by `learn`).
        for _ in 0..(gap - 1).min(64) {
            let a = rate.at(b.n);
            b.mean *= 1.0 - a;
            b.n = b.n.saturating_add(1);
            if b.mean < FORGET_BELOW {
                break;
            }
        }
        if gap - 1 > 64 && b.mean >= FORGET_BELOW {
            // The rest in one step, at the rate of the 65th window on (a running average's
            // rate falls slowly that far: the approximation is well below the noise).
            let a = rate.at(b.n);
            b.mean *= (1.0 - a).powf((gap - 1 - 64) as f64);
            b.n =
                b.n.saturating_add(u32::try_from(gap - 1 - 64).unwrap_or(u32::MAX));
        }
    }
    if b.mean < FORGET_BELOW {
        *b = Baseline::default();
    }
    b.at = end;
}

/// How a baseline learns: a running average of its windows until it has `1/alpha` of them,
/// then an exponential mean of rate `alpha`; a window in which the tag trends is learned at
/// `alpha` only (see [`learn`]).
#[derive(Clone, Copy, Debug)]
struct Rate {
    alpha: f64,
}

impl Rate {
    /// The learning rate of a baseline that has learned from `n` windows: a running average
    /// until it has `1/alpha` of them, then `alpha`.
    fn at(self, n: u32) -> f64 {
        self.alpha.max(1.0 / (f64::from(n) + 1.0))
    }
}

/// Learns the observed value of the current window. A window in which the tag trends (after
/// the stream's first window length) is learned at the slow rate only: a burst is the
/// exception the baseline is there to show, not the rule it should learn, and a tag never
/// seen before trends as long as it is new (a level that stays up is learned, slowly).
fn learn(b: &mut Baseline, o: f64, rate: Rate, trending: bool) {
    let a = if trending { rate.alpha } else { rate.at(b.n) };
    b.mean += a * (o - b.mean);
    b.n = b.n.saturating_add(1);
}

#[cfg(test)]
#[path = "trend_tests.rs"]
mod tests;
