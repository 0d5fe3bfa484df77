//! `kafka://BROKERS/TOPIC`: a Kafka topic whose partitions are shared among the workers of
//! the whole cluster by explicit assignment, with no consumer-group join: worker g of `peers`
//! reads the partitions p with p % peers == g, each as a share of its own. The same binary
//! so scales from one worker to many processes, and each process knows its partitions
//! without asking anyone.
//!
//! Each worker has one `BaseConsumer` (one librdkafka client, whose connections and fetch
//! requests serve all its partitions) and reads each partition from its own queue
//! (`split_partition_queue`), so a share's chunk holds one partition's messages in offset
//! order. The queues are split before `assign`: librdkafka leaves a queue that the
//! application forwarded alone when the fetch starts, so no message of a split partition
//! reaches the consumer's main queue. The assignment waits for the first poll, so that a
//! checkpoint's [`Partition::seek`] can set where each partition starts.
//!
//! A message's value is one line (text or JSON, as `--format`); with `time=timestamp` its
//! Kafka timestamp is the line's event time.
//!
//! With `end=latest` a run over a topic ends by itself: each partition is done when the
//! consumer reaches the end of its log (librdkafka's partition EOF, from the high watermark
//! of each fetch response) at or past the high watermark it had at start (`ListOffsets`).
//! The start's watermark alone is not trusted as the end: the test broker (tansu 0.6.0, in
//! memory) answers `ListOffsets` with the base offset of the last record batch plus one,
//! short of the batch's later records, while its fetch responses are right. On a topic that
//! is no longer written both agree; on one still being written, a partition may read past
//! the start's watermark until it catches up.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::dealer::Finished;
use super::{Chunk, Partition, Poll, SourceContext};
use crate::metrics::{Skip, SourceCounters};

/// Messages per chunk at most.
const CHUNK: usize = 4096;
/// Bytes of message values per chunk, roughly at most.
const CHUNK_BYTES: usize = 1 << 20;
/// How long metadata, watermark and seek requests may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a TCP connection to a bootstrap broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// librdkafka's `assign` needs a group id; it is never joined and no offset is committed.
const GROUP: &str = "tagstream";
/// The port of a broker given without one.
const DEFAULT_PORT: u16 = 9092;

/// Where each partition starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Its first retained message (default: a run replays the topic).
    Earliest,
    /// Its end at start: only messages produced from then on.
    Latest,
}

/// Parameters of `kafka://HOST:PORT[,HOST:PORT...]/TOPIC[?start=…&end=latest&time=timestamp]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSpec {
    /// Bootstrap brokers, `HOST:PORT` each.
    pub brokers: Vec<String>,
    /// The topic.
    pub topic: String,
    /// `start=`: where each partition starts.
    pub start: Start,
    /// `end=latest`: each partition ends when it reaches the end of its log, at or past the
    /// high watermark it had at start.
    pub end_latest: bool,
    /// `time=timestamp`: the event time is the Kafka message timestamp, not a JSON field.
    pub stamp_time: bool,
}

impl KafkaSpec {
    /// Parses the part after `kafka://`.
    pub fn parse(rest: &str) -> Result<KafkaSpec, String> {
        let usage = "expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC\
                     [?start=earliest|latest&end=latest&time=timestamp|field]";
        let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (brokers, topic) =
            parse_target(target).map_err(|e| format!("kafka://: {e}; {usage}"))?;
        let mut spec = KafkaSpec {
            brokers,
            topic,
            start: Start::Earliest,
            end_latest: false,
            stamp_time: false,
        };
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=').unwrap_or((kv, "")) {
                ("start", "earliest") => spec.start = Start::Earliest,
                ("start", "latest") => spec.start = Start::Latest,
                ("end", "latest") => spec.end_latest = true,
                ("time", "timestamp") => spec.stamp_time = true,
                ("time", "field") => spec.stamp_time = false,
                _ => return Err(format!("kafka://: unknown option '{kv}'; {usage}")),
            }
        }
        Ok(spec)
    }

    /// `kafka://BROKERS/TOPIC`: the source's name in counters and messages.
    pub fn name(&self) -> String {
        format!("kafka://{}/{}", self.brokers.join(","), self.topic)
    }
}

/// Parses `HOST:PORT[,HOST:PORT...]/TOPIC` (a port defaults to 9092). A user name or password
/// in it is refused without being repeated: this build speaks plaintext Kafka only.
pub fn parse_target(s: &str) -> Result<(Vec<String>, String), String> {
    let s = s.strip_prefix("kafka://").unwrap_or(s);
    let (hosts, topic) = s
        .split_once('/')
        .ok_or("no topic (HOST:PORT/TOPIC)".to_owned())?;
    if hosts.contains('@') {
        return Err(
            "credentials in the broker address are not supported (plaintext Kafka only)".into(),
        );
    }
    let mut brokers = Vec::new();
    for h in hosts.split(',').map(str::trim).filter(|h| !h.is_empty()) {
        let broker = match h.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !port.contains(']') => {
                port.parse::<u16>()
                    .map_err(|_| format!("bad port in broker '{h}'"))?;
                h.to_owned()
            }
            _ => format!("{h}:{DEFAULT_PORT}"),
        };
        brokers.push(broker);
    }
    if brokers.is_empty() {
        return Err("no broker (HOST:PORT/TOPIC)".into());
    }
    let topic = topic.trim_end_matches('/');
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty()
        || topic.len() > 249
        || !topic.chars().all(legal)
        || topic == "."
        || topic == ".."
    {
        return Err(format!(
            "'{topic}' is not a Kafka topic name (1 to 249 of A-Z a-z 0-9 . _ -)"
        ));
    }
    Ok((brokers, topic.to_owned()))
}

/// The settings every client of ours shares.
pub fn client_config(brokers: &[String]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers.join(","))
        .set("client.id", "tagstream")
        // Brokers close idle connections; that is no news worth an error event.
        .set("log.connection.close", "false")
        // Retry a lost broker at most a second apart, as Kafka's own clients do
        // (librdkafka's default grows to 10 s).
        .set("reconnect.backoff.max.ms", "1000");
    c
}

/// Fails fast, with one line naming the brokers, when none accepts a TCP connection (else
/// librdkafka would retry quietly until a request times out).
pub fn check_reachable(brokers: &[String]) -> Result<(), String> {
    let mut why = String::new();
    for b in brokers {
        match b.to_socket_addrs() {
            Ok(addrs) => {
                for a in addrs {
                    match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                        Ok(_) => return Ok(()),
                        Err(e) => why = e.to_string(),
                    }
                }
            }
            Err(e) => why = e.to_string(),
        }
    }
    let list = brokers.join(",");
    Err(format!("cannot connect to Kafka broker {list}: {why}"))
}

/// The topic's partition ids (sorted), or one line naming the topic if it does not exist.
pub fn partitions_of(
    client: &BaseConsumer,
    brokers: &[String],
    topic: &str,
) -> Result<Vec<i32>, String> {
    let list = brokers.join(",");
    let md = client
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(|e| format!("cannot read Kafka metadata from {list}: {e}"))?;
    let missing = || format!("Kafka topic '{topic}' does not exist on {list}");
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(missing)?;
    if let Some(err) = t.error() {
        return Err(match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => missing(),
            code => format!("Kafka topic '{topic}' on {list}: {code}"),
        });
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    if ids.is_empty() {
        return Err(missing());
    }
    Ok(ids)
}

/// A client for metadata and watermarks only (no group, never assigned).
pub fn metadata_client(brokers: &[String]) -> Result<BaseConsumer, String> {
    client_config(brokers)
        .create()
        .map_err(|e| format!("cannot start a Kafka client for {}: {e}", brokers.join(",")))
}

/// Opens the source for the `threads` workers of process `process`: for each, one share per
/// partition it reads (or one finished share if it reads none).
pub fn open(
    spec: &KafkaSpec,
    process: usize,
    threads: usize,
    peers: usize,
    ctx: &SourceContext,
) -> Result<Vec<Vec<Box<dyn Partition>>>, String> {
    check_reachable(&spec.brokers)?;
    let meta = metadata_client(&spec.brokers)?;
    let partitions = partitions_of(&meta, &spec.brokers, &spec.topic)?;
    let counters = ctx.metrics.source(&spec.name());
    let first = process * threads;
    (0..threads)
        .map(|w| {
            let mine: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|p| *p as usize % peers == first + w)
                .collect();
            worker_shares(spec, &meta, &mine, ctx, &counters)
        })
        .collect()
}

/// One worker's shares: its consumer, each partition's queue split off it.
fn worker_shares(
    spec: &KafkaSpec,
    meta: &BaseConsumer,
    mine: &[i32],
    ctx: &SourceContext,
    counters: &Arc<SourceCounters>,
) -> Result<Vec<Box<dyn Partition>>, String> {
    // (partition, first offset, high watermark) of the partitions to read: with
    // `end=latest`, those with something below their high watermark.
    let mut plan = Vec::new();
    for &p in mine {
        let (low, high) = meta
            .fetch_watermarks(&spec.topic, p, TIMEOUT)
            .map_err(|e| format!("{}: partition {p}: {e}", spec.name()))?;
        let from = if spec.start == Start::Latest {
            high
        } else {
            low
        };
        if spec.end_latest && from >= high {
            continue;
        }
        plan.push((p, from, high));
    }
    if plan.is_empty() {
        return Ok(vec![Box::new(Finished)]);
    }
    let mut cfg = client_config(&spec.brokers);
    cfg.set("group.id", GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A checkpoint's offset that retention already deleted: go on from the earliest.
        .set("auto.offset.reset", "earliest")
        // Each split partition queue prefetches up to 8 MB (librdkafka's 64 MB counts per
        // partition once queues are split), and refills 10 ms after it drained below its
        // thresholds instead of librdkafka's 1 s, which left the consumer waiting: a 2M
        // message replay against tansu went from 0.45M to about 1M messages/s.
        .set("queued.max.messages.kbytes", "8192")
        .set("fetch.queue.backoff.ms", "10")
        // A broker holds an empty fetch this long: with end=latest, the end of a partition
        // is seen that much later (librdkafka's 500 ms doubled a short replay's time).
        .set(
            "fetch.wait.max.ms",
            if spec.end_latest { "10" } else { "500" },
        )
        .set(
            "enable.partition.eof",
            if spec.end_latest { "true" } else { "false" },
        );
    let consumer: Arc<BaseConsumer> = Arc::new(
        cfg.create()
            .map_err(|e| format!("{}: cannot start a consumer: {e}", spec.name()))?,
    );
    counters.connected.fetch_add(1, Relaxed);
    // The earliest offset is known already: starting from it spares librdkafka an offset
    // query (about 500 ms before the first message against tansu).
    let start = |from: i64| match spec.start {
        Start::Earliest => Offset::Offset(from),
        Start::Latest => Offset::End,
    };
    let shared = Arc::new(Mutex::new(Assignment {
        consumer: consumer.clone(),
        name: spec.name(),
        topic: spec.topic.clone(),
        starts: plan.iter().map(|&(p, from, _)| (p, start(from))).collect(),
        assigned: false,
        down: false,
        counters: counters.clone(),
    }));
    plan.into_iter()
        .map(|(p, next, high)| {
            let queue = consumer
                .split_partition_queue(&spec.topic, p)
                .ok_or_else(|| format!("{}: no queue for partition {p}", spec.name()))?;
            Ok(Box::new(KafkaPartition {
                queue,
                shared: shared.clone(),
                partition: p,
                next,
                end: spec.end_latest.then_some(high),
                has_data: next < high,
                done: false,
                stamp_time: spec.stamp_time,
                ctx: ctx.clone(),
                counters: counters.clone(),
            }) as Box<dyn Partition>)
        })
        .collect()
}

/// A worker's consumer and what its shares agreed on, behind one lock (only that worker's
/// thread takes it, so it is never contended).
struct Assignment {
    consumer: Arc<BaseConsumer>,
    name: String,
    topic: String,
    /// Where each partition starts, until the assignment is made.
    starts: Vec<(i32, Offset)>,
    assigned: bool,
    /// Every broker is unreachable now (librdkafka keeps trying).
    down: bool,
    counters: Arc<SourceCounters>,
}

impl Assignment {
    /// Assigns the partitions at the first call; then serves the consumer's main queue
    /// (errors and broker state: messages of split partitions never arrive there).
    fn serve(&mut self) -> Result<(), String> {
        if !self.assigned {
            let mut tpl = TopicPartitionList::new();
            for &(p, off) in &self.starts {
                tpl.add_partition_offset(&self.topic, p, off)
                    .map_err(|e| format!("{}: partition {p}: {e}", self.name))?;
            }
            self.consumer
                .assign(&tpl)
                .map_err(|e| format!("{}: cannot assign partitions: {e}", self.name))?;
            self.assigned = true;
        }
        while let Some(event) = self.consumer.poll(Duration::ZERO) {
            match event {
                Ok(m) => crate::log::warn(format_args!(
                    "{}: message of partition {} on the main queue, skipped",
                    self.name,
                    m.partition()
                )),
                Err(KafkaError::MessageConsumptionFatal(code)) => {
                    return Err(format!("{}: {code}", self.name))
                }
                Err(e) => self.broker_trouble(&e),
            }
        }
        Ok(())
    }

    /// Counts a client error. A lost broker connection (librdkafka reconnects by itself,
    /// with its own backoff) is one warning per outage and one reconnect each; other errors
    /// are counted, the first one of a run also said.
    fn broker_trouble(&mut self, e: &KafkaError) {
        match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown) => {
                self.counters.reconnects.fetch_add(1, Relaxed);
                if !self.down {
                    self.down = true;
                    self.counters.connected.fetch_sub(1, Relaxed);
                    crate::log::warn(format_args!(
                        "{}: lost the broker connection ({e}); reconnecting",
                        self.name
                    ));
                }
            }
            _ => {
                if self.counters.skipped("client_error") == 0 {
                    crate::log::warn(format_args!("{}: {e}", self.name));
                }
                self.counters.skip("client_error");
            }
        }
    }

    /// Messages flow again after an outage.
    fn up(&mut self) {
        if self.down {
            self.down = false;
            self.counters.connected.fetch_add(1, Relaxed);
            crate::log::info(format_args!("{}: receiving again", self.name));
        }
    }
}

/// One Kafka partition: one share of one worker.
struct KafkaPartition {
    queue: PartitionQueue<DefaultConsumerContext>,
    shared: Arc<Mutex<Assignment>>,
    partition: i32,
    /// The offset after the last message read.
    next: i64,
    /// `end=latest`: the partition's high watermark at start. The partition is done at the
    /// first end of the log at or past it (see the module docs).
    end: Option<i64>,
    /// Messages lay below the high watermark at start.
    has_data: bool,
    done: bool,
    stamp_time: bool,
    ctx: SourceContext,
    counters: Arc<SourceCounters>,
}

impl KafkaPartition {
    fn lock(&self) -> std::sync::MutexGuard<'_, Assignment> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds one message's value to `chunk` as a line, or counts why it is skipped.
    fn take(&self, m: &BorrowedMessage, chunk: &mut Chunk) {
        self.counters.records.fetch_add(1, Relaxed);
        let value = m.payload().unwrap_or_default();
        if value.is_empty() {
            self.ctx.metrics.skip(Skip::MissingField);
            self.counters.skip("empty_value");
            return;
        }
        if value.len() > self.ctx.max_line {
            self.ctx.metrics.skip(Skip::LineTooLong);
            return;
        }
        let time = m
            .timestamp()
            .to_millis()
            .and_then(|t| u64::try_from(t).ok());
        if self.stamp_time {
            let Some(t) = time else {
                self.ctx.metrics.skip(Skip::MissingField);
                self.counters.skip("no_timestamp");
                return;
            };
            chunk.times.push(t);
        }
        chunk.push_line(value);
        chunk.positions.push(m.offset() as u64 + 1);
    }
}

impl Partition for KafkaPartition {
    /// A partition with messages below its high watermark holds its worker's event-time
    /// watermark until its first record: the worker's partitions then advance together, so
    /// no record is late for having been fetched after another partition's.
    fn holds_watermark(&self) -> bool {
        self.has_data && !self.done
    }

    fn poll(&mut self) -> Poll {
        if self.done || self.ctx.stopping() {
            return Poll::Done;
        }
        if let Err(e) = self.lock().serve() {
            self.ctx.fail(e);
            return Poll::Done;
        }
        let mut chunk = Chunk::default();
        while chunk.len() < CHUNK && chunk.data.len() < CHUNK_BYTES {
            match self.queue.poll(Duration::ZERO) {
                None => break,
                Some(Ok(m)) => {
                    self.next = m.offset() + 1;
                    self.take(&m, &mut chunk);
                }
                // The end of the log as of the last fetch.
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    if self.end.is_some_and(|e| self.next >= e) {
                        self.done = true;
                        break;
                    }
                }
                Some(Err(e)) => self.lock().broker_trouble(&e),
            }
        }
        if !chunk.is_empty() {
            self.lock().up();
            Poll::Lines(chunk)
        } else if self.done {
            Poll::Done
        } else {
            Poll::Idle
        }
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        let off = i64::try_from(pos).map_err(|_| format!("offset {pos} is out of range"))?;
        let p = self.partition;
        let mut a = self.lock();
        if a.assigned {
            a.consumer
                .seek(&a.topic, p, Offset::Offset(off), TIMEOUT)
                .map_err(|e| format!("{}: partition {p}: cannot seek to {off}: {e}", a.name))?;
        } else if let Some(s) = a.starts.iter_mut().find(|(q, _)| *q == p) {
            s.1 = Offset::Offset(off);
        }
        drop(a);
        self.next = off;
        self.done = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        let s = KafkaSpec::parse("127.0.0.1:9092/tweets").unwrap();
        assert_eq!(s.brokers, ["127.0.0.1:9092"]);
        assert_eq!(s.topic, "tweets");
        assert_eq!(
            (s.start, s.end_latest, s.stamp_time),
            (Start::Earliest, false, false)
        );
        assert_eq!(s.name(), "kafka://127.0.0.1:9092/tweets");

        let s =
            KafkaSpec::parse("a:1, b ,c:3/t.x_y-z?start=latest&end=latest&time=timestamp").unwrap();
        assert_eq!(s.brokers, ["a:1", "b:9092", "c:3"]);
        assert_eq!(s.topic, "t.x_y-z");
        assert_eq!(
            (s.start, s.end_latest, s.stamp_time),
            (Start::Latest, true, true)
        );
        assert_eq!(
            KafkaSpec::parse("[::1]:9093/t").unwrap().brokers,
            ["[::1]:9093"]
        );
    }

    #[test]
    fn bad_uris_name_the_problem() {
        let err = |u: &str| KafkaSpec::parse(u).unwrap_err();
        assert!(err("127.0.0.1:9092").contains("no topic"));
        assert!(err("/t").contains("no broker"));
        assert!(err("h:99999/t").contains("bad port in broker 'h:99999'"));
        assert!(err("h:1/a b").contains("not a Kafka topic name"));
        assert!(err("h:1/..").contains("not a Kafka topic name"));
        assert!(err("h:1/t?end=earliest").contains("unknown option 'end=earliest'"));
        assert!(err("h:1/t?group=g").contains("unknown option 'group=g'"));
        // Credentials are refused and never repeated.
        let e = err("user:s3cret@h:1/t");
        assert!(e.contains("credentials") && !e.contains("s3cret"), "{e}");
    }

    #[test]
    fn unreachable_broker_is_one_line_naming_it() {
        // A port nobody listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = check_reachable(&[format!("127.0.0.1:{port}")]).unwrap_err();
        assert!(e.starts_with(&format!(
            "cannot connect to Kafka broker 127.0.0.1:{port}: "
        )));
        assert!(!e.contains('\n'));
    }
}
