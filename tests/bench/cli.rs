//! The `sam` tool's start-up: it is launched for every SSH connection once it is the
//! `ProxyCommand`, so it must start fast. Times `sam --version` (the process alone) and
//! `sam workspace list --json` over 50 workspaces (opening the database and reading them), as
//! whole processes, and prints min, median and max of each.
//!
//! Run: `cargo bench -p sam-cli --bench startup` (it builds the release `sam` it times, and no GUI
//! framework).

#![allow(clippy::print_stdout)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sam_core::paths::AppPaths;
use sam_core::store::Store;
use sam_core::workspace::{NewWorkspace, ProviderKind, WorkspaceId};

const ROUNDS: usize = 50;
const WORKSPACES: usize = 50;

/// Runs `sam` with `args` `ROUNDS` times; each run's wall time, sorted.
fn time(sam: &std::path::Path, data_dir: &std::path::Path, args: &[&str]) -> Vec<Duration> {
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(sam)
                .args(args)
                .env("SAM_DATA_DIR", data_dir)
                .stdout(Stdio::null())
                .status()
                .expect("sam runs");
            let took = start.elapsed();
            assert!(status.success(), "sam {args:?} failed");
            took
        })
        .collect();
    samples.sort();
    samples
}

fn report(what: &str, samples: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<40} min {:6.2} ms   median {:6.2} ms   max {:6.2} ms   ({} runs)",
        ms(samples[0]),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
}

fn main() {
    let sam = std::path::PathBuf::from(env!("CARGO_BIN_EXE_sam"));
    let dir = tempfile::tempdir().expect("dir");
    let paths = AppPaths::under(dir.path().join("data"));
    let store = Store::open(&paths.database()).expect("store");
    for n in 0..WORKSPACES {
        let id = WorkspaceId::generate().expect("id");
        let new = NewWorkspace {
            name: format!("workspace-{n}"),
            repo_url: format!("https://github.com/octo/repo-{n}.git"),
            branch: None,
            provider: if n % 2 == 0 {
                ProviderKind::Local
            } else {
                ProviderKind::Hetzner
            },
            idle_timeout_secs: Some(1800),
            placement: None,
        };
        store.insert_workspace(&id, &new).expect("inserted");
    }
    drop(store);

    report(
        "sam --version",
        &time(&sam, &paths.data_dir, &["--version"]),
    );
    let listed = Command::new(&sam)
        .args(["workspace", "list", "--json"])
        .env("SAM_DATA_DIR", &paths.data_dir)
        .output()
        .expect("sam runs");
    let text = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(
        text.matches("workspace-").count(),
        WORKSPACES,
        "every workspace listed: {text}"
    );
    report(
        &format!("sam workspace list --json ({WORKSPACES})"),
        &time(&sam, &paths.data_dir, &["workspace", "list", "--json"]),
    );
}
