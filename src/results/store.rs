//! The embedded SQLite store: the tables of DESIGN.md §3, written as windows are emitted.
//!
//! - `tweets(hashtag, count, error)`: the top-K of the latest window, as in the tutorial;
//! - `counts(hashtag, count, error)`: every tag of the latest window (up to `--counts`);
//! - `windows(window_start, window_end, rank, hashtag, count, error)`: every emitted window's
//!   rows;
//! - `window_totals(window_start, window_end, records, tagged, tags, distinct_tags, late)`:
//!   one row per emitted window, empty windows included;
//! - `trends(window_start, window_end, rank, hashtag, score, count, expected, authors)`: every
//!   emitted window's trending rows (`authors` is NULL when the input names no authors).
//!
//! Times are RFC 3339 UTC text, exactly as in the JSON lines. The database runs in WAL mode
//! with `synchronous=NORMAL`: a commit does not wait for the disk, and readers (`tagstream
//! sql`, `POST /api/sql`) never block this writer nor are blocked by it. The windows that arrive
//! together (a replay closes many at once) are one transaction ([`Store::stage`],
//! [`Store::flush`]): each keeps its history rows, and `tweets` and `counts` are written once,
//! from the newest. Reopening a database keeps its history (`CREATE TABLE IF NOT EXISTS`); the
//! next window replaces `tweets` and `counts`. The history tables (`windows`,
//! `window_totals`, `trends`) are keyed by window end: a window emitted again (resumed from a
//! checkpoint) replaces its rows, and `--retain` prunes them together.
//!
//! `error` is the most a count may overstate (the true count is in `[count − error, count]`):
//! 0 unless `--max-tags` made the window approximate (issue 15). A database made before it
//! had that column gets it on opening, 0 in its old rows.
//!
//! `:memory:` becomes a database file of this process in RAM (`/dev/shm`, else the temp
//! folder: [`memory_path`]), removed when its last store closes, in WAL mode like any other:
//! a query on another connection (`sql::query`, for the HTTP API) sees the same tables for as
//! long as the engine runs, and never holds up its writes. (It was a shared-cache in-memory
//! database, where each step of a slow query held the cache's lock, and the engine's output
//! froze for as long as the query ran.)

use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};
use window::Window;

use crate::time::rfc3339;

/// Windows between two retention passes: pruning is a range delete on the `window_end`
/// index, cheap but not free, so it is not done on every window.
const PRUNE_EVERY: u64 = 64;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tweets(
    hashtag TEXT NOT NULL, count INTEGER NOT NULL, error INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS counts(
    hashtag TEXT NOT NULL, count INTEGER NOT NULL, error INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS windows(
    window_start TEXT NOT NULL, window_end TEXT NOT NULL,
    rank INTEGER NOT NULL, hashtag TEXT NOT NULL, count INTEGER NOT NULL,
    error INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS windows_end ON windows(window_end);
CREATE TABLE IF NOT EXISTS window_totals(
    window_start TEXT NOT NULL, window_end TEXT NOT NULL, records INTEGER NOT NULL,
    tagged INTEGER NOT NULL, tags INTEGER NOT NULL, distinct_tags INTEGER NOT NULL,
    late INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS window_totals_end ON window_totals(window_end);
CREATE TABLE IF NOT EXISTS trends(
    window_start TEXT NOT NULL, window_end TEXT NOT NULL,
    rank INTEGER NOT NULL, hashtag TEXT NOT NULL, score REAL NOT NULL,
    count INTEGER NOT NULL, expected REAL NOT NULL, authors INTEGER);
CREATE INDEX IF NOT EXISTS trends_end ON trends(window_end);
";

/// The columns of each table, as [`SCHEMA`] makes them (`error` last, added to older ones).
const COLUMNS: [(&str, &[&str]); 5] = [
    ("tweets", &["hashtag", "count", "error"]),
    ("counts", &["hashtag", "count", "error"]),
    (
        "windows",
        &[
            "window_start",
            "window_end",
            "rank",
            "hashtag",
            "count",
            "error",
        ],
    ),
    (
        "window_totals",
        &[
            "window_start",
            "window_end",
            "records",
            "tagged",
            "tags",
            "distinct_tags",
            "late",
        ],
    ),
    (
        "trends",
        &[
            "window_start",
            "window_end",
            "rank",
            "hashtag",
            "score",
            "count",
            "expected",
            "authors",
        ],
    ),
];

/// Refuses a database whose tables of our names are not ours (another program's `tweets`,
/// say): they were altered, tables were added beside them, and the first write failed with
/// "datatype mismatch". Ours may lack the `error` column (made before it): returns those
/// tables, for [`add_error_columns`] once the schema is in place.
fn check_tables(conn: &Connection) -> Result<Vec<&'static str>, String> {
    let mut st = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .map_err(|e| e.to_string())?;
    let mut without_error = Vec::new();
    for (table, want) in COLUMNS {
        let have: Vec<String> = st
            .query_map([table], |r| r.get(0))
            .and_then(Iterator::collect)
            .map_err(|e| e.to_string())?;
        let old = want.last() == Some(&"error") && have == want[..want.len() - 1];
        if old {
            without_error.push(table);
        } else if !(have.is_empty() || have == want) {
            return Err(format!(
                "its table {table} is not tagstream's (columns {}): give --db another file",
                have.join(", ")
            ));
        }
    }
    Ok(without_error)
}

/// Adds the `error` column to `tables` of a database made before it (issue 15), as
/// [`check_tables`] found them.
fn add_error_columns(conn: &Connection, tables: &[&str]) -> rusqlite::Result<()> {
    for table in tables {
        conn.execute_batch(&format!(
            "ALTER TABLE {table} ADD COLUMN error INTEGER NOT NULL DEFAULT 0"
        ))?;
    }
    Ok(())
}

/// The file of this process's `:memory:` database: in RAM where `/dev/shm` is there.
pub fn memory_path() -> String {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    // The process id and a number drawn once: processes of other PID namespaces may share
    // the folder.
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let nonce = NONCE.get_or_init(|| fastrand::u64(..));
    let name = format!("tagstream-mem-{}-{nonce:016x}.db", std::process::id());
    dir.join(name).to_string_lossy().into_owned()
}

/// The name SQLite should open for a `--db` value, and whether it is the in-memory one.
pub(crate) fn resolve(path: &str) -> (String, bool) {
    if path == ":memory:" {
        (memory_path(), true)
    } else {
        (path.to_owned(), false)
    }
}

/// Stores of `:memory:` open in this process: the first starts a fresh file (one left by a
/// dead process of the same id holds nothing of ours), the last removes it.
static MEMORY_STORES: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// A count in [`MEMORY_STORES`], from the moment a store starts opening: given back when it
/// drops (the opening failed), or by the store when it closes ([`MemoryCount::release`]).
struct MemoryCount(Option<String>);

impl MemoryCount {
    /// Gives the count back (once), running `close` first under the count's lock; the last
    /// count removes the files.
    fn release(&mut self, close: impl FnOnce()) {
        let Some(path) = self.0.take() else {
            return;
        };
        let mut open = MEMORY_STORES.lock().unwrap_or_else(|e| e.into_inner());
        close();
        *open -= 1;
        if *open == 0 {
            remove_memory_files(&path);
        }
    }
}

impl Drop for MemoryCount {
    fn drop(&mut self) {
        self.release(|| {});
    }
}

/// Removes the `:memory:` database's files.
fn remove_memory_files(path: &str) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}

/// The newest staged window's counts (every tag of it up to `--counts`, ranked) and each
/// one's error (empty while exact).
type Counts = (Vec<window::Row>, Vec<u64>);

/// The results database.
pub struct Store {
    conn: Connection,
    retain: Option<Duration>,
    written: u64,
    prune_every: u64,
    /// Windows staged since the last flush, without their counts: every one's history rows,
    /// and the newest one's top-K, which `tweets` becomes.
    staged: Vec<Window>,
    /// What `counts` becomes: the newest staged window's counts (none: its top-K).
    latest: Counts,
    /// Windows dropped unwritten because writes kept failing past [`MAX_STAGED`].
    lost: u64,
    /// This store's count in [`MEMORY_STORES`], if it is the `:memory:` one.
    memory: Option<MemoryCount>,
    /// The writer's lock on a database file ([`lock_db`]).
    _lock: Option<std::fs::File>,
}

/// Locks the database `name` for this writer, on a file of its own beside it
/// (`NAME-writer.lock`), dropped with the store or the process. Not on the database file
/// itself: closing any descriptor of that file drops every POSIX lock this process holds on
/// it, SQLite's included.
fn lock_db(path: &str, name: &str) -> Result<std::fs::File, String> {
    let lock = std::path::PathBuf::from(format!("{name}-writer.lock"));
    match crate::lockfile::try_lock(&lock).map_err(|e| format!("--db {path}: {e}"))? {
        Some(f) => Ok(f),
        None => Err(format!(
            "--db {path} is in use by another run: two runs writing one database replace each \
             other's windows; give this one its own --db (or --db none)"
        )),
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(count) = self.memory.as_mut() {
            // Closed first, under the count's lock: closing the last connection removes its
            // WAL files by name, which must not be those of a store opened after it.
            let conn = &mut self.conn;
            count.release(|| {
                if let Ok(spare) = Connection::open_in_memory() {
                    drop(std::mem::replace(conn, spare));
                }
            });
        }
    }
}

/// Windows kept staged while writes fail; past it the oldest are dropped and counted.
const MAX_STAGED: usize = 10_000;

impl Store {
    /// Opens (or creates) the database at `path` (`:memory:` for an in-memory one).
    pub fn open(path: &str, retain: Option<Duration>) -> Result<Store, String> {
        let (name, memory) = resolve(path);
        let fail = |e: rusqlite::Error| format!("--db {path}: {e}");
        // Counted from here: the store's Drop (or the error paths below) gives it back.
        let counted = memory.then(|| {
            let mut open = MEMORY_STORES.lock().unwrap_or_else(|e| e.into_inner());
            if *open == 0 {
                remove_memory_files(&name);
            }
            *open += 1;
            MemoryCount(Some(name.clone()))
        });
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&name, flags).map_err(fail)?;
        // One writer per database: two runs on one file (say two jobs in one folder, on the
        // default tagstream.db) replaced each other's windows without a word. Readers
        // (`tagstream sql`, the HTTP API, charts) take no lock.
        let lock = if memory || name.starts_with("file:") {
            None // a URI: SQLite resolves it, and its own locks stand
        } else {
            Some(lock_db(path, &name)?)
        };
        conn.busy_timeout(Duration::from_secs(5)).map_err(fail)?;
        let without_error = check_tables(&conn).map_err(|e| format!("--db {path}: {e}"))?;
        // WAL: readers and this writer never wait for each other. NORMAL: a commit is
        // durable at the next checkpoint, not at each window (a crash may lose the last
        // windows, never corrupt the file).
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("--db {path}: cannot use WAL mode (got {mode})"));
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(fail)?;
        conn.execute_batch(SCHEMA).map_err(fail)?;
        add_error_columns(&conn, &without_error).map_err(fail)?;
        conn.set_prepared_statement_cache_capacity(16);
        Ok(Store {
            conn,
            retain,
            written: 0,
            prune_every: PRUNE_EVERY,
            staged: Vec::new(),
            latest: Counts::default(),
            lost: 0,
            memory: counted,
            _lock: lock,
        })
    }

    /// Windows staged and not yet written (kept while writes fail), and windows dropped
    /// unwritten because they kept failing.
    pub fn unwritten(&self) -> (usize, u64) {
        (self.staged.len(), self.lost)
    }

    /// Writes one window at once: [`Store::stage`] then [`Store::flush`].
    pub fn publish(&mut self, w: &Window) -> Result<(), String> {
        self.stage(w.clone());
        self.flush()
    }

    /// Takes one window for the next [`Store::flush`]: its `windows`, `window_totals` and
    /// `trends` history, and (if it is still the newest then) `tweets` and `counts`. The
    /// counts move here rather than being copied: with `--counts` they are every tag of the
    /// window, the largest thing a window carries.
    pub fn stage(&mut self, mut w: Window) {
        let errors = w.approx.as_mut().map(|a| std::mem::take(&mut a.counts));
        self.latest = (std::mem::take(&mut w.counts), errors.unwrap_or_default());
        self.staged.push(w);
    }

    /// Writes the staged windows in one transaction: every window's history, and `tweets`
    /// and `counts` once, from the newest (the tables hold the latest window, so the counts
    /// of a window superseded in the same flush would be written only to be deleted).
    pub fn flush(&mut self) -> Result<(), String> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.staged);
        let latest = std::mem::take(&mut self.latest);
        if let Err(e) = self.write(&staged, &latest) {
            // The transaction rolled back: the windows stay staged for the next flush (a lock
            // another process holds, a full disk, may pass), up to MAX_STAGED of them.
            self.staged = staged;
            self.latest = latest;
            if self.staged.len() > MAX_STAGED {
                let over = self.staged.len() - MAX_STAGED;
                self.staged.drain(..over);
                self.lost += over as u64;
            }
            return Err(e.to_string());
        }
        let before = self.written;
        self.written += staged.len() as u64;
        if self.written / self.prune_every != before / self.prune_every {
            let newest = staged.iter().map(|w| w.end_ms).max().unwrap_or(0);
            self.prune(newest).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn write(&mut self, staged: &[Window], (counts, errors): &Counts) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        for w in staged {
            write_history(&tx, w)?;
        }
        if let Some(newest) = staged.last() {
            let top: Vec<_> = (newest.top.iter().enumerate())
                .map(|(i, (t, n))| (t.as_str(), *n, newest.top_error(i)))
                .collect();
            let exact = newest.approx.is_none();
            tx.prepare_cached("DELETE FROM tweets")?.execute([])?;
            insert_rows(&tx, "tweets", exact, top.iter().copied())?;
            tx.prepare_cached("DELETE FROM counts")?.execute([])?;
            if counts.is_empty() {
                // Without a counts limit (no store asked for them) the top-K is all we have.
                insert_rows(&tx, "counts", exact, top.into_iter())?;
            } else {
                let error = |i: usize| errors.get(i).copied().unwrap_or(0);
                let rows = counts.iter().enumerate();
                insert_rows(
                    &tx,
                    "counts",
                    exact && errors.is_empty(),
                    rows.map(|(i, (t, n))| (t.as_str(), *n, error(i))),
                )?;
            }
        }
        tx.commit()
    }

    /// Drops history older than `--retain` before the newest window's end. Times compare as
    /// text: RFC 3339 in one format orders like time (windows whose ends mix whole and
    /// fractional seconds, i.e. sub-second batches, may be pruned one window late or early).
    fn prune(&mut self, newest_end_ms: u64) -> rusqlite::Result<()> {
        let Some(retain) = self.retain else {
            return Ok(());
        };
        let keep_ms = u64::try_from(retain.as_millis()).unwrap_or(u64::MAX);
        let Some(cutoff_ms) = newest_end_ms.checked_sub(keep_ms) else {
            return Ok(());
        };
        let cutoff = rfc3339(cutoff_ms);
        let tx = self.conn.transaction()?;
        tx.prepare_cached("DELETE FROM windows WHERE window_end < ?1")?
            .execute([&cutoff])?;
        tx.prepare_cached("DELETE FROM window_totals WHERE window_end < ?1")?
            .execute([&cutoff])?;
        tx.prepare_cached("DELETE FROM trends WHERE window_end < ?1")?
            .execute([&cutoff])?;
        tx.commit()
    }

    /// Runs the retention pass every `n` windows instead of [`PRUNE_EVERY`] (tests).
    #[cfg(test)]
    fn with_prune_every(mut self, n: u64) -> Store {
        self.prune_every = n.max(1);
        self
    }
}

/// Rows a statement of [`insert_rows`] inserts: 300 parameters, far below SQLite's limit
/// (32,766), and long enough that the per-statement cost (step, reset) is spread thin.
const CHUNK_ROWS: usize = 100;

/// Inserts `(hashtag, count, error)` rows into `table` (`tweets` or `counts`) in order,
/// [`CHUNK_ROWS`] rows a statement: with `--counts` a window may have a hundred thousand,
/// and one statement per row costs twice the time. Rows of an `exact` window have no error:
/// its statement writes a constant 0 rather than binding one per row (an eighth less time).
fn insert_rows<'a>(
    tx: &rusqlite::Transaction,
    table: &str,
    exact: bool,
    mut rows: impl ExactSizeIterator<Item = (&'a str, u64, u64)>,
) -> rusqlite::Result<()> {
    let (row, binds) = if exact {
        ("(?, ?, 0)", 2)
    } else {
        ("(?, ?, ?)", 3)
    };
    let bind = |ins: &mut rusqlite::CachedStatement, i: usize, (tag, n, e)| {
        debug_assert!(!exact || e == 0, "an exact window with an error of {e}");
        ins.raw_bind_parameter(binds * i + 1, tag)?;
        ins.raw_bind_parameter(binds * i + 2, sql_int(n))?;
        if !exact {
            ins.raw_bind_parameter(binds * i + 3, sql_int(e))?;
        }
        Ok::<_, rusqlite::Error>(())
    };
    if rows.len() >= CHUNK_ROWS {
        let values = vec![row; CHUNK_ROWS].join(", ");
        let mut ins = tx.prepare_cached(&format!("INSERT INTO {table} VALUES {values}"))?;
        while rows.len() >= CHUNK_ROWS {
            for (i, r) in rows.by_ref().take(CHUNK_ROWS).enumerate() {
                bind(&mut ins, i, r)?;
            }
            ins.raw_execute()?;
        }
    }
    let mut ins = tx.prepare_cached(&format!("INSERT INTO {table} VALUES {row}"))?;
    for r in rows {
        bind(&mut ins, 0, r)?;
        ins.raw_execute()?;
    }
    Ok(())
}

/// SQLite integers are i64; counts never come near, but saturate rather than wrap.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One window's history rows: `window_totals`, `windows` and `trends`, keyed by window end:
/// a window emitted again (after resuming from a checkpoint) replaces its rows instead of
/// adding a second copy.
fn write_history(tx: &rusqlite::Transaction, w: &Window) -> rusqlite::Result<()> {
    let start = rfc3339(w.start_ms);
    let end = rfc3339(w.end_ms);
    tx.prepare_cached("DELETE FROM window_totals WHERE window_end = ?1")?
        .execute(params![end])?;
    tx.prepare_cached("DELETE FROM windows WHERE window_end = ?1")?
        .execute(params![end])?;
    tx.prepare_cached("DELETE FROM trends WHERE window_end = ?1")?
        .execute(params![end])?;
    tx.prepare_cached("INSERT INTO window_totals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
        .execute(params![
            start,
            end,
            sql_int(w.records),
            sql_int(w.tagged),
            sql_int(w.tags),
            sql_int(w.distinct),
            sql_int(w.late)
        ])?;
    {
        let mut ins = tx.prepare_cached("INSERT INTO windows VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        for (i, (tag, n)) in w.top.iter().enumerate() {
            let (rank, e) = (sql_int(i as u64 + 1), sql_int(w.top_error(i)));
            ins.execute(params![start, end, rank, tag, sql_int(*n), e])?;
        }
    }
    {
        let mut ins =
            tx.prepare_cached("INSERT INTO trends VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for (i, t) in w.trending.iter().enumerate() {
            ins.execute(params![
                start,
                end,
                sql_int(i as u64 + 1),
                t.tag,
                t.score,
                sql_int(t.count),
                t.expected,
                t.authors.map(sql_int)
            ])?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_tests.rs"]
pub(crate) mod tests;
