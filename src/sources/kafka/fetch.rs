//! One partition's fetch loop: a task on the Kafka runtime that fetches the partition from
//! its leader, turns each response into chunks of lines, and hands them to the worker
//! through a bounded queue (the task waits while the worker is behind, so memory stays
//! bounded by the queue, not by the topic).

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::error::{Error, ProtocolError};
use rskafka::client::partition::PartitionClient;
use rskafka::client::Client;
use rskafka::record::RecordAndOffset;
use tokio::sync::mpsc;

use super::client::{is_lost, one_line, partition_client, watermarks};
use super::{CHUNK, CHUNK_BYTES};
use crate::metrics::{Skip, SourceCounters};
use crate::sources::{Chunk, SourceContext};

/// Bytes of one partition's records one fetch asks for (a batch larger than that still
/// comes whole), librdkafka's default too. Measured on 2M messages of ~130 bytes, 4
/// partitions, one worker, tansu on the same 2 cores: 1 MB ran about 1.4x as fast as 4 MB or
/// 16 MB (a worker waits less for the first chunk of a smaller response); 256 KB was no
/// faster and cost the broker 40% more CPU.
pub const FETCH_BYTES: i32 = 1 << 20;
/// Chunks queued between a partition's task and its worker: with chunks of at most 1 MB, up
/// to about 8 MB of messages per partition read ahead (what librdkafka's queue held here).
pub const QUEUE: usize = 8;
/// A fetch that gets no answer at all in this long (a broker that accepts but never replies)
/// counts as a lost connection, and the partition's connection is made anew.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait before asking again after a failed fetch.
const RETRY: Duration = Duration::from_secs(1);
/// Consecutive failed fetches of one offset for reasons other than a lost broker (an answer
/// that cannot be decoded, a topic deleted under us) before the run ends with the last one.
const MAX_FAILURES: u32 = 10;

/// What a partition's task hands its worker.
#[derive(Debug)]
pub enum Event {
    /// The next lines of the partition, in offset order.
    Lines(Chunk),
    /// `end=latest`: the end of the log was reached, at or past the high watermark at start.
    End,
    /// The partition cannot be read on: one line saying why.
    Fatal(String),
}

/// How many of a source's partitions (in this process) are out of reach now: the first
/// one lost says so, the last one back says so, so an outage is one warning, not one per
/// partition.
#[derive(Debug, Default)]
pub struct Outage {
    down: AtomicUsize,
}

/// Everything a partition's task needs; cloned for each (re)start of the task.
#[derive(Clone)]
pub struct Fetch {
    pub client: Arc<Client>,
    pub pc: Arc<PartitionClient>,
    pub name: String,
    pub topic: String,
    pub partition: i32,
    /// The next offset to read.
    pub next: i64,
    /// `end=latest`: the end of the log at start (see the module docs).
    pub end: Option<i64>,
    /// How long the broker may hold a fetch that finds nothing new.
    pub wait_ms: i32,
    pub stamp_time: bool,
    pub ctx: SourceContext,
    pub counters: Arc<SourceCounters>,
    pub outage: Arc<Outage>,
}

impl Fetch {
    /// Fetches until the end (`end=latest`), a fatal error, or the worker goes away.
    pub async fn run(mut self, tx: mpsc::Sender<Event>) {
        let mut down = false;
        let mut failures = 0;
        loop {
            let fetched = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.pc
                    .fetch_records(self.next, 1..FETCH_BYTES, self.wait_ms),
            )
            .await;
            let (records, high) = match fetched {
                Ok(Ok(got)) => got,
                Ok(Err(e)) if is_lost(&e) => {
                    self.lost(&mut down, &one_line(&e));
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
                Err(_) => {
                    self.lost(&mut down, "no answer to a fetch");
                    // The connection may be wedged rather than closed: make a new one.
                    if let Ok(pc) =
                        partition_client(&self.client, &self.name, &self.topic, self.partition)
                            .await
                    {
                        self.pc = Arc::new(pc);
                    }
                    continue;
                }
                Ok(Err(Error::ServerError {
                    protocol_error: ProtocolError::OffsetOutOfRange,
                    ..
                })) => {
                    self.reset().await;
                    continue;
                }
                Ok(Err(e)) => {
                    failures += 1;
                    let why = format!(
                        "{}: partition {} at offset {}: {}",
                        self.name,
                        self.partition,
                        self.next,
                        one_line(&e)
                    );
                    if failures >= MAX_FAILURES {
                        let _ = tx.send(Event::Fatal(why)).await;
                        return;
                    }
                    if self.counters.skipped("client_error") == 0 {
                        crate::log::warn(format_args!("{why}"));
                    }
                    self.counters.skip("client_error");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            failures = 0;
            self.back(&mut down);
            self.counters
                .records
                .fetch_add(records.len() as u64, Relaxed);
            let mut chunk = Chunk::default();
            for r in records {
                self.next = r.offset + 1;
                self.take(r, &mut chunk);
                if chunk.len() >= CHUNK || chunk.data.len() >= CHUNK_BYTES {
                    let full = std::mem::take(&mut chunk);
                    if tx.send(Event::Lines(full)).await.is_err() {
                        return;
                    }
                }
            }
            if !chunk.is_empty() && tx.send(Event::Lines(chunk)).await.is_err() {
                return;
            }
            // The end of the log as of this fetch (its high watermark), at or past the end
            // at start.
            if self.end.is_some_and(|e| self.next >= e) && self.next >= high {
                let _ = tx.send(Event::End).await;
                return;
            }
        }
    }

    /// Adds one message's value to `chunk` as a line, or counts why it is skipped.
    fn take(&self, r: RecordAndOffset, chunk: &mut Chunk) {
        let value = r.record.value.unwrap_or_default();
        if value.is_empty() {
            self.ctx.metrics.skip(Skip::MissingField);
            self.counters.skip("empty_value");
            return;
        }
        if value.len() > self.ctx.max_line {
            self.ctx.metrics.skip(Skip::LineTooLong);
            return;
        }
        if self.stamp_time {
            // Kafka's "no timestamp" is -1.
            let Ok(t) = u64::try_from(r.record.timestamp.timestamp_millis()) else {
                self.ctx.metrics.skip(Skip::MissingField);
                self.counters.skip("no_timestamp");
                return;
            };
            chunk.times.push(t);
        }
        chunk.push_line(&value);
        chunk.positions.push(r.offset as u64 + 1);
    }

    /// The offset to read is no longer in the log (retention deleted what a checkpoint
    /// points at): go on from the earliest one retained, as librdkafka's
    /// `auto.offset.reset=earliest` did.
    async fn reset(&mut self) {
        match watermarks(&self.pc).await {
            Ok((low, _)) => {
                crate::log::warn(format_args!(
                    "{}: partition {}: offset {} is not in the log; going on from {low}",
                    self.name, self.partition, self.next
                ));
                self.counters.skip("offset_reset");
                self.next = low;
            }
            // The next fetch fails the same way and says why (lost broker or other).
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }

    /// The broker is out of reach: one warning per outage, one reconnect counted per try.
    fn lost(&self, down: &mut bool, why: &str) {
        self.counters.reconnects.fetch_add(1, Relaxed);
        if !*down {
            *down = true;
            self.counters.connected.fetch_sub(1, Relaxed);
            if self.outage.down.fetch_add(1, Relaxed) == 0 {
                crate::log::warn(format_args!(
                    "{}: lost the broker connection ({why}); reconnecting",
                    self.name
                ));
            }
        }
    }

    /// A fetch was answered again after an outage.
    fn back(&self, down: &mut bool) {
        if *down {
            *down = false;
            self.counters.connected.fetch_add(1, Relaxed);
            if self.outage.down.fetch_sub(1, Relaxed) == 1 {
                crate::log::info(format_args!("{}: receiving again", self.name));
            }
        }
    }
}
