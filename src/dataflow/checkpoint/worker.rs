//! A worker's side of checkpoints (the protocol and the file format are in `mod.rs`).
//!
//! - Its input stops at every epoch T it crosses (the largest, if one advance crosses several)
//!   and stays there until its probe shows the whole dataflow reached T: then every operator
//!   sees its frontier rest exactly at T, and no epoch is skipped by one operator and taken by
//!   another. At the stop it captures its source positions and event-time clocks.
//! - The shard (and on worker 0 the merger) snapshot their state when their frontier is T.
//! - After each step, the worker writes its file for every epoch it has all parts of, and
//!   acknowledges it to worker 0, which commits an epoch once every worker acknowledged it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::{ShareClock, ShareId, WorkerState};
use crate::metrics::Metrics;

/// Snapshots an operator took, by epoch.
#[derive(Debug)]
pub struct Snapshots {
    /// Epochs are multiples of this (panes).
    pub every: u64,
    /// Epochs at or below this are not taken again (the restored one).
    pub after: u64,
    /// Snapshot bytes by epoch, waiting to be written.
    pub taken: RefCell<BTreeMap<u64, Vec<u8>>>,
}

impl Snapshots {
    /// New, for epochs that are multiples of `every` and above `after`.
    pub fn new(every: u64, after: u64) -> Rc<Snapshots> {
        Rc::new(Snapshots {
            every,
            after,
            taken: RefCell::default(),
        })
    }

    /// True if an operator whose frontier is now `t` must snapshot.
    pub fn is_epoch(&self, t: u64) -> bool {
        t > self.after && t.is_multiple_of(self.every)
    }

    /// Stores an operator's snapshot at `epoch`.
    pub fn put(&self, epoch: u64, bytes: Vec<u8>) {
        self.taken.borrow_mut().insert(epoch, bytes);
    }
}

/// What the worker loop captured when its input crossed epochs `(lo, hi]`.
#[derive(Debug)]
struct Capture {
    lo: u64,
    hi: u64,
    positions: Vec<Option<u64>>,
    clocks: Vec<ShareClock>,
}

/// One worker's checkpoint state.
pub struct WorkerCkpt {
    cfg: super::Config,
    me: u64,
    first: bool,
    /// The shard's snapshots (and the merger's on worker 0).
    pub shard: Rc<Snapshots>,
    /// The merger's snapshots (used on worker 0 only).
    pub merger: Rc<Snapshots>,
    captures: Vec<Capture>,
    /// Per share: the position after the last line handed to the ingest.
    pub positions: Vec<Option<u64>>,
    /// Per share: its source and what it reads (saved in every file).
    shares: Vec<ShareId>,
    /// The epoch the input waits at until the probe reaches it, and the time it wants next.
    blocked: Option<(u64, u64)>,
    /// The input time at which the run stopped before the input ended ([`WorkerCkpt::interrupt`]).
    stopped_at: Option<u64>,
}

impl WorkerCkpt {
    /// The state of worker `me` (global index) with `shares` shares.
    pub fn new(cfg: super::Config, me: u64, shares: Vec<ShareId>) -> WorkerCkpt {
        let after = cfg.restore.unwrap_or(0);
        WorkerCkpt {
            shard: Snapshots::new(cfg.every, after),
            merger: Snapshots::new(cfg.every, after),
            cfg,
            me,
            first: me == 0,
            captures: Vec::new(),
            positions: vec![None; shares.len()],
            shares,
            blocked: None,
            stopped_at: None,
        }
    }

    /// Where the input may go when it wants to move from `cur` to `to`: not past an epoch it
    /// waits at, and stopping at the last epoch it crosses. A stop captures the positions
    /// (with `at`, the share and position of the line just processed, when moving mid-chunk)
    /// and `clocks`, which must describe exactly the data sent before the move.
    pub fn limit(
        &mut self,
        cur: u64,
        to: u64,
        at: Option<(usize, u64)>,
        clocks: &[ShareClock],
    ) -> u64 {
        if let Some((at, want)) = self.blocked.as_mut() {
            *want = (*want).max(to);
            return *at;
        }
        let every = self.cfg.every;
        let epoch = to / every * every;
        if epoch <= cur {
            return to;
        }
        let mut positions = self.positions.clone();
        if let Some((i, p)) = at {
            positions[i] = Some(p);
        }
        self.captures.push(Capture {
            lo: cur,
            hi: epoch,
            positions,
            clocks: clocks.to_vec(),
        });
        self.blocked = Some((epoch, to));
        epoch
    }

    /// Starts from a restored state: its capture still describes this worker for the epochs
    /// after the restored one up to its input time.
    pub fn restored(&mut self, s: &WorkerState) {
        self.positions = s.positions.clone();
        if s.input_time > s.epoch {
            self.captures.push(Capture {
                lo: s.epoch,
                hi: s.input_time,
                positions: s.positions.clone(),
                clocks: s.clocks.clone(),
            });
        }
    }

    /// The input closes (every share ended): any later epoch finds this worker with all its
    /// data sent, at these positions.
    pub fn close(&mut self, cur: u64, clocks: &[ShareClock]) {
        self.captures.push(Capture {
            lo: cur,
            hi: u64::MAX,
            positions: self.positions.clone(),
            clocks: clocks.to_vec(),
        });
        self.blocked = None;
    }

    /// The run stopped before the input ended (SIGINT, `--duration`, an output error): no
    /// epoch after `cur` describes this worker (its input did not end there; the rest of it
    /// is unread), so none is written, acknowledged or committed. Recording the stop as the
    /// end of the input made a resume with two workers believe this worker's input had
    /// ended, and emit empty windows without end.
    pub fn interrupt(&mut self, cur: u64) {
        self.stopped_at = Some(cur);
        self.blocked = None;
    }

    /// Whether the input waits at an epoch until the dataflow reaches it.
    pub fn waiting(&self) -> bool {
        self.blocked.is_some()
    }

    /// If the input waits at an epoch the dataflow has now reached (`reached(t)`: the probe
    /// is past every time before t), releases it and returns the time it wanted.
    pub fn release(&mut self, reached: impl Fn(u64) -> bool) -> Option<u64> {
        let (at, want) = self.blocked?;
        if !reached(at) {
            return None;
        }
        self.blocked = None;
        (want > at).then_some(want)
    }

    /// Writes the file of every epoch whose parts are all here; returns the epochs written
    /// (to acknowledge to worker 0). An error stops the run.
    pub fn write_ready(&mut self, metrics: &Metrics) -> Result<Vec<u64>, String> {
        let mut written = Vec::new();
        loop {
            let Some((&epoch, _)) = self.shard.taken.borrow().iter().next() else {
                break;
            };
            let merger = if self.first {
                match self.merger.taken.borrow_mut().remove(&epoch) {
                    Some(m) => m,
                    None => break,
                }
            } else {
                Vec::new()
            };
            let started = Instant::now();
            let shard = self
                .shard
                .taken
                .borrow_mut()
                .remove(&epoch)
                .unwrap_or_default();
            let found = self.captures.iter().find(|c| c.lo < epoch && epoch <= c.hi);
            if found.is_none() && self.stopped_at.is_some_and(|s| epoch > s) {
                continue; // past an interruption: not written (see `interrupt`)
            }
            let Some(c) = found else {
                return Err(format!(
                    "checkpoint: worker {} has no source positions for epoch {epoch} ({:?})",
                    self.me,
                    self.captures
                        .iter()
                        .map(|c| (c.lo, c.hi))
                        .collect::<Vec<_>>()
                ));
            };
            let state = WorkerState {
                epoch,
                worker: self.me,
                input_time: c.hi,
                shares: self.shares.clone(),
                positions: c.positions.clone(),
                clocks: c.clocks.clone(),
                shard,
                merger,
            };
            let bytes = super::save(&self.cfg.dir, &self.cfg.shape, &state)?;
            self.captures.retain(|c| c.hi > epoch);
            metrics.checkpoint_files.fetch_add(1, Relaxed);
            metrics.checkpoint_bytes.fetch_add(bytes as u64, Relaxed);
            metrics
                .checkpoint_us
                .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
            written.push(epoch);
        }
        Ok(written)
    }
}

/// Worker 0's count of acknowledgements: an epoch is complete once all `peers` sent theirs.
#[derive(Debug, Default)]
pub struct Acks {
    seen: BTreeMap<u64, u64>,
    done: u64,
}

impl Acks {
    /// Counts one acknowledgement of `epoch`; returns it if that completes it.
    pub fn ack(&mut self, epoch: u64, peers: u64) -> Option<u64> {
        if epoch <= self.done {
            return None;
        }
        let n = self.seen.entry(epoch).or_default();
        *n += 1;
        if *n < peers {
            return None;
        }
        self.done = epoch;
        self.seen.retain(|&e, _| e > epoch);
        Some(epoch)
    }
}
