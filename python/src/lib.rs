//! `tagstream._native`: the engine embedded in Python. The Python package (`tagstream/`)
//! wraps it: keywords become a `run` command line, results become pandas DataFrames.
//!
//! A [`Job`] is one `tagstream run`: its flags are parsed by the command line's own clap
//! definition and checked by `commands::run::config_with_stop` (so the errors are the
//! command line's), and `job::run` carries it out on a thread of its own with a stop flag of
//! its own (the process's SIGINT handler is Python's, never replaced). Each window reaches
//! the job's [`History`] through a `job::Tap`, after the store has it. Python threads wait
//! for windows or for the end with the GIL released, a tenth of a second at a time, and
//! check for Ctrl-C in between: an interrupt stops the job cleanly (open windows emitted,
//! outputs flushed) and then raises `KeyboardInterrupt`.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, ValueEnum};
use pyo3::exceptions::{PyStopIteration, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList};
use tagstream::cli::{Cli, Command, ExtractArg, TuiArg};
use window::Window;

/// How long a waiting Python thread stays without the GIL before it looks for Ctrl-C.
const SLICE: Duration = Duration::from_millis(100);

/// One emitted window as the job keeps it.
struct Win {
    /// Its number in the job, from 0.
    seq: u64,
    start_ms: u64,
    end_ms: u64,
    /// Top-K rows, best first.
    top: Vec<(String, u64)>,
    /// The most each top-K count may overstate (0 while exact; `Window::top_error`).
    top_errors: Vec<u64>,
    /// Trending rows, best first.
    trending: Vec<window::Trend>,
    /// The window's JSON line (DESIGN.md §4), exactly as `--out` writes it.
    json: String,
}

/// The windows a job delivered, kept for `--retain` of stream time (as the `windows` table),
/// and how the job ended.
#[derive(Default)]
struct History {
    windows: VecDeque<Arc<Win>>,
    /// The number the next window gets.
    next_seq: u64,
    done: bool,
    /// The run's summary as JSON, once it ended well.
    summary: Option<String>,
    /// Why it failed.
    error: Option<String>,
}

impl History {
    /// The first window held, or the next one to come.
    fn first_seq(&self) -> u64 {
        self.windows.front().map_or(self.next_seq, |w| w.seq)
    }

    /// Adds `w` and drops windows that ended more than `retain_ms` before it (the store's
    /// rule for the `windows` table, applied at every window).
    fn push(&mut self, w: &Window, retain_ms: u64) {
        let win = Win {
            seq: self.next_seq,
            start_ms: w.start_ms,
            end_ms: w.end_ms,
            top: w.top.clone(),
            top_errors: (0..w.top.len()).map(|i| w.top_error(i)).collect(),
            trending: w.trending.clone(),
            json: tagstream::results::json::line(w),
        };
        self.next_seq += 1;
        self.windows.push_back(Arc::new(win));
        let cutoff = w.end_ms.saturating_sub(retain_ms);
        while self.windows.front().is_some_and(|f| f.end_ms < cutoff) {
            self.windows.pop_front();
        }
    }

    /// The window after `after` (-1: the first held; a window already dropped is skipped),
    /// or with `latest` the newest one, if there is one past `after`.
    fn after(&self, after: i64, latest: bool) -> Option<Arc<Win>> {
        let newest = self.windows.back()?;
        if newest.seq as i64 <= after {
            return None;
        }
        if latest {
            return Some(newest.clone());
        }
        let want = ((after + 1).max(0) as u64).max(self.first_seq());
        self.windows
            .get((want - self.first_seq()) as usize)
            .cloned()
    }
}

/// The state a job shares with the Python threads that wait on it.
#[derive(Default)]
struct Shared {
    history: Mutex<History>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `d` for the job to end; true if it has.
    fn wait_done(&self, d: Duration) -> bool {
        let h = self.lock();
        let (h, _) = self
            .changed
            .wait_timeout_while(h, d, |h| !h.done)
            .unwrap_or_else(|p| p.into_inner());
        h.done
    }

    /// Waits up to `d` for a window past `after`, or the end.
    fn wait_window(&self, after: i64, latest: bool, d: Duration) -> (Option<Arc<Win>>, bool) {
        let h = self.lock();
        let (h, _) = self
            .changed
            .wait_timeout_while(h, d, |h| !h.done && h.after(after, latest).is_none())
            .unwrap_or_else(|p| p.into_inner());
        (h.after(after, latest), h.done)
    }
}

/// Marks the job done when its thread ends, however it ends (a panic included).
struct DoneOnDrop(Arc<Shared>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        let mut h = self.0.lock();
        if h.summary.is_none() && h.error.is_none() {
            h.error = Some("the job ended abnormally (a panic; see stderr)".into());
        }
        h.done = true;
        drop(h);
        self.0.changed.notify_all();
    }
}

/// A running `tagstream run`, started from its command line (`["tagstream", "run", …]`).
#[pyclass(module = "tagstream._native", frozen)]
struct Job {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
    db: Option<String>,
    retain_ms: u64,
}

fn value_error(msg: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(msg.to_string())
}

/// clap's error as the one line the binary prints (without `tagstream: error: `).
fn clap_error(e: clap::Error) -> PyErr {
    value_error(tagstream::cli::error_line(&e))
}

/// A Python timeout in seconds (`None`: no limit).
fn deadline(timeout: Option<f64>) -> PyResult<Option<Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => {
            Ok(Some(Instant::now() + Duration::from_secs_f64(t.min(1e9))))
        }
        Some(t) => Err(value_error(format!(
            "timeout must be a number of seconds ≥ 0, got {t}"
        ))),
    }
}

/// The next wait: a slice, or less when the deadline is nearer.
fn slice_until(deadline: Option<Instant>) -> Duration {
    deadline.map_or(SLICE, |d| {
        d.saturating_duration_since(Instant::now()).min(SLICE)
    })
}

type WindowTuple = (u64, u64, u64, String);
type HistoryColumns = (
    Vec<u64>,
    Vec<u64>,
    Vec<u64>,
    Vec<String>,
    Vec<u64>,
    Vec<u64>,
);
/// starts, ends, ranks, tags, scores, counts, expected, authors (`None`: not named).
type TrendColumns = (
    Vec<u64>,
    Vec<u64>,
    Vec<u64>,
    Vec<String>,
    Vec<f64>,
    Vec<u64>,
    Vec<f64>,
    Vec<Option<u64>>,
);

#[pymethods]
impl Job {
    /// Parses `argv` as the command line does (`--config` files and `TAGSTREAM_*` variables
    /// included), checks it, and starts the job. `default_db` replaces `--db`'s default
    /// (tagstream.db in the working directory) when neither a flag, the environment nor a
    /// config file gives one; `--tui` defaults to off. Bad flags raise `ValueError` with the
    /// command line's one-line error.
    #[new]
    #[pyo3(signature = (argv, default_db=None))]
    fn new(argv: Vec<String>, default_db: Option<String>) -> PyResult<Job> {
        let cmd = Cli::command();
        let args = tagstream::config::expand(argv.into_iter().map(OsString::from).collect(), &cmd)
            .map_err(value_error)?;
        let matches = cmd.try_get_matches_from(args).map_err(clap_error)?;
        let cli = Cli::from_arg_matches(&matches).map_err(clap_error)?;
        let (Command::Run(mut a), Some(("run", sub))) = (cli.command, matches.subcommand()) else {
            return Err(value_error("only the run command can be embedded"));
        };
        let defaulted = |id: &str| sub.value_source(id) == Some(ValueSource::DefaultValue);
        if let (true, Some(db)) = (defaulted("db"), default_db) {
            a.pipeline.results.db = db;
        }
        if defaulted("tui") {
            a.pipeline.tui = TuiArg::Off;
        }
        let results = a.pipeline.results.config();
        let retain_ms = tagstream::time::ms(a.pipeline.results.retain);
        // Opening the store here makes a bad --db an error of the call, and the tables exist
        // for queries before the first window.
        if let Some(db) = results.db.as_deref().filter(|d| *d != ":memory:") {
            tagstream::results::store::Store::open(db, results.retain).map_err(value_error)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut cfg = tagstream::commands::run::config_with_stop(&a, stop.clone())
            .map_err(|e| value_error(format!("{e:#}")))?;
        let shared = Arc::new(Shared::default());
        let tap_shared = shared.clone();
        cfg.output.tap = Some(tagstream::job::Tap::new(move |w| {
            tap_shared.lock().push(w, retain_ms);
            tap_shared.changed.notify_all();
        }));
        let done = DoneOnDrop(shared.clone());
        let thread = std::thread::Builder::new()
            .name("tagstream-job".into())
            .spawn(move || {
                let result = tagstream::job::run(cfg);
                let mut h = done.0.lock();
                match result {
                    Ok(s) => h.summary = Some(serde_json::to_string(&s).unwrap_or_default()),
                    Err(e) => h.error = Some(format!("{e:#}")),
                }
            })
            .map_err(|e| value_error(format!("cannot start the job's thread: {e}")))?;
        Ok(Job {
            shared,
            stop,
            thread: Mutex::new(Some(thread)),
            db: results.db,
            retain_ms,
        })
    }

    /// Asks the job to stop (open windows are emitted, outputs flushed); returns at once.
    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Waits for the job to end, up to `timeout` seconds; true if it has. Ctrl-C stops the
    /// job, waits for it to end, and raises `KeyboardInterrupt`.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = deadline(timeout)?;
        loop {
            let d = slice_until(deadline);
            if py.detach(|| self.shared.wait_done(d)) {
                self.join(py);
                return Ok(true);
            }
            py.check_signals().map_err(|e| self.interrupted(py, e))?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// The window after number `after` (-1: the first still held), or the newest one past it
    /// with `latest`: `(seq, start_ms, end_ms, json_line)`. `None` when `timeout` passes
    /// first; `StopIteration` when the job has ended and no window is left. Ctrl-C as in
    /// `wait`.
    #[pyo3(signature = (after, latest=false, timeout=None))]
    fn next_window(
        &self,
        py: Python<'_>,
        after: i64,
        latest: bool,
        timeout: Option<f64>,
    ) -> PyResult<Option<WindowTuple>> {
        let deadline = deadline(timeout)?;
        loop {
            let d = slice_until(deadline);
            let (w, done) = py.detach(|| self.shared.wait_window(after, latest, d));
            // A Ctrl-C that came while waiting is taken here, before a window goes back to
            // Python (where it would be raised without stopping the job).
            py.check_signals().map_err(|e| self.interrupted(py, e))?;
            if let Some(w) = w {
                return Ok(Some((w.seq, w.start_ms, w.end_ms, w.json.clone())));
            }
            if done {
                return Err(PyStopIteration::new_err(()));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// The rows of the windows held that end after `since_ms` (all with `None`), as columns:
    /// starts and ends (ms), ranks, tags, counts, errors (0 while exact).
    #[pyo3(signature = (since_ms=None))]
    fn history(&self, since_ms: Option<u64>) -> HistoryColumns {
        let h = self.shared.lock();
        let mut cols = HistoryColumns::default();
        for w in h
            .windows
            .iter()
            .filter(|w| since_ms.is_none_or(|s| w.end_ms > s))
        {
            for (i, (tag, n)) in w.top.iter().enumerate() {
                cols.0.push(w.start_ms);
                cols.1.push(w.end_ms);
                cols.2.push(i as u64 + 1);
                cols.3.push(tag.clone());
                cols.4.push(*n);
                cols.5.push(w.top_errors[i]);
            }
        }
        cols
    }

    /// The trending rows of the windows held that end after `since_ms` (all with `None`), as
    /// columns: starts and ends (ms), ranks, tags, scores, counts, expected levels, authors
    /// (`None` where the input names no authors).
    #[pyo3(signature = (since_ms=None))]
    fn trend_history(&self, since_ms: Option<u64>) -> TrendColumns {
        let h = self.shared.lock();
        let mut cols = TrendColumns::default();
        for w in h
            .windows
            .iter()
            .filter(|w| since_ms.is_none_or(|s| w.end_ms > s))
        {
            for (i, t) in w.trending.iter().enumerate() {
                cols.0.push(w.start_ms);
                cols.1.push(w.end_ms);
                cols.2.push(i as u64 + 1);
                cols.3.push(t.tag.clone());
                cols.4.push(t.score);
                cols.5.push(t.count);
                cols.6.push(t.expected);
                cols.7.push(t.authors);
            }
        }
        cols
    }

    /// True once the job has ended.
    #[getter]
    fn done(&self) -> bool {
        self.shared.lock().done
    }

    /// The run's summary as JSON, once it ended well.
    #[getter]
    fn summary(&self) -> Option<String> {
        self.shared.lock().summary.clone()
    }

    /// Why the job failed, if it did.
    #[getter]
    fn error(&self) -> Option<String> {
        self.shared.lock().error.clone()
    }

    /// The results database (`--db`), `None` without one.
    #[getter]
    fn db(&self) -> Option<String> {
        self.db.clone()
    }

    /// `--retain` in ms.
    #[getter]
    fn retain_ms(&self) -> u64 {
        self.retain_ms
    }

    /// Windows delivered so far.
    #[getter]
    fn windows_delivered(&self) -> u64 {
        self.shared.lock().next_seq
    }
}

impl Job {
    /// Ctrl-C while waiting: stop the job and wait for its end (a second Ctrl-C gives up
    /// waiting), then hand back the interrupt.
    fn interrupted(&self, py: Python<'_>, e: PyErr) -> PyErr {
        self.stop.store(true, Ordering::SeqCst);
        loop {
            if py.detach(|| self.shared.wait_done(SLICE)) {
                self.join(py);
                break;
            }
            if py.check_signals().is_err() {
                break;
            }
        }
        e
    }

    /// Joins the job's thread once it is done.
    fn join(&self, py: Python<'_>) {
        let handle = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            py.detach(|| {
                let _ = h.join();
            });
        }
    }
}

impl Drop for Job {
    /// A job nobody holds any more is stopped, and its thread joined (it never needs the GIL).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.thread.get_mut().ok().and_then(Option::take) {
            let _ = h.join();
        }
    }
}

/// The tags of `text` as `tagstream extract` prints them: `hashtags` mode gives each tag as
/// written without its sign, `spark` mode the tutorial's lower-cased tokens.
#[pyfunction]
#[pyo3(signature = (text, mode="hashtags"))]
fn extract(text: &str, mode: &str) -> PyResult<Vec<String>> {
    let mode = ExtractArg::from_str(mode, false).map_err(|_| {
        value_error(format!(
            "invalid mode '{mode}' (expected hashtags or spark)"
        ))
    })?;
    Ok(tagstream::commands::extract::tags(mode.into(), text))
}

/// One read-only statement on the results database `db` (`tagstream sql`'s rules and
/// errors): `(columns, rows, truncated)`. Runs without the GIL.
#[pyfunction]
#[pyo3(signature = (db, statement, max_rows=10_000, timeout=5.0))]
fn sql<'py>(
    py: Python<'py>,
    db: &str,
    statement: &str,
    max_rows: usize,
    timeout: f64,
) -> PyResult<(Vec<String>, Bound<'py, PyList>, bool)> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(value_error(format!(
            "timeout must be a positive number of seconds, got {timeout}"
        )));
    }
    let limits = tagstream::sql::Limits {
        max_rows,
        timeout: Duration::from_secs_f64(timeout.min(1e6)),
    };
    let table = py
        .detach(|| tagstream::sql::query(db, statement, &limits))
        .map_err(value_error)?;
    let rows = PyList::empty(py);
    for row in &table.rows {
        let cells = PyList::empty(py);
        for v in row {
            cells.append(json_to_py(py, v)?)?;
        }
        rows.append(cells)?;
    }
    Ok((table.columns, rows, table.truncated))
}

/// A JSON value of a query result as a Python value.
fn json_to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        other => other.to_string().into_pyobject(py)?.into_any(),
    })
}

/// The native half of the `tagstream` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Job>()?;
    m.add_function(wrap_pyfunction!(extract, m)?)?;
    m.add_function(wrap_pyfunction!(sql, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
