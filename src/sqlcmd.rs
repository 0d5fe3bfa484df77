//! `tagstream sql` (being written: issue 3).

use clap::Args;

/// `tagstream sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The statement (read-only).
    pub statement: String,
}

/// Runs the subcommand.
pub fn run(_a: SqlArgs) -> anyhow::Result<()> {
    anyhow::bail!("tagstream sql is not available in this build yet")
}
