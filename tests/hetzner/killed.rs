//! The real `sam` process killed (SIGKILL) half-way through a Hetzner create and a Hetzner stop,
//! and the next process finishing the work: one server, never two, and nothing left billed after
//! the stop. Needs the session's Secret Service (the CLI keeps the installation key there).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sam_core::store::Store;
use sam_core::workspace::WorkspaceId;
use serde_json::Value;

use super::cloud;

struct Sam {
    data: PathBuf,
    endpoint: String,
}

impl Sam {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(sam_test_support::binary("sam"));
        command
            .args(args)
            .env("SAM_DATA_DIR", &self.data)
            .env("SAM_LEASE_SECS", "1")
            .env("HCLOUD_ENDPOINT", &self.endpoint)
            .env("HCLOUD_TOKEN", "test-token")
            .env("SAM_AGENT_URL", "https://example.com/sam-agent")
            .env("SAM_AGENT_SHA256", "0".repeat(64))
            .stdin(Stdio::null());
        command
    }

    fn json(&self, args: &[&str]) -> Value {
        let output = self.command(args).output().expect("sam runs");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!(
                "{args:?}: not JSON ({err}); stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
    }

    /// Starts `args` held before `step`, waits until it is there, and kills it.
    fn kill_before(&self, args: &[&str], step: &str, log: &Path) -> WorkspaceId {
        let mut held = self
            .command(args)
            .env("SAM_FAULT_HOLD_BEFORE_STEP", step)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .expect("starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let id = loop {
            if let Some(id) = self.store().and_then(|store| {
                store.workspaces().ok()?.into_iter().find_map(|w| {
                    let events = store.events(&w.id, 0, 1000).ok()?;
                    events
                        .iter()
                        .any(|e| e.message.contains("held before this step") && e.step == step)
                        .then_some(w.id)
                })
            }) {
                break id;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never held before {step}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        held.kill().expect("SIGKILL");
        held.wait().expect("reaped");
        id
    }

    fn store(&self) -> Option<Store> {
        let path = self.data.join("sam.sqlite3");
        path.exists().then(|| Store::open(&path).ok()).flatten()
    }

    /// Waits for the dead process's lease to run out, then resumes and returns the workspace.
    fn resume(&self, id: &WorkspaceId) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.store().is_some_and(|store| {
            store
                .orphaned_operations()
                .is_ok_and(|ops| ops.iter().any(|op| &op.workspace == id))
        }) {
            assert!(
                std::time::Instant::now() < deadline,
                "the lease never ran out"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let output = self
            .command(&["workspace", "resume", id.as_str()])
            .output()
            .expect("resume runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        self.json(&["--json", "workspace", "show", id.as_str()])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hetzner_create_and_stop_killed_half_way_are_finished_by_the_next_process() {
    let cloud = cloud().await;
    let sam = Sam {
        data: cloud.dir.path().join("cli-data"),
        endpoint: cloud.fake.base_url().to_owned(),
    };
    let repo = sam_test_support::source_repo(cloud.dir.path());
    let log = cloud.dir.path().join("held.log");
    let servers = || cloud.fake.servers();

    let (sam, log, repo) = (std::sync::Arc::new(sam), log, repo);
    let killer = std::sync::Arc::clone(&sam);
    let id = tokio::task::spawn_blocking(move || {
        killer.kill_before(
            &[
                "--json",
                "workspace",
                "create",
                "--provider",
                "hetzner",
                "--repo",
                &repo,
                "--wait",
            ],
            "clone",
            &log,
        )
    })
    .await
    .expect("joined");
    assert_eq!(servers().len(), 1, "the dead process's server is there");

    let resumer = std::sync::Arc::clone(&sam);
    let resumed_id = id.clone();
    let created = tokio::task::spawn_blocking(move || resumer.resume(&resumed_id))
        .await
        .expect("joined");
    assert_eq!(created["status"], "running", "{created}");
    assert_eq!(servers().len(), 1, "finished on one server, not two");

    let killer = std::sync::Arc::clone(&sam);
    let stopping = id.clone();
    let log = cloud.dir.path().join("held-stop.log");
    tokio::task::spawn_blocking(move || {
        killer.kill_before(
            &["workspace", "stop", stopping.as_str(), "--wait"],
            "release",
            &log,
        )
    })
    .await
    .expect("joined");
    let resumer = std::sync::Arc::clone(&sam);
    let stopped = tokio::task::spawn_blocking(move || resumer.resume(&id))
        .await
        .expect("joined");
    assert_eq!(stopped["status"], "stopped", "{stopped}");
    assert!(
        servers().is_empty(),
        "nothing billed for compute: {:?}",
        servers()
    );
}
