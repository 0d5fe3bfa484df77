//! A job: one run of the pipeline with everything around it — the results store and sinks,
//! the HTTP server, `--out`, the terminal chart, checkpoints' commits, and the summary.
//!
//! [`JobConfig`] is the typed form of `run`'s flags (built by `commands::run` for `run` and
//! `demo`, and by anything embedding the engine); [`run`] carries it out: the dataflow on an
//! engine thread, its windows consumed here by the output loop (`output.rs`), in order.
//! An embedder (the Python package in `python/`) receives each window through a [`Tap`].

mod output;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use window::Window;

use crate::cli::TuiArg;
use crate::dataflow::{self, Cluster, Emitted, Plan, WindowSink};
use crate::metrics::{Metrics, Summary};
use crate::results::{Results, ResultsConfig};
use crate::sources::{SourceContext, SourceSpec};

/// What sources are told besides their URIs.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Lines longer than this are skipped and counted.
    pub max_line: usize,
    /// Base URL for live sources instead of the service's public host.
    pub endpoint: Option<String>,
    /// `--track` words.
    pub track: Vec<String>,
}

/// Where and how windows are shown.
#[derive(Clone, Debug)]
pub struct OutputConfig {
    /// `--out`: a JSON-lines file, or `-` for stdout.
    pub out: Option<PathBuf>,
    /// The results store and sinks.
    pub results: ResultsConfig,
    /// Address of the HTTP API and dashboard.
    pub http: Option<String>,
    /// An HTTP server that cannot start is a warning, not an error (the demo: port 8080 may
    /// be taken, and the terminal chart still works).
    pub http_optional: bool,
    /// The live terminal chart.
    pub tui: TuiArg,
    /// The chart's title.
    pub title: String,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// No informational messages.
    pub quiet: bool,
    /// Write the summary as JSON here at the end (`-`: stderr).
    pub summary_json: Option<PathBuf>,
    /// Every window also goes here (embedding); `None` for the command line.
    pub tap: Option<Tap>,
}

/// A callback that receives every emitted window, in order, on the output loop's thread,
/// after `--out`, the store and the live state have it (so a query made when the tap sees
/// window N finds N in the `tweets` table). It must return quickly: the output loop waits.
///
/// With a tap, the embedder shows windows itself: the output loop prints no plain table per
/// window and no progress line (`--out -` and `--tui on` still do what they say).
#[derive(Clone)]
pub struct Tap(Arc<dyn Fn(&Window) + Send + Sync>);

impl Tap {
    /// A tap calling `f` with each window.
    pub fn new(f: impl Fn(&Window) + Send + Sync + 'static) -> Tap {
        Tap(Arc::new(f))
    }

    /// Hands `w` to the callback.
    pub fn send(&self, w: &Window) {
        (self.0)(w)
    }
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap(..)")
    }
}

/// Everything a run needs, typed.
#[derive(Clone)]
pub struct JobConfig {
    /// What the pipeline computes.
    pub plan: Plan,
    /// Workers, processes, hosts.
    pub cluster: Cluster,
    /// The sources.
    pub sources: Vec<SourceSpec>,
    /// What sources are told besides their URIs.
    pub source_options: SourceOptions,
    /// Where windows go.
    pub output: OutputConfig,
    /// Set to stop the run (open windows are emitted, outputs flushed); the process's
    /// SIGINT/SIGTERM flag for the command line.
    pub stop: Arc<AtomicBool>,
}

/// Runs a job to its end: until its finite sources end, `duration` passes or `stop` is set.
/// Returns its summary (also logged, and written to `--summary-json`).
pub fn run(cfg: JobConfig) -> Result<Summary> {
    let JobConfig {
        plan,
        cluster,
        sources,
        source_options: opts,
        output,
        stop,
    } = cfg;
    cluster.timely_config().map_err(anyhow::Error::msg)?;
    let to_stdout = output.out.as_deref() == Some(Path::new("-"));
    if output.tui == TuiArg::On && !to_stdout && !std::io::stdout().is_terminal() {
        bail!("--tui on: stdout is not a terminal (--tui auto draws the chart only on one)");
    }
    if let Some(out) = output.out.as_deref().filter(|_| !to_stdout) {
        check_out(out, &sources, output.results.db.as_deref())?;
    }
    crate::log::set_quiet(output.quiet);
    let metrics = Arc::new(Metrics::default());
    let ctx = SourceContext {
        max_line: opts.max_line,
        endpoint: opts.endpoint,
        track: opts.track,
        ..SourceContext::new(metrics.clone(), stop.clone())
    };
    let fatal = ctx.fatal.clone();
    let ckpt = plan.checkpoint.clone();
    let resume = ckpt.as_ref().and_then(|c| c.restore);
    if let (Some(c), Some(epoch)) = (&ckpt, resume) {
        if let Some(out) = output.out.as_deref().filter(|o| *o != Path::new("-")) {
            trim_out(out, epoch * c.shape.batch_ms)?;
        }
        crate::log::info(format_args!("resuming from checkpoint epoch {epoch}"));
    }
    let file = output::open_out(output.out.as_deref(), resume.is_some())?;
    let mut results =
        Results::open(&output.results, metrics.clone()).map_err(anyhow::Error::msg)?;
    if let Some(addr) = &output.http {
        // The SQL API reads the store: it is open before the server answers.
        results.ready().map_err(anyhow::Error::msg)?;
        match crate::views::http::serve(addr, results.live().clone()) {
            Ok(()) => {}
            Err(e) if output.http_optional => crate::log::warn(format_args!("{e}")),
            Err(e) => bail!("{e}"),
        }
    }

    // Bounded: a worker that emits faster than the outputs take (years of empty windows after
    // a jump of the clock in processing time, thousands of windows of a replay) waits here,
    // instead of holding them all in memory.
    let (tx, rx) = crossbeam_channel::bounded::<Emitted>(1024);
    let sink: WindowSink = Arc::new(move |w| {
        let _ = tx.send(w);
    });
    let started = Instant::now();
    let engine = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || dataflow::run(plan, &cluster, &sources, ctx, sink))
        .context("starting the engine thread")?;
    // The store opened meanwhile; if it cannot be, the run stops before any window is out.
    if let Err(e) = results.ready() {
        request_stop(&stop);
        drop(rx); // a window the engine emits meanwhile finds nobody waiting
        let _ = engine.join();
        bail!("{e}");
    }

    let out = output::Output::new(&output, file, results, ckpt.clone());
    // A deadline too far to represent is no deadline.
    let deadline = output.duration.and_then(|d| started.checked_add(d));
    let out_err = out.run(&rx, &metrics, &stop, deadline);
    let result = engine
        .join()
        .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
    result.map_err(anyhow::Error::msg)?;
    if let Some(e) = fatal.lock().ok().and_then(|f| f.clone()) {
        bail!("{e}");
    }
    if let Some(e) = out_err {
        return Err(e);
    }
    let summary = metrics.summary(started.elapsed(), ckpt.is_some());
    for line in summary.lines() {
        crate::log::info(format_args!("{line}"));
    }
    if let Some(path) = &output.summary_json {
        write_summary(path, &summary)?;
    }
    Ok(summary)
}

/// Refuses an `--out` that is a file the run reads or its database: `--out` is emptied
/// before the input is read (the input was lost, the run ending with 0 records), and SQLite
/// would write over the windows. The same file by device and inode, whatever the path;
/// devices (`/dev/null` as both) are not files to lose.
fn check_out(out: &Path, sources: &[SourceSpec], db: Option<&str>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(o) = std::fs::metadata(out) else {
        return Ok(()); // not there yet: nothing to lose
    };
    if !o.is_file() {
        return Ok(());
    }
    let same =
        |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.dev() == o.dev() && m.ino() == o.ino());
    for s in sources {
        if let SourceSpec::File(p) = s {
            if same(p) {
                bail!(
                    "--out {} is the input file {}: it would be emptied before it is read",
                    out.display(),
                    p.display()
                );
            }
        }
    }
    if let Some(db) = db.filter(|d| same(Path::new(d))) {
        bail!(
            "--out {} is the --db {db}: give them different files",
            out.display()
        );
    }
    Ok(())
}

/// Writes the summary as one JSON object (`-`: one line on stderr).
fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    let json = serde_json::to_string(summary)?;
    if path == Path::new("-") {
        eprintln!("{json}");
        return Ok(());
    }
    std::fs::write(path, format!("{json}\n"))
        .with_context(|| format!("cannot write --summary-json {}", path.display()))
}

/// On resuming from `epoch`, keeps in `--out` exactly the windows emitted up to it (those after
/// it are emitted again), so the file ends as if the run had never stopped.
///
/// The file is read a line at a time and cut where the first later window starts, in place:
/// no copy of it in memory or on disk (a full disk must not keep a resume from starting),
/// and a symlink stays a symlink. `--out` that is not a regular file (a FIFO, `/dev/null`,
/// a terminal) holds nothing to cut: it is left alone, never read or replaced.
fn trim_out(path: &Path, end_ms: u64) -> Result<()> {
    use std::io::{BufRead, Read};
    /// A longer line is not one of ours: the cut is made before it.
    const MAX_LINE: u64 = 64 << 20;
    let what = || format!("cannot trim --out {} to the checkpoint", path.display());
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(what),
    };
    if !meta.is_file() {
        return Ok(());
    }
    let mut r = std::io::BufReader::new(std::fs::File::open(path).with_context(what)?);
    let (mut keep, mut line) = (0u64, Vec::new());
    loop {
        line.clear();
        let n = (&mut r)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .with_context(what)?;
        let end = (line.last() == Some(&b'\n'))
            .then(|| serde_json::from_slice::<serde_json::Value>(&line).ok())
            .flatten()
            .and_then(|v| crate::time::parse_time(v.get("window_end")?.as_str()?));
        match end {
            Some(e) if e <= end_ms => keep += n as u64,
            _ => break,
        }
    }
    if keep < meta.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(what)?;
        f.set_len(keep)
            .and_then(|_| f.sync_all())
            .with_context(what)?;
    }
    Ok(())
}

/// Sets `stop` (a `--duration` deadline, a closed stdout, an output error).
fn request_stop(stop: &AtomicBool) {
    stop.store(true, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn line(end: &str) -> String {
        format!("{{\"window_start\":\"x\",\"window_end\":\"{end}\",\"top\":[]}}\n")
    }

    /// The cut is made in place, a line at a time: a symlink stays a symlink (its target is
    /// cut), and `--out` that is not a regular file is never read or replaced (a FIFO once
    /// hung the resume, `/dev/null` would have been replaced by a file as root).
    #[test]
    fn trim_out_cuts_in_place_and_leaves_what_is_not_a_file_alone() {
        let dir = std::env::temp_dir().join(format!("tagstream-unit-trim-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (
            line("2024-01-01T00:00:10Z"),
            line("2024-01-01T00:00:20Z"),
            line("2024-01-01T00:00:30Z"),
        );
        let target = dir.join("out.jsonl");
        std::fs::write(&target, format!("{a}{b}{c}{{\"window_end\":\"2024")).unwrap();
        let link = dir.join("link.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let end = crate::time::parse_time("2024-01-01T00:00:20Z").unwrap();
        trim_out(&link, end).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), format!("{a}{b}"));
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        // Nothing past the end: unchanged.
        trim_out(&target, end).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), format!("{a}{b}"));
        // A FIFO with no writer: opening it to read would block for good.
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            trim_out(&fifo, end).unwrap();
            assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        }
        trim_out(Path::new("/dev/null"), end).unwrap();
        trim_out(&dir.join("missing"), end).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
