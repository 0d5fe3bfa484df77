//! `tagstream chart` (being written: issue 3).

use clap::Args;

/// `tagstream chart`.
#[derive(Debug, Args)]
pub struct ChartArgs {
    /// Output file: .png or .svg.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs the subcommand.
pub fn run(_a: ChartArgs) -> anyhow::Result<()> {
    anyhow::bail!("tagstream chart is not available in this build yet")
}
