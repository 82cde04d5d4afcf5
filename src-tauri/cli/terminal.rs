//! `sam terminal …`: tools around the terminal engine.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::print_json;
use sam_core::error::SamError;

#[derive(Debug, Subcommand)]
pub(super) enum TerminalCommand {
    /// Feed a recorded byte stream into the terminal engine and print the final screen as
    /// text (one line per row, trailing spaces trimmed): for bug reports and tests.
    Replay(ReplayArgs),
    /// Run a program in a new terminal and save everything it prints, for `replay` and bug
    /// reports. This terminal's input is passed through; piped input is typed into it.
    Record(RecordArgs),
}

#[derive(Debug, Args)]
pub(super) struct ReplayArgs {
    /// The recorded output (raw bytes).
    file: PathBuf,
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
        TerminalCommand::Record(args) => record(&args, json),
    }
}

fn replay(args: &ReplayArgs, json: bool) -> Result<(), SamError> {
    use sam_core::terminal::{Engine, Size};
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

#[derive(Debug, Args)]
pub(super) struct RecordArgs {
    /// Where to write the recording (raw output bytes).
    file: PathBuf,
    /// Columns (default: this terminal's width, or 80).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    cols: Option<u16>,
    /// Rows (default: this terminal's height, or 24).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1000))]
    rows: Option<u16>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// The program to run, with its arguments (default: $SHELL, or /bin/sh).
    #[arg(last = true)]
    command: Vec<String>,
}

/// Runs a program in a new terminal, passing this terminal's input through, and saves
/// everything it prints. Stdin that is not a terminal (a pipe, a file) is sent as typed input,
/// which scripts recordings.
#[cfg(not(unix))]
fn record(_args: &RecordArgs, _json: bool) -> Result<(), SamError> {
    Err(SamError::invalid_input(
        "sam terminal record needs a Unix terminal (Linux or macOS).",
        "Record on Linux or macOS; `sam terminal replay` works here.",
    ))
}

#[cfg(unix)]
fn record(args: &RecordArgs, json: bool) -> Result<(), SamError> {
    use std::io::{Read, Write};

    let stdin = std::io::stdin();
    let window = rustix::termios::tcgetwinsize(std::io::stdout()).ok();
    let cols = args
        .cols
        .or_else(|| window.map(|w| w.ws_col).filter(|&c| c > 0))
        .unwrap_or(80);
    let rows = args
        .rows
        .or_else(|| window.map(|w| w.ws_row).filter(|&r| r > 0))
        .unwrap_or(24);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .create_new(!args.force)
        .open(&args.file)
        .map_err(|err| {
            let next = if err.kind() == std::io::ErrorKind::AlreadyExists {
                "Choose another file, or pass --force to replace it."
            } else {
                "Check the folder exists and is writable."
            };
            SamError::invalid_input(
                format!("Cannot create {}: {err}.", args.file.display()),
                next,
            )
        })?;
    let mut command = args.command.clone();
    if command.is_empty() {
        command.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned()));
    }
    let pty_error = |err: pty_process::Error| {
        SamError::internal(format!("Cannot start a terminal for {}.", command[0]), &err)
    };
    let (pty, pts) = pty_process::blocking::open().map_err(pty_error)?;
    pty.resize(pty_process::Size::new(rows, cols))
        .map_err(pty_error)?;
    let mut child = pty_process::blocking::Command::new(&command[0])
        .args(&command[1..])
        .env("TERM", "xterm-256color")
        .spawn(pts)
        .map_err(|err| {
            SamError::invalid_input(
                format!("Cannot run {}: {err}.", command[0]),
                "Check the program's name and that it is on PATH.",
            )
        })?;
    let pty = std::sync::Arc::new(pty);
    let _raw = RawMode::enter(&stdin);
    let input = std::sync::Arc::clone(&pty);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if (&*input).write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    let mut recorded = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut stdout = std::io::stdout().lock();
    let write_error = |err: std::io::Error| {
        SamError::invalid_input(
            format!("Cannot write {}: {err}.", args.file.display()),
            "Check the disk has free space.",
        )
    };
    // Reading ends with EIO once the program and everything it started have closed the terminal.
    while let Ok(n @ 1..) = (&*pty).read(&mut buf) {
        out.write_all(&buf[..n]).map_err(write_error)?;
        recorded += n as u64;
        if !json {
            let _ = stdout.write_all(&buf[..n]);
            let _ = stdout.flush();
        }
    }
    out.flush().map_err(write_error)?;
    let status = child.wait().ok().and_then(|status| status.code());
    drop(_raw);
    if json {
        print_json(&serde_json::json!({
            "file": args.file,
            "bytes": recorded,
            "cols": cols,
            "rows": rows,
            "exit_code": status,
        }));
    } else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "\r\nRecorded {recorded} bytes ({cols}x{rows}) to {}; replay with: sam terminal replay {} --cols {cols} --rows {rows}",
                args.file.display(),
                args.file.display()
            );
        }
    }
    Ok(())
}

/// This terminal in raw mode (keys go to the recorded program unprocessed) until dropped.
#[cfg(unix)]
struct RawMode(Option<rustix::termios::Termios>);

#[cfg(unix)]
impl RawMode {
    fn enter(stdin: &std::io::Stdin) -> Self {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let Ok(saved) = tcgetattr(stdin) else {
            return Self(None);
        };
        let mut raw = saved.clone();
        raw.make_raw();
        match tcsetattr(stdin, OptionalActions::Now, &raw) {
            Ok(()) => Self(Some(saved)),
            Err(_) => Self(None),
        }
    }
}

#[cfg(unix)]
impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}
