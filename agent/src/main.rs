//! The `sam-agent` binary.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sam_agent::Bound;
use sam_agent::config::{Config, Flags};

fn main() -> ExitCode {
    // `sam-agent credential …` is git's credential helper, not the agent.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("credential") {
        return sam_agent::credentials::helper::main(&args[2..]);
    }
    let flags = Flags::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SAM_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match Config::load(flags) {
        Ok(config) => config,
        Err(err) => {
            report(&format!("invalid configuration: {err}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            report(&format!("cannot start: {err}"));
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(config));
    // A blocking task still running (the disk sync of `prepare_stop` on a slow disk, say) must
    // not hold the process past its grace: systemd waits for the exit before it powers off.
    runtime.shutdown_timeout(sam_agent::SHUTDOWN_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err.to_string());
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), sam_agent::RunError> {
    let bound = Bound::bind(config).await?;
    let addr = bound.local_addr()?;
    // The one line on standard output: where to connect (logs go to standard error).
    let announcement = serde_json::json!({
        "event": "listening",
        "addr": addr.to_string(),
        "fingerprint": bound.agent.identity.fingerprint(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{announcement}")?;
    stdout.flush()?;
    drop(stdout);

    let shutdown = bound.agent.shutdown.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received; shutting down");
        shutdown.cancel();
    });
    bound.serve().await
}

#[allow(clippy::print_stderr)]
fn report(message: &str) {
    eprintln!("sam-agent: {message}");
}
