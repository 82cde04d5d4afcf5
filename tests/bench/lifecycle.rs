//! Workspaces benchmark: how long "Run on this computer" takes from request to a running
//! workspace for a small repository, and how much of that is SAM's own work.
//!
//! Run: `cargo build --release -p sam-agent && cargo bench --bench lifecycle`

#![allow(clippy::print_stdout)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sam_core::Core;
use sam_core::idle::IdleChoice;
use sam_core::installation::MemoryKeys;
use sam_core::lifecycle::CreateRequest;
use sam_core::paths::AppPaths;
use sam_core::provider::local::LocalProvider;
use sam_core::provider::{MachineSpec, Provider};
use sam_core::store::OperationKind;
use sam_core::workspace::{ProviderKind, WorkspaceId};
use sam_test_support::{binary, source_repo};

const ROUNDS: usize = 5;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let repo = source_repo(dir.path());
    let agent = binary("sam-agent");

    // The provider's own waiting: start an agent and get its address.
    let provider = LocalProvider::new(&dir.path().join("bare"), agent.clone());
    let key = sam_protocol::token::encode_public_key(
        &ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key(),
    );
    let provision: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            runtime.block_on(async {
                let id = WorkspaceId::generate().expect("id");
                let spec = MachineSpec {
                    workspace: &id,
                    public_key: key.clone(),
                    enrollment_secret: None,
                    idle_timeout_secs: None,
                    placements: Vec::new(),
                };
                let start = Instant::now();
                provider.provision(&spec).await.expect("provisions");
                let took = start.elapsed();
                provider.destroy(&id).await.expect("destroys");
                took
            })
        })
        .collect();

    // git's own work: the same clone, run directly.
    let clone: Vec<Duration> = (0..ROUNDS)
        .map(|n| {
            let target = dir.path().join(format!("direct-{n}"));
            let start = Instant::now();
            let status = Command::new("git")
                .args(["clone", "-q", &repo])
                .arg(&target)
                .status()
                .expect("git");
            assert!(status.success());
            start.elapsed()
        })
        .collect();

    // The whole create, through the core.
    let core = Core::open_with(
        AppPaths::under(dir.path().join("data")),
        sam_core::config::Config::default().with_agent_binary(agent),
        Arc::new(MemoryKeys::default()),
        None,
    )
    .expect("core");
    let create: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            runtime.block_on(async {
                let lifecycle = core.workspaces();
                let request = CreateRequest {
                    repo: repo.clone(),
                    name: None,
                    branch: None,
                    provider: ProviderKind::Local,
                    idle: IdleChoice::Never,
                    placement: None,
                };
                let start = Instant::now();
                let (workspace, operation) = lifecycle.begin_create(&request).expect("begins");
                lifecycle.run(operation).await.expect("creates");
                let took = start.elapsed();
                let delete = lifecycle
                    .begin(&workspace.id, OperationKind::Delete)
                    .expect("begins");
                lifecycle.run(delete).await.expect("deletes");
                took
            })
        })
        .collect();

    let (p, g, c) = (median(provision), median(clone), median(create));
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("median of {ROUNDS} rounds");
    println!(
        "{:<52} {:>8.1} ms",
        "Local create -> running (small repository)",
        ms(c)
    );
    println!(
        "{:<52} {:>8.1} ms",
        "  provider: start the agent, read its address",
        ms(p)
    );
    println!("{:<52} {:>8.1} ms", "  git clone run directly", ms(g));
    println!(
        "{:<52} {:>8.1} ms",
        "  the rest: SAM (store, enroll, session, jobs)",
        ms(c.saturating_sub(p + g))
    );
}
