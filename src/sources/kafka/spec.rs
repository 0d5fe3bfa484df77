//! The `kafka://` URI: brokers, topic and options.

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
}
