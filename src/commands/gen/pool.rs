//! `tagstream gen --serve ADDR --file FILE`: the lines of a file, over and over, from memory.
//!
//! The comparison harness (`bench/compare.sh`) feeds tagstream and Spark's `socketTextStream`
//! the same lines as the tutorial's Python generator (`gen.py serve`), but from a server that
//! is never the bottleneck: it writes runs of whole lines straight from the pool (no copy, no
//! per-line call), paced by the clock, and reports what it achieved.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The peer's address, for log lines.
pub fn peer_of(stream: &TcpStream) -> String {
    stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
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

    /// Bytes of all its lines.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Number of lines (never 0: a pool without lines is not made).
    pub fn lines_count(&self) -> usize {
        self.ends.len()
    }

    /// The bytes of lines `from..to` (to ≤ len), endings included.
    fn lines(&self, from: usize, to: usize) -> &[u8] {
        let start = if from == 0 { 0 } else { self.ends[from - 1] };
        &self.data[start..self.ends[to - 1]]
    }
}

/// How one client of a pool is served.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Lines per second (0: as fast as the client reads).
    pub rate: f64,
    /// Lines in all, then the stream ends.
    pub count: Option<u64>,
    /// The stream ends after this long.
    pub duration: Option<Duration>,
    /// Status line interval.
    pub status: Duration,
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
pub fn serve_pool(mut stream: TcpStream, pool: &Pool, pace: Pace) {
    let peer = peer_of(&stream);
    let say = |msg: std::fmt::Arguments| crate::log::info(format_args!("gen: {peer}: {msg}"));
    say(format_args!("client connected"));
    let per_write = (WRITE_BYTES * pool.lines_count() / pool.data.len()).max(1) as u64;
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
        let k = todo.min(per_write).min((pool.lines_count() - pos) as u64) as usize;
        let bytes = pool.lines(pos, pos + k);
        let w0 = Instant::now();
        if let Err(e) = stream.write_all(bytes) {
            break format!("client gone: {e}");
        }
        s.in_write += w0.elapsed();
        s.lines += k as u64;
        s.bytes += bytes.len() as u64;
        pos = (pos + k) % pool.lines_count();
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
    use std::io;
    use std::net::TcpListener;

    #[test]
    fn pool_lines_limit_and_final_line() {
        let p = Pool::from_bytes(b"a\nbb\nccc".to_vec(), None).unwrap();
        assert_eq!(p.lines_count(), 3);
        assert_eq!(p.lines(0, 3), b"a\nbb\nccc\n");
        assert_eq!(p.lines(1, 2), b"bb\n");
        let p = Pool::from_bytes(b"a\nbb\nccc\n".to_vec(), Some(2)).unwrap();
        assert_eq!(p.lines_count(), 2);
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
