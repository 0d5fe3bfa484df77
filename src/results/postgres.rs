//! The PostgreSQL sink (being written: issue 3).

use window::Window;

/// A PostgreSQL database that receives every window.
pub struct PgSink {}

impl PgSink {
    /// Connects (and creates the tables if absent).
    pub fn open(url: &str) -> Result<PgSink, String> {
        Err(format!(
            "--sink {}: PostgreSQL sinks are not available in this build yet",
            redact(url)
        ))
    }

    /// Queues one window (written in batches; kept across reconnects).
    pub fn publish(&mut self, _w: &Window) {}

    /// Writes what is queued.
    pub fn finish(&mut self) {}
}

/// A connection URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}
