//! Results: where every emitted window goes besides the terminal — the embedded SQLite store
//! (`tweets`, `windows`, `counts` tables), PostgreSQL sinks, and the live state the HTTP API
//! and dashboard read. The engine's output loop calls [`Results::publish`] once per window,
//! in window order; nothing here runs on the dataflow's workers.

pub mod json;
pub mod live;
pub mod postgres;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use window::Window;

use crate::metrics::Metrics;

/// Where results go, from the command line. The HTTP server that shows them is started by
/// the command (`job`), which hands it [`Results::live`].
#[derive(Clone, Debug, Default)]
pub struct ResultsConfig {
    /// SQLite database file (`:memory:` for none on disk); `None`: no store.
    pub db: Option<String>,
    /// How long emitted windows are kept in the store's `windows` table.
    pub retain: Option<Duration>,
    /// `postgres://…` URLs that also receive every window.
    pub sinks: Vec<String>,
}

/// Everything that receives windows, opened from a [`ResultsConfig`].
pub struct Results {
    store: Option<store::Store>,
    sinks: Vec<postgres::PgSink>,
    live: Arc<live::LiveState>,
}

impl Results {
    /// Opens the store and the sinks, as configured. Errors are one line naming what failed
    /// (a database that cannot be opened, a bad sink URL).
    pub fn open(cfg: &ResultsConfig, metrics: Arc<Metrics>) -> Result<Results, String> {
        let store = match &cfg.db {
            Some(db) => Some(store::Store::open(db, cfg.retain)?),
            None => None,
        };
        let sinks = cfg
            .sinks
            .iter()
            .map(|url| postgres::PgSink::open(url))
            .collect::<Result<_, _>>()?;
        let live = Arc::new(live::LiveState::new(metrics, cfg.db.clone()));
        Ok(Results { store, sinks, live })
    }

    /// Hands one emitted window to every receiver. A failing receiver is logged and counted,
    /// never fatal: the engine keeps running.
    /// The store writes it at the next [`Results::flush`].
    pub fn publish(&mut self, w: Window) {
        for sink in &mut self.sinks {
            sink.publish(&w);
        }
        self.live.publish(&w);
        if let Some(s) = self.store.as_mut() {
            s.stage(w);
        }
    }

    /// Writes the windows published since the last flush to the store, in one transaction.
    /// Called when no more windows are waiting, before a checkpoint commits and before a
    /// window is handed to a [`crate::job::Tap`] (whose reader may query the store).
    pub fn flush(&mut self) {
        if let Some(s) = self.store.as_mut() {
            if let Err(e) = s.flush() {
                crate::log::warn(format_args!("store: {e}"));
            }
        }
    }

    /// Flushes what is buffered (at the end of a run).
    pub fn finish(&mut self) {
        self.flush();
        for sink in &mut self.sinks {
            sink.finish();
        }
    }

    /// The state the HTTP server reads.
    pub fn live(&self) -> &Arc<live::LiveState> {
        &self.live
    }
}
