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

/// Waits between attempts.
pub trait Sleeper {
    /// Waits `d`; returns false if the source should stop instead (shutdown).
    fn sleep(&mut self, d: Duration) -> bool;
}

/// Real time, waking every 100 ms to look at the shutdown flag.
pub struct RealSleeper(pub SourceContext);

impl Sleeper for RealSleeper {
    fn sleep(&mut self, d: Duration) -> bool {
        let until = std::time::Instant::now() + d;
        loop {
            if self.0.stopping() {
                return false;
            }
            let now = std::time::Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(Duration::from_millis(100)));
        }
    }
}

/// Virtual time for tests: records every wait and returns at once.
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
}
