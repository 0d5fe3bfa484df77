//! The PostgreSQL sink: every window also goes to a PostgreSQL database, in the tables of
//! the SQLite store with the same names and columns (`tweets`, `counts`, `windows`,
//! `window_totals`, `trends`; times as `timestamptz` so Grafana and BI tools see times).
//!
//! The engine never waits on PostgreSQL: [`PgSink::publish`] appends the window to a bounded
//! in-memory queue and a background thread writes it. The thread takes everything queued (up
//! to `BATCH` windows) and writes it in one transaction with one `unnest` insert per
//! table, so a slow server leads to bigger batches, not to more round trips. A window leaves
//! the queue only once its transaction committed: when the server goes away the thread
//! reconnects with backoff (250 ms doubling to 5 s) and writes the same batch again, so no
//! window is lost while the queue holds `QUEUE` windows (beyond that the oldest are dropped
//! and counted in a warning). `tweets` and `counts` are replaced, in the same transaction,
//! by the newest window of the batch. A commit whose acknowledgement is lost with the
//! connection is written again: at-least-once, as for any client without two-phase commit.
//!
//! Messages name the server by its [`label`], built from the parsed parts: the password never
//! reaches a log. A password may also come from `PGPASSWORD`, as for psql.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::{Client, Config, NoTls};
use window::Window;

/// Windows written in one transaction at most.
const BATCH: usize = 1_000;
/// Windows kept while the server is away (top-K and trending rows only: a kilobyte or two
/// each).
const QUEUE: usize = 100_000;
/// How long `finish` keeps trying to write what is queued.
const FINISH_WITHIN: Duration = Duration::from_secs(5);

/// Rows of `tweets` or `counts`: tag, count, error.
type Rows = Vec<(String, u64, u64)>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tweets(hashtag TEXT NOT NULL, count BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS counts(hashtag TEXT NOT NULL, count BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS windows(
    window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL,
    rank INTEGER NOT NULL, hashtag TEXT NOT NULL, count BIGINT NOT NULL);
ALTER TABLE tweets ADD COLUMN IF NOT EXISTS error BIGINT NOT NULL DEFAULT 0;
ALTER TABLE counts ADD COLUMN IF NOT EXISTS error BIGINT NOT NULL DEFAULT 0;
ALTER TABLE windows ADD COLUMN IF NOT EXISTS error BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS windows_end ON windows(window_end);
CREATE TABLE IF NOT EXISTS window_totals(
    window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL,
    records BIGINT NOT NULL, tagged BIGINT NOT NULL, tags BIGINT NOT NULL,
    distinct_tags BIGINT NOT NULL, late BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS window_totals_end ON window_totals(window_end);
CREATE TABLE IF NOT EXISTS trends(
    window_start TIMESTAMPTZ NOT NULL, window_end TIMESTAMPTZ NOT NULL,
    rank INTEGER NOT NULL, hashtag TEXT NOT NULL, score DOUBLE PRECISION NOT NULL,
    count BIGINT NOT NULL, expected DOUBLE PRECISION NOT NULL, authors BIGINT);
CREATE INDEX IF NOT EXISTS trends_end ON trends(window_end);
";

/// What the engine and the writer thread share.
#[derive(Default)]
struct State {
    /// Windows not yet committed, numbered so the writer knows what it wrote even when
    /// overflow dropped older ones meanwhile. `counts` are moved to `latest_counts`.
    queue: VecDeque<(u64, Window)>,
    next_seq: u64,
    /// The newest window's full tag list, with its sequence number.
    latest_counts: Option<(u64, Rows)>,
    /// Windows dropped because the queue was full.
    dropped: u64,
    /// Set by `finish`: write what is queued until then, then stop.
    finish_by: Option<Instant>,
    /// Set by the writer when it has stopped.
    done: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the queue half-changed in a way that
        // matters more than losing the sink; keep going with what is there.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A PostgreSQL database that receives every window.
pub struct PgSink {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    label: String,
}

impl PgSink {
    /// Connects (and creates the tables if absent). A URL that does not parse or a server
    /// that refuses at start is an error; later outages are retried.
    pub fn open(url: &str) -> Result<PgSink, String> {
        // Not echoed: a connection string that does not parse may hold a password anywhere.
        let mut config: Config = url.parse().map_err(|e| {
            format!("--sink: not a PostgreSQL URL or connection string ({e}; not shown here)")
        })?;
        let label = label(&config);
        if config.get_password().is_none() {
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                config.password(pw);
            }
        }
        config
            .connect_timeout(Duration::from_secs(5))
            .tcp_user_timeout(Duration::from_secs(10));
        let client = connect(&config).map_err(|e| format!("--sink {label}: {e}"))?;
        let shared = Arc::new(Shared::default());
        let w = Writer {
            shared: shared.clone(),
            config,
            label: label.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("pg-sink".into())
            .spawn(move || w.run(client))
            .map_err(|e| format!("--sink {label}: starting the writer: {e}"))?;
        Ok(PgSink {
            shared,
            writer: Some(writer),
            label,
        })
    }

    /// Queues one window (written in batches; kept across reconnects).
    pub fn publish(&mut self, w: &Window) {
        let mut st = self.shared.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        // Without a counts limit the top-K is the whole list we have, as in the store.
        let rows = w.all_rows().map(|(t, n, e)| (t.to_owned(), n, e)).collect();
        st.latest_counts = Some((seq, rows));
        let mut w = w.clone();
        w.counts = Vec::new();
        st.queue.push_back((seq, w));
        if st.queue.len() > QUEUE {
            st.queue.pop_front();
            st.dropped += 1;
            if st.dropped == 1 {
                crate::log::warn(format_args!(
                    "sink {}: more than {QUEUE} windows waiting; dropping the oldest",
                    self.label
                ));
            }
        }
        drop(st);
        self.shared.wake.notify_all();
    }

    /// Writes what is queued, trying for a few seconds at most.
    pub fn finish(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        let deadline = Instant::now() + FINISH_WITHIN;
        let mut st = self.shared.lock();
        st.finish_by = Some(deadline);
        self.shared.wake.notify_all();
        // A write stuck on a dead connection must not hold up the exit: wait a little past
        // the deadline, then leave the thread behind.
        let give_up = deadline + Duration::from_secs(2);
        while !st.done {
            let now = Instant::now();
            if now >= give_up {
                break;
            }
            st = match self.shared.wake.wait_timeout(st, give_up - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        let (left, dropped, done) = (st.queue.len(), st.dropped, st.done);
        drop(st);
        if done {
            let _ = writer.join();
        }
        if left > 0 || dropped > 0 {
            crate::log::warn(format_args!(
                "sink {}: {} windows not written ({left} still queued at exit, {dropped} dropped)",
                self.label,
                left as u64 + dropped
            ));
        }
    }
}

impl Drop for PgSink {
    fn drop(&mut self) {
        self.finish();
    }
}

fn connect(config: &Config) -> Result<Client, postgres::Error> {
    let mut c = config.connect(NoTls)?;
    c.batch_execute(SCHEMA)?;
    Ok(c)
}

/// The background writer.
struct Writer {
    shared: Arc<Shared>,
    config: Config,
    label: String,
}

impl Writer {
    fn run(self, client: Client) {
        let mut client = Some(client);
        let mut backoff = Duration::from_millis(250);
        let mut down_since: Option<Instant> = None;
        while let Some((batch, counts, finish_by)) = self.next_batch() {
            if finish_by.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let result = match client.as_mut() {
                Some(c) => write(c, &batch, counts.as_ref()).map_err(|e| e.to_string()),
                None => connect(&self.config).map_or_else(
                    |e| Err(e.to_string()),
                    |c| {
                        client = Some(c);
                        // Connected: not an error (the empty message says so); the batch
                        // is written on the next turn.
                        Err(String::new())
                    },
                ),
            };
            match result {
                Ok(()) => self.committed(&batch, counts.as_ref()),
                Err(e) if e.is_empty() => {
                    if let Some(t) = down_since.take() {
                        crate::log::info(format_args!(
                            "sink {}: reconnected after {:.1}s",
                            self.label,
                            t.elapsed().as_secs_f64()
                        ));
                    }
                    backoff = Duration::from_millis(250);
                }
                Err(e) => {
                    if client.take().is_some() || down_since.is_none() {
                        crate::log::warn(format_args!(
                            "sink {}: {e}; keeping windows and retrying",
                            self.label
                        ));
                    }
                    down_since.get_or_insert_with(Instant::now);
                    self.pause(backoff, finish_by);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.shared.lock().done = true;
        self.shared.wake.notify_all();
    }

    /// Waits for windows; `None` when finishing and nothing is left.
    #[allow(clippy::type_complexity)]
    fn next_batch(&self) -> Option<(Vec<(u64, Window)>, Option<(u64, Rows)>, Option<Instant>)> {
        let mut st = self.shared.lock();
        while st.queue.is_empty() {
            if st.finish_by.is_some() {
                return None;
            }
            st = match self.shared.wake.wait(st) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
        let batch: Vec<(u64, Window)> = st.queue.iter().take(BATCH).cloned().collect();
        let last = batch.last().map(|(s, _)| *s);
        // The counts go with the window they belong to, so the tables stay consistent.
        let counts = match &st.latest_counts {
            Some((seq, c)) if Some(*seq) == last => Some((*seq, c.clone())),
            _ => None,
        };
        Some((batch, counts, st.finish_by))
    }

    /// Removes committed windows from the queue.
    fn committed(&self, batch: &[(u64, Window)], counts: Option<&(u64, Rows)>) {
        let Some(&(last, _)) = batch.last() else {
            return;
        };
        let mut st = self.shared.lock();
        while st.queue.front().is_some_and(|(s, _)| *s <= last) {
            st.queue.pop_front();
        }
        if let (Some((a, _)), Some((b, _))) = (&st.latest_counts, counts) {
            if a == b {
                st.latest_counts = None;
            }
        }
    }

    /// Sleeps for the backoff, or less when finishing.
    fn pause(&self, backoff: Duration, finish_by: Option<Instant>) {
        let until = Instant::now() + backoff;
        let until = finish_by.map_or(until, |d| d.min(until));
        let st = self.shared.lock();
        let wait = until.saturating_duration_since(Instant::now());
        // Woken early only by `finish` (new windows do not shorten a backoff).
        let _ = self
            .shared
            .wake
            .wait_timeout_while(st, wait, |s| s.finish_by.is_none() || finish_by.is_some());
    }
}

/// The seven integer columns of `window_totals`.
type Columns7 = (
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
    Vec<i64>,
);

/// Writes a batch in one transaction: one `unnest` insert per table.
fn write(
    c: &mut Client,
    batch: &[(u64, Window)],
    counts: Option<&(u64, Rows)>,
) -> Result<(), postgres::Error> {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let mut tx = c.transaction()?;
    let col = |f: &dyn Fn(&Window) -> u64| batch.iter().map(|(_, w)| int(f(w))).collect();
    let (s, e, r, t, g, d, l): Columns7 = (
        col(&|w| w.start_ms),
        col(&|w| w.end_ms),
        col(&|w| w.records),
        col(&|w| w.tagged),
        col(&|w| w.tags),
        col(&|w| w.distinct),
        col(&|w| w.late),
    );
    // Keyed by window end: a window written again (a retried batch, a run resumed from a
    // checkpoint) replaces its rows instead of adding a second copy.
    for table in ["window_totals", "windows", "trends"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE window_end IN (SELECT to_timestamp(e / 1000.0::float8) \
                 FROM unnest($1::int8[]) AS u(e))"
            ),
            &[&e],
        )?;
    }
    tx.execute(
        "INSERT INTO window_totals SELECT to_timestamp(s / 1000.0::float8), \
         to_timestamp(e / 1000.0::float8), r, t, g, d, l FROM unnest($1::int8[], $2::int8[], \
         $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[]) AS u(s, e, r, t, g, d, l)",
        &[&s, &e, &r, &t, &g, &d, &l],
    )?;
    let (mut ws, mut we, mut rank, mut tag, mut n) = (vec![], vec![], vec![], vec![], vec![]);
    let mut err = vec![];
    for (_, w) in batch {
        for (i, (h, c)) in w.top.iter().enumerate() {
            ws.push(int(w.start_ms));
            we.push(int(w.end_ms));
            rank.push(i32::try_from(i + 1).unwrap_or(i32::MAX));
            tag.push(h.as_str());
            n.push(int(*c));
            err.push(int(w.top_error(i)));
        }
    }
    tx.execute(
        "INSERT INTO windows SELECT to_timestamp(s / 1000.0::float8), \
         to_timestamp(e / 1000.0::float8), k, h, n, x FROM unnest($1::int8[], $2::int8[], \
         $3::int4[], $4::text[], $5::int8[], $6::int8[]) AS u(s, e, k, h, n, x)",
        &[&ws, &we, &rank, &tag, &n, &err],
    )?;
    write_trends(&mut tx, batch)?;
    if let Some((_, w)) = batch.last() {
        let top: Rows = (w.top.iter().enumerate())
            .map(|(i, (t, n))| (t.clone(), *n, w.top_error(i)))
            .collect();
        replace(&mut tx, "tweets", &top)?;
    }
    if let Some((_, all)) = counts {
        replace(&mut tx, "counts", all)?;
    }
    tx.commit()
}

/// Inserts the trending rows of every window of the batch (`authors` NULL where the input
/// names no authors).
fn write_trends(
    tx: &mut postgres::Transaction<'_>,
    batch: &[(u64, Window)],
) -> Result<(), postgres::Error> {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows = batch.iter().flat_map(|(_, w)| {
        w.trending
            .iter()
            .enumerate()
            .map(move |(i, t)| (w.start_ms, w.end_ms, i + 1, t))
    });
    let (mut ws, mut we, mut rank, mut tag) = (vec![], vec![], vec![], vec![]);
    let (mut score, mut n, mut expected, mut authors) = (vec![], vec![], vec![], vec![]);
    for (s, e, k, t) in rows {
        ws.push(int(s));
        we.push(int(e));
        rank.push(i32::try_from(k).unwrap_or(i32::MAX));
        tag.push(t.tag.as_str());
        score.push(t.score);
        n.push(int(t.count));
        expected.push(t.expected);
        authors.push(t.authors.map(int));
    }
    if ws.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO trends SELECT to_timestamp(s / 1000.0::float8), \
         to_timestamp(e / 1000.0::float8), k, h, sc, n, x, a FROM unnest($1::int8[], \
         $2::int8[], $3::int4[], $4::text[], $5::float8[], $6::int8[], $7::float8[], \
         $8::int8[]) AS u(s, e, k, h, sc, n, x, a)",
        &[&ws, &we, &rank, &tag, &score, &n, &expected, &authors],
    )?;
    Ok(())
}

/// Replaces the rows of `tweets` or `counts`.
fn replace(
    tx: &mut postgres::Transaction<'_>,
    table: &str,
    rows: &[(String, u64, u64)],
) -> Result<(), postgres::Error> {
    let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let tags: Vec<&str> = rows.iter().map(|(t, _, _)| t.as_str()).collect();
    let counts: Vec<i64> = rows.iter().map(|(_, n, _)| int(*n)).collect();
    let errors: Vec<i64> = rows.iter().map(|(_, _, e)| int(*e)).collect();
    tx.execute(&format!("DELETE FROM {table}"), &[])?;
    tx.execute(
        &format!("INSERT INTO {table} SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[])"),
        &[&tags, &counts, &errors],
    )?;
    Ok(())
}

/// The server a parsed configuration names, for messages: `postgres://USER:***@HOST:PORT/DB`,
/// built from its parts, so no spelling of the password (`password = 'a b'` in a connection
/// string, a URL's user info, `%`-escapes) reaches a log.
pub fn label(config: &Config) -> String {
    use postgres::config::Host;
    let user = match (config.get_user(), config.get_password()) {
        (Some(u), Some(_)) => format!("{u}:***@"),
        (Some(u), None) => format!("{u}@"),
        (None, Some(_)) => ":***@".to_owned(),
        (None, None) => String::new(),
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = (config.get_hosts().iter().enumerate())
        .map(|(i, h)| {
            let h = match h {
                Host::Tcp(h) => h.clone(),
                Host::Unix(p) => p.display().to_string(),
            };
            match ports.get(i).or(ports.first()) {
                Some(p) => format!("{h}:{p}"),
                None => h,
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No spelling of a password reaches the label, nor the error of one that does not
    /// parse (a spaced `password = x` and a quoted one once did, as did user info without
    /// a scheme).
    #[test]
    fn labels_and_parse_errors_hide_the_password() {
        let cases = [
            (
                "postgres://u:S3CRET@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://h/db", "postgres://h:5432/db"),
            ("postgres://u:S3%43RET@h/db", "postgres://u:***@h:5432/db"),
            ("postgres://h/db?user=u&password=S3CRET&x=1", ""),
            (
                "postgresql://h/db?user=u&password=S3CRET",
                "postgres://u:***@h:5432/db",
            ),
            (
                "host=h port=1 password = S3CRET user=u",
                "postgres://u:***@h:1/",
            ),
            (
                "host=h password='S3CRET PW' dbname=d",
                "postgres://:***@h/d",
            ),
            ("u:S3CRET@127.0.0.1/db", ""),
            ("host=h,g port=1,2 user=u", "postgres://u@h:1,g:2/"),
        ];
        for (url, want) in cases {
            let shown = match url.parse::<Config>() {
                Ok(c) => label(&c),
                Err(_) => PgSink::open(url).err().unwrap(),
            };
            assert!(
                !shown.contains("S3CRET") && !shown.contains("RET"),
                "{url}: {shown}"
            );
            if !want.is_empty() {
                assert_eq!(shown, want, "{url}");
            }
        }
    }

    #[test]
    fn a_bad_url_is_a_one_line_error_without_the_password() {
        let e = PgSink::open("postgres://u:secret@127.0.0.1:1/db?bogus=1")
            .err()
            .unwrap();
        assert!(!e.contains("secret") && !e.contains('\n'), "{e}");
        assert!(
            e.starts_with("--sink: not a PostgreSQL URL or connection string ("),
            "{e}"
        );
    }
}
