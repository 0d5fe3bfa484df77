//! `tagstream gen`: the synthetic generator to stdout, as a line server at a fixed rate (for
//! load tests and the Spark comparison: one server feeds either engine), or into a Kafka
//! topic.
//!
//! With `--start`, tweet i has the event time start + i × `--time-step` and its bursts follow
//! that time instead of the wall clock, so the stream is a function of its flags: the same
//! tweets can be produced to Kafka and written to a file, and both replays compared.

use std::io::{self, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod pool;

use anyhow::Context as _;

use crate::cli::GenArgs;
use crate::record::Format;
use crate::sources::generator::Model;
use crate::sources::kafka;
use pool::{peer_of, serve_pool, Pace, Pool};

/// Runs the subcommand.
pub fn run(a: GenArgs) -> anyhow::Result<()> {
    if let Some(path) = &a.truth {
        write_truth(&a, path)?;
    }
    if let Some(target) = &a.kafka {
        let stop = crate::shutdown::flag();
        return kafka::produce(target, a.partitions, &mut Tweets::new(&a), &stop)
            .map_err(anyhow::Error::msg);
    }
    match &a.serve {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            match write_all(&a, &mut out) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => Ok(r?),
            }
        }
        Some(addr) => {
            let addr = addr.clone();
            serve_all(a, &addr)
        }
    }
}

/// `gen --serve`: generated tweets (or `--file`'s lines) to every client, at `--rate` each.
fn serve_all(a: GenArgs, addr: &str) -> anyhow::Result<()> {
    let pool = match &a.file {
        Some(path) => Some(Arc::new(Pool::load(path, a.pool)?)),
        None => None,
    };
    let l = TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let rate = if a.rate > 0.0 {
        a.rate.to_string()
    } else {
        "max".into()
    };
    match &pool {
        Some(p) => crate::log::info(format_args!(
            "gen: pool of {} lines ({:.1} MB, {:.1} B/line) from {}; listening on {} at {rate} lines/s per client",
            p.lines_count(),
            p.bytes() as f64 / 1e6,
            p.bytes() as f64 / p.lines_count() as f64,
            a.file.as_deref().unwrap_or(Path::new("")).display(),
            l.local_addr()?,
        )),
        None => crate::log::info(format_args!(
            "gen: serving tweets on {} at {rate} tweets/s per client",
            l.local_addr()?
        )),
    }
    let pace = Pace {
        rate: a.rate,
        count: a.count,
        duration: a.duration,
        status: a.status,
    };
    let a = Arc::new(a);
    let mut served = Vec::new();
    for client in l.incoming() {
        let Ok(stream) = client else { continue };
        let (args, pool) = (a.clone(), pool.clone());
        served.push(std::thread::spawn(move || match pool {
            Some(pool) => serve_pool(stream, &pool, pace),
            None => serve(stream, &args),
        }));
        if a.clients > 0 && served.len() == a.clients {
            break;
        }
    }
    for t in served {
        let _ = t.join();
    }
    Ok(())
}

/// The generated stream: each tweet as a line, with its event time. Tweet `i` is the same as
/// tweet `i` of `gen://` with the same seed, start and step.
struct Tweets {
    model: Model,
    seed: u64,
    format: Format,
    /// Event time of tweet 0 (ms), or `None` for the wall clock.
    start: Option<u64>,
    step_ms: u64,
    rate: f64,
    left: Option<u64>,
    made: u64,
    started: Instant,
    text: String,
    line: Vec<u8>,
}

impl Tweets {
    fn new(a: &GenArgs) -> Tweets {
        Tweets {
            model: Model::new(),
            seed: a.seed,
            format: a.format,
            start: a.start,
            step_ms: crate::time::ms(a.time_step),
            rate: a.rate,
            left: a.count,
            made: 0,
            started: Instant::now(),
            text: String::new(),
            line: Vec::new(),
        }
    }

    /// The next tweet as a line (without its ending) and its event time in ms, waiting for
    /// its turn at `--rate`; `None` after `--count`. `idle` runs before any wait. In JSON lines
    /// it is `{"created_at":TIME,"author":NAME,"text":TEXT}`.
    fn next(&mut self, idle: &mut impl FnMut()) -> Option<(&[u8], u64)> {
        if self.left == Some(0) {
            return None;
        }
        if self.rate > 0.0 {
            let due = Duration::from_secs_f64(self.made as f64 / self.rate);
            let elapsed = self.started.elapsed();
            if elapsed < due {
                idle();
                std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
            }
        }
        let time = match self.start {
            Some(s) => s.saturating_add(self.made.saturating_mul(self.step_ms)),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let author = self.model.tweet(self.seed, self.made, time, &mut self.text);
        self.line.clear();
        match self.format {
            Format::Text => self.line.extend_from_slice(self.text.as_bytes()),
            Format::Jsonl => {
                let created = crate::time::rfc3339(time);
                let text = serde_json::to_string(&self.text).unwrap_or_default();
                let _ = write!(
                    self.line,
                    "{{\"created_at\":\"{created}\",\"author\":\"{author}\",\"text\":{text}}}"
                );
            }
        }
        self.made += 1;
        if let Some(l) = self.left.as_mut() {
            *l -= 1;
        }
        Some((&self.line, time))
    }
}

/// `--truth FILE`: the schedule of the stream `a` describes, one JSON object per line:
/// `{"burst":TAG,"start":T,"peak_start":T,"peak_end":T,"end":T}` for each burst in its time
/// span (times RFC 3339), then `{"spammer":NAME,"tag":TAG}` and `{"evergreen":[TAGS]}` (tags
/// as counted: '#' and the key).
fn write_truth(a: &GenArgs, path: &Path) -> anyhow::Result<()> {
    use crate::sources::generator::{bursts, SPAMMER, SPAM_TAG, TAGS};
    let start = a.start.unwrap_or(0);
    let step = crate::time::ms(a.time_step);
    let end = start.saturating_add(a.count.unwrap_or(0).saturating_mul(step));
    let key = |t: &str| {
        let mut k = String::new();
        hashtag::count_key(hashtag::Mode::Hashtags, t, &mut k);
        k
    };
    let t = crate::time::rfc3339;
    let mut text = String::new();
    for b in bursts(start, end) {
        let tag = key(b.tag.trim_start_matches('#'));
        text.push_str(&format!(
            "{{\"burst\":{},\"start\":\"{}\",\"peak_start\":\"{}\",\"peak_end\":\"{}\",\"end\":\"{}\"}}\n",
            serde_json::to_string(&tag)?,
            t(b.start_ms),
            t(b.peak.0),
            t(b.peak.1),
            t(b.end_ms)
        ));
    }
    text.push_str(&format!(
        "{{\"spammer\":{},\"tag\":{}}}\n",
        serde_json::to_string(SPAMMER)?,
        serde_json::to_string(&key(SPAM_TAG))?
    ));
    let evergreen: Vec<String> = TAGS.iter().map(|t| key(t)).collect();
    text.push_str(&format!(
        "{{\"evergreen\":{}}}\n",
        serde_json::to_string(&evergreen)?
    ));
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn write_all(a: &GenArgs, out: &mut impl Write) -> io::Result<()> {
    let mut tweets = Tweets::new(a);
    let mut flush_err = Ok(());
    let deadline = a.duration.map(|d| Instant::now() + d);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let mut idle = || {
            if flush_err.is_ok() {
                flush_err = out.flush();
            }
        };
        let Some((line, _)) = tweets.next(&mut idle) else {
            break;
        };
        flush_err?;
        out.write_all(line)?;
        out.write_all(b"\n")?;
        flush_err = Ok(());
    }
    out.flush()
}

fn serve(stream: TcpStream, a: &GenArgs) {
    let peer = peer_of(&stream);
    crate::log::info(format_args!("gen: client {peer} connected"));
    let mut w = BufWriter::with_capacity(1 << 16, stream);
    let r = write_all(a, &mut w);
    crate::log::info(format_args!(
        "gen: client {peer} {}",
        if r.is_ok() { "done" } else { "disconnected" }
    ));
}

/// `gen --kafka`: the producer takes the same stream, each tweet's event time as its Kafka
/// timestamp.
impl kafka::Messages for Tweets {
    fn next_message(&mut self, idle: &mut dyn FnMut()) -> Option<(&[u8], u64)> {
        self.next(&mut &mut *idle)
    }
}
