//! One worker's loop: polls its shares of the sources, feeds the ingest, moves the
//! dataflow's inputs as the watermark moves (stopping at checkpoint epochs), steps the
//! dataflow, and writes checkpoint files when their parts are ready.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use timely::dataflow::ProbeHandle;
use timely::worker::Worker;
use window::{Merger, Shard};

use super::checkpoint::{self, ShareId, WorkerCkpt, WorkerState};
use super::ingest::{Clock, Ingest, StatsMsg, Tag};
use super::{build, AcksIn, FirstsIn, Pipeline, Plan, Start, StatsIn, TagsIn, WindowSink};
use crate::metrics::Metrics;
use crate::sources::{Poll, Share, SourceContext};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Advances allowed ahead of the pipeline's progress before a worker waits (live sources).
const MAX_IN_FLIGHT: usize = 2;

/// Runs worker `worker` until its shares end (or shutdown) and the dataflow is done.
pub(super) fn run(
    worker: &mut Worker,
    plan: &Plan,
    mut parts: Vec<Share>,
    restored: Option<WorkerState>,
    ctx: &SourceContext,
    sink: &WindowSink,
) -> Result<(), String> {
    let spec = plan.spec;
    let is_first = worker.index() == 0;
    let mut ckpt = plan
        .checkpoint
        .clone()
        .map(|c| WorkerCkpt::new(c, worker.index() as u64, share_ids(&parts)));
    let (shard, merger) = stages(plan, restored.as_ref(), is_first)?;
    if let Some(s) = restored
        .as_ref()
        .filter(|_| shard.max_tags() != plan.max_tags)
    {
        let c = plan.checkpoint.as_ref().expect("restoring");
        let f = checkpoint::worker_file(&c.dir, s.epoch, s.worker);
        let bound = |b: Option<usize>| b.map_or("none".to_owned(), |n| n.to_string());
        return Err(format!(
            "checkpoint {}: made with --max-tags {}, this run has {} (use the same bound)",
            f.display(),
            bound(shard.max_tags()),
            bound(plan.max_tags)
        ));
    }
    let start = Start {
        shard,
        merger,
        shard_snaps: ckpt.as_ref().map(|c| c.shard.clone()),
        merger_snaps: ckpt.as_ref().filter(|_| is_first).map(|c| c.merger.clone()),
        state_bytes: ctx.metrics.window_state_slot(),
    };
    let Pipeline {
        tags,
        authors,
        firsts,
        stats,
        acks: mut acks_in,
        probe,
    } = build(worker, start, sink);

    // Past the bound a pre-aggregate is pruned to N tags per shard (see `ingest.rs`).
    let bounded = plan.max_tags.is_some();
    let cap = plan.max_tags.map(|n| n.saturating_mul(worker.peers()));
    let mut ingest = Ingest::new(spec, plan.clock, plan.mode)
        .with_authors(plan.authors)
        .with_cap(cap);
    ingest.set_shares(parts.iter().map(|s| s.part.holds_watermark()));
    let mut inputs = Inputs {
        tags,
        authors,
        firsts,
        stats,
        tag_buf: Vec::new(),
        author_buf: Vec::new(),
        first_buf: Vec::new(),
        stat_buf: Vec::new(),
    };
    if let Some(s) = restored {
        if let Some(c) = ckpt.as_mut() {
            c.restored(&s);
        }
        ingest.restore_clocks(s.clocks);
        inputs.advance(&mut ingest, s.input_time);
        // An uninterrupted run read nothing while it waited at the epoch, then moved to the
        // watermark its stop line had reached: so does this one, before reading.
        if bounded && plan.clock != Clock::Processing {
            let wm = ingest.watermark_pane().filter(|&wm| wm > inputs.time());
            if let Some(wm) = wm {
                inputs.move_to(&mut ingest, &mut ckpt, wm, None);
            }
        }
    }
    let processing = plan.clock == Clock::Processing;
    if processing {
        let start = spec.pane_of(now_ms()).max(inputs.time());
        inputs.move_to(&mut ingest, &mut ckpt, start, None);
        // (A worker restored with its input closed starts at u64::MAX: nothing to announce.)
        if is_first && start < u64::MAX {
            // Announces the start pane, so windows are emitted from the first one after start
            // even while no record arrives.
            inputs.stats.send(StatsMsg::Pane {
                pane: start,
                records: 0,
                tagged: 0,
            });
        }
    }
    // In processing time the clock sets the pace: a worker does not run more than a few
    // batches ahead of the pipeline's progress (the probe), and the dealer's bounded queues
    // then push back on the connection. A finite replay in event time is not throttled.
    let mut in_flight: VecDeque<u64> = VecDeque::new();
    let mut batches = BatchTimer::new(inputs.time());
    let mut done = vec![false; parts.len()];
    // The rest of a chunk whose reading stopped at a checkpoint epoch, per share.
    let mut rest: Vec<Option<(crate::sources::Chunk, usize)>> =
        (0..parts.len()).map(|_| None).collect();
    // Stopped (SIGINT, --duration, an output error) before every share ended.
    let mut interrupted = false;
    loop {
        let stopping = ctx.stopping();
        let mut got = false;
        for (i, share) in parts.iter_mut().enumerate() {
            if done[i] || stopping {
                interrupted |= !done[i];
                done[i] = true;
                continue;
            }
            // With a bound on distinct tags nothing is read while the input waits at a
            // checkpoint epoch: what is sent at each time then depends on the lines alone,
            // as a restored run sends it (see `push_lines`).
            let waiting = |c: &Option<WorkerCkpt>| c.as_ref().is_some_and(WorkerCkpt::waiting);
            if bounded && waiting(&ckpt) {
                continue;
            }
            let polled = match rest[i].take() {
                Some((chunk, from)) => (Poll::Lines(chunk), from),
                None => (share.part.poll(), 0),
            };
            match polled {
                (Poll::Lines(chunk), from) => {
                    got = true;
                    let now_pane = if processing {
                        spec.pane_of(now_ms())
                    } else {
                        0
                    };
                    if processing && now_pane > inputs.time() {
                        let was = inputs.time();
                        let t = inputs.move_to(&mut ingest, &mut ckpt, now_pane, None);
                        // Only real moves: an input held at an epoch must not wait on itself.
                        if t > was {
                            in_flight.push_back(t);
                        }
                    }
                    let time = inputs.time();
                    let metrics = &ctx.metrics;
                    let ck = &mut ckpt;
                    let inp = &mut inputs;
                    let (_, stopped) = ingest.push_lines(
                        i,
                        share,
                        &chunk,
                        from,
                        time,
                        now_pane,
                        metrics,
                        |ing, to, line| {
                            let at = chunk.positions.get(line).map(|&p| (i, p));
                            let t = inp.move_to(ing, ck, to, at);
                            (t, bounded && waiting(ck))
                        },
                    );
                    // The position after the last line handed to the ingest.
                    let last = match stopped {
                        Some(next) => chunk.positions.get(next - 1),
                        None => chunk.positions.last(),
                    };
                    if let (Some(c), Some(&p)) = (ckpt.as_mut(), last) {
                        c.positions[i] = Some(p);
                    }
                    if let Some(next) = stopped.filter(|&n| n < chunk.len()) {
                        rest[i] = Some((chunk, next));
                    }
                }
                (Poll::Idle, _) => {}
                (Poll::Done, _) => {
                    // A share may end because of the stop or a failure (a file or Kafka
                    // share answers Done once stopping): that is no end of its input.
                    interrupted |= ctx.stopping();
                    done[i] = true;
                    if let Some(to) = ingest.share_done(i, inputs.time()) {
                        inputs.move_to(&mut ingest, &mut ckpt, to, None);
                    }
                }
            }
        }
        if done.iter().all(|d| *d) {
            break;
        }
        if processing {
            let now_pane = spec.pane_of(now_ms());
            if now_pane > inputs.time() {
                let was = inputs.time();
                let t = inputs.move_to(&mut ingest, &mut ckpt, now_pane, None);
                if t > was {
                    in_flight.push_back(t);
                }
            }
        }
        if ingest.should_flush() {
            inputs.flush_early(&mut ingest);
        }
        while in_flight.len() > MAX_IN_FLIGHT {
            if probe.less_equal(&in_flight[0]) && !ctx.stopping() {
                worker.step_or_park(Some(Duration::from_millis(1)));
            } else {
                in_flight.pop_front();
            }
        }
        if got {
            worker.step();
        } else {
            worker.step_or_park(Some(Duration::from_millis(2)));
        }
        if let Some(c) = ckpt.as_mut() {
            acknowledge(&mut acks_in, c.write_ready(&ctx.metrics)?);
            if let Some(want) = c.release(|t| !probe.less_than(&t)) {
                inputs.move_to(&mut ingest, &mut ckpt, want, None);
            }
        }
        if is_first {
            batches.observe(inputs.time(), &probe, &ctx.metrics);
        }
    }
    inputs.flush(&mut ingest);
    if let Some(c) = ckpt.as_mut() {
        if interrupted {
            c.interrupt(inputs.time());
        } else {
            c.close(inputs.time(), ingest.clocks());
        }
    }
    drop(inputs);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
        if let Some(c) = ckpt.as_mut() {
            acknowledge(&mut acks_in, c.write_ready(&ctx.metrics)?);
        }
    }
    // Timely runs the dataflow to its end after this returns: the last acknowledgements
    // reach worker 0 then.
    drop(acks_in);
    Ok(())
}

/// Each share's source and identity, as checkpoints record them.
pub(super) fn share_ids(parts: &[Share]) -> Vec<ShareId> {
    parts
        .iter()
        .map(|s| ShareId {
            source: u32::try_from(s.source).unwrap_or(u32::MAX),
            identity: s.part.identity().unwrap_or_default(),
        })
        .collect()
}

/// Sends the epochs this worker saved to worker 0, now. An input batches what it is given
/// until it is full, and an exchange to other workers holds its batches until the input's
/// time moves: so the acknowledgements' time moves on after each (their time means nothing;
/// worker 0 only counts them). Without this, with more than one worker, acknowledgements sat
/// in the exchange until the run ended and nothing was committed while it ran.
fn acknowledge(acks: &mut AcksIn, epochs: Vec<u64>) {
    if epochs.is_empty() {
        return;
    }
    for epoch in epochs {
        acks.send(epoch);
    }
    let next = acks.time() + 1;
    acks.advance_to(next);
}

/// The shard and merger this worker starts with: fresh, or restored from its checkpoint.
fn stages(
    plan: &Plan,
    restored: Option<&WorkerState>,
    is_first: bool,
) -> Result<(Shard, Merger), String> {
    let spec = plan.spec;
    let shard_k = plan.top.max(plan.counts_limit);
    let max_tags = plan.max_tags.unwrap_or(0);
    // In event time a long run of empty windows is a gap in the data's own clock (a stale
    // record, two files of different years): only its first window is emitted. In
    // processing time every window is, as Spark does: the clock moved, nothing came.
    let skip_gaps = matches!(plan.clock, Clock::Event { .. });
    let fresh_merger = || {
        Merger::new(spec, plan.top)
            .with_counts(plan.counts_limit)
            .with_max_tags(max_tags)
            .with_gaps_skipped(skip_gaps)
    };
    let trends = plan.trends.map(|t| (t, plan.authors));
    let Some(s) = restored else {
        // Only the newest window of a step keeps its counts: the others rank the top-K.
        let mut shard = Shard::new(spec, shard_k).with_superseded_k(plan.top);
        if let Some((t, authors)) = trends {
            shard = shard.with_trends(t, authors);
        }
        if let Some(n) = plan.max_tags {
            shard = shard.with_max_tags(n);
        }
        return Ok((shard, fresh_merger()));
    };
    let file = |e: String| {
        let c = plan.checkpoint.as_ref().expect("restoring");
        let f = checkpoint::worker_file(&c.dir, s.epoch, s.worker);
        // Which flags set it: the store and the HTTP API keep every tag's count.
        let hint = if e.contains("ranked tags a window") || e.contains("counts limit") {
            " (--top sets it, or --counts when --db, --http or --sink keeps every tag's count)"
        } else {
            ""
        };
        format!("checkpoint {}: {e}{hint}", f.display())
    };
    let shard = Shard::restore_with(spec, shard_k, trends, &s.shard)
        .map_err(file)?
        .with_superseded_k(plan.top);
    let merger = if is_first {
        Merger::restore(spec, plan.top, plan.counts_limit, &s.merger)
            .map_err(file)?
            .with_max_tags(max_tags)
            .with_gaps_skipped(skip_gaps)
    } else {
        fresh_merger()
    };
    Ok((shard, merger))
}

/// Times each batch from the moment the input moves past it to the moment the probe shows
/// the whole dataflow is done with it: the batch processing time of `/metrics`.
struct BatchTimer {
    input: u64,
    open: VecDeque<(u64, Instant)>,
}

impl BatchTimer {
    fn new(input: u64) -> Self {
        BatchTimer {
            input,
            open: VecDeque::new(),
        }
    }

    /// Called once per loop turn: a few comparisons, no allocation in the steady state.
    fn observe(&mut self, input: u64, probe: &ProbeHandle<u64>, metrics: &Metrics) {
        if input > self.input {
            // Batches jumped over together (an idle stretch, an event-time leap) count once.
            self.open.push_back((input - 1, Instant::now()));
            self.input = input;
        }
        while let Some((pane, at)) = self.open.front() {
            if probe.less_equal(pane) {
                break;
            }
            metrics.batch_seconds.observe(at.elapsed().as_secs_f64());
            self.open.pop_front();
        }
    }
}

/// A worker's data inputs, advanced together.
struct Inputs {
    tags: TagsIn,
    authors: TagsIn,
    firsts: FirstsIn,
    stats: StatsIn,
    tag_buf: Vec<(u64, Tag, u64)>,
    author_buf: Vec<(u64, Tag, u64)>,
    first_buf: Vec<u64>,
    stat_buf: Vec<StatsMsg>,
}

impl Inputs {
    /// The current input time (pane).
    fn time(&self) -> u64 {
        *self.tags.time()
    }

    /// Sends everything pending at the current time.
    fn flush(&mut self, ingest: &mut Ingest) {
        ingest.drain(
            &mut self.tag_buf,
            &mut self.author_buf,
            &mut self.first_buf,
            &mut self.stat_buf,
        );
        for f in self.first_buf.drain(..) {
            self.firsts.send(f);
        }
        self.send();
    }

    /// Sends what may go before the input time moves ([`Ingest::drain_early`]).
    fn flush_early(&mut self, ingest: &mut Ingest) {
        ingest.drain_early(
            &mut self.tag_buf,
            &mut self.author_buf,
            &mut self.first_buf,
            &mut self.stat_buf,
        );
        for f in self.first_buf.drain(..) {
            self.firsts.send(f);
        }
        self.send();
    }

    fn send(&mut self) {
        for t in self.tag_buf.drain(..) {
            self.tags.send(t);
        }
        for a in self.author_buf.drain(..) {
            self.authors.send(a);
        }
        for s in self.stat_buf.drain(..) {
            self.stats.send(s);
        }
    }

    /// Moves the input toward `to` as checkpoints allow (see `ckpt`); returns the new time.
    /// `at` is the share and position of the line just processed, when moving mid-chunk.
    fn move_to(
        &mut self,
        ingest: &mut Ingest,
        ckpt: &mut Option<WorkerCkpt>,
        to: u64,
        at: Option<(usize, u64)>,
    ) -> u64 {
        let cur = self.time();
        let to = match ckpt.as_mut() {
            Some(c) if to > cur => c.limit(cur, to, at, ingest.clocks()),
            _ => to,
        };
        if to > cur {
            self.advance(ingest, to);
        }
        self.time()
    }

    /// Sends what is pending, then moves both inputs to `to`.
    fn advance(&mut self, ingest: &mut Ingest, to: u64) {
        self.flush(ingest);
        self.tags.advance_to(to);
        self.authors.advance_to(to);
        self.firsts.advance_to(to);
        self.stats.advance_to(to);
    }
}
