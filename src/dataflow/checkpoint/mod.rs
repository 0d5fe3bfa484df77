//! Checkpoints: each worker's window state and source positions, saved at epochs all workers
//! agree on, so that a run killed at any point resumes where it left off.
//!
//! An epoch is a pipeline time T (a pane index) that is a multiple of `--checkpoint-every`.
//! A worker's input never moves past such a T until the whole dataflow has reached T (see
//! `worker.rs`), so every operator sees its frontier stop exactly at T and snapshots "all data
//! sent before T". Each worker then writes `DIR/epoch-T/worker-I.ckpt` (write, fsync, rename)
//! and tells worker 0; once every worker has, and the windows up to T are written out, the
//! output thread writes `DIR/COMMIT` naming T. On start, the committed epoch is restored.
//!
//! A file is: magic, format version, then the fields below (little-endian), then the xxh3-64 of
//! everything before it. Any damage (truncation, a flipped bit) is an error naming the file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

mod worker;

pub use worker::{Acks, Snapshots, WorkerCkpt};

const MAGIC: &[u8; 8] = b"TSCKPT\0\x02";
const COMMIT: &str = "COMMIT";

/// The event-time clock of one share (one input partition), kept by the ingest and saved in
/// checkpoints: lateness is judged against its own greatest time, so whether a record is late
/// never depends on how the partitions of a worker happen to interleave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShareClock {
    /// Greatest event time seen (ms).
    pub max_time: Option<u64>,
    /// Until its first record, this share holds the worker's watermark back (it is known to
    /// have data, e.g. a Kafka partition below its high watermark, or a file range).
    pub holds: bool,
    /// The share ended: it no longer holds the watermark back.
    pub done: bool,
    /// Records in a row skipped as skew, each within `--max-skew` of the one before: the
    /// last one's time and how many (fewer than [`REANCHOR_AFTER`]; see `Ingest`).
    pub skew_run: Option<(u64, u32)>,
}

/// After this many records in a row more than `--max-skew` ahead of a share's clock, each
/// within it of the one before, the clock is taken to be the one that is wrong (a stale
/// first record, a second file of a later year) and moves to them.
pub const REANCHOR_AFTER: u32 = 32;

/// What must match between a checkpoint and the run restoring it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Batch, window and slide in ms.
    pub batch_ms: u64,
    /// Window length in ms.
    pub window_ms: u64,
    /// Slide in ms.
    pub slide_ms: u64,
    /// Workers in the whole cluster.
    pub peers: u64,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |ms| humantime::format_duration(std::time::Duration::from_millis(ms));
        write!(
            f,
            "batch {} window {} slide {} on {} worker(s)",
            d(self.batch_ms),
            d(self.window_ms),
            d(self.slide_ms),
            self.peers
        )
    }
}

/// `--checkpoint-dir` and `--checkpoint-every`, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where checkpoints live (shared storage for runs on several machines).
    pub dir: PathBuf,
    /// Epochs are the multiples of this many panes.
    pub every: u64,
    /// What the run computes.
    pub shape: Shape,
    /// The committed epoch found at start, restored by every worker.
    pub restore: Option<u64>,
    /// How the run reads its input (`--extract`, `--time`, …), written in `COMMIT` and
    /// checked on restore ([`check_reads`]).
    pub reads: String,
    /// This process's lock on the directory ([`lock`]), held while the run lasts.
    pub _lock: Option<std::sync::Arc<fs::File>>,
}

/// Locks `dir` for process `process` of a run (`DIR/lock-process-P`, an advisory lock the
/// system drops when the process ends, even by `kill -9`). A second run of the same process
/// on the same directory is refused: two writers once deleted each other's epochs and
/// committed windows neither had written.
pub fn lock(dir: &Path, process: usize) -> Result<std::sync::Arc<fs::File>, String> {
    let path = dir.join(format!("lock-process-{process}"));
    let fail = |e: std::io::Error| format!("--checkpoint-dir {}: {e}", dir.display());
    fs::create_dir_all(dir).map_err(fail)?;
    match crate::lockfile::try_lock(&path).map_err(fail)? {
        Some(f) => Ok(std::sync::Arc::new(f)),
        None => Err(format!(
            "--checkpoint-dir {} is in use by another run (process {process}): two runs on one \
             checkpoint directory would overwrite each other's epochs",
            dir.display()
        )),
    }
}

/// One worker's state at one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerState {
    /// The epoch (pane) this state is as of.
    pub epoch: u64,
    /// Global worker index.
    pub worker: u64,
    /// The worker's input time when it captured this (≥ epoch).
    pub input_time: u64,
    /// Per share: which `--source` it belongs to, and what it reads (a file's identity; empty
    /// when there is nothing to check). Restoring against another input is refused.
    pub shares: Vec<ShareId>,
    /// Per share: the position after the last line sent before the epoch, if resumable.
    pub positions: Vec<Option<u64>>,
    /// Per share: its event-time clock.
    pub clocks: Vec<ShareClock>,
    /// The shard's snapshot ([`window::Shard::snapshot`]).
    pub shard: Vec<u8>,
    /// The merger's snapshot (worker 0 only; empty elsewhere).
    pub merger: Vec<u8>,
}

/// Which source a share belongs to, and what it reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShareId {
    /// Index of its `--source`.
    pub source: u32,
    /// `Partition::identity` (e.g. a file's path, size, time and content hashes), or empty.
    pub identity: String,
}

fn epoch_dir(dir: &Path, epoch: u64) -> PathBuf {
    dir.join(format!("epoch-{epoch:012}"))
}

/// The file of worker `worker` at `epoch`.
pub fn worker_file(dir: &Path, epoch: u64, worker: u64) -> PathBuf {
    epoch_dir(dir, epoch).join(format!("worker-{worker:04}.ckpt"))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn opt(&mut self, v: Option<u64>) {
        match v {
            Some(v) => {
                self.0.push(1);
                self.u64(v);
            }
            None => self.0.push(0),
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn opt(&mut self) -> Result<Option<u64>, String> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            b => Err(format!("bad option tag {b}")),
        }
    }
    fn len(&mut self) -> Result<usize, String> {
        let n = self.u64()?;
        if n > self.0.len() as u64 {
            return Err("truncated".into());
        }
        Ok(n as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.len()?;
        Ok(self.take(n)?.to_vec())
    }
}

impl WorkerState {
    /// The file's bytes for `shape`.
    pub fn encode(&self, shape: &Shape) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(
            64 + self.shard.len() + self.merger.len(),
        ));
        w.0.extend_from_slice(MAGIC);
        for v in [
            shape.batch_ms,
            shape.window_ms,
            shape.slide_ms,
            shape.peers,
            self.epoch,
            self.worker,
            self.input_time,
            self.positions.len() as u64,
        ] {
            w.u64(v);
        }
        for ((p, c), id) in self.positions.iter().zip(&self.clocks).zip(&self.shares) {
            w.opt(*p);
            w.opt(c.max_time);
            let run = u8::from(c.skew_run.is_some()) << 2;
            w.0.push(u8::from(c.holds) | (u8::from(c.done) << 1) | run);
            if let Some((last, n)) = c.skew_run {
                w.u64(last);
                w.u64(u64::from(n));
            }
            w.u64(u64::from(id.source));
            w.bytes(id.identity.as_bytes());
        }
        w.bytes(&self.shard);
        w.bytes(&self.merger);
        let sum = xxhash_rust::xxh3::xxh3_64(&w.0);
        w.u64(sum);
        w.0
    }

    /// Parses a file's bytes; checks the checksum and that it was made for `shape`.
    pub fn decode(bytes: &[u8], shape: &Shape) -> Result<WorkerState, String> {
        if bytes.len() < MAGIC.len() + 8 || &bytes[..6] != b"TSCKPT" {
            return Err("not a tagstream checkpoint (or truncated)".into());
        }
        if &bytes[..8] != MAGIC {
            return Err(format!(
                "unsupported checkpoint format version {}",
                bytes[7]
            ));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let sum = u64::from_le_bytes(sum.try_into().expect("8 bytes"));
        if xxhash_rust::xxh3::xxh3_64(body) != sum {
            return Err("checksum mismatch: the file is truncated or damaged".into());
        }
        let mut r = Reader(&body[8..]);
        let found = Shape {
            batch_ms: r.u64()?,
            window_ms: r.u64()?,
            slide_ms: r.u64()?,
            peers: r.u64()?,
        };
        if found != *shape {
            return Err(format!(
                "made for {found}, but this run has {shape} (use the same settings, or another \
                 --checkpoint-dir)"
            ));
        }
        let mut s = WorkerState {
            epoch: r.u64()?,
            worker: r.u64()?,
            input_time: r.u64()?,
            ..WorkerState::default()
        };
        let n = r.u64()?;
        if n > r.0.len() as u64 {
            return Err("truncated".into());
        }
        for _ in 0..n {
            s.positions.push(r.opt()?);
            let max_time = r.opt()?;
            let flags = r.u8()?;
            if flags > 7 {
                // Bits nothing writes: not a file of ours (one state, one file).
                return Err(format!("bad share flags {flags:#x}"));
            }
            let skew_run = if flags & 4 != 0 {
                let last = r.u64()?;
                match u32::try_from(r.u64()?) {
                    Ok(n @ 1..REANCHOR_AFTER) => Some((last, n)),
                    _ => return Err("bad skew run".into()),
                }
            } else {
                None
            };
            s.clocks.push(ShareClock {
                max_time,
                holds: flags & 1 != 0,
                done: flags & 2 != 0,
                skew_run,
            });
            let source = u32::try_from(r.u64()?).map_err(|_| "bad source index")?;
            let identity = String::from_utf8(r.bytes()?).map_err(|_| "bad identity")?;
            s.shares.push(ShareId { source, identity });
        }
        s.shard = r.bytes()?;
        s.merger = r.bytes()?;
        if !r.0.is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(s)
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory. A crash leaves either the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // A bare file name's parent is "": the current directory.
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path.file_name().map_or("".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.tagstream-tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

/// Saves one worker's state; returns the bytes written.
pub fn save(dir: &Path, shape: &Shape, state: &WorkerState) -> Result<usize, String> {
    let path = worker_file(dir, state.epoch, state.worker);
    let bytes = state.encode(shape);
    write_atomic(&path, &bytes)
        .map_err(|e| format!("cannot write checkpoint {}: {e}", path.display()))?;
    Ok(bytes.len())
}

/// Loads worker `worker`'s state at `epoch`.
pub fn load(dir: &Path, shape: &Shape, epoch: u64, worker: u64) -> Result<WorkerState, String> {
    let path = worker_file(dir, epoch, worker);
    let bytes =
        fs::read(&path).map_err(|e| format!("cannot read checkpoint {}: {e}", path.display()))?;
    let s = WorkerState::decode(&bytes, shape)
        .map_err(|e| format!("checkpoint {}: {e}", path.display()))?;
    if s.epoch != epoch || s.worker != worker {
        return Err(format!(
            "checkpoint {}: holds worker {} at epoch {}, expected worker {worker} at {epoch}",
            path.display(),
            s.worker,
            s.epoch
        ));
    }
    Ok(s)
}

/// The committed epoch in `dir`, if any; checks it was made for `shape`.
pub fn committed(dir: &Path, shape: &Shape) -> Result<Option<u64>, String> {
    let path = dir.join(COMMIT);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let bad = || {
        format!(
            "checkpoint {} is damaged (expected 'epoch N')",
            path.display()
        )
    };
    let mut epoch = None;
    let mut found = None;
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("epoch", v)) => epoch = Some(v.parse::<u64>().map_err(|_| bad())?),
            Some(("shape", v)) => found = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(epoch), Some(found)) = (epoch, found) else {
        return Err(bad());
    };
    if found != shape.to_string() {
        return Err(format!(
            "checkpoint in {} was made for {found}, but this run has {shape} (use the same \
             settings, or another --checkpoint-dir)",
            dir.display()
        ));
    }
    Ok(Some(epoch))
}

/// Checks that the committed checkpoint in `dir` read its input as this run does
/// (`reads`): resumed under another `--extract`, `--time`, `--text-field`, `--track` or
/// `--lateness`, the rest of the input would be counted by other rules than the state it
/// joins (an event-time checkpoint resumed in processing time emitted every window from its
/// epoch to now). A `COMMIT` without the line (an older one) is not judged.
pub fn check_reads(dir: &Path, reads: &str) -> Result<(), String> {
    let path = dir.join(COMMIT);
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let found = text.lines().find_map(|l| l.strip_prefix("reads "));
    match found {
        Some(f) if f != reads => Err(format!(
            "checkpoint in {} was made reading with {f}; this run reads with {reads} (use the \
             same flags, or another --checkpoint-dir)",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Marks `epoch` committed (every worker saved it and its windows are written out) and
/// removes the epochs before it. `reads` (how the input is read; "" for none) is kept
/// beside it for [`check_reads`].
pub fn commit(dir: &Path, shape: &Shape, reads: &str, epoch: u64) -> Result<(), String> {
    let path = dir.join(COMMIT);
    let mut text = format!("tagstream checkpoint\nepoch {epoch}\nshape {shape}\n");
    if !reads.is_empty() {
        text.push_str(&format!("reads {}\n", reads.replace(['\n', '\r'], " ")));
    }
    write_atomic(&path, text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name();
            let old = name
                .to_str()
                .and_then(|n| n.strip_prefix("epoch-"))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|t| t < epoch);
            if old {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> Shape {
        Shape {
            batch_ms: 10_000,
            window_ms: 60_000,
            slide_ms: 10_000,
            peers: 2,
        }
    }

    fn state() -> WorkerState {
        WorkerState {
            epoch: 170_000_006,
            worker: 1,
            input_time: 170_000_007,
            shares: vec![
                ShareId {
                    source: 0,
                    identity: "in.txt (12 bytes, …)".into(),
                },
                ShareId::default(),
            ],
            positions: vec![Some(1234), None],
            clocks: vec![
                ShareClock {
                    max_time: Some(1_700_000_000_000),
                    holds: true,
                    done: false,
                    skew_run: None,
                },
                ShareClock {
                    max_time: Some(1_500_000_000_000),
                    holds: false,
                    done: true,
                    skew_run: Some((1_700_000_000_000, 5)),
                },
            ],
            shard: vec![1, 2, 3],
            merger: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_every_damage_is_an_error() {
        let s = state();
        let bytes = s.encode(&shape());
        assert_eq!(WorkerState::decode(&bytes, &shape()).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(
                WorkerState::decode(&bytes[..cut], &shape()).is_err(),
                "cut {cut}"
            );
        }
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x10;
            assert!(WorkerState::decode(&b, &shape()).is_err(), "flip {i}");
        }
        let other = Shape {
            peers: 1,
            ..shape()
        };
        let e = WorkerState::decode(&bytes, &other).unwrap_err();
        assert!(
            e.contains("on 2 worker(s)") && e.contains("on 1 worker(s)"),
            "{e}"
        );
    }

    /// Found by the `checkpoint` fuzz target (issue 13): a file whose share flags had bits
    /// nothing writes decoded (behind a valid checksum) to a state that encodes otherwise.
    #[test]
    fn unknown_share_flags_are_refused() {
        let mut bytes = state().encode(&shape());
        // Magic, 8 numbers, then the first share: position Some (9), max_time Some (9), flags.
        let at = 8 + 8 * 8 + 9 + 9;
        assert_eq!(bytes[at], 1, "holds, not done");
        bytes[at] |= 8;
        let body = bytes.len() - 8;
        let sum = xxhash_rust::xxh3::xxh3_64(&bytes[..body]);
        bytes[body..].copy_from_slice(&sum.to_le_bytes());
        let e = WorkerState::decode(&bytes, &shape()).unwrap_err();
        assert_eq!(e, "bad share flags 0x9");
    }

    #[test]
    fn commit_names_the_epoch_and_prunes_older_ones() {
        let dir = std::env::temp_dir().join(format!("tagstream-ckpt-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut s = state();
        assert_eq!(committed(&dir, &shape()).unwrap(), None);
        for epoch in [6, 7] {
            s.epoch = epoch;
            save(&dir, &shape(), &s).unwrap();
        }
        commit(&dir, &shape(), "extract twitter", 7).unwrap();
        assert!(check_reads(&dir, "extract twitter").is_ok());
        let e = check_reads(&dir, "extract spark").unwrap_err();
        assert!(
            e.contains("extract twitter") && e.contains("extract spark"),
            "{e}"
        );
        assert_eq!(committed(&dir, &shape()).unwrap(), Some(7));
        assert!(!epoch_dir(&dir, 6).exists());
        assert_eq!(load(&dir, &shape(), 7, 1).unwrap(), s);
        let e = load(&dir, &shape(), 7, 0).unwrap_err();
        assert!(e.contains("worker-0000.ckpt"), "{e}");
        let other = Shape {
            window_ms: 30_000,
            ..shape()
        };
        assert!(committed(&dir, &other).unwrap_err().contains("window 30s"));
        fs::write(worker_file(&dir, 7, 1), b"TSCKPT\0\x02some garbage bytes").unwrap();
        let e = load(&dir, &shape(), 7, 1).unwrap_err();
        assert!(
            e.contains("worker-0001.ckpt") && e.contains("damaged"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
