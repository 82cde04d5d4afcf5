//! `sam terminal …`: tools around the terminal engine.

use clap::{Args, Subcommand};

use super::print_json;
use crate::core::error::SamError;

#[derive(Debug, Subcommand)]
pub(super) enum TerminalCommand {
    /// Feed a recorded byte stream into the terminal engine and print the final screen as
    /// text (one line per row, trailing spaces trimmed): for bug reports and tests.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
    /// The recorded output (raw bytes).
    file: std::path::PathBuf,
    /// Columns.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..=1000))]
    cols: u16,
    /// Rows.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=1000))]
    rows: u16,
}

/// Runs a terminal command.
pub(super) fn run(command: TerminalCommand, json: bool) -> Result<(), SamError> {
    match command {
        TerminalCommand::Replay(args) => replay(&args, json),
    }
}

fn replay(args: &ReplayArgs, json: bool) -> Result<(), SamError> {
    use crate::core::terminal::{Engine, Size};
    let bytes = std::fs::read(&args.file).map_err(|err| {
        SamError::invalid_input(
            format!("Cannot read {}: {err}.", args.file.display()),
            "Check the file's path.",
        )
    })?;
    let mut engine = Engine::new(
        Size {
            cols: args.cols,
            rows: args.rows,
        },
        0,
    );
    engine.replay(&bytes);
    let screen = engine.screen_text();
    if json {
        print_json(&serde_json::json!({ "rows": screen.lines().collect::<Vec<_>>() }));
    } else {
        #[allow(clippy::print_stdout)]
        {
            print!("{screen}");
        }
    }
    Ok(())
}
