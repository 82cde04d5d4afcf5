//! `fake-hetzner --listen ADDR`: serves the fake Hetzner Cloud API and prints its base URL as
//! the first line on standard output; runs until killed.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use fake_hetzner::{FakeHetzner, Faults, Options};

#[derive(Debug, Parser)]
#[command(
    name = "fake-hetzner",
    version,
    about = "A local fake of the Hetzner Cloud API"
)]
struct Args {
    /// Where to listen (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Accept only this token (default: any non-empty token).
    #[arg(long)]
    token: Option<String>,
    /// A token that may only read.
    #[arg(long)]
    read_only_token: Option<String>,
    /// The sam-agent binary servers boot (default: next to this program).
    #[arg(long)]
    agent_bin: Option<PathBuf>,
    /// The port agents listen on.
    #[arg(long, default_value_t = 443)]
    agent_port: u16,
    /// Where servers and volumes keep their folders (default: a new temporary folder).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Requests an hour before 429.
    #[arg(long, default_value_t = 3600)]
    rate_limit: u32,
    /// Faults to inject, as JSON (see `Faults`), e.g. '{"unavailable":["cx23@fsn1"]}'.
    #[arg(long)]
    faults: Option<String>,
    /// Servers boot as QEMU virtual machines from this image folder (what
    /// scripts/lib/vm-image.sh prints) instead of as the agent alone.
    #[arg(long, value_name = "IMAGE")]
    vm: Option<PathBuf>,
    /// Internal: connect standard input and output to ADDR (a virtual machine's metadata
    /// connection), then exit.
    #[arg(long, value_name = "ADDR", hide = true)]
    relay: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(addr) = &args.relay {
        return match fake_hetzner::vm::relay(addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("fake-hetzner: --relay {addr}: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let faults: Faults = match args.faults.as_deref().map(serde_json::from_str).transpose() {
        Ok(faults) => faults.unwrap_or_default(),
        Err(err) => {
            eprintln!("fake-hetzner: --faults: {err}");
            return ExitCode::from(2);
        }
    };
    let data_dir = args.data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fake-hetzner-{}", std::process::id()))
    });
    let mut options = Options::new(data_dir);
    options.token = args.token;
    options.read_only_token = args.read_only_token;
    if let Some(bin) = args.agent_bin {
        options.agent_bin = bin;
    }
    options.agent_port = args.agent_port;
    options.rate_limit = args.rate_limit;
    options.faults = faults;
    if let Some(image) = args.vm {
        let mut vm = fake_hetzner::vm::VmOptions::new(image);
        // This very program relays the machines' metadata connections.
        if let Ok(exe) = std::env::current_exe() {
            vm.relay = exe;
        }
        options.vm = Some(vm);
    }
    let fake = match FakeHetzner::start(args.listen, options).await {
        Ok(fake) => fake,
        Err(err) => {
            eprintln!("fake-hetzner: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    println!("{}", fake.base_url());
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    ExitCode::SUCCESS
}
