//! Mastodon streaming (SSE) (being written: see issue 4).

use super::dealer::Dealer;
use super::SourceContext;

/// Parameters of an `mastodon://` URI.
#[derive(Clone, Debug, PartialEq)]
pub struct MastodonSpec {}

impl MastodonSpec {
    /// Parses the part after `mastodon://`.
    pub fn parse(_rest: &str) -> Result<MastodonSpec, String> {
        Err("source scheme 'mastodon://' is not available in this build yet".into())
    }
}

/// Reads the stream until shutdown.
pub fn run(_spec: &MastodonSpec, _deal: &mut Dealer, _ctx: &SourceContext) {}
