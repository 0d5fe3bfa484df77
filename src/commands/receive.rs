//! `tagstream receive`: the tutorial's receiver. Reads any source (a live service, a socket,
//! a file) and writes each record's text as one line to every connected TCP client, so that
//! Spark's `socketTextStream` or `tagstream run --source socket://…` can consume it.
//!
//! - A post's newlines and carriage returns become spaces: one post, one line.
//! - While no client is connected, the last `--buffer` lines are kept and the first client
//!   gets them; older ones are dropped, counted and reported.
//! - Each client has its own writer thread and a queue of `--buffer` lines; a client that
//!   falls that far behind is disconnected (and told so on stderr), so one slow reader never
//!   holds up the others. A socketTextStream client reconnects by itself.

use std::collections::VecDeque;
use std::io::{BufWriter, ErrorKind, IsTerminal, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::cli::ReceiveArgs;
use crate::metrics::Metrics;
use crate::record::Decoder;
use crate::sources::{Poll, ProcessSources, Share, SourceContext, SourceSpec};

/// A client that cannot take a line for this long is dropped by its writer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the subcommand until SIGINT/SIGTERM, a fatal source error, or the end of a finite
/// source (once its lines were handed to a client).
pub fn run(a: ReceiveArgs) -> Result<()> {
    let spec = SourceSpec::parse(&a.source).map_err(anyhow::Error::msg)?;
    spec.check().map_err(anyhow::Error::msg)?;
    let listener =
        TcpListener::bind(&a.serve).with_context(|| format!("cannot listen on {}", a.serve))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    crate::log::set_quiet(a.quiet);
    let metrics = Arc::new(Metrics::default());
    let ctx = SourceContext {
        max_line: a.max_line,
        endpoint: a.endpoint,
        track: a.track,
        ..SourceContext::new(metrics.clone(), crate::shutdown::flag())
    };
    let decoder = Decoder::new(a.format, &a.text_field, None);
    let mut sources = ProcessSources::open(&[spec], 0, 1, 1, &ctx, &decoder, false)
        .map_err(anyhow::Error::msg)?;
    // The same `--track` filter as `run` (none for x://: its rules filter at X).
    let Share {
        mut part,
        decoder,
        track,
        ..
    } = sources
        .take(0)
        .pop()
        .context("the source has no partition")?;
    crate::log::info(format_args!(
        "receive: serving the lines of {} on {addr}",
        a.source
    ));
    let mut hub = Hub::new(a.buffer);
    let progress = !a.quiet && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut source_done = false;
    while !ctx.stopping() {
        accept(&listener, &mut hub);
        let poll = if source_done { Poll::Done } else { part.poll() };
        match poll {
            Poll::Lines(chunk) => {
                for line in chunk.iter() {
                    match decoder.decode(line) {
                        Ok(r) if track.as_ref().is_some_and(|t| !t.matches(&r.text)) => {
                            metrics.filtered.fetch_add(1, Relaxed);
                        }
                        Ok(r) => hub.send(one_line(&r.text)),
                        Err(why) => metrics.skip(why),
                    }
                }
            }
            Poll::Idle => std::thread::park_timeout(Duration::from_millis(5)),
            Poll::Done => {
                if !source_done {
                    source_done = true;
                    if hub.waiting() > 0 {
                        crate::log::info(format_args!(
                            "receive: the source ended; {} lines wait for a client",
                            hub.waiting()
                        ));
                    }
                }
                if hub.waiting() == 0 {
                    break;
                }
                std::thread::park_timeout(Duration::from_millis(20));
            }
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(2) {
            last_progress = Instant::now();
            let s = &hub.stats;
            eprint!(
                "\rreceive: forwarded {}  clients {}  buffered {}  dropped {}   ",
                s.forwarded.load(Relaxed),
                s.clients.load(Relaxed),
                hub.waiting(),
                s.dropped.load(Relaxed)
            );
        }
    }
    if progress {
        eprintln!();
    }
    hub.finish();
    if let Some(e) = ctx.failure() {
        anyhow::bail!("{e}");
    }
    let s = &hub.stats;
    crate::log::info(format_args!(
        "receive: done: forwarded {} lines, dropped {} while no client was connected, \
         {} slow clients disconnected, {} filtered by --track, {}",
        s.forwarded.load(Relaxed),
        s.dropped.load(Relaxed),
        s.slow.load(Relaxed),
        metrics.filtered.load(Relaxed),
        metrics.snapshot().skipped_summary()
    ));
    for (name, counters) in metrics.source_summaries() {
        crate::log::info(format_args!("source {name}: {counters}"));
    }
    Ok(())
}

/// `text` on one line: CR and LF become spaces (socketTextStream ends a line at either).
pub fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

fn accept(listener: &TcpListener, hub: &mut Hub) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => hub.add(stream, peer.to_string()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                crate::log::warn(format_args!("receive: accept failed: {e}"));
                return;
            }
        }
    }
}

/// Counters of the receiver.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Lines handed to at least one client.
    pub forwarded: AtomicU64,
    /// Lines dropped because no client was connected and the buffer was full.
    pub dropped: AtomicU64,
    /// Clients connected now.
    pub clients: AtomicU64,
    /// Clients disconnected for falling `--buffer` lines behind.
    pub slow: AtomicU64,
}

struct Client {
    peer: String,
    tx: Sender<String>,
    writer: Option<JoinHandle<()>>,
}

/// The connected clients and the buffer kept while there are none.
pub struct Hub {
    clients: Vec<Client>,
    backlog: VecDeque<String>,
    cap: usize,
    /// Lines dropped since the last report.
    unreported: u64,
    /// The counters.
    pub stats: HubStats,
}

impl Hub {
    /// A hub that keeps up to `cap` lines (at least 1) per client and while no client is there.
    pub fn new(cap: usize) -> Hub {
        Hub {
            clients: Vec::new(),
            backlog: VecDeque::new(),
            cap: cap.max(1),
            unreported: 0,
            stats: HubStats::default(),
        }
    }

    /// Lines buffered for want of a client.
    pub fn waiting(&self) -> usize {
        self.backlog.len()
    }

    /// Adds a client, with its writer thread; it gets the buffered lines first.
    pub fn add(&mut self, stream: TcpStream, peer: String) {
        // Room for the backlog it is handed on top of the usual `cap` lines of slack.
        let (tx, rx) = bounded(self.cap + self.backlog.len());
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        let writer = std::thread::Builder::new()
            .name(format!("receive-{peer}"))
            .spawn(move || write_lines(stream, rx))
            .ok();
        let backlog = self.backlog.len();
        crate::log::info(format_args!(
            "receive: client {peer} connected{}",
            if backlog > 0 || self.unreported > 0 {
                format!(
                    "; sending {backlog} buffered lines ({} dropped while no client was connected)",
                    self.unreported
                )
            } else {
                String::new()
            }
        ));
        self.unreported = 0;
        for line in self.backlog.drain(..) {
            // The queue is new and longer than the backlog: this cannot be full.
            let _ = tx.try_send(line);
            self.stats.forwarded.fetch_add(1, Relaxed);
        }
        self.clients.push(Client { peer, tx, writer });
        self.stats.clients.store(self.clients.len() as u64, Relaxed);
    }

    /// Sends `line` to every client, or keeps it while there is none.
    pub fn send(&mut self, line: String) {
        let mut delivered = false;
        let mut i = 0;
        while i < self.clients.len() {
            match self.clients[i].tx.try_send(line.clone()) {
                Ok(()) => {
                    delivered = true;
                    i += 1;
                }
                Err(e) => {
                    let c = self.clients.swap_remove(i);
                    if matches!(e, TrySendError::Full(_)) {
                        self.stats.slow.fetch_add(1, Relaxed);
                        crate::log::warn(format_args!(
                            "receive: client {} fell {} lines behind; disconnected it (its \
                             queued lines are lost)",
                            c.peer, self.cap
                        ));
                    } else {
                        crate::log::info(format_args!("receive: client {} disconnected", c.peer));
                    }
                    // Dropping the sender ends its writer, which closes the socket.
                }
            }
        }
        self.stats.clients.store(self.clients.len() as u64, Relaxed);
        if delivered {
            self.stats.forwarded.fetch_add(1, Relaxed);
            return;
        }
        if self.backlog.len() == self.cap {
            self.backlog.pop_front();
            self.stats.dropped.fetch_add(1, Relaxed);
            if self.unreported == 0 {
                crate::log::warn(format_args!(
                    "receive: no client connected and {} lines buffered: dropping the oldest \
                     (counted; reported when a client connects)",
                    self.cap
                ));
            }
            self.unreported += 1;
        }
        self.backlog.push_back(line);
    }

    /// Ends every client after its queued lines were written.
    pub fn finish(&mut self) {
        for mut c in self.clients.drain(..) {
            drop(c.tx);
            if let Some(w) = c.writer.take() {
                let _ = w.join();
            }
        }
        if !self.backlog.is_empty() || self.unreported > 0 {
            crate::log::warn(format_args!(
                "receive: {} buffered lines were never sent ({} dropped before)",
                self.backlog.len(),
                self.unreported
            ));
        }
    }
}

/// One client's writer: lines as they come, flushed whenever the queue runs dry.
fn write_lines(stream: TcpStream, rx: Receiver<String>) {
    let mut w = BufWriter::with_capacity(64 << 10, stream);
    loop {
        let r = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => w
                .write_all(line.as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .and_then(|_| if rx.is_empty() { w.flush() } else { Ok(()) }),
            Err(RecvTimeoutError::Timeout) => w.flush(),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = w.flush();
                return;
            }
        };
        // A write error (the client left or stopped reading for WRITE_TIMEOUT) ends this
        // thread; the hub notices when its next line cannot be queued.
        if r.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        (s, c)
    }

    #[test]
    fn posts_become_single_lines() {
        assert_eq!(one_line("a\nb\r\nc\rd #t"), "a b  c d #t");
    }

    #[test]
    fn buffer_while_no_client_then_hand_over_and_count_drops() {
        let mut hub = Hub::new(3);
        for i in 0..5 {
            hub.send(format!("line {i}"));
        }
        assert_eq!(hub.stats.dropped.load(Relaxed), 2);
        assert_eq!(hub.waiting(), 3);
        let (server, client) = pair();
        hub.add(server, "test".into());
        hub.send("line 5".into());
        hub.finish();
        let got: Vec<String> = BufReader::new(client).lines().map(Result::unwrap).collect();
        assert_eq!(got, ["line 2", "line 3", "line 4", "line 5"]);
        assert_eq!(hub.stats.forwarded.load(Relaxed), 4);
    }

    #[test]
    fn a_slow_client_is_dropped_and_the_others_get_everything() {
        let mut hub = Hub::new(4);
        let (slow_server, _slow_client) = pair();
        let (fast_server, fast_client) = pair();
        // The slow client's writer is stuck on nothing: replace it by a queue nobody reads.
        let (tx, _rx) = bounded(4);
        hub.clients.push(Client {
            peer: "slow".into(),
            tx,
            writer: None,
        });
        drop(slow_server);
        hub.add(fast_server, "fast".into());
        let reader = std::thread::spawn(move || {
            BufReader::new(fast_client)
                .lines()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        });
        for i in 0..20 {
            hub.send(format!("l{i}"));
            // The fast client keeps up with a queue of 4 when given a moment.
            while hub
                .clients
                .iter()
                .any(|c| c.peer == "fast" && c.tx.len() > 2)
            {
                std::thread::yield_now();
            }
        }
        assert_eq!(hub.stats.slow.load(Relaxed), 1);
        assert_eq!(hub.clients.len(), 1);
        hub.finish();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 20);
    }
}
