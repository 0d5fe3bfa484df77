//! The output loop: every window worker 0 emits, in order, to `--out` (or stdout), the
//! results (store, sinks, the live state behind HTTP), and the terminal chart or a plain
//! table, and an embedder's tap; every completed checkpoint epoch committed once the windows
//! it covers are written.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use window::Window;

use super::{request_stop, OutputConfig, Tap};
use crate::cli::TuiArg;
use crate::dataflow::{checkpoint, Emitted};
use crate::metrics::Metrics;
use crate::results::{json, Results};
use crate::views::{table, term};

/// Opens `--out` FILE (`None` for stdout or no `--out`): appended to when resuming, else
/// truncated.
pub fn open_out(out: Option<&Path>, resume: bool) -> Result<Option<BufWriter<File>>> {
    let Some(p) = out.filter(|p| *p != Path::new("-")) else {
        return Ok(None);
    };
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .append(resume)
        .truncate(!resume)
        .open(p)
        .with_context(|| format!("cannot write {}", p.display()))?;
    Ok(Some(BufWriter::new(f)))
}

/// Where windows go.
pub struct Output {
    file: Option<BufWriter<File>>,
    to_stdout: bool,
    /// No `--out` and no chart: a plain table per window on stdout.
    table: bool,
    results: Results,
    ckpt: Option<checkpoint::Config>,
    view: term::View,
    terminal: Option<ratatui::DefaultTerminal>,
    progress: bool,
    tap: Option<Tap>,
    /// A window could not be written to `--out` or stdout: no checkpoint commits after it.
    out_failed: bool,
    /// The first approximate window (past `--max-tags`) was said on stderr.
    approx_said: bool,
}

impl Output {
    /// The outputs `cfg` asks for (`file`: `--out`, opened).
    pub fn new(
        cfg: &OutputConfig,
        file: Option<BufWriter<File>>,
        results: Results,
        ckpt: Option<checkpoint::Config>,
    ) -> Output {
        let to_stdout = cfg.out.as_deref() == Some(Path::new("-"));
        let use_tui = !to_stdout
            && match cfg.tui {
                TuiArg::On => true,
                TuiArg::Off => false,
                TuiArg::Auto => std::io::stdout().is_terminal(),
            };
        let terminal = use_tui.then(|| {
            crate::log::capture(true);
            ratatui::init()
        });
        // An embedder with a tap shows windows itself (see `Tap`).
        let tapped = cfg.tap.is_some();
        Output {
            file,
            to_stdout,
            table: !use_tui && cfg.out.is_none() && !tapped,
            results,
            ckpt,
            view: term::View::new(cfg.title.clone()),
            terminal,
            progress: !use_tui && !cfg.quiet && !tapped && std::io::stderr().is_terminal(),
            tap: cfg.tap.clone(),
            out_failed: false,
            approx_said: false,
        }
    }

    /// Consumes `rx` until the engine is done; sets `stop` at `deadline`, on a closed stdout
    /// or 'q' in the chart. Returns the first error writing `--out` or stdout, if any.
    pub fn run(
        mut self,
        rx: &Receiver<Emitted>,
        metrics: &Arc<Metrics>,
        stop: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Option<anyhow::Error> {
        let started = Instant::now();
        let mut last_progress = Instant::now();
        let mut out_err: Option<anyhow::Error> = None;
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                request_stop(stop);
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(first) => {
                    // What else is waiting goes into the same store transaction (a replay
                    // closes thousands of windows a second), up to a bound.
                    let more = std::iter::from_fn(|| rx.try_recv().ok()).take(BATCH - 1);
                    for emitted in std::iter::once(first).chain(more) {
                        if let Err(e) = self.emitted(emitted, metrics, stop) {
                            out_err.get_or_insert(e);
                            // No later checkpoint commits: a resume must write this window
                            // again.
                            self.out_failed = true;
                            request_stop(stop);
                        }
                    }
                    self.results.flush();
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Some(t) = self.terminal.as_mut() {
                self.view.tick(metrics.snapshot());
                self.view.sources = metrics.source_summaries();
                let _ = t.draw(|f| term::draw(f, &self.view));
                if quit_key_pressed() {
                    request_stop(stop);
                }
            }
            if self.progress && last_progress.elapsed() >= Duration::from_secs(1) {
                last_progress = Instant::now();
                let s = metrics.snapshot();
                let secs = started.elapsed().as_secs_f64();
                eprint!(
                    "\rtagstream: {} records ({:.0}/s)  {}  windows {}   ",
                    s.records_in,
                    s.records_in as f64 / secs,
                    s.skipped_summary(),
                    s.windows_emitted
                );
            }
        }
        if let Err(e) = self.results.finish() {
            out_err.get_or_insert(anyhow::anyhow!(e));
        }
        if self.terminal.take().is_some() {
            ratatui::restore();
            crate::log::capture(false);
        }
        if self.progress {
            eprintln!();
        }
        out_err
    }

    /// One message of the engine.
    fn emitted(&mut self, e: Emitted, metrics: &Metrics, stop: &AtomicBool) -> Result<()> {
        match e {
            Emitted::Checkpoint(epoch) => {
                // The store holds every window up to the epoch before it commits, and
                // `--out` too: else the epoch does not commit (a resume then writes those
                // windows again, from an earlier epoch).
                let written = self.results.flush();
                if written && !self.out_failed {
                    self.commit(epoch, metrics);
                }
                Ok(())
            }
            Emitted::Window(w) => {
                metrics.windows_emitted.fetch_add(1, Ordering::Relaxed);
                self.window(w, stop)
            }
        }
    }

    /// Every window up to the epoch was written (and flushed) before this: commit it.
    fn commit(&mut self, epoch: u64, metrics: &Metrics) {
        let Some(c) = &self.ckpt else { return };
        match checkpoint::commit(&c.dir, &c.shape, &c.reads, epoch) {
            Ok(()) => {
                metrics
                    .checkpoints_committed
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => crate::log::warn(format_args!("{e}")),
        }
    }

    /// One window to every output. A closed stdout (e.g. `| head`) stops the run quietly; an
    /// error writing `--out` or any other error writing stdout is returned.
    fn window(&mut self, w: Window, stop: &AtomicBool) -> Result<()> {
        if let (Some(a), false) = (&w.approx, self.approx_said) {
            // Said once: a user who set a bound (or inherited one from a config file) and
            // expected exact counts learns why these are not, and what to change.
            self.approx_said = true;
            crate::log::info(format_args!(
                "window ending {} is approximate: a shard held more than --max-tags {} \
                 distinct tags in a batch, so counts are estimates with their error (every tag \
                 over {} occurrences counted); --max-tags 0 counts exactly, in memory that \
                 grows with the distinct tags",
                crate::time::rfc3339(w.end_ms),
                a.max_tags,
                a.bound
            ));
        }
        if let Some(f) = self.file.as_mut() {
            writeln!(f, "{}", json::line(&w))
                .and_then(|_| f.flush())
                .context("writing --out")?;
        }
        if self.to_stdout || self.table {
            let text = if self.to_stdout {
                format!("{}\n", json::line(&w))
            } else {
                table::render(&w)
            };
            let mut s = std::io::stdout().lock();
            match s.write_all(text.as_bytes()).and_then(|_| s.flush()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => request_stop(stop),
                // A full disk or a failing device loses windows, as for `--out FILE` (it
                // ended the run with exit 0).
                Err(e) => return Err(e).context("writing stdout"),
            }
        }
        if self.terminal.is_some() {
            self.view.window = Some(without_counts(&w));
        }
        match self.tap.clone() {
            // The store takes the window (its counts move, not copied).
            None => self.results.publish(w),
            Some(tap) => {
                self.results.publish(w.clone());
                // Its reader may query the store about this window.
                self.results.flush();
                tap.send(&w);
            }
        }
        Ok(())
    }
}

/// A copy of `w` for the terminal chart, which shows the top-K: without the counts (every
/// tag of the window with `--counts`).
fn without_counts(w: &Window) -> Window {
    Window {
        start_ms: w.start_ms,
        end_ms: w.end_ms,
        records: w.records,
        tagged: w.tagged,
        tags: w.tags,
        distinct: w.distinct,
        late: w.late,
        top: w.top.clone(),
        counts: Vec::new(),
        trending: w.trending.clone(),
        approx: w.approx.as_ref().map(|a| window::Approx {
            max_tags: a.max_tags,
            bound: a.bound,
            top: a.top.clone(),
            counts: Vec::new(),
        }),
    }
}

/// The most engine messages handled (and windows written in one store transaction) before
/// the chart and the progress line get a turn.
const BATCH: usize = 4096;

/// True if 'q', Esc or Ctrl-C was pressed (the terminal is in raw mode, so Ctrl-C is a key).
fn quit_key_pressed() -> bool {
    use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
    while event::poll(Duration::ZERO).unwrap_or(false) {
        if let Ok(Event::Key(k)) = event::read() {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                return true;
            }
        }
    }
    false
}
