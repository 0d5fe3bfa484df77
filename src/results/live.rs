//! The live state behind the HTTP API and dashboard (being written: issue 3).

use std::sync::Arc;

use window::Window;

use crate::metrics::Metrics;

/// What the HTTP server shows: the latest windows, the counters, and a feed of new windows.
pub struct LiveState {
    /// Counters of the engine.
    pub metrics: Arc<Metrics>,
    /// The results database, for `POST /api/sql`.
    pub db: Option<String>,
}

impl LiveState {
    /// A state with no window yet.
    pub fn new(metrics: Arc<Metrics>, db: Option<String>) -> LiveState {
        LiveState { metrics, db }
    }

    /// Records a new window and notifies the event stream.
    pub fn publish(&self, _w: &Window) {}
}

/// Starts the HTTP server on `addr` in the background.
pub fn serve(addr: &str, _state: Arc<LiveState>) -> Result<(), String> {
    Err(format!(
        "--http {addr}: the HTTP server is not available in this build yet"
    ))
}
