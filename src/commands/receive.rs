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
use std::io::{BufWriter, ErrorKind, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};

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
    let mut accept_error = None;
    while !ctx.stopping() {
        accept(&listener, &mut hub, &mut accept_error);
        hub.reap();
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
    hub.finish(|| ctx.stopping());
    if let Some(e) = ctx.failure() {
        anyhow::bail!("{e}");
    }
    let s = &hub.stats;
    crate::log::info(format_args!(
        "receive: done: forwarded {} lines, dropped {} while no client was connected, \
         {} slow clients disconnected, {} clients refused (over {MAX_CLIENTS}), {} filtered by \
         --track, {}",
        s.forwarded.load(Relaxed),
        s.dropped.load(Relaxed),
        s.slow.load(Relaxed),
        s.refused.load(Relaxed),
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

fn accept(listener: &TcpListener, hub: &mut Hub, last_error: &mut Option<String>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                *last_error = None;
                hub.add(stream, peer.to_string());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                // Out of file descriptors, say: said once (not on every turn of the loop) until
                // an accept succeeds again.
                let why = e.to_string();
                if last_error.as_deref() != Some(why.as_str()) {
                    crate::log::warn(format_args!("receive: accept failed: {why}"));
                    *last_error = Some(why);
                }
                return;
            }
        }
    }
}

/// Most clients at once; more are closed at once (each costs a thread and a queue).
pub const MAX_CLIENTS: usize = 64;
/// Most bytes a client's queue, or the buffer kept while no client is connected, may hold
/// besides its `--buffer` lines: long lines must not turn a line bound into gigabytes.
pub const MAX_QUEUE_BYTES: usize = 64 << 20;
/// After SIGINT/SIGTERM, how long clients get to take their queued lines before they are cut.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Counters of the receiver.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Lines handed to at least one client.
    pub forwarded: AtomicU64,
    /// Lines dropped because no client was connected and the buffer was full.
    pub dropped: AtomicU64,
    /// Clients connected now.
    pub clients: AtomicU64,
    /// Clients disconnected for falling `--buffer` lines (or [`MAX_QUEUE_BYTES`]) behind.
    pub slow: AtomicU64,
    /// Clients turned away because [`MAX_CLIENTS`] were connected.
    pub refused: AtomicU64,
}

/// What waits in a client's queue: lines and their bytes (counted by the hub as it queues
/// them, and by the writer as it writes them).
#[derive(Debug, Default)]
struct Queued {
    lines: AtomicUsize,
    bytes: AtomicUsize,
}

struct Client {
    peer: String,
    /// Unbounded: the hub bounds it by [`Queued`] (a bounded channel would allocate all of
    /// its `--buffer` slots up front, for every client that merely connects).
    tx: Sender<Arc<str>>,
    queued: Arc<Queued>,
    /// How far it may fall behind: `--buffer` lines and [`MAX_QUEUE_BYTES`], on top of the
    /// backlog it was handed.
    limit: (usize, usize),
    /// A second handle on the socket, to cut a client that still takes its lines at shutdown.
    socket: Option<TcpStream>,
    writer: Option<JoinHandle<()>>,
}

impl Client {
    fn finished(&self) -> bool {
        self.writer.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

/// The connected clients and the buffer kept while there are none.
pub struct Hub {
    clients: Vec<Client>,
    /// Lines are shared by every queue they are in (one copy, however many clients).
    backlog: VecDeque<Arc<str>>,
    backlog_bytes: usize,
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
            backlog_bytes: 0,
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
        self.reap();
        if self.clients.len() >= MAX_CLIENTS {
            if self.stats.refused.fetch_add(1, Relaxed) == 0 {
                crate::log::warn(format_args!(
                    "receive: {MAX_CLIENTS} clients connected: closing {peer} and any more \
                     (counted in the summary)"
                ));
            }
            return; // dropping the stream closes it
        }
        let (tx, rx) = unbounded();
        let queued = Arc::new(Queued::default());
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        // Without a second handle it could not be cut at shutdown (out of descriptors:
        // exactly when a flood of clients comes): refused like one over the cap.
        let Ok(socket) = stream.try_clone() else {
            self.stats.refused.fetch_add(1, Relaxed);
            return;
        };
        let socket = Some(socket);
        let q = queued.clone();
        let writer = std::thread::Builder::new()
            .name(format!("receive-{peer}"))
            .spawn(move || write_lines(stream, rx, &q))
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
        // The backlog is within the queue's bounds: the client takes all of it.
        for line in self.backlog.drain(..) {
            queued.lines.fetch_add(1, Relaxed);
            queued.bytes.fetch_add(line.len(), Relaxed);
            let _ = tx.send(line);
            self.stats.forwarded.fetch_add(1, Relaxed);
        }
        let limit = (
            self.cap.saturating_add(backlog),
            MAX_QUEUE_BYTES.saturating_add(self.backlog_bytes),
        );
        self.backlog_bytes = 0;
        self.clients.push(Client {
            peer,
            tx,
            queued,
            limit,
            socket,
            writer,
        });
        self.stats.clients.store(self.clients.len() as u64, Relaxed);
    }

    /// Forgets the clients whose writer ended (the client left, or stopped reading for
    /// `WRITE_TIMEOUT`), even while no line is sent: a client that connects and goes at
    /// once must not keep a place.
    pub fn reap(&mut self) {
        let before = self.clients.len();
        self.clients.retain(|c| {
            let done = c.finished();
            if done {
                crate::log::info(format_args!("receive: client {} disconnected", c.peer));
            }
            !done
        });
        if self.clients.len() != before {
            self.stats.clients.store(self.clients.len() as u64, Relaxed);
        }
    }

    /// Sends `line` to every client, or keeps it while there is none.
    pub fn send(&mut self, line: String) {
        let line: Arc<str> = line.into();
        let len = line.len();
        let mut delivered = false;
        let mut i = 0;
        while i < self.clients.len() {
            let c = &self.clients[i];
            let (lines, bytes) = (c.queued.lines.load(Relaxed), c.queued.bytes.load(Relaxed));
            let slow = lines >= c.limit.0 || bytes.saturating_add(len) > c.limit.1;
            if !slow && !c.finished() && c.tx.send(line.clone()).is_ok() {
                c.queued.lines.fetch_add(1, Relaxed);
                c.queued.bytes.fetch_add(len, Relaxed);
                delivered = true;
                i += 1;
                continue;
            }
            let c = self.clients.swap_remove(i);
            if slow && !c.finished() {
                self.stats.slow.fetch_add(1, Relaxed);
                crate::log::warn(format_args!(
                    "receive: client {} fell {lines} lines ({bytes} bytes) behind; \
                     disconnected it (its queued lines are lost)",
                    c.peer
                ));
                c.cut();
            } else {
                crate::log::info(format_args!("receive: client {} disconnected", c.peer));
            }
        }
        self.stats.clients.store(self.clients.len() as u64, Relaxed);
        if delivered {
            self.stats.forwarded.fetch_add(1, Relaxed);
            return;
        }
        self.backlog_bytes += len;
        self.backlog.push_back(line);
        while self.backlog.len() > self.cap || self.backlog_bytes > MAX_QUEUE_BYTES {
            let Some(old) = self.backlog.pop_front() else {
                break;
            };
            self.backlog_bytes -= old.len();
            self.stats.dropped.fetch_add(1, Relaxed);
            if self.unreported == 0 {
                crate::log::warn(format_args!(
                    "receive: no client connected and {} lines buffered: dropping the oldest \
                     (counted; reported when a client connects)",
                    self.backlog.len()
                ));
            }
            self.unreported += 1;
        }
    }

    /// Ends every client after its queued lines were written. Once `stopping` says so
    /// (SIGINT/SIGTERM), clients get `STOP_GRACE` more, and the ones still taking lines
    /// then are cut: a client that reads a byte a second must not hold the process for
    /// hours.
    pub fn finish(&mut self, stopping: impl Fn() -> bool) {
        for c in &mut self.clients {
            // Closing the channel: the writer ends once the queue is empty.
            let (tx, _) = unbounded();
            drop(std::mem::replace(&mut c.tx, tx));
        }
        let mut deadline = None;
        while self.clients.iter().any(|c| !c.finished()) {
            let now = Instant::now();
            match deadline {
                None if stopping() => deadline = Some(now + STOP_GRACE),
                Some(d) if now >= d => break,
                _ => {}
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for mut c in self.clients.drain(..) {
            if !c.finished() {
                crate::log::warn(format_args!(
                    "receive: client {} still had {} lines queued at shutdown: cut",
                    c.peer,
                    c.queued.lines.load(Relaxed)
                ));
            }
            c.cut();
            if let Some(w) = c.writer.take() {
                let _ = w.join();
            }
        }
        self.stats.clients.store(0, Relaxed);
        if !self.backlog.is_empty() || self.unreported > 0 {
            crate::log::warn(format_args!(
                "receive: {} buffered lines were never sent ({} dropped before)",
                self.backlog.len(),
                self.unreported
            ));
        }
    }
}

impl Client {
    /// Shuts the socket: a writer blocked on it (or about to write) ends at once.
    fn cut(&self) {
        if let Some(s) = &self.socket {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Whether the client closed its end (or the socket failed): looked at while no line is
/// due, so that a client that connects and goes is noticed without a line to write. What a
/// client sends is read and ignored.
fn peer_gone(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let mut buf = [0u8; 4096];
    let mut gone = false;
    for _ in 0..16 {
        match (&*s).read(&mut buf) {
            Ok(0) => {
                gone = true;
                break;
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                gone = true;
                break;
            }
        }
    }
    let _ = s.set_nonblocking(false);
    gone
}

/// One client's writer: lines as they come, flushed whenever the queue runs dry.
fn write_lines(stream: TcpStream, rx: Receiver<Arc<str>>, queued: &Queued) {
    let mut w = BufWriter::with_capacity(64 << 10, stream);
    loop {
        let r = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                let r = w
                    .write_all(line.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .and_then(|_| if rx.is_empty() { w.flush() } else { Ok(()) });
                queued.lines.fetch_sub(1, Relaxed);
                queued.bytes.fetch_sub(line.len(), Relaxed);
                r
            }
            Err(RecvTimeoutError::Timeout) => match w.flush() {
                Ok(()) if peer_gone(w.get_ref()) => return,
                r => r,
            },
            Err(RecvTimeoutError::Disconnected) => {
                let _ = w.flush();
                return;
            }
        };
        // A write error (the client left or stopped reading for WRITE_TIMEOUT) ends this
        // thread; the hub notices and forgets the client.
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
        hub.finish(|| false);
        let got: Vec<String> = BufReader::new(client).lines().map(Result::unwrap).collect();
        assert_eq!(got, ["line 2", "line 3", "line 4", "line 5"]);
        assert_eq!(hub.stats.forwarded.load(Relaxed), 4);
    }

    /// A client whose writer is stuck (it never takes a line) until the returned sender is
    /// dropped.
    fn stuck(hub: &mut Hub, peer: &str) -> (Sender<()>, Receiver<Arc<str>>) {
        let (hold, held) = crossbeam_channel::bounded::<()>(0);
        let (tx, rx) = unbounded();
        hub.clients.push(Client {
            peer: peer.into(),
            tx,
            queued: Arc::default(),
            limit: (hub.cap, MAX_QUEUE_BYTES),
            socket: None,
            writer: Some(std::thread::spawn(move || {
                let _ = held.recv();
            })),
        });
        (hold, rx)
    }

    #[test]
    fn a_slow_client_is_dropped_and_the_others_get_everything() {
        let mut hub = Hub::new(4);
        let (fast_server, fast_client) = pair();
        let _slow = stuck(&mut hub, "slow");
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
                .any(|c| c.peer == "fast" && c.queued.lines.load(Relaxed) > 2)
            {
                std::thread::yield_now();
            }
        }
        assert_eq!(hub.stats.slow.load(Relaxed), 1);
        assert_eq!(hub.clients.len(), 1);
        hub.finish(|| false);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), 20);
    }

    /// Long lines: the bound is in bytes as well as lines, for the buffer kept while no
    /// client is connected and for each client's queue (200 KB lines under `--buffer 10000`
    /// once held 2 GB).
    #[test]
    fn queues_are_bounded_in_bytes_too() {
        let mut hub = Hub::new(10_000);
        let line = "x".repeat(1 << 20);
        for _ in 0..100 {
            hub.send(line.clone());
        }
        assert!(hub.backlog_bytes <= MAX_QUEUE_BYTES);
        assert_eq!(hub.waiting(), 64);
        assert_eq!(hub.stats.dropped.load(Relaxed), 36);
        // A client that takes nothing is cut once its queue would pass the byte bound.
        let mut hub = Hub::new(10_000);
        let _slow = stuck(&mut hub, "slow");
        for _ in 0..64 {
            hub.send(line.clone());
        }
        assert_eq!(hub.clients.len(), 1);
        hub.send(line.clone());
        assert_eq!(hub.clients.len(), 0);
        assert_eq!(hub.stats.slow.load(Relaxed), 1);
    }

    /// Clients that connect and go while no line flows are forgotten (each held a thread and
    /// two sockets until a line came: a flood of them ran the process out of descriptors),
    /// and at most MAX_CLIENTS are served at once.
    #[test]
    fn clients_that_leave_are_forgotten_without_a_line_and_the_rest_are_capped() {
        let mut hub = Hub::new(10);
        for i in 0..10 {
            let (server, client) = pair();
            hub.add(server, format!("gone{i}"));
            drop(client);
        }
        assert_eq!(hub.clients.len(), 10);
        let started = Instant::now();
        while !hub.clients.is_empty() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
            hub.reap();
        }
        assert!(hub.clients.is_empty(), "{} left", hub.clients.len());
        assert_eq!(hub.stats.clients.load(Relaxed), 0);

        let mut kept = Vec::new();
        for i in 0..=MAX_CLIENTS {
            let (server, client) = pair();
            hub.add(server, format!("c{i}"));
            kept.push(client);
        }
        assert_eq!(hub.clients.len(), MAX_CLIENTS);
        assert_eq!(hub.stats.refused.load(Relaxed), 1);
        // The one turned away was closed: it reads the end of the stream.
        let mut last = kept.pop().unwrap();
        last.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(last.read(&mut [0u8; 1]).unwrap(), 0);
        hub.send("to all".into());
        hub.finish(|| false);
        for c in kept {
            let got: Vec<String> = BufReader::new(c).lines().map(Result::unwrap).collect();
            assert_eq!(got, ["to all"]);
        }
    }

    /// After SIGINT a client that does not take its lines is cut after the grace period:
    /// it no longer holds the process (a client reading a byte a second held it for hours).
    #[test]
    fn at_shutdown_a_client_that_does_not_read_is_cut_after_the_grace() {
        let mut hub = Hub::new(1_000_000);
        let (server, _client) = pair();
        hub.add(server, "never-reads".into());
        let line = "y".repeat(64 << 10);
        for _ in 0..512 {
            hub.send(line.clone());
        }
        assert_eq!(hub.clients.len(), 1, "not dropped as slow yet");
        let started = Instant::now();
        hub.finish(|| true);
        let took = started.elapsed();
        assert!(took >= STOP_GRACE, "{took:?}");
        assert!(took < STOP_GRACE + Duration::from_secs(3), "{took:?}");
    }
}
