//! `tagstream chart`: the bar chart of the latest (or a given) window as PNG or SVG, read
//! from a running engine's HTTP API or from a results database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::cli::ChartArgs;
use crate::views::chart::{self, ChartWindow};

/// Runs the subcommand.
pub fn run(a: ChartArgs) -> Result<()> {
    chart::Format::of(&a.out).map_err(anyhow::Error::msg)?;
    // An empty entry (`TAGSTREAM_FONT_DIRS=`) means no override.
    let dirs: Vec<PathBuf> = a
        .font_dirs
        .iter()
        .filter(|d| !d.as_os_str().is_empty())
        .cloned()
        .collect();
    let fonts = chart::Fonts::load(&dirs).map_err(anyhow::Error::msg)?;
    let end_ms = a
        .window
        .as_deref()
        .map(|s| crate::time::parse_time_ms(s).map_err(|e| anyhow!("--window: {e}")))
        .transpose()?;
    let w = match (&a.url, &a.db) {
        (Some(url), _) => from_url(url, end_ms)?,
        (None, db) => from_db(db.as_deref().unwrap_or("tagstream.db"), end_ms)?,
    };
    chart::draw(&w, &a.out, a.size, &fonts).map_err(anyhow::Error::msg)
}

/// A window's JSON line (DESIGN.md §4) as drawn.
fn of_json(v: &Value) -> Result<ChartWindow> {
    let text = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the window has no '{k}'"))
    };
    let top = v["top"]
        .as_array()
        .ok_or_else(|| anyhow!("the window has no 'top'"))?
        .iter()
        .map(|r| {
            Ok((
                r["hashtag"]
                    .as_str()
                    .ok_or_else(|| anyhow!("a row has no 'hashtag'"))?
                    .to_owned(),
                r["count"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("a row has no 'count'"))?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(ChartWindow {
        start: text("window_start")?,
        end: text("window_end")?,
        top,
    })
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Value> {
    let mut resp = agent.get(url).call().map_err(|e| anyhow!("{url}: {e}"))?;
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| anyhow!("{url}: {e}"))?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| anyhow!("{url}: not a JSON answer: {e}"))?;
    if !resp.status().is_success() {
        let msg = v["error"].as_str().unwrap_or("request failed");
        bail!("{url}: {} {msg}", resp.status().as_u16());
    }
    Ok(v)
}

fn from_url(base: &str, end_ms: Option<u64>) -> Result<ChartWindow> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let base = base.trim_end_matches('/');
    let Some(end_ms) = end_ms else {
        return of_json(&get(&agent, &format!("{base}/api/top"))?);
    };
    let since = end_ms.saturating_sub(1);
    let list = get(&agent, &format!("{base}/api/windows?since={since}"))?;
    let w = list
        .as_array()
        .and_then(|l| l.first())
        .ok_or_else(|| anyhow!("{base} keeps no window ending at or after --window"))?;
    let found = of_json(w)?;
    if crate::time::parse_time_ms(&found.end).ok() != Some(end_ms) {
        bail!(
            "{base} has no window ending at {} in memory (the earliest kept ending after it \
             ends at {}); use --db for older windows",
            crate::time::rfc3339(end_ms),
            found.end
        );
    }
    Ok(found)
}

/// A time column as RFC 3339, whether the store keeps text or epoch seconds/ms.
fn time_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_u64()
            .map(|n| crate::time::rfc3339(if n >= 100_000_000_000 { n } else { n * 1000 }))
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

fn from_db(db: &str, end_ms: Option<u64>) -> Result<ChartWindow> {
    if db != ":memory:" && !std::path::Path::new(db).exists() {
        bail!("--db {db}: no such database (run the engine with --db {db}, or use --url)");
    }
    // `END` was parsed as a time, so the literal below is a plain RFC 3339 string.
    let which = match end_ms {
        Some(ms) => format!("'{}'", crate::time::rfc3339(ms)),
        None => "(SELECT max(window_end) FROM windows)".to_owned(),
    };
    let sql = format!(
        "SELECT window_start, window_end, rank, hashtag, count FROM windows \
         WHERE window_end = {which} ORDER BY rank"
    );
    let t = crate::sql::query(db, &sql, &crate::sql::Limits::default())
        .map_err(|e| anyhow!("--db {db}: {e}"))?;
    let Some(first) = t.rows.first() else {
        match end_ms {
            Some(ms) => bail!("--db {db}: no window ends at {}", crate::time::rfc3339(ms)),
            None => bail!("--db {db}: the windows table holds no window with tags yet"),
        }
    };
    let top = t
        .rows
        .iter()
        .map(|r| {
            let tag = r.get(3).and_then(Value::as_str).unwrap_or_default();
            let count = r.get(4).and_then(Value::as_u64).unwrap_or(0);
            (tag.to_owned(), count)
        })
        .collect();
    Ok(ChartWindow {
        start: first.first().map(time_text).unwrap_or_default(),
        end: first.get(1).map(time_text).unwrap_or_default(),
        top,
    })
}
