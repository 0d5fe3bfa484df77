//! The `tagstream` binary: parse the command line, dispatch, map errors to one line and an
//! exit code (0 on success, 2 on any error).

use clap::{CommandFactory, Parser};
use tagstream::cli::{Cli, Command};
use tagstream::commands;

fn main() {
    let args = match tagstream::config::expand(std::env::args_os().collect(), &Cli::command()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tagstream: error: {e}");
            std::process::exit(2);
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind::{
                DisplayHelp, DisplayHelpOnMissingArgumentOrSubcommand as NoCommand, DisplayVersion,
            };
            // No subcommand: the whole help on stderr, exit 2 (its first line alone read as
            // an error: "error: Real-time trending hashtags: ...").
            if matches!(e.kind(), DisplayHelp | DisplayVersion | NoCommand) || !e.use_stderr() {
                e.exit();
            }
            // One line, not clap's usage block.
            eprintln!("tagstream: error: {}", tagstream::cli::error_line(&e));
            std::process::exit(2);
        }
    };
    let result = match cli.command {
        Command::Demo(a) => commands::run::demo(*a),
        Command::Run(a) => commands::run::run(*a),
        Command::Extract(a) => commands::extract::run(a).or_else(broken_pipe_ok),
        Command::Sql(a) => commands::sql::run(a),
        Command::Chart(a) => commands::chart::run(a),
        Command::Gen(a) => commands::gen::run(a),
        Command::Receive(a) => commands::receive::run(a),
    };
    if let Err(e) = result {
        eprintln!("tagstream: error: {e:#}");
        std::process::exit(2);
    }
}

/// A closed stdout (`| head`) is not an error.
fn broken_pipe_ok(e: std::io::Error) -> anyhow::Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(e.into())
    }
}
