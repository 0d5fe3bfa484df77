//! Against the broker `.ci/run` starts (`TAGSTREAM_TEST_KAFKA`), like tests/kafka.rs: what
//! `gen --kafka` cannot produce (batches compressed by another client) and where a partition
//! starts and ends when its log is several batches long.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;

use super::*;
use crate::metrics::Metrics;

/// The test broker, or `None` (with a note) outside CI; under CI its absence fails.
fn broker() -> Option<String> {
    match std::env::var("TAGSTREAM_TEST_KAFKA") {
        Ok(b) if !b.is_empty() => Some(b),
        _ if std::env::var_os("CI").is_some() => {
            panic!("TAGSTREAM_TEST_KAFKA is not set under CI: .ci/run must start the broker")
        }
        _ => {
            eprintln!("SKIP: TAGSTREAM_TEST_KAFKA is not set (.ci/run starts a tansu broker)");
            None
        }
    }
}

/// Three batches of 100 messages each, compressed with `compression`, into a new topic.
fn produce_compressed(broker: &str, topic: &str, compression: Compression) {
    let rt = client::runtime("test").unwrap();
    rt.block_on(async {
        let c = client::connect(&[broker.to_owned()]).await.unwrap();
        c.controller_client()
            .unwrap()
            .create_topic(topic, 1, 1, 10_000)
            .await
            .unwrap();
        let pc = c
            .partition_client(topic, 0, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        for batch in 0..3 {
            let records = (0..100)
                .map(|i| Record {
                    key: None,
                    value: Some(format!("message {} #tag{}", batch * 100 + i, i % 7).into_bytes()),
                    headers: BTreeMap::new(),
                    timestamp: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_000 + i)
                        .unwrap(),
                })
                .collect();
            pc.produce(records, compression).await.unwrap();
        }
    });
}

/// Every line of the topic (`kafka://BROKER/TOPIC?end=latest` and `options`), read to its end
/// as one worker's share.
fn read_all(broker: &str, topic: &str, options: &str) -> Vec<(u64, Vec<u8>)> {
    let spec = KafkaSpec::parse(&format!("{broker}/{topic}?end=latest{options}")).unwrap();
    let ctx = SourceContext::new(
        Arc::new(Metrics::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let mut parts = open(&spec, 0, 1, 1, &ctx).unwrap().remove(0);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match parts[0].poll() {
            Poll::Lines(c) => got.extend(
                c.positions
                    .iter()
                    .copied()
                    .zip(c.iter().map(<[u8]>::to_vec)),
            ),
            Poll::Idle => assert!(Instant::now() < deadline, "no end after {}", got.len()),
            Poll::Done => break,
        }
        std::thread::park_timeout(Duration::from_millis(1));
    }
    assert_eq!(ctx.failure(), None);
    got
}

/// A topic name no other test (or earlier run on the same broker) uses.
fn fresh_topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

#[test]
fn compressed_batches_are_read_like_plain_ones() {
    let Some(b) = broker() else { return };
    for (codec, compression) in [
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
    ] {
        let topic = fresh_topic(&format!("compressed-{codec}"));
        produce_compressed(&b, &topic, compression);
        let got = read_all(&b, &topic, "");
        assert_eq!(got.len(), 300, "{codec}");
        for (i, (pos, line)) in got.iter().enumerate() {
            assert_eq!(*pos, i as u64 + 1, "{codec}");
            let want = format!("message {i} #tag{}", i % 100 % 7);
            assert_eq!(String::from_utf8_lossy(line), want, "{codec}");
        }
    }
}

/// tansu lists a partition's high watermark as the base offset of its last batch + 1: the
/// end at start comes from a fetch, so `start=latest` reads nothing of the last batch, and
/// `end=latest` reads all of it.
#[test]
fn a_log_of_several_batches_starts_and_ends_at_its_real_end() {
    let Some(b) = broker() else { return };
    let topic = fresh_topic("batches");
    produce_compressed(&b, &topic, Compression::NoCompression);
    assert_eq!(read_all(&b, &topic, "").len(), 300);
    assert_eq!(read_all(&b, &topic, "&start=latest"), []);
}
