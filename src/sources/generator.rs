//! The built-in generator of realistic tweets: English-like filler, mentions, links, emoji
//! and 0–3 hashtags per tweet with Zipf popularity, plus bursts: every 20 s a tag chosen
//! by the clock rises, peaks and fades over a minute, so the chart moves. Seeded and
//! deterministic for a given seed, worker and clock.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Chunk, Partition, Poll};

/// Tweets per chunk at most.
const CHUNK: usize = 4096;

/// Parameters of `gen://?rate=N&seed=S&count=C`.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// Tweets per second over all workers; 0 = as fast as possible.
    pub rate: f64,
    /// Seed of the random stream.
    pub seed: u64,
    /// Total tweets, then the source ends; `None` = forever.
    pub count: Option<u64>,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            rate: 2000.0,
            seed: 42,
            count: None,
        }
    }
}

impl GenSpec {
    /// Parses the part after `gen://`, e.g. `?rate=5000&seed=7`.
    pub fn parse(rest: &str) -> Result<GenSpec, String> {
        let mut g = GenSpec::default();
        let query = rest.trim_start_matches('/').trim_start_matches('?');
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let bad = || format!("gen:// parameter '{kv}' is not valid (rate=N, seed=N, count=N)");
            match k {
                "rate" => g.rate = v.parse().ok().filter(|r: &f64| *r >= 0.0).ok_or_else(bad)?,
                "seed" => g.seed = v.parse().map_err(|_| bad())?,
                "count" => g.count = Some(v.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
        Ok(g)
    }

    /// The counters' name: `gen://?rate=N&seed=S` (and `&count=C`).
    pub fn name(&self) -> String {
        let count = self
            .count
            .map(|c| format!("&count={c}"))
            .unwrap_or_default();
        format!("gen://?rate={}&seed={}{count}", self.rate, self.seed)
    }

    /// The share of worker `index` of `peers`.
    pub fn partition(&self, index: usize, peers: usize) -> Generator {
        let (i, p) = (index as u64, peers as u64);
        let count = self.count.map(|c| c / p + u64::from(i < c % p));
        Generator::new(
            self.seed.wrapping_mul(0x9E37_79B9).wrapping_add(i),
            self.rate / p as f64,
            count,
        )
    }
}

const WORDS: &[&str] = &[
    "the", "a", "to", "and", "of", "in", "is", "it", "you", "that", "for", "on", "this", "with",
    "be", "are", "just", "have", "not", "but", "so", "at", "my", "we", "all", "can", "was", "your",
    "like", "what", "get", "out", "now", "up", "about", "new", "day", "love", "time", "game",
    "today", "people", "good", "back", "great", "show", "live", "watch", "season", "team", "news",
    "vote", "world", "city", "music", "night", "week", "happy", "win", "best", "first", "big",
    "last", "final", "tonight", "really", "never", "everyone", "check", "here",
];

const TAGS: &[&str] = &[
    "news",
    "Rust",
    "AI",
    "WorldCup",
    "NowPlaying",
    "music",
    "love",
    "travel",
    "photography",
    "food",
    "fitness",
    "art",
    "tech",
    "NBA",
    "NFL",
    "crypto",
    "bitcoin",
    "gaming",
    "anime",
    "kpop",
    "MondayMotivation",
    "TBT",
    "FF",
    "climate",
    "election",
    "Python",
    "100DaysOfCode",
    "jobs",
    "hiring",
    "BigData",
    "streaming",
    "OpenSource",
    "space",
    "science",
    "books",
    "movies",
    "Oscars",
    "Grammys",
    "F1",
    "tennis",
    "cricket",
    "football",
    "soccer",
    "weather",
    "health",
    "startup",
    "design",
    "coffee",
    "cats",
    "dogs",
    "nature",
    "sunset",
    "summer",
    "winter",
    "Halloween",
    "Christmas",
    "NewYear",
    "Olympics",
    "SuperBowl",
    "Eurovision",
    "日本語",
    "東京",
    "サッカー",
    "한국어",
    "트위터",
    "café",
    "mañana",
    "München",
    "Москва",
    "العربية",
    "ภาษาไทย",
    "हिन्दी",
    "Ελλάδα",
    "İstanbul",
    "São_Paulo",
    "Zürich",
    "Kraków",
    "Ñandú",
    "Bonjour",
    "Paris",
];

const EMOJI: &[&str] = &["😂", "❤️", "🔥", "👍", "🙏", "😍", "🎉", "⚽", "✨", "🚀"];

/// One worker's generator.
pub struct Generator {
    rng: fastrand::Rng,
    /// Cumulative Zipf weights over `TAGS`.
    cumulative: Vec<f64>,
    per_sec: f64,
    left: Option<u64>,
    made: u64,
    started: Instant,
    line: String,
}

impl Generator {
    fn new(seed: u64, per_sec: f64, count: Option<u64>) -> Generator {
        let mut acc = 0.0;
        let cumulative = (1..=TAGS.len())
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.1);
                acc
            })
            .collect();
        Generator {
            rng: fastrand::Rng::with_seed(seed),
            cumulative,
            per_sec,
            left: count,
            made: 0,
            started: Instant::now(),
            line: String::new(),
        }
    }

    /// The tag that bursts now, and how strongly (0..1): every 20 s a new tag starts a
    /// one-minute rise and fall.
    fn burst(secs: u64) -> (usize, f64) {
        let epoch = secs / 20;
        let phase = (secs % 60) as f64 / 60.0;
        let idx = (epoch.wrapping_mul(2_654_435_761) % TAGS.len() as u64) as usize;
        (idx, 1.0 - (2.0 * phase - 1.0).abs())
    }

    fn tag(&mut self, burst: (usize, f64)) -> &'static str {
        if self.rng.f64() < 0.25 * burst.1 {
            return TAGS[burst.0];
        }
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = self.rng.f64() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        TAGS[i.min(TAGS.len() - 1)]
    }

    /// The next tweet, with the burst of second `secs` since the epoch. Given event times
    /// instead of the wall clock, the stream is the same on every run (`tagstream gen --start`).
    pub fn tweet_at(&mut self, secs: u64) -> &str {
        self.tweet(Self::burst(secs));
        &self.line
    }

    /// Writes one tweet into `self.line`.
    fn tweet(&mut self, burst: (usize, f64)) {
        use std::fmt::Write;
        self.line.clear();
        let words = self.rng.usize(6..20);
        let tags = [0, 0, 1, 1, 1, 2, 2, 3][self.rng.usize(0..8)];
        let mut tag_at: [usize; 3] = [usize::MAX; 3];
        for slot in tag_at.iter_mut().take(tags) {
            *slot = self.rng.usize(0..=words);
        }
        if self.rng.f64() < 0.2 {
            let _ = write!(self.line, "@user{} ", self.rng.u32(1..100_000));
        }
        for w in 0..=words {
            for &at in &tag_at {
                if at == w {
                    let t = self.tag(burst);
                    let lower = self.rng.f64() < 0.2;
                    self.line.push('#');
                    if lower {
                        self.line.push_str(&t.to_lowercase());
                    } else {
                        self.line.push_str(t);
                    }
                    self.line.push(' ');
                }
            }
            if w < words {
                self.line.push_str(WORDS[self.rng.usize(0..WORDS.len())]);
                self.line.push(' ');
            }
        }
        if self.rng.f64() < 0.15 {
            self.line.push_str(EMOJI[self.rng.usize(0..EMOJI.len())]);
            self.line.push(' ');
        }
        if self.rng.f64() < 0.2 {
            let _ = write!(
                self.line,
                "https://t.co/{:010x}",
                self.rng.u64(..) & 0xff_ffff_ffff
            );
        }
        let trimmed = self.line.trim_end().len();
        self.line.truncate(trimmed);
    }
}

impl Partition for Generator {
    fn poll(&mut self) -> Poll {
        let mut n = CHUNK as u64;
        if let Some(left) = self.left {
            if left == 0 {
                return Poll::Done;
            }
            n = n.min(left);
        }
        if self.per_sec > 0.0 {
            let due = (self.started.elapsed().as_secs_f64() * self.per_sec) as u64;
            n = n.min(due.saturating_sub(self.made));
            if n == 0 {
                // Sleep a little (less than one tweet's interval, at most 5 ms).
                let wait = (1.0 / self.per_sec).min(0.005);
                std::thread::sleep(Duration::from_secs_f64(wait));
                return Poll::Idle;
            }
        }
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let burst = Self::burst(secs);
        let mut chunk = Chunk::default();
        for _ in 0..n {
            self.tweet(burst);
            let line = std::mem::take(&mut self.line);
            chunk.push_line(line.as_bytes());
            self.line = line;
        }
        self.made += n;
        if let Some(left) = self.left.as_mut() {
            *left -= n;
        }
        Poll::Lines(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_shared_exactly() {
        let g = GenSpec::parse("?rate=0&count=10&seed=1").unwrap();
        let mut total = 0;
        for i in 0..3 {
            let mut p = g.partition(i, 3);
            while let Poll::Lines(c) = p.poll() {
                total += c.len();
            }
        }
        assert_eq!(total, 10);
    }

    #[test]
    fn tweets_carry_tags() {
        let mut p = GenSpec::parse("rate=0&count=1000").unwrap().partition(0, 1);
        let Poll::Lines(c) = p.poll() else {
            panic!("no lines")
        };
        let tagged = c.iter().filter(|l| l.contains(&b'#')).count();
        assert!(tagged > 500 && tagged < 900, "{tagged}");
        assert!(GenSpec::parse("rate=x").is_err());
    }
}
