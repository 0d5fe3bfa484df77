//! `tagstream run` and `tagstream demo`: flags → a [`JobConfig`] → [`job::run`]. `demo` is
//! `run` with other defaults (`cli.rs`) and the built-in generator as its default source.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use window::{SpecError, TrendSpec, WindowSpec};

use crate::cli::{DemoArgs, RunArgs, Switch, TimeArg};
use crate::dataflow::ingest::{Clock, TimeGuard};
use crate::dataflow::{checkpoint, Cluster, Plan};
use crate::job::{self, JobConfig, OutputConfig, SourceOptions};
use crate::record::{Decoder, Format};
use crate::sources::SourceSpec;
use crate::time::{human, ms};

/// `tagstream run`.
pub fn run(a: RunArgs) -> Result<()> {
    job::run(config(&a)?).map(|_| ())
}

/// `tagstream demo`: the generator (unless `--source` is given), the whole pipeline, the live
/// chart and the dashboard.
pub fn demo(a: DemoArgs) -> Result<()> {
    let mut r = a.run;
    let generated = r.sources.is_empty();
    if generated {
        r.sources
            .push(format!("gen://?rate={}&seed={}", a.rate, a.seed));
    }
    // The default port may be taken: the terminal chart still works, with a warning. An
    // address asked for (--http, TAGSTREAM_HTTP, a config file) must be served, as `run`
    // requires.
    let asked = r.pipeline.results.http.is_some();
    if !asked {
        r.pipeline.results.http = Some(crate::cli::DEMO_HTTP.to_owned());
    }
    let mut cfg = config(&r)?;
    cfg.output.http_optional = !asked;
    if generated {
        cfg.output.title = format!(
            "tagstream demo — built-in generator at {} tweets/s — window {} sliding every {}",
            a.rate,
            humantime::format_duration(r.pipeline.window),
            humantime::format_duration(r.pipeline.slide.unwrap_or(r.pipeline.batch))
        );
    }
    job::run(cfg).map(|_| ())
}

/// Checks `run`'s flags and turns them into a job stopped by SIGINT/SIGTERM (the process's
/// [`shutdown::flag`](crate::shutdown::flag), whose handler this installs). Every error is
/// one line naming the flag.
pub fn config(a: &RunArgs) -> Result<JobConfig> {
    config_with_stop(a, crate::shutdown::flag())
}

/// [`config`] with a stop flag of the caller's own, and no signal handler installed: for an
/// embedder that runs several jobs, or owns the process's signals (the Python package).
pub fn config_with_stop(a: &RunArgs, stop: Arc<AtomicBool>) -> Result<JobConfig> {
    let p = &a.pipeline;
    let spec = spec_of(p.batch, p.window, p.slide)?;
    if spec.slide_ms() > spec.window_ms() {
        crate::log::warn(format_args!(
            "--slide {} is longer than --window {}: records between two windows are \
             counted in none",
            human(spec.slide_ms()),
            human(spec.window_ms())
        ));
    }
    let sources = a
        .sources
        .iter()
        .map(|s| SourceSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("--source: {e}"))?;
    for s in &sources {
        s.check().map_err(|e| anyhow::anyhow!("--source: {e}"))?;
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
            if a.min_time >= a.max_time {
                bail!(
                    "--min-time {} must be before --max-time {}",
                    crate::time::rfc3339(a.min_time),
                    crate::time::rfc3339(a.max_time)
                );
            }
            Clock::Event {
                lateness_ms: ms(a.lateness),
                guard: TimeGuard {
                    after_ms: a.min_time,
                    before_ms: a.max_time,
                    max_skew_windows: a.max_skew,
                },
            }
        }
    };
    let time_field = (clock != Clock::Processing).then_some(a.time_field.as_str());
    if a.author_field.is_some() && a.format != Format::Jsonl {
        bail!("--author-field needs --format jsonl (the author is a field of each JSON line)");
    }
    // Authors come from --author-field, or from sources that know them.
    let authors = a.author_field.is_some()
        || sources
            .iter()
            .any(|s| s.is_live() || matches!(s, SourceSpec::Generator(_)));
    if !(p.trend_floor.is_finite() && p.trend_floor > 0.0) {
        bail!("--trend-floor {} must be a positive number", p.trend_floor);
    }
    let trends = (p.trends == Switch::On).then(|| {
        let slides = ms(p.trend_halflife) as f64 / spec.slide_ms() as f64;
        TrendSpec {
            floor: p.trend_floor,
            min_authors: p.trend_min_authors,
            ..TrendSpec::new(usize::try_from(p.top).unwrap_or(usize::MAX), slides)
        }
    });
    let mut decoder = Decoder::new(a.format, &a.text_field, time_field);
    if let Some(f) = &a.author_field {
        decoder = decoder.with_author(f);
    }
    // Before anything sized by them (the peers of a checkpoint's shape, the default hosts).
    if p.workers > crate::dataflow::MAX_WORKERS {
        bail!(
            "--workers {} is more than {} threads in one process; for more, run several \
             processes (--processes)",
            p.workers,
            crate::dataflow::MAX_WORKERS
        );
    }
    if a.processes > MAX_PROCESSES {
        bail!(
            "--processes {} is more than {MAX_PROCESSES} processes",
            a.processes
        );
    }
    let checkpoint = match &a.checkpoint_dir {
        Some(dir) => Some(checkpoint_config(
            dir,
            spec,
            a.checkpoint_every,
            (p.workers * a.processes) as u64,
            a.process,
            // How the input is read: a checkpoint restored under other rules would count
            // its rest another way (another --extract), or take stream time for the clock.
            format!(
                "extract {}, format {}, text field {}, time {}, lateness {}, track {}",
                format!("{:?}", p.extract).to_lowercase(),
                format!("{:?}", a.format).to_lowercase(),
                a.text_field,
                time_field.map_or("processing".to_owned(), |f| format!("event ({f})")),
                human(ms(a.lateness)),
                if a.track.is_empty() {
                    "-".to_owned()
                } else {
                    a.track.join(",")
                }
            )
            .replace(['\n', '\r'], " "),
        )?),
        None => None,
    };
    let plan = Plan {
        spec,
        top: usize::try_from(p.top).unwrap_or(usize::MAX),
        counts_limit: p.results.counts_limit(),
        mode: p.extract.into(),
        decoder,
        clock,
        checkpoint,
        trends,
        authors,
        max_tags: (p.max_tags > 0).then_some(p.max_tags),
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
    // --workers, --process, --hosts: checked here, so a bad one is an error of the flags.
    cluster.timely_config().map_err(anyhow::Error::msg)?;
    // Only the process that emits windows (process 0) writes results.
    let emits = cluster.process == 0;
    let title = format!(
        "tagstream — {} — batch {} window {} slide {} — top {}",
        a.sources.join(", "),
        humantime::format_duration(p.batch),
        humantime::format_duration(p.window),
        humantime::format_duration(p.slide.unwrap_or(p.batch)),
        p.top
    );
    let output = OutputConfig {
        out: p.out.clone().filter(|_| emits),
        results: if emits {
            p.results.config()
        } else {
            Default::default()
        },
        http: p.results.http_addr().filter(|_| emits).map(str::to_owned),
        http_optional: false,
        tui: p.tui,
        title,
        duration: a.duration,
        quiet: p.quiet,
        summary_json: a.summary_json.clone(),
        tap: None,
    };
    Ok(JobConfig {
        plan,
        cluster,
        sources,
        source_options: SourceOptions {
            max_line: usize::try_from(a.max_line).unwrap_or(usize::MAX),
            endpoint: a.endpoint.clone(),
            track: a.track.clone(),
        },
        output,
        stop,
    })
}

/// Most processes of one run (their default ports count up from 2101).
pub const MAX_PROCESSES: usize = 1024;

/// Most windows one record may count in (`--window` ÷ `--slide`): at the end of the input
/// each of them is made at once, a few KB each, so a `--window 10000000d` once ran the
/// machine out of memory instead of being refused.
pub const MAX_OVERLAP: u64 = 100_000;

fn spec_of(batch: Duration, window: Duration, slide: Option<Duration>) -> Result<WindowSpec> {
    if ms(batch) == 0 {
        bail!("--batch must be at least 1ms");
    }
    let spec = WindowSpec::new(ms(batch), ms(window), ms(slide.unwrap_or(batch)));
    if let Ok(s) = &spec {
        let overlap = s.window_panes().div_ceil(s.slide_panes());
        if overlap > MAX_OVERLAP {
            bail!(
                "--window {} over --slide {} makes {overlap} windows overlap; at most \
                 {MAX_OVERLAP} may (a record counts in each): use a longer --slide",
                human(ms(window)),
                human(ms(slide.unwrap_or(batch)))
            );
        }
    }
    spec.map_err(|e| match e {
        SpecError::NotMultiple {
            what,
            value_ms,
            batch_ms,
        } => anyhow::anyhow!(
            "--{what} {} is not a multiple of --batch {}",
            human(value_ms),
            human(batch_ms)
        ),
        SpecError::Zero { what } => anyhow::anyhow!("--{what} must be positive, got 0s"),
        other => anyhow::anyhow!("{other}"),
    })
}

/// Resolves `--checkpoint-dir`/`--checkpoint-every` and finds the committed epoch to resume.
fn checkpoint_config(
    dir: &Path,
    spec: WindowSpec,
    every: Option<Duration>,
    peers: u64,
    process: usize,
    reads: String,
) -> Result<checkpoint::Config> {
    let every_ms = every.map_or(spec.slide_ms(), ms);
    if every_ms == 0 || !every_ms.is_multiple_of(spec.batch_ms()) {
        bail!(
            "--checkpoint-every {} must be a positive multiple of --batch {}",
            human(every_ms),
            human(spec.batch_ms())
        );
    }
    let shape = checkpoint::Shape {
        batch_ms: spec.batch_ms(),
        window_ms: spec.window_ms(),
        slide_ms: spec.slide_ms(),
        peers,
    };
    let lock = checkpoint::lock(dir, process).map_err(anyhow::Error::msg)?;
    let restore = checkpoint::committed(dir, &shape).map_err(anyhow::Error::msg)?;
    if restore.is_some() {
        checkpoint::check_reads(dir, &reads).map_err(anyhow::Error::msg)?;
    }
    Ok(checkpoint::Config {
        reads,
        dir: dir.to_owned(),
        every: every_ms / spec.batch_ms(),
        shape,
        restore,
        _lock: Some(lock),
    })
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
