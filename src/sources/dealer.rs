//! One reader thread for a stream that cannot be split, dealing its chunks of lines
//! round-robin to the workers of the process (so extraction and counting run on every
//! worker even though the bytes arrive on one connection).

use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TryRecvError};

use super::lines::KeyFinder;
use super::{Chunk, Partition, Poll, SourceContext};

/// Chunks in flight per worker before the reader blocks (backpressure on the stream).
const QUEUE: usize = 64;

/// Hands chunks to workers in turn.
pub struct Dealer {
    senders: Vec<Sender<Chunk>>,
    next: usize,
    ctx: SourceContext,
    /// With a core to spare per worker: this thread checks each chunk for UTF-8 whole and
    /// finds the lines' keys for a worker that has chunks waiting ([`KeyFinder`]).
    finder: Option<KeyFinder>,
}

impl Dealer {
    /// Gives `chunk` to the next worker, waiting while its queue is full. Returns false when
    /// the workers are gone or shutdown was asked for: the reader should stop.
    pub fn deal(&mut self, chunk: Chunk) -> bool {
        if chunk.is_empty() {
            return true;
        }
        let mut chunk = chunk;
        let n = self.senders.len();
        if let Some(finder) = &mut self.finder {
            let next = &self.senders[self.next];
            finder.ready(&mut chunk, || !next.is_empty());
        }
        loop {
            let tx = &self.senders[self.next];
            match tx.send_timeout(chunk, Duration::from_millis(100)) {
                Ok(()) => {
                    self.next = (self.next + 1) % n;
                    return true;
                }
                Err(SendTimeoutError::Disconnected(_)) => return false,
                Err(SendTimeoutError::Timeout(c)) => {
                    if self.ctx.stopping() {
                        return false;
                    }
                    chunk = c;
                }
            }
        }
    }

    /// The context of the source this dealer serves.
    pub fn ctx(&self) -> &SourceContext {
        &self.ctx
    }
}

/// Starts the reader thread `read` and returns one partition per local worker.
pub fn spawn<F>(threads: usize, ctx: &SourceContext, name: &str, read: F) -> Vec<Box<dyn Partition>>
where
    F: FnOnce(&mut Dealer) + Send + 'static,
{
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..threads).map(|_| bounded(QUEUE)).unzip();
    let mut dealer = Dealer {
        senders,
        next: 0,
        ctx: ctx.clone(),
        finder: (ctx.find_keys.is_some() && super::core_to_spare(threads))
            .then(|| KeyFinder::new(ctx.find_keys)),
    };
    let (guard, label) = (ctx.clone(), name.to_owned());
    let spawned = std::thread::Builder::new()
        .name(format!("source-{name}"))
        .spawn(move || guard.guard(&label, || read(&mut dealer)));
    if let Err(e) = spawned {
        // Without a thread the source cannot run; its partitions end at once.
        crate::log::warn(format_args!("cannot start the {name} reader: {e}"));
    }
    receivers
        .into_iter()
        .map(|rx| Box::new(Dealt(rx)) as Box<dyn Partition>)
        .collect()
}

/// A worker's end of a dealer.
struct Dealt(Receiver<Chunk>);

/// Says once per process, on stderr, that it is ready for input: the first ask for lines
/// comes once the sources are open and (in `run`) the worker's dataflow is built. The
/// comparison harness (`bench/compare.sh`) times process start → this line.
fn say_ready() {
    static READY: std::sync::Once = std::sync::Once::new();
    READY.call_once(|| crate::log::info(format_args!("ready: reading input")));
}

impl Partition for Dealt {
    fn poll(&mut self) -> Poll {
        say_ready();
        match self.0.try_recv() {
            Ok(c) => Poll::Lines(c),
            Err(TryRecvError::Empty) => Poll::Idle,
            Err(TryRecvError::Disconnected) => Poll::Done,
        }
    }

    /// A dealt stream resumes as a whole, before its reader starts: from the least position
    /// any worker saved (`SourceSpec::resume`). Each worker's share has nothing to do.
    fn seek(&mut self, _pos: u64) -> Result<(), String> {
        Ok(())
    }
}

/// The partition of a worker that has no share of a source.
pub struct Finished;

impl Partition for Finished {
    fn poll(&mut self) -> Poll {
        Poll::Done
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;

    /// With a core to spare, the reader checks each chunk for UTF-8 whole, and finds the
    /// keys of the chunks that go to a worker which has one waiting already.
    #[test]
    fn the_reader_finds_keys_while_the_worker_is_behind() {
        if !crate::sources::core_to_spare(1) {
            return; // no core to spare: nothing is found ahead, by design
        }
        let ctx = SourceContext {
            find_keys: Some(hashtag::Mode::Spark),
            ..SourceContext::new(
                Arc::new(Metrics::default()),
                Arc::new(AtomicBool::new(false)),
            )
        };
        let (dealt, all_dealt) = bounded(1);
        let mut parts = spawn(1, &ctx, "test", move |deal| {
            for _ in 0..3 {
                let mut c = Chunk::default();
                c.push_line(b"#A b #c");
                assert!(deal.deal(c));
            }
            dealt.send(()).unwrap();
        });
        // The worker takes nothing until all three are dealt (its queue holds 64).
        all_dealt.recv().unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            match parts[0].poll() {
                Poll::Lines(c) => got.push(c),
                Poll::Idle => std::thread::sleep(Duration::from_millis(1)),
                Poll::Done => panic!("the reader ended early"),
            }
        }
        // Nothing waited for the worker when the first came; the next two found one waiting.
        assert!(got.iter().all(|c| c.text_line(0) == Some("#A b #c")));
        assert!(got[0].keys().is_none());
        for c in &got[1..] {
            let keys = c.keys().expect("keys found ahead");
            assert_eq!(keys.line(0).collect::<Vec<_>>(), [Some("#a"), Some("#c")]);
        }
    }
}
