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
//!
//! - `spec.rs`: the URI;
//! - `client.rs`: client settings, the reachability check, metadata;
//! - this file: the partitions of each worker, read as shares.

mod client;
mod spec;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

pub use client::{check_reachable, client_config, metadata_client, partitions_of};
pub use spec::{parse_target, KafkaSpec, Start};

use super::dealer::Finished;
use super::{Chunk, Partition, Poll, SourceContext};
use crate::metrics::{Skip, SourceCounters};

/// Messages per chunk at most.
const CHUNK: usize = 4096;
/// Bytes of message values per chunk, roughly at most.
const CHUNK_BYTES: usize = 1 << 20;
/// How long metadata, watermark and seek requests may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// librdkafka's `assign` needs a group id; it is never joined and no offset is committed.
const GROUP: &str = "tagstream";

/// Opens the source for the `threads` workers of process `process`: for each, one share per
/// partition of its own (p mod peers), or one finished share if it has none.
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
    // (partition, first offset, high watermark) of every partition of this worker: each is a
    // share even when there is nothing to read (end=latest on an empty partition), so that
    // the shares of a run are the same on every start and a checkpoint's positions match.
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
        starts: plan
            .iter()
            .map(|&(p, from, high)| (p, start(from), !(spec.end_latest && from >= high)))
            .collect(),
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
                done: spec.end_latest && next >= high,
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
    /// Where each partition starts, and whether it is read at all (with end=latest, a
    /// partition with nothing below its high watermark is not, unless a checkpoint seeks it).
    starts: Vec<(i32, Offset, bool)>,
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
            for &(p, off, _) in self.starts.iter().filter(|s| s.2) {
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
        } else if let Some(s) = a.starts.iter_mut().find(|s| s.0 == p) {
            (s.1, s.2) = (Offset::Offset(off), true);
        }
        drop(a);
        self.next = off;
        self.done = false;
        Ok(())
    }
}
