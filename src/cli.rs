//! The command line: every subcommand and flag, with its help written once here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::record::Format;
use crate::time::{duration, duration_or_zero, event_time};

/// Real-time trending hashtags: sliding-window top-K over text streams, on timely dataflow.
#[derive(Debug, Parser)]
#[command(name = "tagstream", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The built-in generator through the whole pipeline, with the live chart and the
    /// dashboard: `run` with other defaults (every `run` flag works here too).
    #[command(
        mut_arg("sources", |a| a
            .required(false)
            .help("Source URI (repeatable) [default: the built-in generator, gen://?rate=RATE&seed=SEED]")),
        mut_arg("batch", |a| a.default_value("1s")),
        mut_arg("window", |a| a.default_value("10s")),
        mut_arg("db", |a| a.default_value(":memory:")),
        mut_arg("http", |a| a.help(
            "Serve the HTTP API and live dashboard on ADDR [default: 127.0.0.1:8080, skipped \
             with a warning when that port is taken; an ADDR given must be served]; 'off' \
             disables it")),
    )]
    Demo(Box<DemoArgs>),
    /// Run the engine on one or more sources.
    Run(Box<RunArgs>),
    /// Print the tags of each stdin line as a JSON array (debugging; conformance runner).
    Extract(ExtractArgs),
    /// Generate synthetic tweets to stdout, or serve them as a line server.
    Gen(GenArgs),
    /// Query results with SQL: a running engine's HTTP API, or a database file.
    Sql(SqlArgs),
    /// Export the bar chart of the latest (or a given) window as PNG or SVG: its top-K by
    /// count, or with --trends its trending list by score.
    Chart(ChartArgs),
    /// Forward a source's posts as text lines to every client of a TCP socket (the
    /// tutorial's receiver: feed Spark's socketTextStream or `run --source socket://`).
    Receive(ReceiveArgs),
}

/// How time is assigned to records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TimeArg {
    /// Arrival time on the wall clock (as Spark Streaming).
    Processing,
    /// The record's own timestamp (`--time-field`).
    Event,
}

/// On or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// When to draw the live terminal chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TuiArg {
    /// When stdout is a terminal.
    Auto,
    /// Always (needs a terminal).
    On,
    /// Never: print a plain table per window instead.
    Off,
}

/// Extraction rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExtractArg {
    /// Twitter's twitter-text hashtag rules; tags counted lower-cased, with '#'.
    Hashtags,
    /// The tutorial's rule: split on ' ', keep tokens starting with '#', lower-case them.
    Spark,
}

impl From<ExtractArg> for hashtag::Mode {
    fn from(e: ExtractArg) -> Self {
        match e {
            ExtractArg::Hashtags => hashtag::Mode::Hashtags,
            ExtractArg::Spark => hashtag::Mode::Spark,
        }
    }
}

/// Window and pipeline options shared by `run` and `demo`.
#[derive(Debug, Args, Clone)]
pub struct PipelineArgs {
    /// Extraction rule.
    #[arg(
        long,
        value_enum,
        default_value = "hashtags",
        env = "TAGSTREAM_EXTRACT"
    )]
    pub extract: ExtractArg,
    /// Batch interval (micro-batch length), e.g. 10s, 500ms, 1h.
    #[arg(long, value_parser = duration, default_value = "10s", env = "TAGSTREAM_BATCH")]
    pub batch: Duration,
    /// Window length: a multiple of the batch.
    #[arg(long, value_parser = duration, default_value = "60s", env = "TAGSTREAM_WINDOW")]
    pub window: Duration,
    /// Slide between windows: a multiple of the batch [default: the batch].
    #[arg(long, value_parser = duration, env = "TAGSTREAM_SLIDE")]
    pub slide: Option<Duration>,
    /// Trending tags per window (rising against each tag's own history): on or off.
    #[arg(long, value_enum, default_value = "on", env = "TAGSTREAM_TRENDS")]
    pub trends: Switch,
    /// How fast a tag's baseline forgets: its half-life in stream time (counted in slides,
    /// at least one).
    #[arg(long, value_parser = duration, default_value = "1h", env = "TAGSTREAM_TREND_HALFLIFE")]
    pub trend_halflife: Duration,
    /// The least expected distinct authors per window a tag is measured against (a tag never
    /// seen is not infinitely surprising).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 2.0,
        env = "TAGSTREAM_TREND_FLOOR"
    )]
    pub trend_floor: f64,
    /// The least distinct authors (posts, without authors) for a tag to trend.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        env = "TAGSTREAM_TREND_MIN_AUTHORS"
    )]
    pub trend_min_authors: u64,
    /// Rows per window (top-K).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), env = "TAGSTREAM_TOP")]
    pub top: u64,
    /// Bound on the distinct tags each shard holds per batch: past it, memory stays bounded
    /// and counts become heavy-hitter estimates, each with its error, every tag above
    /// tags/(N+1) counted (windows marked "approx"); below it, output is exact. 0 (the
    /// default): no bound, exact whatever comes, and a flood of random tags grows memory
    /// without end: set one on open networks (200000 is far above a batch of any real stream).
    /// Trends then keep at most N × (window/batch + 10) tag baselines a shard, the faintest
    /// forgotten first.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        env = "TAGSTREAM_MAX_TAGS"
    )]
    pub max_tags: usize,
    /// Worker threads in this process.
    #[arg(long, default_value_t = 1, env = "TAGSTREAM_WORKERS")]
    pub workers: usize,
    /// Write every window as a JSON line to FILE, or to stdout with '-'.
    #[arg(long, value_name = "FILE", env = "TAGSTREAM_OUT")]
    pub out: Option<PathBuf>,
    /// Live terminal chart: auto (when stdout is a terminal), on, off.
    #[arg(long, value_enum, default_value = "auto", env = "TAGSTREAM_TUI")]
    pub tui: TuiArg,
    /// Print no informational messages on stderr (TAGSTREAM_QUIET: true/false, 1/0, yes/no,
    /// on/off).
    #[arg(long, short, env = "TAGSTREAM_QUIET", value_parser = clap::builder::BoolishValueParser::new())]
    pub quiet: bool,
    /// Results options.
    #[command(flatten)]
    pub results: ResultsArgs,
}

/// Where results go besides the terminal: the SQLite store, PostgreSQL, the HTTP API.
#[derive(Debug, Args, Clone)]
pub struct ResultsArgs {
    /// SQLite results database (tables tweets, windows, counts); ':memory:' keeps it in
    /// memory, 'none' disables it.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "tagstream.db",
        env = "TAGSTREAM_DB"
    )]
    pub db: String,
    /// How long emitted windows stay in the windows table.
    #[arg(long, value_parser = duration, default_value = "7d", env = "TAGSTREAM_RETAIN")]
    pub retain: Duration,
    /// Also write every window to this PostgreSQL database (postgres://USER@HOST/DB;
    /// a password is better given in PGPASSWORD), repeatable.
    #[arg(long = "sink", value_name = "URL")]
    pub sinks: Vec<String>,
    /// Serve the HTTP API and live dashboard on ADDR (127.0.0.1:8080 when given without a
    /// value); 'off' disables it.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8080", env = "TAGSTREAM_HTTP")]
    pub http: Option<String>,
    /// Keep every tag of the latest window (up to this many) for the counts table.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        env = "TAGSTREAM_COUNTS"
    )]
    pub counts: usize,
}

impl ResultsArgs {
    /// How many tags of each window to keep for the counts table: none without a store, a
    /// sink or an HTTP server to show them.
    pub fn counts_limit(&self) -> usize {
        if self.db != "none" || self.http_addr().is_some() || !self.sinks.is_empty() {
            self.counts
        } else {
            0
        }
    }

    /// The results configuration these flags describe.
    pub fn config(&self) -> crate::results::ResultsConfig {
        crate::results::ResultsConfig {
            db: (self.db != "none").then(|| self.db.clone()),
            retain: Some(self.retain),
            sinks: self.sinks.clone(),
        }
    }

    /// The HTTP address, unless disabled.
    pub fn http_addr(&self) -> Option<&str> {
        self.http.as_deref().filter(|h| *h != "off")
    }
}

/// `tagstream run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Source URI (repeatable): a file path, '-' for stdin, socket://HOST:PORT,
    /// listen://HOST:PORT, gen://?rate=N&seed=S&count=C, x://, jetstream://,
    /// mastodon://HOST/public, kafka://HOST:PORT/TOPIC (see the README for each).
    #[arg(long = "source", short = 's', required = true, value_name = "URI")]
    pub sources: Vec<String>,
    /// Input line format.
    #[arg(long, value_enum, default_value = "text", env = "TAGSTREAM_FORMAT")]
    pub format: Format,
    /// JSON field holding the text (dotted path, e.g. data.text).
    #[arg(long, default_value = "text", env = "TAGSTREAM_TEXT_FIELD")]
    pub text_field: String,
    /// Processing time (arrival) or event time (--time-field).
    #[arg(long, value_enum, default_value = "processing", env = "TAGSTREAM_TIME")]
    pub time: TimeArg,
    /// JSON field naming each record's author (dotted path, e.g. user.id or
    /// user.screen_name): trends then count distinct authors per tag, not posts. x://,
    /// jetstream://, mastodon:// and gen:// give authors themselves.
    #[arg(long, value_name = "PATH", env = "TAGSTREAM_AUTHOR_FIELD")]
    pub author_field: Option<String>,
    /// JSON field holding the event time: RFC 3339, Twitter's legacy format, or epoch s/ms.
    #[arg(long, default_value = "created_at", env = "TAGSTREAM_TIME_FIELD")]
    pub time_field: String,
    /// Allowed lateness in event time: the watermark trails the greatest time seen by this.
    #[arg(long, value_parser = duration_or_zero, default_value = "0s", env = "TAGSTREAM_LATENESS")]
    pub lateness: Duration,
    /// In event time, records must be after this time, else they are skipped and counted as
    /// bad_time (the default refuses a zero time, the usual stand-in for none).
    #[arg(long, value_name = "TIME", value_parser = event_time, default_value = "1970-01-01T00:00:00Z", env = "TAGSTREAM_MIN_TIME")]
    pub min_time: u64,
    /// In event time, records must be before this time, else they are skipped and counted as
    /// bad_time.
    #[arg(long, value_name = "TIME", value_parser = event_time, default_value = "2200-01-01T00:00:00Z", env = "TAGSTREAM_MAX_TIME")]
    pub max_time: u64,
    /// In event time, a record more than this many slides ahead of its partition's clock is
    /// skipped and counted as skew, so one absurd time cannot make every later record late
    /// (0: no limit).
    #[arg(
        long,
        value_name = "WINDOWS",
        default_value_t = 100_000,
        env = "TAGSTREAM_MAX_SKEW"
    )]
    pub max_skew: u64,
    /// Lines longer than this many bytes are skipped and counted.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..), env = "TAGSTREAM_MAX_LINE")]
    pub max_line: u64,
    /// Base URL for live sources instead of the service's public host (tests, proxies).
    #[arg(
        long,
        value_name = "URL",
        env = "TAGSTREAM_ENDPOINT",
        hide_env_values = true
    )]
    pub endpoint: Option<String>,
    /// Keep only records that contain one of these words (whole word, any case),
    /// comma-separated; the X source also makes them its stream rules.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "WORDS",
        env = "TAGSTREAM_TRACK"
    )]
    pub track: Vec<String>,
    /// Number of processes in a cluster run.
    #[arg(long, default_value_t = 1, env = "TAGSTREAM_PROCESSES")]
    pub processes: usize,
    /// This process's index in a cluster run (0-based).
    #[arg(long, default_value_t = 0, env = "TAGSTREAM_PROCESS")]
    pub process: usize,
    /// File with one host:port per process (cluster runs) [default: 127.0.0.1:2101, 2102, ...].
    #[arg(long, value_name = "FILE", env = "TAGSTREAM_HOSTS")]
    pub hosts: Option<PathBuf>,
    /// Save window state and source positions here, and resume from the last checkpoint on
    /// start (shared storage when processes run on several machines).
    #[arg(long, value_name = "DIR", env = "TAGSTREAM_CHECKPOINT_DIR")]
    pub checkpoint_dir: Option<PathBuf>,
    /// Checkpoint every this much stream time (a multiple of --batch) [default: every
    /// emitted window, i.e. --slide].
    #[arg(long, value_parser = duration, value_name = "DURATION", env = "TAGSTREAM_CHECKPOINT_EVERY", requires = "checkpoint_dir")]
    pub checkpoint_every: Option<Duration>,
    /// Stop after this long (default: when the sources end, or on Ctrl-C).
    #[arg(long, value_parser = duration, value_name = "DURATION", env = "TAGSTREAM_DURATION")]
    pub duration: Option<Duration>,
    /// Write the run's summary (records, rates, skips by reason, per-source counters,
    /// checkpoints) as JSON to FILE when it ends; '-' writes it to stderr.
    #[arg(long, value_name = "FILE", env = "TAGSTREAM_SUMMARY_JSON")]
    pub summary_json: Option<PathBuf>,
    /// Read options from a TOML file (keys are the long flag names; flags and TAGSTREAM_*
    /// environment variables override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Window and output options.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// `demo`'s `--http` when none is given: skipped with a warning when the port is taken (the
/// terminal chart still works), where an address given must be served.
pub const DEMO_HTTP: &str = "127.0.0.1:8080";

/// `tagstream demo`: `run`'s flags (with the defaults of the demo: the generator, 1 s batches,
/// 10 s windows, an in-memory database, the dashboard on 127.0.0.1:8080) and the generator's.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Generated tweets per second (the default source).
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Seed of the generator (the default source).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Everything `run` takes.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `tagstream extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Extraction rule.
    #[arg(long, value_enum, default_value = "hashtags")]
    pub extract: ExtractArg,
    /// Decode '\\', '\n' and '\r' escapes in the input first (the conformance runner's protocol).
    #[arg(long)]
    pub unescape: bool,
    /// Lines longer than this many bytes are skipped (printed as `null`) and counted.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..), env = "TAGSTREAM_MAX_LINE")]
    pub max_line: u64,
}

/// `tagstream gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Tweets to write (default: forever).
    #[arg(long)]
    pub count: Option<u64>,
    /// Write what is true of the stream to FILE as JSON lines, for measuring trends: the
    /// bursts of rising tags in its time span (needs --start and --count), the spammer, the
    /// evergreen tags.
    #[arg(long, value_name = "FILE", requires_all = ["start", "count"])]
    pub truth: Option<PathBuf>,
    /// Tweets per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Serve the tweets to every client that connects to ADDR instead of writing stdout.
    #[arg(long, value_name = "ADDR")]
    pub serve: Option<String>,
    /// Line format: text, or JSON objects {"created_at":TIME,"text":TEXT} with each
    /// tweet's event time.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Event time of the first tweet (RFC 3339 or epoch seconds/ms); each next one is
    /// --time-step later and the stream is the same on every run [default: the wall clock].
    #[arg(long, value_name = "TIME", value_parser = event_time)]
    pub start: Option<u64>,
    /// Event time from one tweet to the next, with --start.
    #[arg(long, value_parser = duration, default_value = "10ms")]
    pub time_step: Duration,
    /// Produce the tweets to a Kafka topic, HOST:PORT[,HOST:PORT...]/TOPIC, instead of
    /// writing stdout: tweet i to partition i mod N, its Kafka timestamp its event time.
    #[arg(long, value_name = "BROKERS/TOPIC", conflicts_with = "serve")]
    pub kafka: Option<String>,
    /// Partitions of the topic when --kafka has to create it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: u32,
    /// With --serve: send the lines of FILE, over and over, instead of generated tweets (the
    /// lines are held in memory; --rate is lines per second per client).
    #[arg(long, value_name = "FILE", requires = "serve")]
    pub file: Option<PathBuf>,
    /// With --file: only its first N lines (like gen.py's --pool).
    #[arg(long, value_name = "N", requires = "file")]
    pub pool: Option<usize>,
    /// With --serve: serve this many clients, then exit once they are done (0: any number,
    /// until Ctrl-C).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub clients: usize,
    /// With --serve: end each client's stream after this long.
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// With --file: how often each client's status line (lines sent, achieved rate, MB/s,
    /// backlog) is written to stderr.
    #[arg(long, value_parser = duration, default_value = "10s")]
    pub status: Duration,
}

/// `tagstream receive`.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Source URI: x://, jetstream://, mastodon://HOST/..., or any line source of `run`.
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Address to serve the lines on (clients connect here).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5555")]
    pub serve: String,
    /// Base URL for live sources instead of the service's public host (tests, proxies).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Keep only posts with one of these words (whole word, any case); for x:// also the
    /// stream rules at X. Comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "WORDS")]
    pub track: Vec<String>,
    /// Input line format of line sources (live sources give posts).
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// JSON field holding the text, for --format jsonl (dotted path, e.g. data.text).
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Lines kept while no client is connected; beyond it the oldest are dropped and counted.
    /// Also how far one client may fall behind before it is disconnected.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub buffer: usize,
    /// Lines longer than this many bytes are skipped and counted.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_line: usize,
    /// Print no informational messages on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tagstream sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The statement (read-only).
    pub statement: String,
    /// Results database file to query directly.
    #[arg(long, value_name = "PATH", default_value = "tagstream.db")]
    pub db: String,
    /// Ask a running engine instead (its --http address), e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: SqlFormat,
    /// At most this many rows (then the result is marked truncated). With --url the
    /// engine's own limits apply.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_rows: usize,
    /// Interrupt the query after this long. With --url the engine's own limits apply.
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "5s")]
    pub timeout: Duration,
}

/// How `tagstream sql` prints a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// Aligned columns with a header.
    Table,
    /// CSV with a header row.
    Csv,
    /// `{"columns":[…],"rows":[[…]],"truncated":bool}` (the HTTP API's shape).
    Json,
}

/// `tagstream chart`.
#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Output file: .png or .svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Read the window from a running engine's HTTP API (e.g. http://127.0.0.1:8080).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub url: Option<String>,
    /// Read the window from a results database [default: tagstream.db, when --url is absent].
    #[arg(long, value_name = "PATH")]
    pub db: Option<String>,
    /// The window ending at this time (RFC 3339) instead of the latest.
    #[arg(long, value_name = "END")]
    pub window: Option<String>,
    /// Chart the window's trending list (tags rising above their usual level; bars are
    /// scores, labelled with authors or posts) instead of its top-K by count: /api/trends
    /// with --url, the trends table with --db.
    #[arg(long)]
    pub trends: bool,
    /// Image size in pixels, WIDTHxHEIGHT.
    #[arg(long, value_name = "WxH", default_value = "1200x700", value_parser = size)]
    pub size: (u32, u32),
    /// Font folders to search instead of the system's (/usr/share/fonts,
    /// /usr/local/share/fonts, ~/.fonts, ~/.local/share/fonts), separated by ':'. A bundled
    /// Latin font is always there; other scripts need a font for them (CJK: fonts-noto-cjk).
    #[arg(
        long,
        value_name = "DIRS",
        env = "TAGSTREAM_FONT_DIRS",
        value_delimiter = ':'
    )]
    pub font_dirs: Vec<PathBuf>,
}

/// A clap error as the one line the binary prints, without clap's `error: ` prefix, usage
/// block and tips: the first paragraph joined, so a list such as `the following required
/// arguments were not provided: --source <URI>` keeps the flag it names.
pub fn error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty())
        .collect();
    let line = first.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_owned(),
        None if line.is_empty() => "invalid arguments".to_owned(),
        None => line,
    }
}

/// Parses `1200x700`.
fn size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not WIDTHxHEIGHT (e.g. 1200x700)");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if !(100..=10_000).contains(&w) || !(100..=10_000).contains(&h) {
        return Err(format!("'{s}': each side must be 100 to 10000 pixels"));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::{error_line, size, Cli};
    use clap::Parser;

    #[test]
    fn errors_are_one_line_naming_the_flag() {
        let err = |args: &[&str]| error_line(&Cli::try_parse_from(args).unwrap_err());
        assert_eq!(
            err(&["tagstream", "run"]),
            "the following required arguments were not provided: --source <URI>"
        );
        assert_eq!(
            err(&["tagstream", "run", "-s", "-", "--frobnicate"]),
            "unexpected argument '--frobnicate' found"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(size("1200x700"), Ok((1200, 700)));
        assert!(size("1200").is_err());
        assert!(size("5x5").is_err());
    }
}
