//! `tagstream gen`: the synthetic generator to stdout, or as a line server at a fixed rate
//! (for load tests and the Spark comparison: one server feeds either engine).
//!
//! `--serve ADDR --file FILE` serves the lines of a file instead, over and over, from memory:
//! the comparison harness (`bench/compare.sh`) feeds tagstream and Spark's `socketTextStream`
//! the same lines as the tutorial's Python generator (`gen.py serve`), but from a server that
//! is never the bottleneck: it writes runs of whole lines straight from the pool (no copy, no
//! per-line call), paced by the clock, and reports what it achieved.

use std::io::{self, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::GenArgs;
use crate::sources::generator::GenSpec;
use crate::sources::{Partition, Poll};

/// Runs the subcommand.
pub fn run(a: GenArgs) -> anyhow::Result<()> {
    let spec = GenSpec {
        rate: a.rate,
        seed: a.seed,
        count: a.count,
    };
    let Some(addr) = &a.serve else {
        let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
        return match write_all(&spec, None, &mut out) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            r => Ok(r?),
        };
    };
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
            p.len(),
            p.data.len() as f64 / 1e6,
            p.data.len() as f64 / p.len() as f64,
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
    let mut served = Vec::new();
    for client in l.incoming() {
        let Ok(stream) = client else { continue };
        let (spec, pool) = (spec.clone(), pool.clone());
        served.push(std::thread::spawn(move || match pool {
            Some(pool) => serve_pool(stream, &pool, pace),
            None => serve(stream, &spec, pace.duration),
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

fn write_all(spec: &GenSpec, duration: Option<Duration>, out: &mut impl Write) -> io::Result<()> {
    let mut g = spec.partition(0, 1);
    let deadline = duration.map(|d| Instant::now() + d);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return out.flush();
        }
        match g.poll() {
            Poll::Lines(c) => {
                for l in c.iter() {
                    out.write_all(l)?;
                    out.write_all(b"\n")?;
                }
            }
            Poll::Idle => out.flush()?,
            Poll::Done => return out.flush(),
        }
    }
}

fn peer_of(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

fn serve(stream: TcpStream, spec: &GenSpec, duration: Option<Duration>) {
    let peer = peer_of(&stream);
    crate::log::info(format_args!("gen: client {peer} connected"));
    let mut w = BufWriter::with_capacity(1 << 16, stream);
    let r = write_all(spec, duration, &mut w);
    crate::log::info(format_args!(
        "gen: client {peer} {}",
        if r.is_ok() { "done" } else { "disconnected" }
    ));
}

/// The lines of a file, held in memory, each ending in `\n`.
pub struct Pool {
    data: Vec<u8>,
    /// `ends[i]`: the offset just past line i's `\n`.
    ends: Vec<usize>,
}

impl Pool {
    /// Reads `path` (its first `limit` lines, if given).
    pub fn load(path: &Path, limit: Option<usize>) -> anyhow::Result<Pool> {
        let data = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Pool::from_bytes(data, limit)
            .ok_or_else(|| anyhow::anyhow!("{} holds no line", path.display()))
    }

    /// The lines of `data` (the first `limit`, if given); None if there is none.
    pub fn from_bytes(mut data: Vec<u8>, limit: Option<usize>) -> Option<Pool> {
        let limit = limit.unwrap_or(usize::MAX);
        let mut ends: Vec<usize> = memchr::memchr_iter(b'\n', &data)
            .take(limit)
            .map(|i| i + 1)
            .collect();
        match ends.last() {
            Some(&end) if ends.len() == limit => {
                data.truncate(end);
                data.shrink_to_fit();
            }
            _ if data.last().is_some_and(|b| *b != b'\n') => {
                // A final line without an ending still counts: give it one.
                data.push(b'\n');
                ends.push(data.len());
            }
            _ => {}
        }
        (!ends.is_empty()).then_some(Pool { data, ends })
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the pool holds no line (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of lines `from..to` (to ≤ len), endings included.
    fn lines(&self, from: usize, to: usize) -> &[u8] {
        let start = if from == 0 { 0 } else { self.ends[from - 1] };
        &self.data[start..self.ends[to - 1]]
    }
}

/// How one client of a pool is served.
#[derive(Clone, Copy, Debug)]
struct Pace {
    /// Lines per second (0: as fast as the client reads).
    rate: f64,
    /// Lines in all, then the stream ends.
    count: Option<u64>,
    /// The stream ends after this long.
    duration: Option<Duration>,
    /// Status line interval.
    status: Duration,
}

/// Bytes handed to one `write` at most: big enough that a syscall carries thousands of
/// lines, small enough that pacing stays smooth.
const WRITE_BYTES: usize = 4 << 20;
/// Lines are written in runs of at least this much time's worth (at 5 M lines/s, ~620 KB per
/// write): between them the server sleeps, rather than spin on writes of a few lines each.
const QUANTUM: Duration = Duration::from_millis(1);

/// What a client has been sent so far, for the status lines.
#[derive(Default)]
struct Sent {
    lines: u64,
    bytes: u64,
    /// Time spent inside `write_all`: copying into the socket buffer, or waiting for room in
    /// it because the client reads slower than the rate.
    in_write: Duration,
    max_backlog: u64,
}

/// Sends the pool's lines cyclically to one client at `pace.rate`, with a status line every
/// `pace.status` in the format of gen.py's (so its summarize.py reads them):
/// `t=  10.0s sent=N rate=N lines/s X MB/s backlog=N`, where the backlog is the lines that
/// were due but not sent because the client did not read them in time.
fn serve_pool(mut stream: TcpStream, pool: &Pool, pace: Pace) {
    let peer = peer_of(&stream);
    let say = |msg: std::fmt::Arguments| crate::log::info(format_args!("gen: {peer}: {msg}"));
    say(format_args!("client connected"));
    let per_write = (WRITE_BYTES * pool.len() / pool.data.len()).max(1) as u64;
    let limit = pace.count.unwrap_or(u64::MAX);
    let quantum = ((pace.rate * QUANTUM.as_secs_f64()) as u64).max(1);
    let t0 = Instant::now();
    let due = |el: Duration| {
        if pace.rate > 0.0 {
            ((el.as_secs_f64() * pace.rate) as u64).min(limit)
        } else {
            limit
        }
    };
    let mut s = Sent::default();
    let mut pos = 0usize;
    let (mut last_at, mut last_lines, mut last_bytes) = (Duration::ZERO, 0u64, 0u64);
    let end = loop {
        let el = t0.elapsed();
        if el - last_at >= pace.status {
            let backlog = if pace.rate > 0.0 {
                due(el) - s.lines
            } else {
                0
            };
            s.max_backlog = s.max_backlog.max(backlog);
            let dt = (el - last_at).as_secs_f64();
            say(format_args!(
                "t={:7.1}s sent={} rate={:.0} lines/s {:.2} MB/s backlog={backlog} in_write={:.0}%",
                el.as_secs_f64(),
                s.lines,
                (s.lines - last_lines) as f64 / dt,
                (s.bytes - last_bytes) as f64 / dt / 1e6,
                100.0 * s.in_write.as_secs_f64() / el.as_secs_f64()
            ));
            (last_at, last_lines, last_bytes) = (el, s.lines, s.bytes);
        }
        if s.lines >= limit {
            break "count reached".to_string();
        }
        if pace.duration.is_some_and(|d| el >= d) {
            break "duration reached".to_string();
        }
        let due_now = due(el);
        let todo = due_now - s.lines;
        if todo == 0 || (todo < quantum && due_now < limit) {
            std::thread::sleep(QUANTUM);
            continue;
        }
        let k = todo.min(per_write).min((pool.len() - pos) as u64) as usize;
        let bytes = pool.lines(pos, pos + k);
        let w0 = Instant::now();
        if let Err(e) = stream.write_all(bytes) {
            break format!("client gone: {e}");
        }
        s.in_write += w0.elapsed();
        s.lines += k as u64;
        s.bytes += bytes.len() as u64;
        pos = (pos + k) % pool.len();
    };
    let el = t0.elapsed().as_secs_f64();
    say(format_args!(
        "{end}; done: {} lines, {:.1} MB in {el:.1}s = {:.0} lines/s {:.2} MB/s; max backlog {}",
        s.lines,
        s.bytes as f64 / 1e6,
        s.lines as f64 / el,
        s.bytes as f64 / el / 1e6,
        s.max_backlog
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_lines_limit_and_final_line() {
        let p = Pool::from_bytes(b"a\nbb\nccc".to_vec(), None).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.lines(0, 3), b"a\nbb\nccc\n");
        assert_eq!(p.lines(1, 2), b"bb\n");
        let p = Pool::from_bytes(b"a\nbb\nccc\n".to_vec(), Some(2)).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.lines(0, 2), b"a\nbb\n");
        assert!(Pool::from_bytes(Vec::new(), None).is_none());
    }

    #[test]
    fn serves_the_pool_cyclically_at_the_rate_then_ends() {
        let pool = Pool::from_bytes(b"one #a\ntwo #b\nthree\n".to_vec(), None).unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut got = String::new();
            io::Read::read_to_string(&mut s, &mut got).unwrap();
            got
        });
        let (stream, _) = l.accept().unwrap();
        let pace = Pace {
            rate: 0.0,
            count: Some(7),
            duration: None,
            status: Duration::from_secs(60),
        };
        serve_pool(stream, &pool, pace);
        let got = client.join().unwrap();
        assert_eq!(
            got,
            "one #a\ntwo #b\nthree\none #a\ntwo #b\nthree\none #a\n"
        );
    }
}
