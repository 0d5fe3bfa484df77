//! `tagstream gen --kafka BROKERS/TOPIC`: produces a stream of messages to a topic (made with
//! the given number of partitions if missing): message i to the topic's partition i mod N,
//! with its event time as the Kafka timestamp, so each partition is in time order.
//!
//! The caller's thread makes the messages and gathers them into one batch per partition; a
//! task per partition on the Kafka runtime sends its batches in order, one request at a
//! time, while the next batches fill (at most [`IN_FLIGHT`] waiting per partition: a slow
//! broker slows the caller down instead of growing memory).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rskafka::chrono::{DateTime, Utc};
use rskafka::client::error::{Error, ProtocolError};
use rskafka::client::partition::Compression;
use rskafka::client::Client;
use rskafka::record::Record;
use tokio::sync::mpsc;

use super::client::{self, one_line};
use super::{check_reachable, parse_target};

/// Messages in one produce request at most.
const BATCH: usize = 10_000;
/// Bytes of values in one produce request, roughly at most.
const BATCH_BYTES: usize = 1 << 20;
/// A batch waits at most this long for more messages (librdkafka's `linger.ms` as we had it).
const LINGER: Duration = Duration::from_millis(10);
/// Batches queued per partition behind the one being sent.
const IN_FLIGHT: usize = 4;
/// How long the last batches may take to be delivered at the end.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// The messages to produce, in order.
pub trait Messages {
    /// The next message's value and timestamp (ms since the epoch), waiting for its turn if
    /// the stream is paced; `None` at the end. `idle` runs before any wait, so that batches
    /// are sent rather than held while the stream waits.
    fn next_message(&mut self, idle: &mut dyn FnMut()) -> Option<(&[u8], u64)>;
}

/// Deliveries that failed, and the first reason.
#[derive(Default)]
struct Failures {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

/// Produces `messages` to `target` (`HOST:PORT[,…]/TOPIC`), creating the topic with
/// `partitions` if it does not exist, until the messages end or `stop` is set. Progress goes
/// to the log every 2 s, and the total at the end. Errors are one line.
pub fn produce(
    target: &str,
    partitions: u32,
    messages: &mut dyn Messages,
    stop: &AtomicBool,
) -> Result<(), String> {
    let (brokers, topic) = parse_target(target).map_err(|e| format!("--kafka: {e}"))?;
    let name = format!("kafka://{}/{topic}", brokers.join(","));
    check_reachable(&brokers)?;
    let rt = client::runtime(&name)?;
    let clients = rt.block_on(async {
        let client = client::connect(&brokers).await?;
        let ids = ensure_topic(&client, &brokers, &topic, partitions).await?;
        let pcs = futures_util::future::try_join_all(
            ids.iter()
                .map(|&p| client::partition_client(&client, &name, &topic, p)),
        )
        .await?;
        Ok::<_, String>(pcs)
    })?;
    let n = clients.len();
    let failures = Arc::new(Failures::default());
    let (mut senders, mut tasks) = (Vec::new(), Vec::new());
    for pc in clients {
        let (tx, mut rx) = mpsc::channel::<Vec<Record>>(IN_FLIGHT);
        let failures = failures.clone();
        senders.push(tx);
        tasks.push(rt.spawn(async move {
            while let Some(batch) = rx.recv().await {
                let len = batch.len() as u64;
                // rskafka retries a lost connection by itself (client::connect's backoff)
                // before it gives up on a batch.
                if let Err(e) = pc.produce(batch, Compression::NoCompression).await {
                    failures.count.fetch_add(len, Ordering::Relaxed);
                    if let Ok(mut f) = failures.first.lock() {
                        f.get_or_insert_with(|| one_line(&e));
                    }
                }
            }
        }));
    }
    let mut batches = Batches {
        open: (0..n).map(|_| Vec::with_capacity(BATCH)).collect(),
        bytes: vec![0; n],
        since: None,
        senders,
    };
    let started = Instant::now();
    let mut last_note = started;
    let mut sent = 0u64;
    loop {
        let mut idle = || batches.flush_all();
        let Some((value, time)) = messages.next_message(&mut idle) else {
            break;
        };
        batches.push((sent % n as u64) as usize, value, time);
        sent += 1;
        if sent.is_multiple_of(1024) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if batches.since.is_some_and(|t| t.elapsed() >= LINGER) {
                batches.flush_all();
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
    batches.flush_all();
    // Closing the queues ends each task once its last batch is delivered.
    drop(batches);
    rt.block_on(async {
        tokio::time::timeout(FLUSH_TIMEOUT, futures_util::future::join_all(tasks)).await
    })
    .map_err(|_| format!("flushing {name}: timed out"))?;
    let failed = failures.count.load(Ordering::Relaxed);
    if failed > 0 {
        let why = failures
            .first
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        return Err(format!(
            "{failed} of {sent} tweets were not delivered to {name}: {why}"
        ));
    }
    let secs = started.elapsed().as_secs_f64();
    crate::log::info(format_args!(
        "gen: produced {sent} tweets to {name} ({n} partitions) in {secs:.2}s = {:.0} tweets/s",
        sent as f64 / secs
    ));
    Ok(())
}

/// The batch being filled for each partition, and the queues to the partitions' tasks.
struct Batches {
    open: Vec<Vec<Record>>,
    bytes: Vec<usize>,
    /// When the oldest message not yet handed to a task was added.
    since: Option<Instant>,
    senders: Vec<mpsc::Sender<Vec<Record>>>,
}

impl Batches {
    fn push(&mut self, p: usize, value: &[u8], time: u64) {
        let ms = i64::try_from(time).unwrap_or(i64::MAX);
        self.open[p].push(Record {
            key: None,
            value: Some(value.to_vec()),
            headers: BTreeMap::new(),
            timestamp: DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default(),
        });
        self.bytes[p] += value.len();
        self.since.get_or_insert_with(Instant::now);
        if self.open[p].len() >= BATCH || self.bytes[p] >= BATCH_BYTES {
            self.flush(p);
        }
    }

    /// Hands partition `p`'s batch to its task, waiting while its queue is full.
    fn flush(&mut self, p: usize) {
        if self.open[p].is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.open[p], Vec::with_capacity(BATCH));
        self.bytes[p] = 0;
        // The task only ends when its queue closes, so this cannot fail.
        let _ = self.senders[p].blocking_send(batch);
    }

    fn flush_all(&mut self) {
        for p in 0..self.open.len() {
            self.flush(p);
        }
        self.since = None;
    }
}

/// The topic's partition ids, creating it with `partitions` if it does not exist.
async fn ensure_topic(
    client: &Client,
    brokers: &[String],
    topic: &str,
    partitions: u32,
) -> Result<Vec<i32>, String> {
    if let Ok(ids) = client::partitions_of(client, brokers, topic).await {
        if ids.len() as u32 != partitions {
            crate::log::info(format_args!(
                "gen: topic '{topic}' exists with {} partitions; using them",
                ids.len()
            ));
        }
        return Ok(ids);
    }
    let count = i32::try_from(partitions).map_err(|_| "--partitions: too many".to_owned())?;
    let controller = client
        .controller_client()
        .map_err(|e| format!("creating Kafka topic '{topic}': {}", one_line(&e)))?;
    match controller.create_topic(topic, count, 1, 10_000).await {
        Ok(())
        | Err(Error::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            ..
        }) => {}
        Err(e) => return Err(format!("creating Kafka topic '{topic}': {}", one_line(&e))),
    }
    // The new topic's metadata may take a moment to reach every broker.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client::partitions_of(client, brokers, topic).await {
            Ok(ids) if ids.len() as u32 == partitions || Instant::now() >= deadline => {
                return Ok(ids)
            }
            Err(e) if Instant::now() >= deadline => return Err(e),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
