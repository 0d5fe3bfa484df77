//! Bluesky Jetstream (WebSocket) (being written: see issue 4).

use super::dealer::Dealer;
use super::SourceContext;

/// Parameters of an `jetstream://` URI.
#[derive(Clone, Debug, PartialEq)]
pub struct JetstreamSpec {}

impl JetstreamSpec {
    /// Parses the part after `jetstream://`.
    pub fn parse(_rest: &str) -> Result<JetstreamSpec, String> {
        Err("source scheme 'jetstream://' is not available in this build yet".into())
    }
}

/// Reads the stream until shutdown.
pub fn run(_spec: &JetstreamSpec, _deal: &mut Dealer, _ctx: &SourceContext) {}
