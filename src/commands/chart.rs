//! `tagstream chart`: the bar chart of the latest (or a given) window as PNG or SVG, read
//! from a running engine's HTTP API or from a results database: its top-K (`/api/top`, the
//! `windows` table) or, with `--trends`, its trending list (`/api/trends`, the `trends`
//! table).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use serde_json::Value;

use crate::cli::ChartArgs;
use crate::views::chart::{self, ChartWindow, TrendBar, TrendWindow};

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
    let db = a.db.as_deref().unwrap_or("tagstream.db");
    if a.trends {
        let w = match &a.url {
            Some(url) => trends_from_url(url, end_ms)?,
            None => trends_from_db(db, end_ms)?,
        };
        return chart::draw_trends(&w, &a.out, a.size, &fonts).map_err(anyhow::Error::msg);
    }
    let w = match &a.url {
        Some(url) => from_url(url, end_ms)?,
        None => from_db(db, end_ms)?,
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

/// A window's trending list as drawn, from its JSON line or `/api/trends` (both have
/// `window_start`, `window_end` and `trending`).
fn trends_of_json(v: &Value) -> Result<TrendWindow> {
    let text = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("the window has no '{k}'"))
    };
    let trending = v["trending"]
        .as_array()
        .ok_or_else(|| anyhow!("the window has no 'trending' (an engine without trends?)"))?
        .iter()
        .map(|r| {
            let num = |k: &str| {
                r[k].as_f64()
                    .ok_or_else(|| anyhow!("a trending row has no '{k}'"))
            };
            Ok(TrendBar {
                hashtag: r["hashtag"]
                    .as_str()
                    .ok_or_else(|| anyhow!("a trending row has no 'hashtag'"))?
                    .to_owned(),
                score: num("score")?,
                count: r["count"]
                    .as_u64()
                    .ok_or_else(|| anyhow!("a trending row has no 'count'"))?,
                expected: num("expected")?,
                authors: r["authors"].as_u64(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(TrendWindow {
        start: text("window_start")?,
        end: text("window_end")?,
        trending,
    })
}

fn get(agent: &ureq::Agent, url: &str) -> Result<Value> {
    // Messages name it without a password or query (either may hold a secret).
    let shown = super::shown_url(url);
    let mut resp = agent.get(url).call().map_err(|e| anyhow!("{shown}: {e}"))?;
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| anyhow!("{shown}: {e}"))?;
    let v: Value =
        serde_json::from_str(&body).map_err(|e| anyhow!("{shown}: not a JSON answer: {e}"))?;
    if !resp.status().is_success() {
        let msg = v["error"].as_str().unwrap_or("request failed");
        bail!("{shown}: {} {msg}", resp.status().as_u16());
    }
    Ok(v)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// The window ending at `end_ms`, from the engine's memory (`/api/windows`).
fn window_at(agent: &ureq::Agent, base: &str, end_ms: u64) -> Result<Value> {
    let since = end_ms.saturating_sub(1);
    let list = get(
        agent,
        &super::api_url(base, &format!("/api/windows?since={since}")),
    )?;
    let base = super::shown_url(base);
    let w = list
        .as_array()
        .and_then(|l| l.first())
        .ok_or_else(|| anyhow!("{base} keeps no window ending at or after --window"))?;
    let end = w["window_end"].as_str().unwrap_or_default();
    if crate::time::parse_time_ms(end).ok() != Some(end_ms) {
        bail!(
            "{base} has no window ending at {} in memory (the earliest kept ending after it \
             ends at {end}); use --db for older windows",
            crate::time::rfc3339(end_ms),
        );
    }
    Ok(w.clone())
}

fn from_url(base: &str, end_ms: Option<u64>) -> Result<ChartWindow> {
    let agent = agent();
    match end_ms {
        None => of_json(&get(&agent, &super::api_url(base, "/api/top"))?),
        Some(end_ms) => of_json(&window_at(&agent, base, end_ms)?),
    }
}

fn trends_from_url(base: &str, end_ms: Option<u64>) -> Result<TrendWindow> {
    let agent = agent();
    match end_ms {
        None => trends_of_json(&get(&agent, &super::api_url(base, "/api/trends"))?),
        Some(end_ms) => trends_of_json(&window_at(&agent, base, end_ms)?),
    }
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

fn check_db(db: &str) -> Result<()> {
    if db != ":memory:" && !std::path::Path::new(db).exists() {
        bail!("--db {db}: no such database (run the engine with --db {db}, or use --url)");
    }
    Ok(())
}

fn from_db(db: &str, end_ms: Option<u64>) -> Result<ChartWindow> {
    check_db(db)?;
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

/// The trending rows of the window ending at `end_ms`, or of the latest window that has any.
/// A given window that was emitted with nothing rising is drawn empty.
fn trends_from_db(db: &str, end_ms: Option<u64>) -> Result<TrendWindow> {
    check_db(db)?;
    let which = match end_ms {
        Some(ms) => format!("'{}'", crate::time::rfc3339(ms)),
        None => "(SELECT max(window_end) FROM trends)".to_owned(),
    };
    let query = |sql: &str| {
        crate::sql::query(db, sql, &crate::sql::Limits::default())
            .map_err(|e| anyhow!("--db {db}: {e}"))
    };
    let t = query(&format!(
        "SELECT window_start, window_end, hashtag, score, count, expected, authors FROM trends \
         WHERE window_end = {which} ORDER BY rank"
    ))?;
    let Some(first) = t.rows.first() else {
        let Some(ms) = end_ms else {
            bail!("--db {db}: the trends table holds no window with trending tags yet");
        };
        // Emitted with nothing rising, or never emitted?
        let w = query(&format!(
            "SELECT window_start, window_end FROM window_totals WHERE window_end = {which}"
        ))?;
        let Some(row) = w.rows.first() else {
            bail!("--db {db}: no window ends at {}", crate::time::rfc3339(ms));
        };
        return Ok(TrendWindow {
            start: row.first().map(time_text).unwrap_or_default(),
            end: row.get(1).map(time_text).unwrap_or_default(),
            trending: Vec::new(),
        });
    };
    let trending = t
        .rows
        .iter()
        .map(|r| TrendBar {
            hashtag: r
                .get(2)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            score: r.get(3).and_then(Value::as_f64).unwrap_or(0.0),
            count: r.get(4).and_then(Value::as_u64).unwrap_or(0),
            expected: r.get(5).and_then(Value::as_f64).unwrap_or(0.0),
            authors: r.get(6).and_then(Value::as_u64),
        })
        .collect();
    Ok(TrendWindow {
        start: first.first().map(time_text).unwrap_or_default(),
        end: first.get(1).map(time_text).unwrap_or_default(),
        trending,
    })
}
