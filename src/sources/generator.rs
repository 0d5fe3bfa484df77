//! The built-in generator of realistic tweets, with a known truth to measure trends against.
//!
//! Tweet `i` of a stream is a pure function of `(seed, i, its time)`: English-like filler,
//! mentions, links, emoji and 0–3 hashtags, by an author. So the stream is the same for any
//! number of workers (worker `w` of `n` makes tweets `i ≡ w mod n`), a share resumes from a
//! checkpoint at any position, and `tagstream gen` writes the very tweets `gen://` reads.
//!
//! What moves, and is known (`tagstream gen --truth FILE` writes it):
//! - **Evergreen tags** (`#news`, `#art`, …): Zipf popularity, always big, never rising.
//! - **Bursts**: every [`BURST_EVERY_S`] a tag of the [`RISING`] pool (quiet otherwise) rises
//!   for a third of [`BURST_LEN_S`], holds, and fades, posted by many distinct authors.
//! - **A spammer**: one account posting [`SPAM_TAG`] in [`SPAM_SHARE`] of all tweets, enough
//!   to sit high in the top by count, from a single author.
//!
//! In processing time a tweet's time is the wall clock when it is made; with `start=` it is
//! `start + i × step` (event time, stamped on each line).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Chunk, Partition, Poll};
use crate::record::author_key;

/// Tweets per chunk at most.
const CHUNK: usize = 4096;

/// Parameters of `gen://?rate=N&seed=S&count=C&start=TIME&step=D`.
#[derive(Clone, Debug, PartialEq)]
pub struct GenSpec {
    /// Tweets per second over all workers; 0 = as fast as possible.
    pub rate: f64,
    /// Seed of the random stream.
    pub seed: u64,
    /// Total tweets, then the source ends; `None` = forever.
    pub count: Option<u64>,
    /// Event time of tweet 0 (ms); `None`: tweets are stamped by nothing (processing time).
    pub start: Option<u64>,
    /// Event time from one tweet to the next (ms), with `start`.
    pub step_ms: u64,
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec {
            rate: 2000.0,
            seed: 42,
            count: None,
            start: None,
            step_ms: 10,
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
            let bad = || {
                format!(
                    "gen:// parameter '{kv}' is not valid (rate=N, seed=N, count=N, \
                     start=TIME, step=DURATION)"
                )
            };
            match k {
                "rate" => {
                    g.rate = v
                        .parse()
                        .ok()
                        .filter(|r: &f64| r.is_finite() && *r >= 0.0)
                        .ok_or_else(bad)?
                }
                "seed" => g.seed = v.parse().map_err(|_| bad())?,
                "count" => g.count = Some(v.parse().map_err(|_| bad())?),
                "start" => g.start = Some(crate::time::event_time(v).map_err(|_| bad())?),
                "step" => g.step_ms = crate::time::ms(crate::time::duration(v).map_err(|_| bad())?),
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

    /// The share of worker `index` of `peers`: tweets `i ≡ index (mod peers)`.
    pub fn partition(&self, index: usize, peers: usize) -> Generator {
        let (i, p) = (index as u64, peers.max(1) as u64);
        let count = self.count.map(|c| c / p + u64::from(i < c % p));
        Generator {
            spec: self.clone(),
            model: Model::new(),
            first: i,
            stride: p,
            per_sec: self.rate / p as f64,
            left: count,
            made: 0,
            paced_from: 0,
            started: Instant::now(),
            line: String::new(),
            name: String::new(),
        }
    }

    /// Event time of tweet `i`, with `start`.
    pub fn time_of(&self, i: u64) -> Option<u64> {
        self.start
            .map(|s| s.saturating_add(i.saturating_mul(self.step_ms)))
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

/// Evergreen tags, most popular first (Zipf with exponent 1.1).
pub const TAGS: &[&str] = &[
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

/// Tags that are quiet until their burst.
pub const RISING: &[&str] = &[
    "SolarEclipse",
    "Earthquake",
    "TrainStrike",
    "NewAlbumDrop",
    "TransferNews",
    "BlackoutNYC",
    "RecordHeat",
    "RoverLanding",
    "ChessUpset",
    "FloodWarning",
    "ViralDance",
    "MarketCrash",
    "ComebackWin",
    "Aurora",
    "ServerOutage",
    "RoyalWedding",
    "LunarNewYear",
    "GoalOfTheYear",
    "HeatDome",
    "SurpriseDebut",
];

/// The spammer's tag.
pub const SPAM_TAG: &str = "FreeCryptoGiveaway";
/// The spammer's account.
pub const SPAMMER: &str = "promo_bot_9000";
/// Share of all tweets that are the spammer's.
pub const SPAM_SHARE: f64 = 0.1;
/// A new burst starts this often (s).
pub const BURST_EVERY_S: u64 = 120;
/// A burst rises for a third of this, holds for a third, fades for a third (s).
pub const BURST_LEN_S: u64 = 90;
/// At its peak, a burst tag is in this share of all tweets.
const BURST_PEAK: f64 = 0.06;
/// Outside its burst, a rising tag is in this share of all tweets (all of them together).
const RISING_QUIET: f64 = 0.002;
/// Ordinary authors: `user1` … `userN`.
const USERS: u64 = 200_000;

/// The burst running at `secs` (since the epoch): its tag and strength (0..1).
pub fn burst_at(secs: u64) -> (usize, f64) {
    let k = secs / BURST_EVERY_S;
    let into = secs % BURST_EVERY_S;
    let tag = (k % RISING.len() as u64) as usize;
    let third = BURST_LEN_S / 3;
    let strength = if into >= BURST_LEN_S {
        0.0
    } else if into < third {
        (into + 1) as f64 / third as f64
    } else if into < 2 * third {
        1.0
    } else {
        (BURST_LEN_S - into) as f64 / third as f64
    };
    (tag, strength)
}

/// One burst of the schedule, for `--truth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Burst {
    /// The tag, with '#'.
    pub tag: String,
    /// When it starts rising (ms).
    pub start_ms: u64,
    /// When its peak begins and ends (ms).
    pub peak: (u64, u64),
    /// When it has faded (ms).
    pub end_ms: u64,
}

/// The bursts that overlap `[from_ms, to_ms)`.
pub fn bursts(from_ms: u64, to_ms: u64) -> Vec<Burst> {
    let every = BURST_EVERY_S * 1000;
    let third = BURST_LEN_S / 3 * 1000;
    let mut out = Vec::new();
    let mut k = from_ms / every;
    while k.saturating_mul(every) < to_ms {
        let s = k * every;
        out.push(Burst {
            tag: format!("#{}", RISING[(k % RISING.len() as u64) as usize]),
            start_ms: s,
            peak: (s + third, s + 2 * third),
            end_ms: s + BURST_LEN_S * 1000,
        });
        k += 1;
    }
    out
}

/// What every tweet is drawn from: the cumulative Zipf weights of the evergreen tags.
#[derive(Clone, Debug)]
pub struct Model {
    cumulative: Vec<f64>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// The model.
    pub fn new() -> Model {
        let mut acc = 0.0;
        let cumulative = (1..=TAGS.len())
            .map(|r| {
                acc += 1.0 / (r as f64).powf(1.1);
                acc
            })
            .collect();
        Model { cumulative }
    }

    fn evergreen(&self, rng: &mut fastrand::Rng) -> &'static str {
        let total = *self.cumulative.last().unwrap_or(&1.0);
        let x = rng.f64() * total;
        let i = self.cumulative.partition_point(|&c| c < x);
        TAGS[i.min(TAGS.len() - 1)]
    }

    /// Writes tweet `i` of the stream of `seed`, made at `time_ms`, into `out` (cleared first);
    /// returns its author's name (`user123`, or the spammer's).
    pub fn tweet(&self, seed: u64, i: u64, time_ms: u64, out: &mut String) -> Author {
        use std::fmt::Write;
        out.clear();
        // One small generator per tweet, seeded from (seed, i): any tweet can be made alone.
        let mut rng = fastrand::Rng::with_seed(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        if rng.f64() < SPAM_SHARE {
            let _ = write!(
                out,
                "🚀 #{SPAM_TAG} claim yours now https://t.co/{:010x}",
                rng.u64(..) & 0xff_ffff_ffff
            );
            return Author::Spammer;
        }
        let author = Author::User(rng.u64(1..=USERS));
        let (burst, strength) = burst_at(time_ms / 1000);
        let words = rng.usize(6..20);
        let tags = [0, 0, 1, 1, 1, 2, 2, 3][rng.usize(0..8)];
        let mut tag_at: [usize; 3] = [usize::MAX; 3];
        for slot in tag_at.iter_mut().take(tags) {
            *slot = rng.usize(0..=words);
        }
        // A burst tag joins a tweet (whatever its other tags) in proportion to its strength.
        let bursting = rng.f64() < BURST_PEAK * strength;
        let quiet_rising = rng.f64() < RISING_QUIET;
        if rng.f64() < 0.2 {
            let _ = write!(out, "@user{} ", rng.u32(1..100_000));
        }
        if bursting {
            let _ = write!(out, "#{} ", RISING[burst]);
        } else if quiet_rising {
            let _ = write!(out, "#{} ", RISING[rng.usize(0..RISING.len())]);
        }
        for w in 0..=words {
            for &at in &tag_at {
                if at == w {
                    let t = self.evergreen(&mut rng);
                    out.push('#');
                    if rng.f64() < 0.2 {
                        out.push_str(&t.to_lowercase());
                    } else {
                        out.push_str(t);
                    }
                    out.push(' ');
                }
            }
            if w < words {
                out.push_str(WORDS[rng.usize(0..WORDS.len())]);
                out.push(' ');
            }
        }
        if rng.f64() < 0.15 {
            out.push_str(EMOJI[rng.usize(0..EMOJI.len())]);
            out.push(' ');
        }
        if rng.f64() < 0.2 {
            let _ = write!(out, "https://t.co/{:010x}", rng.u64(..) & 0xff_ffff_ffff);
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        author
    }
}

/// Who wrote a generated tweet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    /// `user{n}`.
    User(u64),
    /// The spammer ([`SPAMMER`]).
    Spammer,
}

impl std::fmt::Display for Author {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Author::User(n) => write!(f, "user{n}"),
            Author::Spammer => f.write_str(SPAMMER),
        }
    }
}

const EMOJI: &[&str] = &["😂", "❤️", "🔥", "👍", "🙏", "😍", "🎉", "⚽", "✨", "🚀"];

/// One worker's share of the generated stream.
pub struct Generator {
    spec: GenSpec,
    model: Model,
    /// This share's first tweet index and the step between its tweets.
    first: u64,
    stride: u64,
    per_sec: f64,
    left: Option<u64>,
    /// Tweets of this share made so far (its position).
    made: u64,
    /// `made` when pacing started (after a seek).
    paced_from: u64,
    started: Instant,
    line: String,
    name: String,
}

impl Generator {
    /// Makes the next tweet of this share into `chunk`, with its position, its event time
    /// (with `start`) and its author's key (the key of the name, as a JSON-lines file of the
    /// same tweets would give it).
    fn make(&mut self, chunk: &mut Chunk, now_ms: u64) {
        use std::fmt::Write;
        let i = self.first + self.made * self.stride;
        let time = self.spec.time_of(i);
        let author = self
            .model
            .tweet(self.spec.seed, i, time.unwrap_or(now_ms), &mut self.line);
        chunk.push_line(self.line.as_bytes());
        self.name.clear();
        let _ = write!(self.name, "{author}");
        chunk.authors.push(author_key(&self.name));
        if let Some(t) = time {
            chunk.times.push(t);
        }
        self.made += 1;
        chunk.positions.push(self.made);
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
            n = n.min(due.saturating_sub(self.made - self.paced_from));
            if n == 0 {
                // Sleep a little (less than one tweet's interval, at most 5 ms).
                let wait = (1.0 / self.per_sec).min(0.005);
                std::thread::sleep(Duration::from_secs_f64(wait));
                return Poll::Idle;
            }
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut chunk = Chunk::default();
        for _ in 0..n {
            self.make(&mut chunk, now_ms);
        }
        if let Some(left) = self.left.as_mut() {
            *left -= n;
        }
        Poll::Lines(chunk)
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        if let Some(left) = self.left.as_mut() {
            let total = *left + self.made;
            if pos > total {
                return Err(format!(
                    "gen:// position {pos} is past this share's {total} tweets"
                ));
            }
            *left = total - pos;
        }
        self.made = pos;
        self.paced_from = pos;
        self.started = Instant::now();
        Ok(())
    }

    fn holds_watermark(&self) -> bool {
        self.spec.start.is_some() && self.left != Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(mut p: Generator) -> Vec<(String, Option<u64>, u64)> {
        let mut out = Vec::new();
        while let Poll::Lines(c) = p.poll() {
            for (k, line) in c.iter().enumerate() {
                let text = String::from_utf8(line.to_vec()).unwrap();
                out.push((text, c.times.get(k).copied(), c.authors[k]));
            }
        }
        out
    }

    #[test]
    fn count_is_shared_exactly() {
        let g = GenSpec::parse("?rate=0&count=10&seed=1").unwrap();
        let total: usize = (0..3).map(|i| all(g.partition(i, 3)).len()).sum();
        assert_eq!(total, 10);
    }

    #[test]
    fn tweets_carry_tags() {
        let got = all(GenSpec::parse("rate=0&count=1000").unwrap().partition(0, 1));
        let tagged = got.iter().filter(|(l, ..)| l.contains('#')).count();
        assert!(tagged > 500 && tagged < 900, "{tagged}");
        assert!(GenSpec::parse("rate=x").is_err());
        assert!(GenSpec::parse("rate=inf").is_err());
    }

    /// Any number of workers makes the same tweets with the same times and authors, and a
    /// share resumed at a position goes on exactly where it was.
    #[test]
    fn the_stream_does_not_depend_on_workers_and_resumes() {
        let g = GenSpec::parse("rate=0&count=9000&seed=7&start=2026-01-01T00:00:00Z&step=10ms")
            .unwrap();
        let mut one = all(g.partition(0, 1));
        let mut three: Vec<_> = (0..3).flat_map(|w| all(g.partition(w, 3))).collect();
        one.sort();
        three.sort();
        assert_eq!(one, three);
        assert_eq!(one.len(), 9000);
        let full = all(g.partition(1, 3));
        let mut resumed = g.partition(1, 3);
        resumed.seek(1234).unwrap();
        assert_eq!(all(resumed), full[1234..]);
        assert!(g.partition(1, 3).seek(3001).is_err());
    }

    #[test]
    fn the_schedule_is_what_the_tweets_show() {
        // During the peak of a burst, its tag is in about BURST_PEAK of the tweets.
        let b = &bursts(1_800_000_000_000, 1_800_000_120_000)[0];
        let g = GenSpec {
            start: Some(b.peak.0),
            step_ms: 1,
            count: Some(20_000),
            rate: 0.0,
            ..GenSpec::default()
        };
        let got = all(g.partition(0, 1));
        let with = got.iter().filter(|(l, ..)| l.contains(&b.tag)).count();
        assert!((800..1600).contains(&with), "{} in {with} of 20000", b.tag);
        let spam = got
            .iter()
            .filter(|(_, _, a)| *a == author_key(SPAMMER))
            .count();
        assert!((1700..2300).contains(&spam), "{spam}");
    }
}
