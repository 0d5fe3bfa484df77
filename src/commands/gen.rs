//! `tagstream gen`: the synthetic generator to stdout, as a line server at a fixed rate (for
//! load tests and the Spark comparison: one server feeds either engine), or into a Kafka
//! topic.
//!
//! With `--start`, tweet i has the event time start + i × `--time-step` and its bursts follow
//! that time instead of the wall clock, so the stream is a function of its flags: the same
//! tweets can be produced to Kafka and written to a file, and both replays compared.

use std::io::{self, BufWriter, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

mod pool;

use crate::cli::GenArgs;
use crate::record::Format;
use crate::sources::generator::Model;
use crate::sources::kafka;
use pool::{peer_of, serve_pool, Pace, Pool};

/// Runs the subcommand.
pub fn run(a: GenArgs) -> anyhow::Result<()> {
    if let Some(target) = &a.kafka {
        return produce(&a, target);
    }
    match &a.serve {
        None => {
            let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            match write_all(&a, &mut out) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => Ok(r?),
            }
        }
        Some(addr) => {
            let addr = addr.clone();
            serve_all(a, &addr)
        }
    }
}

/// `gen --serve`: generated tweets (or `--file`'s lines) to every client, at `--rate` each.
fn serve_all(a: GenArgs, addr: &str) -> anyhow::Result<()> {
    let pool = match &a.file {
        Some(path) => Some(Arc::new(Pool::load(path, a.pool)?)),
        None => None,
    };
    let l = TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let rate = if a.rate > 0.0 {
        a.rate.to_string()
    } else {
        "max".into()
    };
    match &pool {
        Some(p) => crate::log::info(format_args!(
            "gen: pool of {} lines ({:.1} MB, {:.1} B/line) from {}; listening on {} at {rate} lines/s per client",
            p.lines_count(),
            p.bytes() as f64 / 1e6,
            p.bytes() as f64 / p.lines_count() as f64,
            a.file.as_deref().unwrap_or(Path::new("")).display(),
            l.local_addr()?,
        )),
        None => crate::log::info(format_args!(
            "gen: serving tweets on {} at {rate} tweets/s per client",
            l.local_addr()?
        )),
    }
    let pace = Pace {
        rate: a.rate,
        count: a.count,
        duration: a.duration,
        status: a.status,
    };
    let a = Arc::new(a);
    let mut served = Vec::new();
    for client in l.incoming() {
        let Ok(stream) = client else { continue };
        let (args, pool) = (a.clone(), pool.clone());
        served.push(std::thread::spawn(move || match pool {
            Some(pool) => serve_pool(stream, &pool, pace),
            None => serve(stream, &args),
        }));
        if a.clients > 0 && served.len() == a.clients {
            break;
        }
    }
    for t in served {
        let _ = t.join();
    }
    Ok(())
}

/// The generated stream: each tweet as a line, with its event time. Tweet `i` is the same as
/// tweet `i` of `gen://` with the same seed, start and step.
struct Tweets {
    model: Model,
    seed: u64,
    format: Format,
    /// Event time of tweet 0 (ms), or `None` for the wall clock.
    start: Option<u64>,
    step_ms: u64,
    rate: f64,
    left: Option<u64>,
    made: u64,
    started: Instant,
    text: String,
    line: Vec<u8>,
}

impl Tweets {
    fn new(a: &GenArgs) -> Tweets {
        Tweets {
            model: Model::new(),
            seed: a.seed,
            format: a.format,
            start: a.start,
            step_ms: crate::time::ms(a.time_step),
            rate: a.rate,
            left: a.count,
            made: 0,
            started: Instant::now(),
            text: String::new(),
            line: Vec::new(),
        }
    }

    /// The next tweet as a line (without its ending) and its event time in ms, waiting for
    /// its turn at `--rate`; `None` after `--count`. `idle` runs before any wait. In JSON lines
    /// it is `{"created_at":TIME,"author":NAME,"text":TEXT}`.
    fn next(&mut self, idle: &mut impl FnMut()) -> Option<(&[u8], u64)> {
        if self.left == Some(0) {
            return None;
        }
        if self.rate > 0.0 {
            let due = Duration::from_secs_f64(self.made as f64 / self.rate);
            let elapsed = self.started.elapsed();
            if elapsed < due {
                idle();
                std::thread::sleep((due - elapsed).min(Duration::from_millis(50)));
            }
        }
        let time = match self.start {
            Some(s) => s.saturating_add(self.made.saturating_mul(self.step_ms)),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let author = self.model.tweet(self.seed, self.made, time, &mut self.text);
        self.line.clear();
        match self.format {
            Format::Text => self.line.extend_from_slice(self.text.as_bytes()),
            Format::Jsonl => {
                let created = crate::time::rfc3339(time);
                let text = serde_json::to_string(&self.text).unwrap_or_default();
                let _ = write!(
                    self.line,
                    "{{\"created_at\":\"{created}\",\"author\":\"{author}\",\"text\":{text}}}"
                );
            }
        }
        self.made += 1;
        if let Some(l) = self.left.as_mut() {
            *l -= 1;
        }
        Some((&self.line, time))
    }
}

fn write_all(a: &GenArgs, out: &mut impl Write) -> io::Result<()> {
    let mut tweets = Tweets::new(a);
    let mut flush_err = Ok(());
    let deadline = a.duration.map(|d| Instant::now() + d);
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let mut idle = || {
            if flush_err.is_ok() {
                flush_err = out.flush();
            }
        };
        let Some((line, _)) = tweets.next(&mut idle) else {
            break;
        };
        flush_err?;
        out.write_all(line)?;
        out.write_all(b"\n")?;
        flush_err = Ok(());
    }
    out.flush()
}

fn serve(stream: TcpStream, a: &GenArgs) {
    let peer = peer_of(&stream);
    crate::log::info(format_args!("gen: client {peer} connected"));
    let mut w = BufWriter::with_capacity(1 << 16, stream);
    let r = write_all(a, &mut w);
    crate::log::info(format_args!(
        "gen: client {peer} {}",
        if r.is_ok() { "done" } else { "disconnected" }
    ));
}

/// Counts deliveries that failed, keeping the first reason.
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = r {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut f) = self.first.lock() {
                f.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// `gen --kafka BROKERS/TOPIC`: produces the stream to the topic (made with `--partitions`
/// if missing): tweet i to partition i mod N, its Kafka timestamp its event time.
fn produce(a: &GenArgs, target: &str) -> anyhow::Result<()> {
    let (brokers, topic) =
        kafka::parse_target(target).map_err(|e| anyhow::anyhow!("--kafka: {e}"))?;
    let name = format!("kafka://{}/{topic}", brokers.join(","));
    kafka::check_reachable(&brokers).map_err(anyhow::Error::msg)?;
    let partitions = ensure_topic(&brokers, &topic, a.partitions)?;
    let producer: BaseProducer<Deliveries> = kafka::client_config(&brokers)
        .set("linger.ms", "10")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Deliveries::default())
        .with_context(|| format!("starting a Kafka producer for {name}"))?;
    let stop = crate::shutdown::flag();
    let mut tweets = Tweets::new(a);
    let started = Instant::now();
    let mut last_note = started;
    let mut sent = 0u64;
    let mut idle = || producer.poll(Duration::ZERO);
    while let Some((line, time)) = tweets.next(&mut idle) {
        let p = (sent % u64::from(partitions)) as i32;
        let mut record = BaseRecord::<(), [u8]>::to(&topic)
            .partition(p)
            .payload(line)
            .timestamp(time as i64);
        // A full local queue: wait for deliveries to make room.
        while let Err((e, r)) = producer.send(record) {
            if e.rdkafka_error_code() != Some(RDKafkaErrorCode::QueueFull) {
                bail!("producing to {name}: {e}");
            }
            producer.poll(Duration::from_millis(10));
            record = r;
        }
        sent += 1;
        if sent % 1024 == 0 {
            producer.poll(Duration::ZERO);
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if last_note.elapsed() >= Duration::from_secs(2) {
                last_note = Instant::now();
                crate::log::info(format_args!(
                    "gen: {sent} tweets to {name} ({:.0}/s)",
                    sent as f64 / started.elapsed().as_secs_f64()
                ));
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .with_context(|| format!("flushing {name}"))?;
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let why = ctx
            .first
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        bail!("{failed} of {sent} tweets were not delivered to {name}: {why}");
    }
    let secs = started.elapsed().as_secs_f64();
    crate::log::info(format_args!(
        "gen: produced {sent} tweets to {name} ({partitions} partitions) in {secs:.2}s = {:.0} tweets/s",
        sent as f64 / secs
    ));
    Ok(())
}

/// The topic's partition count, creating it with `partitions` if it does not exist.
fn ensure_topic(brokers: &[String], topic: &str, partitions: u32) -> anyhow::Result<u32> {
    let meta = kafka::metadata_client(brokers).map_err(anyhow::Error::msg)?;
    if let Ok(ids) = kafka::partitions_of(&meta, brokers, topic) {
        if ids.len() as u32 != partitions {
            crate::log::info(format_args!(
                "gen: topic '{topic}' exists with {} partitions; using them",
                ids.len()
            ));
        }
        return Ok(ids.len() as u32);
    }
    let admin: AdminClient<DefaultClientContext> = kafka::client_config(brokers)
        .create()
        .context("starting a Kafka admin client")?;
    let new = NewTopic::new(topic, partitions as i32, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let results = rt
        .block_on(admin.create_topics([&new], &opts))
        .with_context(|| format!("creating Kafka topic '{topic}'"))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => bail!("creating Kafka topic '{topic}': {code}"),
        }
    }
    // The new topic's metadata may take a moment to reach every broker.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match kafka::partitions_of(&meta, brokers, topic) {
            Ok(ids) if ids.len() as u32 == partitions || Instant::now() >= deadline => {
                return Ok(ids.len() as u32)
            }
            Err(e) if Instant::now() >= deadline => bail!(e),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
