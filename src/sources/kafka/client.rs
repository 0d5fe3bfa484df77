//! What every Kafka client of ours shares: settings, a fast reachability check, metadata.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use super::TIMEOUT;

/// How long opening a TCP connection to a bootstrap broker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

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
}
