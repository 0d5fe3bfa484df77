//! Reconnect delays as the services publish them, and a sleeper that tests can replace, so
//! backoff timing is tested on virtual time without real sleeping.

use std::time::Duration;

use super::SourceContext;

/// A growing delay between attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    linear: bool,
    current: Option<Duration>,
}

impl Backoff {
    /// `step`, `2·step`, `3·step`… up to `max` (X: network errors, +250 ms up to 16 s).
    pub fn linear(step: Duration, max: Duration) -> Backoff {
        Backoff {
            first: step,
            max,
            linear: true,
            current: None,
        }
    }

    /// `first`, `2·first`, `4·first`… up to `max` (X: HTTP errors 5 s → 320 s; 429 from 60 s).
    pub fn exponential(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            linear: false,
            current: None,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let next = match self.current {
            None => self.first,
            Some(d) if self.linear => d + self.first,
            Some(d) => d * 2,
        }
        .min(self.max);
        self.current = Some(next);
        next
    }

    /// After a success: start again from the first delay.
    pub fn reset(&mut self) {
        self.current = None;
    }
}

/// Waits between attempts, and tells the time on the same clock, so that a rate limit
/// ("50 connects per 15 minutes") is kept on virtual time in tests too.
pub trait Sleeper {
    /// Waits `d`; returns false if the source should stop instead (shutdown).
    fn sleep(&mut self, d: Duration) -> bool;

    /// Time since this clock's start (monotonic).
    fn now(&self) -> Duration;
}

/// How often a real wait looks at the shutdown flag.
const TICK: Duration = Duration::from_millis(100);

/// The most a server's own wait (`Retry-After`, a rate limit's reset time) may add past the
/// published schedule: one 15-minute rate-limit window (X's rule). A larger value, a wrong
/// clock or a hostile server must not park a source for days.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(15 * 60);

/// Real time, waking every 100 ms to look at the shutdown flag.
pub struct RealSleeper(pub SourceContext);

/// The real clock's start: the first time any `RealSleeper` tells the time.
fn origin() -> std::time::Instant {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

impl Sleeper for RealSleeper {
    fn now(&self) -> Duration {
        origin().elapsed()
    }

    fn sleep(&mut self, d: Duration) -> bool {
        // A wait too long for the clock to represent ends only at shutdown (never a panic).
        let until = std::time::Instant::now().checked_add(d);
        loop {
            if self.0.stopping() {
                return false;
            }
            let now = std::time::Instant::now();
            let left = until.map(|u| u.saturating_duration_since(now));
            if left == Some(Duration::ZERO) {
                return true;
            }
            std::thread::sleep(left.map_or(TICK, |l| l.min(TICK)));
        }
    }
}

/// Virtual time for tests: records every wait and returns at once. Its clock is the sum of
/// the waits so far (the real time a test's connections take is not counted).
#[derive(Debug, Default)]
pub struct FakeSleeper {
    /// Every delay asked for, in order.
    pub slept: Vec<Duration>,
    /// Stop (return false) after this many waits, if set.
    pub stop_after: Option<usize>,
}

impl Sleeper for FakeSleeper {
    fn sleep(&mut self, d: Duration) -> bool {
        self.slept.push(d);
        self.stop_after.is_none_or(|n| self.slept.len() < n)
    }

    fn now(&self) -> Duration {
        self.slept.iter().sum()
    }
}

/// At most `max` attempts in any `window` of time: the hard cap under a service's published
/// connection limit (X: 50 stream connects per 15 minutes), whatever mix of failures the
/// backoff schedules saw.
#[derive(Clone, Debug)]
pub struct AttemptBudget {
    max: usize,
    window: Duration,
    /// Times of the attempts within the last `window`, oldest first.
    recent: std::collections::VecDeque<Duration>,
}

impl AttemptBudget {
    /// `max` (at least 1) attempts per `window`.
    pub fn new(max: usize, window: Duration) -> AttemptBudget {
        AttemptBudget {
            max: max.max(1),
            window,
            recent: std::collections::VecDeque::new(),
        }
    }

    /// How long to wait at `now` before the next attempt keeps within the budget (zero when
    /// it may go at once).
    pub fn wait(&mut self, now: Duration) -> Duration {
        while self.recent.front().is_some_and(|&t| t + self.window <= now) {
            self.recent.pop_front();
        }
        if self.recent.len() < self.max {
            return Duration::ZERO;
        }
        // The oldest attempt of a full window must leave it first.
        let oldest = self.recent[self.recent.len() - self.max];
        (oldest + self.window).saturating_sub(now)
    }

    /// Counts an attempt made at `now`.
    pub fn spend(&mut self, now: Duration) {
        self.recent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_schedules() {
        let ms = Duration::from_millis;
        let mut net = Backoff::linear(ms(250), ms(16_000));
        let d: Vec<_> = (0..3).map(|_| net.next_delay()).collect();
        assert_eq!(d, [ms(250), ms(500), ms(750)]);
        for _ in 0..100 {
            net.next_delay();
        }
        assert_eq!(net.next_delay(), ms(16_000));
        let mut http = Backoff::exponential(ms(5_000), ms(320_000));
        let d: Vec<_> = (0..8).map(|_| http.next_delay().as_secs()).collect();
        assert_eq!(d, [5, 10, 20, 40, 80, 160, 320, 320]);
        http.reset();
        assert_eq!(http.next_delay(), ms(5_000));
    }

    #[test]
    fn the_attempt_budget_holds_in_every_window() {
        let s = Duration::from_secs;
        let mut b = AttemptBudget::new(3, s(60));
        let mut now = s(0);
        let mut times = Vec::new();
        // Someone trying every second: three go, then each waits for the oldest to age out.
        for _ in 0..10 {
            now += b.wait(now);
            b.spend(now);
            times.push(now.as_secs());
            now += s(1);
        }
        assert_eq!(times, [0, 1, 2, 60, 61, 62, 120, 121, 122, 180]);
        for (i, t) in times.iter().enumerate() {
            let within = times[i..].iter().filter(|&&u| u < t + 60).count();
            assert!(within <= 3, "{times:?}");
        }
        // Attempts far apart never wait.
        let mut b = AttemptBudget::new(3, s(60));
        for k in 0..10 {
            assert_eq!(b.wait(s(k * 30)), Duration::ZERO);
            b.spend(s(k * 30));
        }
    }
}
