//! `kafka://BROKERS/TOPIC`: a Kafka topic whose partitions are shared among the workers of
//! the whole cluster by explicit assignment, with no consumer-group join: worker g of `peers`
//! reads the partitions p with p % peers == g, each as a share of its own. The same binary
//! so scales from one worker to many processes, and each process knows its partitions
//! without asking anyone.
//!
//! The client is rskafka (pure Rust: no C library, no CMake). Each process runs one small
//! Tokio runtime for its Kafka connections; each partition of its workers has a client of
//! its own (one connection to the partition's leader) and a task that fetches it and hands
//! its worker chunks of lines through a bounded queue, so a share's chunk holds one
//! partition's messages in offset order. A task starts at its share's first poll, so that a
//! checkpoint's [`Partition::seek`] can set where the partition starts.
//!
//! A message's value is one line (text or JSON, as `--format`); with `time=timestamp` its
//! Kafka timestamp is the line's event time.
//!
//! With `end=latest` a run over a topic ends by itself: each partition is done when a fetch
//! reaches the end of its log (the fetch response's high watermark) at or past the end it
//! had at start. That end is asked of a fetch too, not of `ListOffsets` alone: the test broker
//! (tansu 0.6.0, in memory) answers `ListOffsets` with the base offset of the last record
//! batch plus one, short of the batch's later records, while its fetch responses are right.
//! On a topic that is no longer written the ends agree; on one still being written, a
//! partition may read past the end at start until it catches up.
//!
//! - `spec.rs`: the URI;
//! - `client.rs`: the runtime, client settings, the reachability check, metadata;
//! - `fetch.rs`: a partition's fetch loop, reconnects included;
//! - `produce.rs`: `tagstream gen --kafka`, the producer;
//! - this file: the partitions of each worker, read as shares.

mod client;
mod fetch;
mod produce;
mod spec;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::PartitionClient;
use rskafka::client::Client;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::task::JoinHandle;

pub use client::check_reachable;
pub use produce::{produce, Messages};
pub use spec::{parse_target, KafkaSpec, Start};

use super::dealer::Finished;
use super::{Partition, Poll, SourceContext};
use client::one_line;
use fetch::{Event, Fetch, Outage};

/// Messages per chunk at most.
const CHUNK: usize = 4096;
/// Bytes of message values per chunk, roughly at most.
const CHUNK_BYTES: usize = 1 << 20;
/// How long metadata, watermark and connection requests may take.
const TIMEOUT: Duration = Duration::from_secs(10);

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
    let name = spec.name();
    let rt = Arc::new(client::runtime(&name)?);
    let first = process * threads;
    let ours = |p: i32| (first..first + threads).contains(&(p as usize % peers));
    let (client, plans) = rt.block_on(async {
        let client = Arc::new(client::connect(&spec.brokers).await?);
        let partitions = client::partitions_of(&client, &spec.brokers, &spec.topic).await?;
        let plans = futures_util::future::try_join_all(
            partitions
                .into_iter()
                .filter(|&p| ours(p))
                .map(|p| plan(&client, spec, p)),
        )
        .await?;
        Ok::<_, String>((client, plans))
    })?;
    let counters = ctx.metrics.source(&name);
    let outage = Arc::new(Outage::default());
    let mut shares: Vec<Vec<Box<dyn Partition>>> = (0..threads).map(|_| Vec::new()).collect();
    for plan in plans {
        counters.connected.fetch_add(1, Relaxed);
        let fetch = Fetch {
            client: client.clone(),
            pc: plan.pc,
            name: name.clone(),
            topic: spec.topic.clone(),
            partition: plan.partition,
            next: plan.from,
            end: spec.end_latest.then_some(plan.end),
            // A broker holds a fetch that finds nothing new this long: with end=latest, the
            // end of a partition is seen that much later (500 ms doubled a short replay).
            wait_ms: if spec.end_latest { 10 } else { 500 },
            stamp_time: spec.stamp_time,
            ctx: ctx.clone(),
            counters: counters.clone(),
            outage: outage.clone(),
        };
        let worker = plan.partition as usize % peers - first;
        shares[worker].push(Box::new(KafkaPartition {
            rt: rt.clone(),
            end: plan.end,
            has_data: plan.from < plan.end,
            done: spec.end_latest && plan.from >= plan.end,
            fetch,
            rx: None,
            task: None,
        }));
    }
    for s in shares.iter_mut().filter(|s| s.is_empty()) {
        s.push(Box::new(Finished));
    }
    Ok(shares)
}

/// What a partition's share starts from.
struct Plan {
    partition: i32,
    pc: Arc<PartitionClient>,
    /// The first offset to read.
    from: i64,
    /// The end of the log at start.
    end: i64,
}

/// Connects to partition `p`'s leader and finds where the partition starts and ends. Every
/// partition of a worker is a share even when there is nothing to read (end=latest on an
/// empty partition), so that the shares of a run are the same on every start and a
/// checkpoint's positions match.
async fn plan(client: &Client, spec: &KafkaSpec, p: i32) -> Result<Plan, String> {
    let name = spec.name();
    let pc = client::partition_client(client, &name, &spec.topic, p).await?;
    let (low, listed) = tokio::time::timeout(TIMEOUT, client::watermarks(&pc))
        .await
        .map_err(|_| format!("{name}: partition {p}: no answer to ListOffsets"))?
        .map_err(|e| format!("{name}: partition {p}: {}", one_line(&e)))?;
    // The listed high watermark may fall inside the last batch (see the module docs): a fetch
    // from it reads the rest of that batch and says where the log ends. It may be held 10 ms
    // at most: tansu answers a fetch that may not wait at all with no topic in it. If this
    // fetch fails, the listed end stands, and end=latest still reads on to the first end of
    // the log a later fetch reports.
    let end =
        match tokio::time::timeout(TIMEOUT, pc.fetch_records(listed, 1..fetch::FETCH_BYTES, 10))
            .await
        {
            Ok(Ok((_, high))) => high.max(listed),
            _ => listed,
        };
    let from = match spec.start {
        Start::Earliest => low,
        Start::Latest => end,
    };
    Ok(Plan {
        partition: p,
        pc: Arc::new(pc),
        from,
        end,
    })
}

/// One Kafka partition: one share of one worker.
struct KafkaPartition {
    /// The runtime of the process's Kafka tasks: the last share dropped stops it.
    rt: Arc<Runtime>,
    /// The partition's task as it starts (next: where it starts).
    fetch: Fetch,
    /// The running task's queue, from the first poll on.
    rx: Option<mpsc::Receiver<Event>>,
    task: Option<JoinHandle<()>>,
    /// The end of the log at start.
    end: i64,
    /// Messages lay between where the partition starts and the end of the log at start.
    has_data: bool,
    done: bool,
}

impl KafkaPartition {
    fn stop_task(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.rx = None;
    }
}

impl Drop for KafkaPartition {
    fn drop(&mut self) {
        self.stop_task();
    }
}

impl Partition for KafkaPartition {
    /// A partition with messages below its end at start holds its worker's event-time
    /// watermark until its first record: the worker's partitions then advance together, so
    /// no record is late for having been fetched after another partition's.
    fn holds_watermark(&self) -> bool {
        self.has_data && !self.done
    }

    fn poll(&mut self) -> Poll {
        if self.done || self.fetch.ctx.stopping() {
            self.stop_task();
            return Poll::Done;
        }
        let rx = match &mut self.rx {
            Some(rx) => rx,
            None => {
                let (tx, rx) = mpsc::channel(fetch::QUEUE);
                self.task = Some(self.rt.spawn(self.fetch.clone().run(tx)));
                self.rx.insert(rx)
            }
        };
        match rx.try_recv() {
            Ok(Event::Lines(chunk)) => {
                if let Some(&p) = chunk.positions.last() {
                    // Where the task restarts from after a seek is set anew; this keeps it
                    // true if the task must be started again otherwise.
                    self.fetch.next = p as i64;
                }
                Poll::Lines(chunk)
            }
            Err(TryRecvError::Empty) => Poll::Idle,
            Ok(Event::End) => {
                self.done = true;
                self.stop_task();
                Poll::Done
            }
            Ok(Event::Fatal(why)) => {
                self.fetch.ctx.fail(why);
                self.done = true;
                self.stop_task();
                Poll::Done
            }
            // The task ended without saying why: it panicked (a bug), and Tokio said so.
            Err(TryRecvError::Disconnected) => {
                let f = &self.fetch;
                f.ctx.fail(format!(
                    "{}: partition {}: the fetch task stopped",
                    f.name, f.partition
                ));
                self.done = true;
                Poll::Done
            }
        }
    }

    fn seek(&mut self, pos: u64) -> Result<(), String> {
        let off = i64::try_from(pos).map_err(|_| format!("offset {pos} is out of range"))?;
        self.stop_task();
        self.fetch.next = off;
        self.has_data = off < self.end;
        self.done = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
