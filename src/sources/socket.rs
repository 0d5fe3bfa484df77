//! TCP line sockets: `socket://` connects out like Spark's `socketTextStream` (and retries
//! every 2 s forever, on refusal and after the server closes), `listen://` accepts any number
//! of clients.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::dealer::Dealer;
use super::lines::{LineReader, Step};
use super::SourceContext;
use crate::metrics::{Skip, SourceCounters};

/// Wait between connection attempts (Spark's receiver restarts after 2 s too).
pub const RETRY: Duration = Duration::from_secs(2);
/// How often a blocked read wakes up to look at the shutdown flag.
const TICK: Duration = Duration::from_millis(200);
/// Bytes one read asks for. A read returns what has arrived, so a slow stream still gets
/// its lines at once; a fast one (5 M tweets/s is 620 MB/s) gets them in few syscalls and
/// few chunks, each dealt whole to one worker.
const READ_SIZE: usize = 256 << 10;

/// Connects to `addr`, reads lines until the server closes, and starts again, forever (until
/// shutdown). Each state change is reported once on stderr, not every retry.
pub fn connect_loop(addr: &str, deal: &mut Dealer, ctx: &SourceContext) {
    let counters = ctx.metrics.source(&format!("socket://{addr}"));
    let mut last_error = String::new();
    while !ctx.stopping() {
        match connect(addr) {
            Ok(stream) => {
                last_error.clear();
                crate::log::info(format_args!("socket://{addr}: connected"));
                let open = counters.connection();
                let more = pump(stream, ctx, &counters, |c| deal.deal(c));
                drop(open);
                if !more {
                    return;
                }
                crate::log::info(format_args!(
                    "socket://{addr}: closed by the server; reconnecting every {}s",
                    RETRY.as_secs()
                ));
            }
            Err(e) => {
                let msg = e.to_string();
                if msg != last_error {
                    crate::log::warn(format_args!(
                        "socket://{addr}: {msg}; retrying every {}s",
                        RETRY.as_secs()
                    ));
                    last_error = msg;
                }
            }
        }
        sleep_unless_stopping(RETRY, ctx);
    }
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(ErrorKind::NotFound, "address resolves to nothing");
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn sleep_unless_stopping(total: Duration, ctx: &SourceContext) {
    let until = std::time::Instant::now() + total;
    while !ctx.stopping() {
        let now = std::time::Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(TICK));
    }
}

/// Reads one connection to its end, handing each chunk of lines to `send` (false: stop) and
/// counting its records. Returns false if the source should stop altogether.
fn pump(
    stream: TcpStream,
    ctx: &SourceContext,
    counters: &SourceCounters,
    mut send: impl FnMut(super::Chunk) -> bool,
) -> bool {
    let _ = stream.set_read_timeout(Some(TICK));
    let _ = stream.set_nodelay(true);
    let mut r = LineReader::new(stream, ctx.max_line);
    r.set_read_size(READ_SIZE);
    let mut counted = 0;
    loop {
        if ctx.stopping() {
            return false;
        }
        let step = r.read_chunk();
        ctx.metrics.skip_n(Skip::LineTooLong, r.too_long - counted);
        counted = r.too_long;
        match step {
            Ok(Step::Lines(c)) => {
                counters.records.fetch_add(c.len() as u64, Relaxed);
                if !c.is_empty() && !send(c) {
                    return false;
                }
            }
            Ok(Step::Idle) => {}
            Ok(Step::Eof) => return true,
            Err(e) => {
                crate::log::warn(format_args!("socket read error: {e}"));
                return true;
            }
        }
    }
}

/// Most line clients of a `listen://` source read at once; more are closed at once (each
/// costs a thread for as long as it stays connected).
pub const MAX_CLIENTS: usize = 256;

/// One client's place among the [`MAX_CLIENTS`], given back when its thread ends (or when
/// no thread could be started).
struct OpenClient(Arc<AtomicUsize>);

impl Drop for OpenClient {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accepts clients on `listener` until shutdown; each client is read on its own thread, and
/// all of them feed the same workers.
pub fn accept_loop(listener: TcpListener, deal: &mut Dealer, ctx: &SourceContext) {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    crate::log::info(format_args!("listen://{addr}: accepting line clients"));
    let _ = listener.set_nonblocking(true);
    let (tx, rx) = crossbeam_channel::bounded::<super::Chunk>(64);
    let counters = ctx.metrics.source(&format!("listen://{addr}"));
    // Clients being read now, each on a thread: at most MAX_CLIENTS.
    let open = Arc::new(AtomicUsize::new(0));
    let (mut refused, mut last_error) = (0u64, None::<String>);
    loop {
        if ctx.stopping() {
            return;
        }
        match listener.accept() {
            Ok((_, peer)) if open.load(Ordering::Acquire) >= MAX_CLIENTS => {
                // Dropped: closed at once.
                if refused == 0 {
                    crate::log::warn(format_args!(
                        "listen://{addr}: {MAX_CLIENTS} clients connected: closing {peer} and \
                         any more while they stay"
                    ));
                }
                refused += 1;
                last_error = None;
            }
            Ok((stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                let (tx, ctx, counters) = (tx.clone(), ctx.clone(), counters.clone());
                open.fetch_add(1, Ordering::AcqRel);
                let held = OpenClient(open.clone());
                let _ = std::thread::Builder::new()
                    .name(format!("client-{peer}"))
                    .spawn(move || {
                        let _held = held;
                        let _open = counters.client();
                        pump(stream, &ctx, &counters, |c| tx.send(c).is_ok());
                    });
                last_error = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => {
                // Out of descriptors, say: said once until an accept succeeds again.
                let why = e.to_string();
                if last_error.as_deref() != Some(why.as_str()) {
                    crate::log::warn(format_args!("listen://{addr}: accept failed: {why}"));
                    last_error = Some(why);
                }
            }
        }
        // Forward what the clients read; wait a little for more.
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(c) => {
                if !deal.deal(c) {
                    return;
                }
                while let Ok(c) = rx.try_recv() {
                    if !deal.deal(c) {
                        return;
                    }
                }
            }
            Err(_) => continue,
        }
    }
}
