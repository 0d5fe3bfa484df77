//! X API v2 filtered stream (being written: see issue 4).

use super::dealer::Dealer;
use super::SourceContext;

/// Parameters of an `x://` URI.
#[derive(Clone, Debug, PartialEq)]
pub struct XSpec {}

impl XSpec {
    /// Parses the part after `x://`.
    pub fn parse(_rest: &str) -> Result<XSpec, String> {
        Err("source scheme 'x://' is not available in this build yet".into())
    }
}

/// Reads the stream until shutdown.
pub fn run(_spec: &XSpec, _deal: &mut Dealer, _ctx: &SourceContext) {}
