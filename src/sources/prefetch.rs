//! Reading ahead: a worker's share of a file read on a thread of its own.
//!
//! A worker that reads its own share spends about a quarter of its time before the first
//! hashtag: `read` calls, finding line endings, and checking each line for UTF-8. When the
//! process has a core to spare (fewer workers than cores, as with the tutorial's one worker
//! on two cores), that work moves to a reader thread, a few chunks ahead of the worker, which
//! also checks each chunk for UTF-8 whole ([`Chunk::check_utf8`]) and, for text lines, finds
//! each line's counting keys ([`Chunk::find_keys`]): the worker only counts them. The chunks
//! and their positions are the same, so checkpoints and the output are too.

use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError};

use super::lines::KeyFinder;
use super::{Chunk, Partition, Poll, SourceContext};

/// Chunks read ahead besides the one being read and the one being counted (a file chunk is
/// about 1 MiB): one keeps the worker fed (reading is the faster side), more only hold memory.
const AHEAD: usize = 1;

/// The longest a poll waits for the reader before it lets the worker do other work.
const WAIT: Duration = Duration::from_millis(20);

/// A share read ahead on a thread, started at the first poll (after any `seek`).
pub struct Prefetch {
    state: State,
    /// Ends the run if the reader thread panics (its share would otherwise look finished).
    ctx: SourceContext,
    /// Asked of the share before its thread starts, and fixed for a file.
    holds_watermark: bool,
    identity: Option<String>,
    name: String,
}

enum State {
    Waiting(Box<dyn Partition>),
    Reading(Receiver<Chunk>),
    /// No thread could be started: the share is read in turn, as without read-ahead.
    InTurn(Box<dyn Partition>),
    Done,
}

impl Prefetch {
    /// `inner`, read ahead on a thread named `source-NAME` once polled.
    pub fn boxed(inner: Box<dyn Partition>, name: &str, ctx: &SourceContext) -> Box<dyn Partition> {
        Box::new(Prefetch {
            ctx: ctx.clone(),
            holds_watermark: inner.holds_watermark(),
            identity: inner.identity(),
            state: State::Waiting(inner),
            name: name.to_owned(),
        })
    }

    fn start(&mut self, inner: Box<dyn Partition>) -> State {
        let (tx, rx) = bounded::<Chunk>(AHEAD);
        // The share goes to the thread once it runs: if none can be started, it stays here.
        let (give, take) = bounded::<Box<dyn Partition>>(1);
        let (guard, name) = (self.ctx.clone(), self.name.clone());
        let mut finder = KeyFinder::new(self.ctx.find_keys);
        let spawned = std::thread::Builder::new()
            .name(format!("source-{}", self.name))
            .spawn(move || {
                let Ok(mut inner) = take.recv() else { return };
                guard.guard(&name, || loop {
                    match inner.poll() {
                        Poll::Lines(mut c) => {
                            finder.ready(&mut c, || !tx.is_empty());
                            if tx.send(c).is_err() {
                                return; // the worker is gone
                            }
                        }
                        Poll::Idle => std::thread::sleep(Duration::from_millis(1)),
                        Poll::Done => return,
                    }
                })
            });
        match spawned {
            Ok(_) => {
                // The thread is waiting on `take`: this send always finds room.
                let _ = give.send(inner);
                State::Reading(rx)
            }
            Err(e) => {
                crate::log::warn(format_args!(
                    "cannot start the {} reader ({e}): reading it in turn",
                    self.name
                ));
                State::InTurn(inner)
            }
        }
    }
}

impl Partition for Prefetch {
    fn poll(&mut self) -> Poll {
        if let State::Waiting(_) = self.state {
            let State::Waiting(inner) = std::mem::replace(&mut self.state, State::Done) else {
                unreachable!("checked just above")
            };
            self.state = self.start(inner);
        }
        let rx = match &mut self.state {
            State::Reading(rx) => rx,
            State::InTurn(inner) => return inner.poll(),
            _ => return Poll::Done,
        };
        match rx.recv_timeout(WAIT) {
            Ok(c) => Poll::Lines(c),
            Err(RecvTimeoutError::Timeout) => Poll::Idle,
            Err(RecvTimeoutError::Disconnected) => {
                self.state = State::Done;
                Poll::Done
            }
        }
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        match &mut self.state {
            State::Waiting(inner) | State::InTurn(inner) => inner.seek(pos),
            _ => Err("a share read ahead cannot seek once read".into()),
        }
    }

    fn holds_watermark(&self) -> bool {
        self.holds_watermark
    }

    fn identity(&self) -> Option<String> {
        self.identity.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::sources::file::FilePartition;
    use crate::sources::SourceContext;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn lines(mut p: Box<dyn Partition>) -> Vec<(String, u64, bool)> {
        let mut out = Vec::new();
        loop {
            match p.poll() {
                Poll::Lines(c) => {
                    for (i, l) in c.iter().enumerate() {
                        let text = String::from_utf8_lossy(l).into_owned();
                        out.push((text, c.positions[i], c.text_line(i).is_some()));
                    }
                }
                Poll::Idle => {}
                Poll::Done => return out,
            }
        }
    }

    /// Read ahead, a file range gives the same lines and positions, resumes from a saved
    /// position, and its chunks are text unless one holds invalid UTF-8.
    #[test]
    fn same_lines_positions_and_seek_as_the_share_itself() {
        let path =
            std::env::temp_dir().join(format!("tagstream-unit-prefetch-{}", std::process::id()));
        let mut body = Vec::new();
        for i in 0..150_000 {
            body.extend_from_slice(format!("line {i} #tag{}\n", i % 97).as_bytes());
        }
        body.extend_from_slice(b"bad \xff #x\nlast #y");
        std::fs::write(&path, &body).unwrap();
        let ctx = SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let open = || Box::new(FilePartition::open(&path, 0, 1, &ctx).unwrap()) as Box<_>;
        let plain = lines(open());
        let ahead = lines(Prefetch::boxed(open(), "test", &ctx));
        let strip = |v: &[(String, u64, bool)]| -> Vec<(String, u64)> {
            v.iter().map(|(l, p, _)| (l.clone(), *p)).collect()
        };
        assert_eq!(strip(&ahead), strip(&plain));
        assert_eq!(ahead.len(), 150_002);
        assert!(ahead[0].2, "a chunk of valid UTF-8 is text");
        assert!(!ahead[150_000].2, "the chunk with the bad byte is bytes");
        // Resumed from the position after line 140,000.
        let mut p = Prefetch::boxed(open(), "test", &ctx);
        p.seek(plain[139_999].1).unwrap();
        assert_eq!(strip(&lines(p)), strip(&plain[140_000..]));
        std::fs::remove_file(&path).unwrap();
    }

    /// A share that gives one chunk, then panics (a bug in a reader).
    struct Breaks(bool);

    impl Partition for Breaks {
        fn poll(&mut self) -> Poll {
            if std::mem::replace(&mut self.0, true) {
                panic!("broken reader");
            }
            let mut c = Chunk::default();
            c.push_line(b"first #a");
            c.positions.push(9);
            Poll::Lines(c)
        }
    }

    /// A reader thread that panics ends the run with a line naming it: its share must not
    /// look finished (the run would then end as if the input were all read).
    #[test]
    fn a_reader_that_panics_fails_the_run() {
        let ctx = SourceContext::new(
            Arc::new(Metrics::default()),
            Arc::new(AtomicBool::new(false)),
        );
        let got = lines(Prefetch::boxed(Box::new(Breaks(false)), "file", &ctx));
        assert_eq!(got.len(), 1);
        let msg = ctx.failure().expect("the run fails");
        assert!(
            msg.contains("file") && msg.contains("broken reader"),
            "{msg}"
        );
        assert!(ctx.stopping());
    }
}
