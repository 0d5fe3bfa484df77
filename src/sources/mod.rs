//! Sources: where records come from, and how their work is shared among workers.
//!
//! Every source is named by a URI (`--source`) and parsed into a [`SourceSpec`]. At start,
//! each worker opens its [`Partition`] of every source:
//! - a file is split into byte ranges, one per worker in the whole cluster (each worker
//!   reads the lines that *start* in its range), so reading and decoding run in parallel;
//! - streams that cannot be split (stdin, `socket://`, `listen://`) are read by one thread
//!   of the first process, which deals chunks of lines round-robin to that process's workers;
//! - the generator runs in every worker, each with its own seed and share of the rate;
//! - a Kafka topic's partitions are dealt to the workers of the whole cluster
//!   (p % workers), each partition a share of its own.
//!
//! The registry of schemes is [`SourceSpec::parse`]; adding a source means a variant there, a
//! file here, and a match arm in `open`.

pub mod backoff;
pub mod dealer;
pub mod file;
pub mod generator;
#[cfg(test)]
pub mod harness;
pub mod jetstream;
pub mod kafka;
pub mod lines;
pub mod live;
pub mod mastodon;
pub mod prefetch;
pub mod secret;
pub mod socket;
pub mod x;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::metrics::{Metrics, Opened, SourceCounters};
use crate::record::Decoder;
use crate::track::Track;
pub use lines::{Chunk, LineKeys};

/// A parsed `--source` URI.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// A file of text or JSON lines, split among workers by byte ranges.
    File(PathBuf),
    /// Standard input.
    Stdin,
    /// `socket://HOST:PORT`: connect out and read lines (Spark's `socketTextStream`).
    Socket(String),
    /// `listen://HOST:PORT`: accept any number of clients and read lines from each.
    Listen(String),
    /// `gen://?rate=N&seed=S&count=C`: the built-in generator of realistic tweets.
    Generator(generator::GenSpec),
    /// `x://`: the X API v2 filtered stream.
    X(x::XSpec),
    /// `jetstream://`: Bluesky Jetstream over WebSocket.
    Jetstream(jetstream::JetstreamSpec),
    /// `mastodon://HOST/...`: Mastodon streaming over SSE.
    Mastodon(mastodon::MastodonSpec),
    /// `kafka://HOST:PORT/TOPIC`: a Kafka topic, its partitions shared among the workers.
    Kafka(kafka::KafkaSpec),
}

/// Schemes that later issues add; named here so the error says what is missing.
const PLANNED: [&str; 0] = [];

impl SourceSpec {
    /// Parses a source URI. The error is one line naming the problem.
    pub fn parse(uri: &str) -> Result<SourceSpec, String> {
        if uri == "-" {
            return Ok(SourceSpec::Stdin);
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(SourceSpec::File(PathBuf::from(uri)));
        };
        match scheme {
            "file" => Ok(SourceSpec::File(PathBuf::from(rest))),
            "socket" => Ok(SourceSpec::Socket(host_port(uri, rest)?)),
            "listen" => Ok(SourceSpec::Listen(host_port(uri, rest)?)),
            "gen" => Ok(SourceSpec::Generator(generator::GenSpec::parse(rest)?)),
            "x" => Ok(SourceSpec::X(x::XSpec::parse(rest)?)),
            "jetstream" => Ok(SourceSpec::Jetstream(jetstream::JetstreamSpec::parse(
                rest,
            )?)),
            "mastodon" => Ok(SourceSpec::Mastodon(mastodon::MastodonSpec::parse(rest)?)),
            "kafka" => Ok(SourceSpec::Kafka(kafka::KafkaSpec::parse(rest)?)),
            s if PLANNED.contains(&s) => Err(format!(
                "source scheme '{s}://' is not available in this build yet"
            )),
            // The scheme alone: the rest may hold user info with a password.
            s => Err(format!(
                "unknown source scheme '{s}://' (expected socket://, listen://, gen://, x://, \
                 jetstream://, mastodon://, kafka://, file:// or a path, or - for stdin)"
            )),
        }
    }

    /// True for sources that end by themselves (files, stdin, a generator with a count).
    pub fn is_finite(&self) -> bool {
        match self {
            SourceSpec::File(_) | SourceSpec::Stdin => true,
            SourceSpec::Generator(g) => g.count.is_some(),
            SourceSpec::Kafka(k) => k.end_latest,
            SourceSpec::Socket(_) | SourceSpec::Listen(_) => false,
            SourceSpec::X(_) | SourceSpec::Jetstream(_) | SourceSpec::Mastodon(_) => false,
        }
    }

    /// True for the live internet services, whose records are [`live::Post`]s.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            SourceSpec::X(_) | SourceSpec::Jetstream(_) | SourceSpec::Mastodon(_)
        )
    }

    /// True for sources that carry each record's event time themselves: the live services
    /// (X's `created_at`, Jetstream's `time_us`, Mastodon's `created_at`),
    /// `kafka://…?time=timestamp` and `gen://?start=…`. `--time event` needs no
    /// `--format jsonl` for them.
    pub fn stamps_time(&self) -> bool {
        self.is_live()
            || matches!(self, SourceSpec::Kafka(k) if k.stamp_time)
            || matches!(self, SourceSpec::Generator(g) if g.start.is_some())
    }

    /// A dealt stream that can resume from a cursor, resumed at `position` (the least its
    /// workers saved in a checkpoint): Jetstream, whose cursor is a `time_us`. Posts at the
    /// cursor may be counted again (at least once: the workers' shares of the stream stop at
    /// different posts); nothing before it is lost. Other sources ignore it.
    pub fn resume(&mut self, position: u64) {
        if let SourceSpec::Jetstream(j) = self {
            j.cursor = Some(position);
        }
    }

    /// Checks what can be checked before starting (a file exists and is readable). A file
    /// that is a stream (a FIFO…) is only looked at: opening a FIFO waits for a writer, and
    /// closing it again would leave that writer a broken pipe.
    pub fn check(&self) -> Result<(), String> {
        if let SourceSpec::File(p) = self {
            let err = |e: std::io::Error| format!("cannot read {}: {e}", p.display());
            if file::is_stream(p) {
                std::fs::metadata(p).map_err(err)?;
            } else {
                std::fs::File::open(p).map_err(err)?;
            }
        }
        Ok(())
    }
}

fn host_port(uri: &str, rest: &str) -> Result<String, String> {
    if rest.contains('@') {
        // Not echoed: user info may hold a password, and a warning repeated it every retry.
        let scheme = uri.split_once("://").map_or(uri, |(s, _)| s);
        return Err(format!(
            "{scheme}:// takes HOST:PORT, with no user or password (a line socket has no login)"
        ));
    }
    let hp = rest.trim_end_matches('/');
    match hp.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(hp.to_owned()),
        _ => Err(format!(
            "source '{uri}' needs HOST:PORT, e.g. socket://127.0.0.1:9999"
        )),
    }
}

/// What a partition has for its worker right now.
#[derive(Debug)]
pub enum Poll {
    /// Some lines.
    Lines(Chunk),
    /// Nothing now; more may come.
    Idle,
    /// This partition is finished for good.
    Done,
}

/// One worker's share of one source.
pub trait Partition: Send {
    /// Returns the next lines, without blocking for long.
    fn poll(&mut self) -> Poll;

    /// Resumes from `pos`, a position this partition reported in [`Chunk::positions`] (called
    /// before the first `poll`, when restoring a checkpoint). Sources that cannot rewind
    /// refuse.
    fn seek(&mut self, pos: u64) -> Result<(), String> {
        Err(format!("this source cannot resume from position {pos}"))
    }

    /// True when this partition is known to have records to come (a non-empty file range, a
    /// Kafka partition below its high watermark): in event time, its worker's watermark then
    /// waits for its first record instead of running ahead on the worker's other partitions.
    fn holds_watermark(&self) -> bool {
        false
    }

    /// What this partition reads, for checkpoints: a checkpoint is restored only against the
    /// same input (a file's path, size, time and content hashes). `None`: nothing to check.
    fn identity(&self) -> Option<String> {
        None
    }
}

/// What sources need from the process around them.
#[derive(Clone, Debug)]
pub struct SourceContext {
    /// Counters of this process.
    pub metrics: Arc<Metrics>,
    /// Set when the process should stop: live sources end, finite ones stop early.
    pub shutdown: Arc<AtomicBool>,
    /// Lines longer than this are skipped and counted.
    pub max_line: usize,
    /// `--endpoint`: base URL that live sources use instead of the service's public host.
    pub endpoint: Option<String>,
    /// `--track`: keywords for sources that filter at the service (X rules).
    pub track: Vec<String>,
    /// The first fatal source error (bad credentials, no stream rules): the run stops and
    /// exits with this one line.
    pub fatal: Arc<std::sync::Mutex<Option<String>>>,
    /// The rule by which a reader thread finds each line's counting keys ahead of its worker
    /// ([`Chunk::find_keys`]), when lines are taken whole as text; `None`: the worker does.
    pub find_keys: Option<hashtag::Mode>,
}

impl SourceContext {
    /// A context with default options around `metrics` and `shutdown`.
    pub fn new(metrics: Arc<Metrics>, shutdown: Arc<AtomicBool>) -> SourceContext {
        SourceContext {
            metrics,
            shutdown,
            max_line: 1 << 20,
            endpoint: None,
            track: Vec::new(),
            fatal: Arc::default(),
            find_keys: None,
        }
    }

    /// True once shutdown was asked for.
    pub fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Ends the whole run with `msg` (one line naming the cause; never a secret): open
    /// windows are still emitted, then the process exits with code 2.
    pub fn fail(&self, msg: impl Into<String>) {
        if let Ok(mut f) = self.fatal.lock() {
            f.get_or_insert(msg.into());
        }
        self.shutdown.store(true, Ordering::SeqCst);
    }

    /// Runs a source thread's body `f`; if it panics, the run ends with a line naming `name`
    /// (exit 2), instead of the source looking finished and the run ending as if it were.
    pub fn guard(&self, name: &str, f: impl FnOnce()) {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let why = (p.downcast_ref::<&str>().copied())
                .or(p.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("a panic");
            self.fail(format!(
                "{name}: the reader stopped on an internal error ({}); the results so far \
                 are kept",
                crate::log::one_line(why, 200)
            ));
        }
    }

    /// The fatal error, if a source failed.
    pub fn failure(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }
}

/// A worker's share of one source, with how to read its lines.
pub struct Share {
    /// The lines.
    pub part: Box<dyn Partition>,
    /// Which `--source` (index in the list) this is a share of.
    pub source: usize,
    /// How they become records.
    pub decoder: Decoder,
    /// The `--track` filter for these records: `None` without `--track`, and for X, whose
    /// stream rules already select posts at the service (a rule may use X's operators,
    /// which a local whole-word match would wrongly reject).
    pub track: Option<Track>,
}

/// The partitions of one process, made once before the workers start.
pub struct ProcessSources {
    /// `per_worker[local index]`: that worker's partitions.
    per_worker: Vec<Vec<Share>>,
}

impl ProcessSources {
    /// Opens every source for the `threads` workers of process `process` (of `processes`).
    /// Line sources use `decoder`; live sources their own ([`live::decoder`]), with event
    /// times when `event_time`.
    pub fn open(
        specs: &[SourceSpec],
        process: usize,
        processes: usize,
        threads: usize,
        ctx: &SourceContext,
        decoder: &Decoder,
        event_time: bool,
    ) -> Result<ProcessSources, String> {
        let peers = processes * threads;
        let mut per_worker: Vec<Vec<Share>> = (0..threads).map(|_| Vec::new()).collect();
        for (source, spec) in specs.iter().enumerate() {
            let parts = open(spec, process, threads, peers, ctx)?;
            let d = if spec.is_live() {
                live::decoder(event_time)
            } else if spec.stamps_time() {
                decoder.clone().without_time()
            } else {
                decoder.clone()
            };
            let track = match spec {
                SourceSpec::X(_) => None,
                _ => Track::new(&ctx.track),
            };
            for (w, parts) in parts.into_iter().enumerate() {
                for part in parts {
                    per_worker[w].push(Share {
                        part,
                        source,
                        decoder: d.clone(),
                        track: track.clone(),
                    });
                }
            }
        }
        Ok(ProcessSources { per_worker })
    }

    /// Moves the partitions of local worker `local` to the positions a checkpoint saved, after
    /// checking that each reads what it read then (`identities`: what the checkpoint saw,
    /// empty where there was nothing to check).
    pub fn seek(
        &mut self,
        local: usize,
        positions: &[Option<u64>],
        identities: &[&str],
    ) -> Result<(), String> {
        let shares = &mut self.per_worker[local];
        if shares.len() != positions.len() || shares.len() != identities.len() {
            return Err(format!(
                "it holds {} source partition(s) for this worker, this run has {} (use the same \
                 --source list)",
                positions.len(),
                shares.len()
            ));
        }
        for ((share, pos), saved) in shares.iter_mut().zip(positions).zip(identities) {
            let now = share.part.identity().unwrap_or_default();
            if !saved.is_empty() && *saved != now {
                return Err(format!(
                    "it was made reading {saved}, but this run reads {} (use the same input, or \
                     another --checkpoint-dir)",
                    if now.is_empty() {
                        "something else"
                    } else {
                        &now
                    }
                ));
            }
            if let Some(p) = pos {
                share.part.seek(*p)?;
            }
        }
        Ok(())
    }

    /// Takes the partitions of local worker `local` (each worker calls this once).
    pub fn take(&mut self, local: usize) -> Vec<Share> {
        std::mem::take(&mut self.per_worker[local])
    }
}

/// Whether this process has a core to spare beside `threads` workers (the tutorial's one
/// worker on two cores): then a source's reader thread takes a share of the workers' work
/// (`prefetch.rs` reads a file's shares ahead, `dealer.rs` checks and finds keys).
pub(crate) fn core_to_spare(threads: usize) -> bool {
    threads < std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Opens one source: the partitions of each local worker (possibly `Done` ones): one each,
/// except for Kafka, where a worker has one per Kafka partition it reads.
fn open(
    spec: &SourceSpec,
    process: usize,
    threads: usize,
    peers: usize,
    ctx: &SourceContext,
) -> Result<Vec<Vec<Box<dyn Partition>>>, String> {
    let first = process * threads;
    // A live source's lines are JSON posts, read by a decoder of their own: no text keys.
    let json_posts;
    let ctx = if spec.is_live() && ctx.find_keys.is_some() {
        json_posts = SourceContext {
            find_keys: None,
            ..ctx.clone()
        };
        &json_posts
    } else {
        ctx
    };
    let one_each: Vec<Box<dyn Partition>> = match spec {
        // Every process reads its own partitions of a topic.
        SourceSpec::Kafka(k) => return kafka::open(k, process, threads, peers, ctx),
        // A FIFO or a device has no byte ranges: it is a stream, read like stdin (below).
        SourceSpec::File(path) if !file::is_stream(path) => {
            let counters = ctx.metrics.source(&file::name(path));
            // Open (counted once) while any of this process's ranges is being read.
            let open = Arc::new(counters.opened());
            // With a core to spare per worker, each share is read ahead on a thread.
            let ahead = core_to_spare(threads);
            (0..threads)
                .map(|w| file::FilePartition::open(path, first + w, peers, ctx))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .map(|p| Counted::boxed(p, &counters, Some(open.clone())))
                .map(|p| match ahead {
                    true => prefetch::Prefetch::boxed(p, "file", ctx),
                    false => p,
                })
                .collect()
        }
        SourceSpec::Generator(g) => {
            let counters = ctx.metrics.source(&g.name());
            (0..threads)
                .map(|w| Counted::boxed(g.partition(first + w, peers), &counters, None))
                .collect()
        }
        // Streams that cannot be split are read once, by process 0.
        _ if process != 0 => (0..threads)
            .map(|_| Box::new(dealer::Finished) as Box<dyn Partition>)
            .collect(),
        SourceSpec::File(path) => dealer::spawn(threads, ctx, "file", {
            let (ctx, path) = (ctx.clone(), path.clone());
            move |deal| file::read_stream(&path, deal, &ctx)
        }),
        SourceSpec::X(spec) => dealer::spawn(threads, ctx, "x", {
            let (ctx, spec) = (ctx.clone(), spec.clone());
            move |deal| x::run(&spec, deal, &ctx)
        }),
        SourceSpec::Jetstream(spec) => dealer::spawn(threads, ctx, "jetstream", {
            let (ctx, spec) = (ctx.clone(), spec.clone());
            move |deal| jetstream::run(&spec, deal, &ctx)
        }),
        SourceSpec::Mastodon(spec) => dealer::spawn(threads, ctx, "mastodon", {
            let (ctx, spec) = (ctx.clone(), spec.clone());
            move |deal| mastodon::run(&spec, deal, &ctx)
        }),
        SourceSpec::Stdin => dealer::spawn(threads, ctx, "stdin", {
            let ctx = ctx.clone();
            move |deal| file::read_stdin(deal, &ctx)
        }),
        SourceSpec::Socket(addr) => dealer::spawn(threads, ctx, "socket", {
            let (ctx, addr) = (ctx.clone(), addr.clone());
            move |deal| socket::connect_loop(&addr, deal, &ctx)
        }),
        SourceSpec::Listen(addr) => {
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            dealer::spawn(threads, ctx, "listen", {
                let ctx = ctx.clone();
                move |deal| socket::accept_loop(listener, deal, &ctx)
            })
        }
    };
    Ok(one_each.into_iter().map(|p| vec![p]).collect())
}

/// A share that counts the lines it hands to its worker, for the sources that do not count
/// themselves (files, the generator; the sources read on a thread of their own count there),
/// and keeps its source counted as open until it is done.
struct Counted<P> {
    inner: P,
    counters: Arc<SourceCounters>,
    open: Option<Arc<Opened>>,
}

impl<P: Partition + 'static> Counted<P> {
    /// `inner`, counted, as the share a worker polls.
    fn boxed(
        inner: P,
        counters: &Arc<SourceCounters>,
        open: Option<Arc<Opened>>,
    ) -> Box<dyn Partition> {
        Box::new(Counted {
            inner,
            counters: counters.clone(),
            open,
        })
    }
}

impl<P: Partition> Partition for Counted<P> {
    fn poll(&mut self) -> Poll {
        let p = self.inner.poll();
        match &p {
            Poll::Lines(c) => {
                self.counters
                    .records
                    .fetch_add(c.len() as u64, Ordering::Relaxed);
            }
            Poll::Done => self.open = None,
            Poll::Idle => {}
        }
        p
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        self.inner.seek(pos)
    }

    fn holds_watermark(&self) -> bool {
        self.inner.holds_watermark()
    }

    fn identity(&self) -> Option<String> {
        self.inner.identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(SourceSpec::parse("-").unwrap(), SourceSpec::Stdin);
        assert_eq!(
            SourceSpec::parse("a/b.jsonl").unwrap(),
            SourceSpec::File("a/b.jsonl".into())
        );
        assert_eq!(
            SourceSpec::parse("socket://127.0.0.1:9").unwrap(),
            SourceSpec::Socket("127.0.0.1:9".into())
        );
        assert!(SourceSpec::parse("socket://nohost")
            .unwrap_err()
            .contains("HOST:PORT"));
        // User info is refused without being echoed (it repeated a password every retry).
        for uri in [
            "socket://alice:S3CRET@h:9",
            "listen://alice:S3CRET@127.0.0.1:9",
        ] {
            let e = SourceSpec::parse(uri).unwrap_err();
            assert!(
                e.contains("no user or password") && !e.contains("S3CRET"),
                "{e}"
            );
        }
        assert!(SourceSpec::parse("ftp://x")
            .unwrap_err()
            .contains("unknown source scheme 'ftp://'"));
    }
}
