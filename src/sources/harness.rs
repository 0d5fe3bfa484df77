//! Test-only: runs a live source's connect/read loop on a dealer thread with a
//! [`FakeSleeper`], and collects the posts it deals, for the sources' unit tests.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::backoff::FakeSleeper;
use super::dealer::{self, Dealer};
use super::{Partition, Poll, SourceContext};
use crate::metrics::{Metrics, SourceCounters};

/// A source running against a local fake server.
pub struct Harness {
    /// The source's context (its counters, its fatal error).
    pub ctx: SourceContext,
    part: Box<dyn Partition>,
    done: mpsc::Receiver<Vec<Duration>>,
}

impl Harness {
    /// Starts `run` (a source's loop) with `--endpoint endpoint` and `sleeper`; when it
    /// returns, the waits it asked for are kept for [`Harness::stop`]/[`Harness::finished`].
    pub fn start(
        name: &str,
        endpoint: &str,
        sleeper: FakeSleeper,
        run: impl FnOnce(&mut Dealer, &SourceContext, &mut FakeSleeper) + Send + 'static,
    ) -> Harness {
        let ctx = SourceContext {
            endpoint: Some(endpoint.to_owned()),
            ..SourceContext::new(
                Arc::new(Metrics::default()),
                Arc::new(AtomicBool::new(false)),
            )
        };
        let (tx, done) = mpsc::channel();
        let part = dealer::spawn(1, &ctx, name, {
            let ctx = ctx.clone();
            move |deal| {
                let mut sleeper = sleeper;
                run(deal, &ctx, &mut sleeper);
                let _ = tx.send(sleeper.slept);
            }
        })
        .pop()
        .expect("one partition");
        Harness { ctx, part, done }
    }

    /// Posts (as JSON values) until `n` have arrived; panics after 10 s.
    pub fn posts(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} posts: {out:?}",
                out.len()
            );
            match self.part.poll() {
                Poll::Lines(c) => out.extend(
                    c.iter()
                        .map(|l| serde_json::from_slice::<Value>(l).unwrap()),
                ),
                Poll::Idle => std::thread::park_timeout(Duration::from_millis(10)),
                Poll::Done => panic!("source ended after {out:?}"),
            }
        }
        out
    }

    /// Stops the source and returns the waits it asked for.
    pub fn stop(self) -> Vec<Duration> {
        self.ctx.shutdown.store(true, Relaxed);
        self.finished()
    }

    /// Waits (10 s at most) for the source to end by itself; returns the waits it asked for.
    pub fn finished(&self) -> Vec<Duration> {
        self.done.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    /// The counters of source `name`.
    pub fn counters(&self, name: &str) -> Arc<SourceCounters> {
        self.ctx.metrics.source(name)
    }
}
