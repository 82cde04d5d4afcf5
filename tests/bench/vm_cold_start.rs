//! Cold start on the VM tier: a Hetzner workspace workspace on the fake whose servers boot as real
//! Linux virtual machines (software emulation), from the create call to a terminal answering,
//! with where the time goes — the machine's boot stages (kernel timestamps on its console) and
//! SAM's steps (the workspace's event log).
//!
//! ```sh
//! cargo build --release --workspace --bins && cargo bench --bench vm_cold_start   # as root
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[allow(dead_code)]
#[path = "../vm/tier.rs"]
mod tier;

use std::time::Instant;

use tier::{Tier, terminal};

/// Console lines that mark the machine's boot stages, by what they start with after the
/// kernel's timestamp.
const STAGES: [(&str, &str); 6] = [
    ("Run /init", "initramfs"),
    ("systemd[1]: systemd 252", "systemd starts"),
    ("running 'init-local'", "cloud-init: local (metadata)"),
    ("running 'init' ", "cloud-init: network"),
    ("running 'modules:config'", "cloud-init: config"),
    (
        "running 'modules:final'",
        "cloud-init: final (runs boot.sh)",
    ),
];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let tier = Tier::start().await;
    let core = tier.core("vm-bench");
    let lifecycle = core.workspaces();
    let begun = Instant::now();
    let begun_ms = sam_core::clock::now_ms();
    let workspace = tier.create(&core).await;
    let name = format!("sam-{}", workspace.id);
    let running = begun.elapsed();
    let agent = lifecycle.connect(&workspace).await.expect("connected");
    terminal(&agent, "echo \"ready $(id -un)\"\r", "ready dev").await;
    let terminal_ready = begun.elapsed();

    println!("VM tier cold start (create → terminal), software emulation, 2 vCPUs, 1 GiB");
    println!("\nSAM's steps (seconds since the create call; first and last event):");
    let events = core
        .store()
        .events(&workspace.id, 0, 10_000)
        .expect("events");
    let mut steps: Vec<(String, f64, f64)> = Vec::new();
    for event in &events {
        let at = (event.at_ms - begun_ms) as f64 / 1000.0;
        match steps.iter_mut().find(|(step, _, _)| *step == event.step) {
            Some(entry) => entry.2 = at,
            None => steps.push((event.step.clone(), at, at)),
        }
    }
    for (step, first, last) in &steps {
        println!("  {step:<12} {first:>7.1} → {last:>7.1}");
    }
    println!("  workspace running      {:>7.1}", running.as_secs_f64());
    println!(
        "  terminal answering     {:>7.1}",
        terminal_ready.as_secs_f64()
    );

    println!("\nThe machine (seconds of guest uptime, from its console):");
    let console = tier
        .fake
        .server_dir(&name)
        .and_then(|dir| std::fs::read_to_string(dir.join("console.log")).ok())
        .unwrap_or_default();
    for (needle, label) in STAGES {
        if let Some(at) = console
            .lines()
            .find(|line| line.contains(needle))
            .and_then(uptime)
        {
            println!("  {label:<34} {at:>7.1}");
        }
    }
    for line in console.lines().filter(|line| line.contains("sam-boot: ")) {
        if let (Some(at), Some(phase)) = (uptime(line), line.split("sam-boot: ").nth(1)) {
            println!("  boot.sh {phase:<60} {at:>7.1}");
        }
    }
}

/// The kernel timestamp `[   12.345678]` in a console line (which a login prompt may precede),
/// in seconds.
fn uptime(line: &str) -> Option<f64> {
    let inner = line.split_once('[')?.1.split(']').next()?;
    inner.trim().parse().ok()
}
