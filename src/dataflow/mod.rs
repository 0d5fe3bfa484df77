//! The only module that imports timely. The pipeline, top to bottom:
//!
//! ```text
//! sources ─► ingest (per worker: decode, extract, pre-aggregate per pane)
//!        ─► exchange (pane, tag, n) by xxh3(tag) ─► shard_windows (per shard: panes, windows, top-K)
//!        ─► exchange to worker 0 ─► merge (with per-pane stats) ─► windows out
//! ```
//!
//! Timely timestamps are panes (batch indexes). A worker's input time is its watermark pane:
//! the wall clock's batch in processing time, the batch of (greatest event time − lateness)
//! in event time. Data sent at time t counts only in windows ending after t, which is what
//! makes the output independent of the number of workers (see `crates/window`).

mod ckpt;
mod execute;
pub mod ingest;
mod operators;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;
use window::{Merger, Shard, Window, WindowSpec};

use ckpt::WorkerCkpt;
pub use execute::Cluster;
use ingest::{Clock, Ingest, StatsMsg, Tag};

use crate::checkpoint::{self, WorkerState};
use crate::metrics::Metrics;
use crate::record::Decoder;
use crate::sources::{Poll, ProcessSources, Share, SourceContext, SourceSpec};

/// Everything that decides what the pipeline computes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Batch, window and slide.
    pub spec: WindowSpec,
    /// Rows per window.
    pub top: usize,
    /// Also report every tag of each window, up to this many (0: only the top-K), for the
    /// `counts` table. Shards then send that many rows per window to worker 0.
    pub counts_limit: usize,
    /// Extraction rule.
    pub mode: hashtag::Mode,
    /// Line decoding.
    pub decoder: Decoder,
    /// Processing or event time.
    pub clock: Clock,
    /// Checkpoints, if `--checkpoint-dir` is given.
    pub checkpoint: Option<checkpoint::Config>,
}

/// What worker 0 hands to the output, in order.
#[derive(Debug)]
pub enum Emitted {
    /// A closed window.
    Window(Window),
    /// Every worker saved its checkpoint of this epoch, and the windows up to it were handed
    /// over before this: the output commits it once they are written.
    Checkpoint(u64),
}

/// Where emitted windows go: called on worker 0 only, in window order.
pub type WindowSink = Arc<dyn Fn(Emitted) + Send + Sync>;

/// Runs the pipeline until the sources end (or shutdown), on this process's workers.
pub fn run(
    plan: Plan,
    cluster: &Cluster,
    sources: &[SourceSpec],
    ctx: SourceContext,
    sink: WindowSink,
) -> Result<(), String> {
    let mut parts = ProcessSources::open(
        sources,
        cluster.process,
        cluster.processes,
        cluster.workers,
        &ctx,
        &plan.decoder,
        plan.clock != Clock::Processing,
    )?;
    let first_local = cluster.process * cluster.workers;
    // Each local worker's restored state, its sources moved to the saved positions.
    let mut restored: Vec<Option<WorkerState>> = Vec::new();
    for local in 0..cluster.workers {
        let state = match plan.checkpoint.as_ref() {
            Some(c) => match c.restore {
                Some(epoch) => {
                    let me = (first_local + local) as u64;
                    let s = checkpoint::load(&c.dir, &c.shape, epoch, me)?;
                    parts.seek(local, &s.positions).map_err(|e| {
                        let f = checkpoint::worker_file(&c.dir, epoch, me);
                        format!("checkpoint {}: {e}", f.display())
                    })?;
                    Some(s)
                }
                None => None,
            },
            None => None,
        };
        restored.push(state);
    }
    let parts = Arc::new(Mutex::new((parts, restored)));
    let config = cluster.timely_config()?;
    let guards = timely::execute(config, move |worker| {
        let local = worker.index() - first_local;
        let mine = parts
            .lock()
            .map(|mut p| (p.0.take(local), p.1[local].take()));
        let (mine, state) = mine.unwrap_or_default();
        worker_main(worker, &plan, mine, state, &ctx, &sink)
    })?;
    for r in guards.join() {
        r??;
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

type TagsIn = InputHandle<u64, CapacityContainerBuilder<Vec<(u64, Tag, u64)>>>;
type StatsIn = InputHandle<u64, CapacityContainerBuilder<Vec<StatsMsg>>>;
type AcksIn = InputHandle<u64, CapacityContainerBuilder<Vec<u64>>>;

/// Advances allowed ahead of the pipeline's progress before a worker waits (live sources).
const MAX_IN_FLIGHT: usize = 2;

fn worker_main(
    worker: &mut Worker,
    plan: &Plan,
    mut parts: Vec<Share>,
    restored: Option<WorkerState>,
    ctx: &SourceContext,
    sink: &WindowSink,
) -> Result<(), String> {
    let spec = plan.spec;
    let mut tags_in = TagsIn::new();
    let mut stats_in = StatsIn::new();
    let mut acks_in = AcksIn::new();
    let probe = ProbeHandle::new();
    let state_size = Rc::new(RefCell::new(0usize));
    let is_first = worker.index() == 0;
    let peers = worker.peers() as u64;
    let mut ckpt = plan
        .checkpoint
        .clone()
        .map(|c| WorkerCkpt::new(c, worker.index() as u64, parts.len()));
    let shard_k = plan.top.max(plan.counts_limit);
    let (shard, merger) = match restored.as_ref() {
        Some(s) => {
            let shard = Shard::restore(spec, shard_k, &s.shard);
            let merger = if is_first {
                Merger::restore(spec, plan.top, plan.counts_limit, &s.merger)
            } else {
                Ok(Merger::new(spec, plan.top).with_counts(plan.counts_limit))
            };
            let file = |e: String| {
                let c = plan.checkpoint.as_ref().expect("restoring");
                let f = checkpoint::worker_file(&c.dir, s.epoch, s.worker);
                format!("checkpoint {}: {e}", f.display())
            };
            (shard.map_err(file)?, merger.map_err(file)?)
        }
        None => (
            Shard::new(spec, shard_k),
            Merger::new(spec, plan.top).with_counts(plan.counts_limit),
        ),
    };
    worker.dataflow::<u64, _, _>(|scope| {
        let tags = tags_in.to_stream(scope);
        let stats = stats_in.to_stream(scope);
        let shard_snaps = ckpt.as_ref().map(|c| c.shard.clone());
        let merger_snaps = ckpt.as_ref().filter(|_| is_first).map(|c| c.merger.clone());
        let shards = operators::shard_windows(tags, shard, state_size.clone(), shard_snaps);
        let window_sink = sink.clone();
        operators::merge(stats, shards, merger, merger_snaps, move |w| {
            if is_first {
                window_sink(Emitted::Window(w))
            }
        })
        .probe_with(&probe);
        let acks = acks_in.to_stream(scope);
        let commit_sink = sink.clone();
        operators::acks(acks, peers, move |epoch| {
            commit_sink(Emitted::Checkpoint(epoch))
        });
    });

    let mut ingest = Ingest::new(spec, plan.clock, plan.mode);
    ingest.set_shares(parts.iter().map(|s| s.part.holds_watermark()));
    let mut inputs = Inputs {
        tags: tags_in,
        stats: stats_in,
        tag_buf: Vec::new(),
        stat_buf: Vec::new(),
    };
    if let Some(s) = restored {
        if let Some(c) = ckpt.as_mut() {
            c.restored(&s);
        }
        ingest.restore_clocks(s.clocks);
        inputs.advance(&mut ingest, s.input_time);
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
    loop {
        let stopping = ctx.stopping();
        let mut got = false;
        for (i, share) in parts.iter_mut().enumerate() {
            if done[i] || stopping {
                done[i] = true;
                continue;
            }
            match share.part.poll() {
                Poll::Lines(chunk) => {
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
                    ingest.push_chunk(
                        i,
                        share,
                        &chunk,
                        time,
                        now_pane,
                        metrics,
                        |ing, to, line| {
                            let at = chunk.positions.get(line).map(|&p| (i, p));
                            inp.move_to(ing, ck, to, at)
                        },
                    );
                    if let (Some(c), Some(&p)) = (ckpt.as_mut(), chunk.positions.last()) {
                        c.positions[i] = Some(p);
                    }
                }
                Poll::Idle => {}
                Poll::Done => {
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
            inputs.flush(&mut ingest);
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
            for epoch in c.write_ready(&ctx.metrics)? {
                acks_in.send(epoch);
                // An input batches what it is given until it is full: send now.
                acks_in.flush();
            }
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
        c.close(inputs.time(), ingest.clocks());
    }
    drop(inputs);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
        if let Some(c) = ckpt.as_mut() {
            for epoch in c.write_ready(&ctx.metrics)? {
                acks_in.send(epoch);
                // An input batches what it is given until it is full: send now.
                acks_in.flush();
            }
        }
    }
    // Timely runs the dataflow to its end after this returns: the last acknowledgements
    // reach worker 0 then.
    drop(acks_in);
    Ok(())
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

/// A worker's two inputs, advanced together.
struct Inputs {
    tags: TagsIn,
    stats: StatsIn,
    tag_buf: Vec<(u64, Tag, u64)>,
    stat_buf: Vec<StatsMsg>,
}

impl Inputs {
    /// The current input time (pane).
    fn time(&self) -> u64 {
        *self.tags.time()
    }

    /// Sends everything pending at the current time.
    fn flush(&mut self, ingest: &mut Ingest) {
        ingest.drain(&mut self.tag_buf, &mut self.stat_buf);
        for t in self.tag_buf.drain(..) {
            self.tags.send(t);
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
        self.stats.advance_to(to);
    }
}
