//! What every Kafka client of ours shares: the runtime that drives it, its settings, a fast
//! reachability check, metadata and watermarks, and how an rskafka error reads in one line.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rskafka::client::error::{Error, RequestError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use super::TIMEOUT;

/// How long opening a TCP connection to a bootstrap broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The runtime that drives a process's Kafka connections: one thread. The fetch tasks
/// mostly wait on the broker, and decoding a fetch response costs less than the pipeline's
/// own work per message; a second thread only competed with the broker and the workers for
/// the 2 cores measured here.
pub fn runtime(name: &str) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kafka")
        .enable_all()
        .build()
        .map_err(|e| format!("{name}: cannot start the Kafka client's runtime: {e}"))
}

/// A client of `brokers` (plaintext, client id `tagstream`), with its cluster metadata.
///
/// rskafka retries a request that failed for want of a connection by itself, with this
/// backoff: at most a second apart, as Kafka's own clients do. Its default grows to 500 s and
/// never gives up, which would hide an outage; here a request gives up after a few seconds,
/// so the source can say the broker is lost and count the reconnects, then try again.
pub async fn connect(brokers: &[String]) -> Result<Client, String> {
    ClientBuilder::new(brokers.to_vec())
        .client_id("tagstream")
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(Duration::from_secs(3)),
        })
        .build()
        .await
        .map_err(|e| {
            format!(
                "cannot read Kafka metadata from {}: {}",
                brokers.join(","),
                one_line(&e)
            )
        })
}

/// Fails fast, with one line naming the brokers, when none accepts a TCP connection (else
/// the client would retry quietly until its deadline).
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
/// The whole cluster's topic list is asked for, never the topic by name: a broker that
/// creates topics on first mention must not create it here.
pub async fn partitions_of(
    client: &Client,
    brokers: &[String],
    topic: &str,
) -> Result<Vec<i32>, String> {
    let list = brokers.join(",");
    let topics = tokio::time::timeout(TIMEOUT, client.list_topics())
        .await
        .map_err(|_| format!("cannot read Kafka metadata from {list}: timed out"))?
        .map_err(|e| format!("cannot read Kafka metadata from {list}: {}", one_line(&e)))?;
    let ids: Vec<i32> = topics
        .into_iter()
        .find(|t| t.name == topic)
        .map(|t| t.partitions.into_iter().collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(format!("Kafka topic '{topic}' does not exist on {list}"));
    }
    Ok(ids)
}

/// A client of one partition, on its own connection to the partition's leader.
pub async fn partition_client(
    client: &Client,
    name: &str,
    topic: &str,
    p: i32,
) -> Result<PartitionClient, String> {
    tokio::time::timeout(
        TIMEOUT,
        client.partition_client(topic, p, UnknownTopicHandling::Error),
    )
    .await
    .map_err(|_| format!("{name}: partition {p}: no answer from its leader"))?
    .map_err(|e| format!("{name}: partition {p}: {}", one_line(&e)))
}

/// The partition's (low, high) watermarks as `ListOffsets` gives them. The high one may be
/// short of the end of the log: see the module docs.
pub async fn watermarks(pc: &PartitionClient) -> Result<(i64, i64), Error> {
    let low = pc.get_offset(OffsetAt::Earliest).await?;
    let high = pc.get_offset(OffsetAt::Latest).await?;
    Ok((low, high.max(low)))
}

/// True for errors that mean the broker is out of reach (a connection refused, reset or
/// timed out, or rskafka's retries of one exhausted): the source reconnects. Anything else
/// is an answer the broker gave.
pub fn is_lost(e: &Error) -> bool {
    matches!(
        e,
        Error::Connection(_)
            | Error::Request(RequestError::IO(_) | RequestError::Poisoned(_))
            | Error::RetryFailed(_)
            | Error::Timeout
    )
}

/// An rskafka error as one line: its message, with any line breaks of a broker's text (or
/// of a nested error) folded.
pub fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn errors_fold_to_one_line() {
        let e = Error::InvalidResponse("bad\nbatch\r\n  at 3".into());
        assert_eq!(one_line(&e), "Invalid response: bad batch at 3");
        assert!(!is_lost(&e));
        assert!(is_lost(&Error::Timeout));
    }
}
