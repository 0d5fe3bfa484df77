//! The embedded SQLite store (being written: issue 3).

use std::time::Duration;

use window::Window;

/// The results database.
pub struct Store {}

impl Store {
    /// Opens (or creates) the database at `path` (`:memory:` for an in-memory one).
    pub fn open(_path: &str, _retain: Option<Duration>) -> Result<Store, String> {
        Ok(Store {})
    }

    /// Writes one window: the `windows` history, `tweets` (its top-K) and `counts`.
    pub fn publish(&mut self, _w: &Window) -> Result<(), String> {
        Ok(())
    }
}
