//! `run` and `demo`: turn flags into a plan, start the pipeline, and show its windows.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crossbeam_channel::RecvTimeoutError;
use window::WindowSpec;

use crate::checkpoint;
use crate::cli::{DemoArgs, PipelineArgs, ResultsArgs, RunArgs, TimeArg, TuiArg};
use crate::dataflow::ingest::Clock;
use crate::dataflow::{self, Cluster, Emitted, Plan, WindowSink};
use crate::metrics::Metrics;
use crate::record::{Decoder, Format};
use crate::sources::{generator::GenSpec, SourceContext, SourceSpec};
use crate::views::{jsonl, table, term};

/// Where and how windows are shown.
struct Output {
    out: Option<PathBuf>,
    results: crate::results::ResultsConfig,
    tui: TuiArg,
    title: String,
    duration: Option<Duration>,
    quiet: bool,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn spec_of(batch: Duration, window: Duration, slide: Option<Duration>) -> Result<WindowSpec> {
    if ms(batch) == 0 {
        bail!("--batch must be at least 1ms");
    }
    WindowSpec::new(ms(batch), ms(window), ms(slide.unwrap_or(batch)))
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// `tagstream run`.
pub fn run(a: RunArgs) -> Result<()> {
    let p = &a.pipeline;
    let spec = spec_of(p.batch, p.window, p.slide)?;
    let sources = a
        .sources
        .iter()
        .map(|s| SourceSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    for s in &sources {
        s.check().map_err(anyhow::Error::msg)?;
    }
    let clock = match a.time {
        TimeArg::Processing => Clock::Processing,
        TimeArg::Event => {
            if a.format != Format::Jsonl && !sources.iter().all(SourceSpec::stamps_time) {
                bail!(
                    "--time event needs --format jsonl (the time comes from --time-field), \
                     or a source that carries its own time (x://, jetstream://, mastodon://, \
                     kafka://…?time=timestamp)"
                );
            }
            Clock::Event {
                lateness_ms: ms(a.lateness),
            }
        }
    };
    let time_field = (clock != Clock::Processing).then_some(a.time_field.as_str());
    let checkpoint = match &a.checkpoint_dir {
        Some(dir) => Some(checkpoint_config(
            dir,
            spec,
            a.checkpoint_every,
            (p.workers * a.processes) as u64,
        )?),
        None => None,
    };
    let plan = Plan {
        spec,
        top: p.top,
        counts_limit: p.results.counts_limit(),
        mode: p.extract.into(),
        decoder: Decoder::new(a.format, &a.text_field, time_field),
        clock,
        checkpoint,
    };
    let hosts = match (&a.hosts, a.processes) {
        (Some(f), _) => Cluster::read_hosts(f).map_err(anyhow::Error::msg)?,
        (None, 1) => Vec::new(),
        (None, n) => (0..n).map(|i| format!("127.0.0.1:{}", 2101 + i)).collect(),
    };
    let cluster = Cluster {
        workers: p.workers,
        processes: a.processes,
        process: a.process,
        hosts,
    };
    let title = format!(
        "tagstream — {} — batch {} window {} slide {} — top {}",
        a.sources.join(", "),
        humantime::format_duration(p.batch),
        humantime::format_duration(p.window),
        humantime::format_duration(p.slide.unwrap_or(p.batch)),
        p.top
    );
    let output = output_of(p, title, None, cluster.process != 0);
    let opts = SourceOptions {
        max_line: a.max_line,
        endpoint: a.endpoint,
        track: a.track,
    };
    execute(plan, cluster, sources, opts, output)
}

/// Resolves `--checkpoint-dir`/`--checkpoint-every` and finds the committed epoch to resume.
fn checkpoint_config(
    dir: &Path,
    spec: WindowSpec,
    every: Option<Duration>,
    peers: u64,
) -> Result<checkpoint::Config> {
    let every_ms = every.map_or(spec.slide_ms(), ms);
    if every_ms == 0 || every_ms % spec.batch_ms() != 0 {
        bail!(
            "--checkpoint-every {} must be a positive multiple of --batch {}",
            humantime::format_duration(Duration::from_millis(every_ms)),
            humantime::format_duration(Duration::from_millis(spec.batch_ms()))
        );
    }
    let shape = checkpoint::Shape {
        batch_ms: spec.batch_ms(),
        window_ms: spec.window_ms(),
        slide_ms: spec.slide_ms(),
        peers,
    };
    let restore = checkpoint::committed(dir, &shape).map_err(anyhow::Error::msg)?;
    Ok(checkpoint::Config {
        dir: dir.to_owned(),
        every: every_ms / spec.batch_ms(),
        shape,
        restore,
    })
}

/// On resuming from `epoch`, keeps in `--out` exactly the windows emitted up to it (those after
/// it are emitted again), so the file ends as if the run had never stopped.
fn trim_out(path: &Path, end_ms: u64) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut keep = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let end = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("window_end")?.as_str().map(str::to_owned))
            .and_then(|e| humantime::parse_rfc3339(&e).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        match end {
            Some(e) if line.ends_with('\n') && (e.as_millis() as u64) <= end_ms => {
                keep.push_str(line)
            }
            _ => break,
        }
    }
    checkpoint::write_atomic(path, keep.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// `tagstream demo`: the generator, the whole pipeline, the live chart.
pub fn demo(a: DemoArgs) -> Result<()> {
    let spec = spec_of(a.batch, a.window, None)?;
    let plan = Plan {
        spec,
        top: a.top,
        counts_limit: 100_000,
        mode: hashtag::Mode::Hashtags,
        decoder: Decoder::new(Format::Text, "text", None),
        clock: Clock::Processing,
        checkpoint: None,
    };
    let gen = GenSpec {
        rate: a.rate,
        seed: a.seed,
        count: None,
    };
    let title = format!(
        "tagstream demo — built-in generator at {} tweets/s — window {} sliding every {}",
        a.rate,
        humantime::format_duration(a.window),
        humantime::format_duration(a.batch)
    );
    let p = PipelineArgs {
        extract: crate::cli::ExtractArg::Hashtags,
        batch: a.batch,
        window: a.window,
        slide: None,
        top: a.top,
        workers: a.workers,
        out: a.out,
        tui: a.tui,
        quiet: false,
        results: ResultsArgs {
            db: a.db,
            retain: Duration::from_secs(86_400),
            sinks: Vec::new(),
            http: Some(a.http),
            counts: 100_000,
        },
    };
    let mut output = output_of(&p, title, a.duration, false);
    output.results.http_optional = true;
    let cluster = Cluster {
        workers: a.workers,
        ..Cluster::default()
    };
    let opts = SourceOptions {
        max_line: 1 << 20,
        endpoint: None,
        track: Vec::new(),
    };
    execute(
        plan,
        cluster,
        vec![SourceSpec::Generator(gen)],
        opts,
        output,
    )
}

fn output_of(p: &PipelineArgs, title: String, duration: Option<Duration>, silent: bool) -> Output {
    // Only the process that emits windows (process 0) writes results.
    let results = if silent {
        crate::results::ResultsConfig::default()
    } else {
        p.results.config()
    };
    Output {
        out: if silent { None } else { p.out.clone() },
        results,
        tui: p.tui,
        title,
        duration,
        quiet: p.quiet,
    }
}

/// The process-wide stop flag, set by SIGINT/SIGTERM (a second signal exits at once); shared
/// by `run`, `demo` and `receive`.
pub fn shutdown_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if f.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        flag
    })
    .clone()
}

/// What sources are told besides their URIs.
struct SourceOptions {
    max_line: usize,
    endpoint: Option<String>,
    track: Vec<String>,
}

fn execute(
    plan: Plan,
    cluster: Cluster,
    sources: Vec<SourceSpec>,
    opts: SourceOptions,
    output: Output,
) -> Result<()> {
    cluster.timely_config().map_err(anyhow::Error::msg)?;
    crate::log::set_quiet(output.quiet);
    let metrics = Arc::new(Metrics::default());
    let shutdown = shutdown_flag();
    let ctx = SourceContext {
        max_line: opts.max_line,
        endpoint: opts.endpoint,
        track: opts.track,
        ..SourceContext::new(metrics.clone(), shutdown.clone())
    };
    let fatal = ctx.fatal.clone();
    let ckpt = plan.checkpoint.clone();
    if let (Some(c), Some(out)) = (&ckpt, output.out.as_deref()) {
        if let Some(epoch) = c.restore.filter(|_| out != Path::new("-")) {
            trim_out(out, epoch * c.shape.batch_ms)?;
        }
    }
    if let Some(epoch) = ckpt.as_ref().and_then(|c| c.restore) {
        crate::log::info(format_args!("resuming from checkpoint epoch {epoch}"));
    }
    let (tx, rx) = crossbeam_channel::unbounded::<Emitted>();
    let sink: WindowSink = Arc::new(move |w| {
        let _ = tx.send(w);
    });
    let started = Instant::now();
    let engine = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || dataflow::run(plan, &cluster, &sources, ctx, sink))
        .context("starting the engine thread")?;

    let mut file = match output.out.as_deref() {
        Some(p) if p == Path::new("-") => None,
        Some(p) => {
            // Resuming appends to the windows kept by `trim_out`.
            let resume = ckpt.as_ref().is_some_and(|c| c.restore.is_some());
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .append(resume)
                .truncate(!resume)
                .open(p)
                .with_context(|| format!("cannot write {}", p.display()))?;
            Some(BufWriter::new(f))
        }
        None => None,
    };
    let mut results = crate::results::Results::open(&output.results, metrics.clone())
        .map_err(anyhow::Error::msg)?;
    let to_stdout = output.out.as_deref() == Some(Path::new("-"));
    let stdout = std::io::stdout();
    let use_tui = !to_stdout
        && match output.tui {
            TuiArg::On => true,
            TuiArg::Off => false,
            TuiArg::Auto => stdout.is_terminal(),
        };
    let deadline = output.duration.map(|d| started + d);
    let mut view = term::View::new(output.title.clone());
    let mut terminal = if use_tui {
        crate::log::capture(true);
        Some(ratatui::init())
    } else {
        None
    };
    let progress = !use_tui && !output.quiet && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let mut out_err: Option<anyhow::Error> = None;
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            shutdown.store(true, Ordering::SeqCst);
        }
        let got = rx.recv_timeout(Duration::from_millis(100));
        match got {
            Ok(Emitted::Checkpoint(epoch)) => {
                // Every window up to the epoch was written (and flushed) before this.
                if let Some(c) = &ckpt {
                    match checkpoint::commit(&c.dir, &c.shape, epoch) {
                        Ok(()) => {
                            metrics
                                .checkpoints_committed
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => crate::log::warn(format_args!("{e}")),
                    }
                }
            }
            Ok(Emitted::Window(w)) => {
                metrics.windows_emitted.fetch_add(1, Ordering::Relaxed);
                if let Some(f) = file.as_mut() {
                    if let Err(e) = writeln!(f, "{}", jsonl::line(&w)).and_then(|_| f.flush()) {
                        out_err.get_or_insert(anyhow::anyhow!("writing --out: {e}"));
                        shutdown.store(true, Ordering::SeqCst);
                    }
                }
                if to_stdout {
                    let mut s = stdout.lock();
                    if writeln!(s, "{}", jsonl::line(&w))
                        .and_then(|_| s.flush())
                        .is_err()
                    {
                        // A closed pipe (e.g. `| head`) ends the run quietly.
                        shutdown.store(true, Ordering::SeqCst);
                    }
                } else if !use_tui && output.out.is_none() {
                    let mut s = stdout.lock();
                    if s.write_all(table::render(&w).as_bytes())
                        .and_then(|_| s.flush())
                        .is_err()
                    {
                        shutdown.store(true, Ordering::SeqCst);
                    }
                }
                results.publish(&w);
                view.window = Some(w);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(t) = terminal.as_mut() {
            view.tick(metrics.snapshot());
            view.sources = metrics.source_summaries();
            let _ = t.draw(|f| term::draw(f, &view));
            if quit_key_pressed() {
                shutdown.store(true, Ordering::SeqCst);
            }
        }
        if progress && last_progress.elapsed() >= Duration::from_secs(1) {
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
    results.finish();
    if terminal.take().is_some() {
        ratatui::restore();
        crate::log::capture(false);
    }
    if progress {
        eprintln!();
    }
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
    let s = metrics.snapshot();
    let secs = started.elapsed().as_secs_f64();
    crate::log::info(format_args!(
        "done: windows {}, records {} ({:.1} MB) in {:.2}s = {:.0} records/s, {:.1} MB/s; {}; late {}; filtered {}; reconnects {}",
        s.windows_emitted,
        s.records_in,
        s.bytes_in as f64 / 1e6,
        secs,
        s.records_in as f64 / secs,
        s.bytes_in as f64 / 1e6 / secs,
        s.skipped_summary(),
        s.late,
        s.filtered,
        s.reconnects
    ));
    for (name, counters) in metrics.source_summaries() {
        crate::log::info(format_args!("source {name}: {counters}"));
    }
    if ckpt.is_some() {
        let files = metrics.checkpoint_files.load(Ordering::Relaxed).max(1);
        crate::log::info(format_args!(
            "checkpoints: {} committed; {} worker files here, {:.0} bytes and {:.2} ms each on average",
            metrics.checkpoints_committed.load(Ordering::Relaxed),
            metrics.checkpoint_files.load(Ordering::Relaxed),
            metrics.checkpoint_bytes.load(Ordering::Relaxed) as f64 / files as f64,
            metrics.checkpoint_us.load(Ordering::Relaxed) as f64 / 1e3 / files as f64,
        ));
    }
    Ok(())
}

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
