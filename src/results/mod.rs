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
    /// The store being opened on a thread of its own, until [`Results::ready`].
    opening: Option<std::thread::JoinHandle<Result<store::Store, String>>>,
    sinks: Vec<postgres::PgSink>,
    live: Arc<live::LiveState>,
    /// The store's last write error, while writes fail (said once, not at every flush).
    failing: Option<String>,
}

impl Results {
    /// Opens the sinks, and starts opening the store, as configured. Errors are one line
    /// naming what failed (a bad sink URL; a database that cannot be opened, from
    /// [`Results::ready`]).
    ///
    /// The store opens on a thread of its own: creating a database takes a few fsyncs
    /// (milliseconds), which the engine's start need not wait for.
    pub fn open(cfg: &ResultsConfig, metrics: Arc<Metrics>) -> Result<Results, String> {
        let sinks = cfg
            .sinks
            .iter()
            .map(|url| postgres::PgSink::open(url))
            .collect::<Result<_, _>>()?;
        let (mut store, mut opening) = (None, None);
        if let Some(path) = &cfg.db {
            let (db, retain) = (path.clone(), cfg.retain);
            let thread = std::thread::Builder::new().name("store-open".into());
            match thread.spawn(move || store::Store::open(&db, retain)) {
                Ok(handle) => opening = Some(handle),
                // No thread to spare: opened in turn.
                Err(_) => store = Some(store::Store::open(path, retain)?),
            }
        }
        let live = Arc::new(live::LiveState::new(metrics, cfg.db.clone()));
        Ok(Results {
            store,
            opening,
            sinks,
            live,
            failing: None,
        })
    }

    /// Waits for the store to be open: the error of a database that cannot be opened.
    /// Called before the first window is published (publishing and flushing call it too).
    pub fn ready(&mut self) -> Result<(), String> {
        if let Some(handle) = self.opening.take() {
            let opened = handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            self.store = Some(opened?);
        }
        Ok(())
    }

    /// [`Results::ready`] where a failure is logged, not returned (the engine keeps running
    /// without the store).
    fn ready_or_warn(&mut self) {
        if let Err(e) = self.ready() {
            crate::log::warn(format_args!("store: {e}"));
        }
    }

    /// Hands one emitted window to every receiver. A failing receiver is logged and counted,
    /// never fatal: the engine keeps running.
    /// The store writes it at the next [`Results::flush`].
    pub fn publish(&mut self, w: Window) {
        self.ready_or_warn();
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
    ///
    /// Returns whether every window published so far is in the store: a checkpoint may
    /// commit only then. A failed write keeps its windows for the next flush.
    pub fn flush(&mut self) -> bool {
        self.ready_or_warn();
        let Some(s) = self.store.as_mut() else {
            return true;
        };
        match s.flush() {
            Ok(()) => {
                if self.failing.take().is_some() {
                    crate::log::info(format_args!("store: writing again"));
                }
                // Windows dropped while writes kept failing are lost for good: no later
                // epoch may commit past them (a resume must write them again).
                s.unwritten().1 == 0
            }
            Err(e) => {
                if self.failing.as_deref() != Some(e.as_str()) {
                    crate::log::warn(format_args!(
                        "store: {e}; its windows are kept and written at the next flush, and \
                         no checkpoint commits until they are"
                    ));
                    self.failing = Some(e);
                }
                false
            }
        }
    }

    /// Flushes what is buffered (at the end of a run): an error names the windows the store
    /// could not take.
    pub fn finish(&mut self) -> Result<(), String> {
        let written = self.flush();
        for sink in &mut self.sinks {
            sink.finish();
        }
        let (staged, lost) = self.store.as_ref().map_or((0, 0), store::Store::unwritten);
        if written && lost == 0 {
            return Ok(());
        }
        Err(format!(
            "store: {} windows could not be written{}: {}",
            staged as u64 + lost,
            if lost > 0 {
                format!(" ({lost} dropped while writes kept failing)")
            } else {
                String::new()
            },
            self.failing.as_deref().unwrap_or("writes failed")
        ))
    }

    /// The state the HTTP server reads.
    pub fn live(&self) -> &Arc<live::LiveState> {
        &self.live
    }
}
