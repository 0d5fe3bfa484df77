//! The only module that imports timely. The pipeline, top to bottom:
//!
//! ```text
//! sources ─► ingest (per worker: decode, extract, pre-aggregate per pane)
//!        ─► exchange (pane, tag, n) by xxh3(tag) ─► shards (per shard: panes, windows, top-K)
//!        ─► exchange to worker 0 ─► merger (with per-pane stats) ─► sink (windows out)
//! ```
//!
//! [`run`] opens the sources and starts the workers; each worker `build`s the dataflow and
//! then runs its loop (`worker.rs`), which feeds the dataflow's inputs from its shares of the
//! sources. Checkpoints (`checkpoint/`) ride on the same loop.
//!
//! Timely timestamps are panes (batch indexes). A worker's input time is its watermark pane:
//! the wall clock's batch in processing time, the batch of (greatest event time − lateness)
//! in event time. Data sent at time t counts only in windows ending after t, which is what
//! makes the output independent of the number of workers (see `crates/window`).

pub mod checkpoint;
mod cluster;
pub mod ingest;
mod operators;
mod worker;

use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;
use window::{Merger, Shard, TrendSpec, Window, WindowSpec};

use checkpoint::{Snapshots, WorkerState};
pub use cluster::{Cluster, MAX_WORKERS};
use ingest::{Clock, StatsMsg, Tag};

use crate::record::Decoder;
use crate::sources::{ProcessSources, SourceContext, SourceSpec};

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
    /// Trending tags per window (`None`: off).
    pub trends: Option<TrendSpec>,
    /// Whether records name authors (`--author-field`, or a source that knows them): trends
    /// then count distinct authors, else posts.
    pub authors: bool,
    /// The bound on distinct tags per shard and pane (`--max-tags`; `None`: exact at any
    /// cardinality). Past it, windows are approximate (issue 15).
    pub max_tags: Option<usize>,
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
    let sources = resume_streams(&plan, sources)?;
    // Text lines are records whole: a reader thread may find their keys ahead of the worker.
    let ctx = SourceContext {
        find_keys: plan.decoder.is_text().then_some(plan.mode),
        ..ctx
    };
    let mut parts = ProcessSources::open(
        &sources,
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
                    let ids: Vec<&str> = s.shares.iter().map(|i| i.identity.as_str()).collect();
                    parts.seek(local, &s.positions, &ids).map_err(|e| {
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
        worker::run(worker, &plan, mine, state, &ctx, &sink)
    })?;
    for r in guards.join() {
        r??;
    }
    Ok(())
}

/// The sources, with each dealt stream that can resume from a cursor (Jetstream) set to the
/// least position any worker of the cluster saved for it in the committed checkpoint.
fn resume_streams(plan: &Plan, sources: &[SourceSpec]) -> Result<Vec<SourceSpec>, String> {
    let mut sources = sources.to_vec();
    let Some((c, epoch)) = plan
        .checkpoint
        .as_ref()
        .and_then(|c| c.restore.map(|e| (c, e)))
    else {
        return Ok(sources);
    };
    if !sources
        .iter()
        .any(|s| matches!(s, SourceSpec::Jetstream(_)))
    {
        return Ok(sources);
    }
    let mut least: Vec<Option<u64>> = vec![None; sources.len()];
    for worker in 0..c.shape.peers {
        let s = checkpoint::load(&c.dir, &c.shape, epoch, worker)?;
        for (id, pos) in s.shares.iter().zip(&s.positions) {
            if let (Some(l), Some(p)) = (least.get_mut(id.source as usize), pos) {
                *l = Some(l.map_or(*p, |l: u64| l.min(*p)));
            }
        }
    }
    for (spec, pos) in sources.iter_mut().zip(least) {
        if let Some(p) = pos {
            spec.resume(p);
        }
    }
    Ok(sources)
}

type TagsIn = InputHandle<u64, CapacityContainerBuilder<Vec<(u64, Tag, u64)>>>;
type StatsIn = InputHandle<u64, CapacityContainerBuilder<Vec<StatsMsg>>>;
type AcksIn = InputHandle<u64, CapacityContainerBuilder<Vec<u64>>>;
type FirstsIn = InputHandle<u64, CapacityContainerBuilder<Vec<u64>>>;

/// The handles by which a worker's loop drives the dataflow [`build`] made.
struct Pipeline {
    /// `(pane, tag, count)` from the ingest, for the shards.
    tags: TagsIn,
    /// `(pane, tag, author)`, each pair once per pane and worker, for the shards' trends.
    authors: TagsIn,
    /// A worker's earliest pane so far, whenever it moves, for every shard.
    firsts: FirstsIn,
    /// Per-pane statistics and late counts from the ingest, for the merger.
    stats: StatsIn,
    /// Checkpoint epochs this worker has saved, for worker 0 to commit.
    acks: AcksIn,
    /// How far the whole dataflow has come.
    probe: ProbeHandle<u64>,
}

/// Where each stateful stage starts: fresh, or from a checkpoint.
struct Start {
    shard: Shard,
    merger: Merger,
    shard_snaps: Option<Rc<Snapshots>>,
    merger_snaps: Option<Rc<Snapshots>>,
    /// Where the shard reports its state bytes (`Metrics::window_state_slot`).
    state_bytes: Arc<AtomicU64>,
}

/// Builds one worker's dataflow: ingest inputs → exchange by tag → shards → exchange to
/// worker 0 → merger → `sink`; beside it, checkpoint acknowledgements → commit.
fn build(worker: &mut Worker, start: Start, sink: &WindowSink) -> Pipeline {
    let is_first = worker.index() == 0;
    let peers = worker.peers() as u64;
    let mut p = Pipeline {
        tags: TagsIn::new(),
        authors: TagsIn::new(),
        firsts: FirstsIn::new(),
        stats: StatsIn::new(),
        acks: AcksIn::new(),
        probe: ProbeHandle::new(),
    };
    worker.dataflow::<u64, _, _>(|scope| {
        let tags = p.tags.to_stream(scope);
        let authors = p.authors.to_stream(scope);
        let firsts = p.firsts.to_stream(scope);
        let stats = p.stats.to_stream(scope);
        let shards = operators::shard_windows(
            tags,
            authors,
            firsts,
            start.shard,
            start.shard_snaps,
            start.state_bytes,
        );
        let windows = sink.clone();
        operators::merge(stats, shards, start.merger, start.merger_snaps, move |w| {
            if is_first {
                windows(Emitted::Window(w))
            }
        })
        .probe_with(&p.probe);
        let commits = sink.clone();
        let acks = p.acks.to_stream(scope);
        operators::acks(acks, peers, move |epoch| {
            commits(Emitted::Checkpoint(epoch))
        });
    });
    p
}
