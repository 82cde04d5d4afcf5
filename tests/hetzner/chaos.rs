//! Random operation sequences on Hetzner workspaces under random injected faults — 429 bursts,
//! 503s, no capacity in the first location, slow and failing actions, servers that never boot
//! or vanish, and the process dying half-way through an operation — checking after every step
//! what must always hold:
//!
//! - every billed server and Volume belongs to a live workspace record or is reported by the
//!   reconciler as not known to SAM;
//! - no workspace has two servers;
//! - no record is lost (only a delete that finished removes one);
//! - every workspace in `error` carries a category and a next step;
//! - once the sweep ran, a `running` workspace has a server and a `stopped` one has none.
//!
//! "The process dies" is the operation's future dropped at a random moment — its lease is no
//! longer renewed and what it held in memory (the enrollment secret) is gone — followed by a
//! second core on the same database (another owner, as the next app start) taking the
//! operation over once the lease ran out. The `sam` CLI tests kill real processes the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fake_hetzner::Faults;
use proptest::prelude::*;
use sam_core::Core;
use sam_core::installation::{KeyStore, MemoryKeys};
use sam_core::paths::AppPaths;
use sam_core::provider::hetzner::api::{LABEL_INSTALLATION, LABEL_WORKSPACE};
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::redact::Secret;
use sam_core::store::OperationKind;
use sam_core::workspace::{WorkspaceId, WorkspaceStatus};

use super::lifecycle::create_request;
use super::{Cloud, WAIT, cloud, fast, provider::agent};

const INSTALLATION: &str = "chaos-test";
const LEASE: Duration = Duration::from_millis(600);
const BOOT_TIMEOUT: Duration = Duration::from_secs(3);

/// One step of a sequence. Indexes pick among the workspaces made so far.
#[derive(Debug, Clone)]
enum Op {
    Create,
    Stop(usize),
    Start(usize),
    Delete(usize),
    Retry(usize),
    /// The workspace's server is deleted behind SAM's back.
    Vanish(usize),
    /// A stop or start (whichever applies) dies after this many milliseconds.
    Crash(usize, u64),
    /// The app's periodic sweep.
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Create),
        2 => (0..3usize).prop_map(Op::Stop),
        2 => (0..3usize).prop_map(Op::Start),
        1 => (0..3usize).prop_map(Op::Delete),
        2 => (0..3usize).prop_map(Op::Retry),
        1 => (0..3usize).prop_map(Op::Vanish),
        3 => (0..3usize, 0..400u64).prop_map(|(i, ms)| Op::Crash(i, ms)),
        1 => Just(Op::Sweep),
    ]
}

/// The faults in force while one step runs.
fn faults() -> impl Strategy<Value = Faults> {
    prop_oneof![
        4 => Just(Faults::default()),
        1 => (1..4u32).prop_map(|n| Faults { rate_limited: n, ..Faults::default() }),
        1 => (1..3u32).prop_map(|n| Faults { server_errors: n, ..Faults::default() }),
        1 => Just(Faults { unavailable: vec!["@fsn1".to_owned()], ..Faults::default() }),
        1 => (50..300u64).prop_map(|ms| Faults { action_delay_ms: ms, ..Faults::default() }),
        1 => Just(Faults { failing_actions: true, ..Faults::default() }),
        1 => Just(Faults { never_boot: true, ..Faults::default() }),
    ]
}

/// A core on the test's database, as one process of the app (`owner`).
fn open_core(cloud: &Cloud, keys: &Arc<MemoryKeys>, owner: &str) -> Core {
    let core = Core::open_with(
        AppPaths::under(cloud.dir.path().join("app")),
        sam_core::config::Config::default()
            .with_agent_binary(sam_test_support::binary("sam-agent")),
        Arc::clone(keys) as Arc<dyn KeyStore>,
        Some(owner.to_owned()),
    )
    .expect("core");
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let mut settings = HetznerSettings::new(INSTALLATION, agent());
    settings.action_timeout = WAIT;
    settings.shutdown_timeout = Duration::from_secs(2);
    // Every step sees the account as it is now.
    settings.status_ttl = Duration::ZERO;
    core.hetzner()
        .use_provider(Arc::new(HetznerProvider::new(Arc::new(client), settings)));
    core.workspaces().set_timing(LEASE, BOOT_TIMEOUT);
    core
}

struct Run {
    cloud: Cloud,
    keys: Arc<MemoryKeys>,
    core: Core,
    processes: u32,
    repo: String,
    /// Every workspace made, and whether a delete of it finished.
    made: BTreeMap<WorkspaceId, bool>,
}

impl Run {
    fn pick(&self, index: usize) -> Option<WorkspaceId> {
        let live: Vec<_> = self
            .made
            .iter()
            .filter(|(_, deleted)| !**deleted)
            .map(|(id, _)| id.clone())
            .collect();
        (!live.is_empty()).then(|| live[index % live.len()].clone())
    }

    /// Runs `kind` on `id` if its state allows it; the outcome is what the checks look at.
    async fn operate(&mut self, id: &WorkspaceId, kind: OperationKind) {
        let lifecycle = self.core.workspaces();
        let Ok(operation) = lifecycle.begin(id, kind) else {
            return;
        };
        let done = lifecycle.run(operation).await;
        if kind == OperationKind::Delete && matches!(done, Ok(None)) {
            self.made.insert(id.clone(), true);
        }
    }

    async fn step(&mut self, op: &Op) {
        match op {
            Op::Create => {
                let lifecycle = self.core.workspaces();
                if let Ok((workspace, operation)) =
                    lifecycle.begin_create(&create_request(self.repo.clone()))
                {
                    self.made.insert(workspace.id.clone(), false);
                    let _ = lifecycle.run(operation).await;
                }
            }
            Op::Stop(i) | Op::Start(i) | Op::Delete(i) => {
                let Some(id) = self.pick(*i) else { return };
                let kind = match op {
                    Op::Stop(_) => OperationKind::Stop,
                    Op::Start(_) => OperationKind::Start,
                    _ => OperationKind::Delete,
                };
                self.operate(&id, kind).await;
            }
            Op::Retry(i) => {
                let Some(id) = self.pick(*i) else { return };
                let lifecycle = self.core.workspaces();
                if let Ok(operation) = lifecycle.begin_retry(&id) {
                    let deleting = operation.kind == OperationKind::Delete;
                    if let (true, Ok(None)) = (deleting, lifecycle.run(operation).await) {
                        self.made.insert(id, true);
                    }
                }
            }
            Op::Vanish(i) => {
                let Some(id) = self.pick(*i) else { return };
                if let Ok(Some(server)) = self.cloud.client.server_named(&format!("sam-{id}")).await
                {
                    self.cloud.fake.vanish(server.id);
                }
            }
            Op::Crash(i, after_ms) => {
                let Some(id) = self.pick(*i) else { return };
                let lifecycle = self.core.workspaces();
                let status = self.core.store().workspace(&id).map(|w| w.status);
                let kind = match status {
                    Ok(WorkspaceStatus::Running) => OperationKind::Stop,
                    Ok(WorkspaceStatus::Stopped) => OperationKind::Start,
                    _ => return,
                };
                let Ok(operation) = lifecycle.begin(&id, kind) else {
                    return;
                };
                let work = {
                    let lifecycle = lifecycle.clone();
                    tokio::spawn(async move { lifecycle.run(operation).await })
                };
                tokio::time::sleep(Duration::from_millis(*after_ms)).await;
                work.abort();
                let _ = work.await;
                // The next process takes over once the dead one's lease ran out.
                self.processes += 1;
                self.core = open_core(
                    &self.cloud,
                    &self.keys,
                    &format!("process-{}", self.processes),
                );
                tokio::time::sleep(LEASE + Duration::from_millis(100)).await;
                let _ = self.core.workspaces().resume_orphans().await;
            }
            Op::Sweep => {
                let _ = self.core.workspaces().sweep().await;
            }
        }
    }

    /// Once the faults are gone, Retry brings every failed workspace back to where it was
    /// going: nothing is stuck.
    async fn recover(&mut self) {
        let lifecycle = self.core.workspaces().clone();
        for (id, deleted) in self.made.clone() {
            if deleted {
                continue;
            }
            let Ok(record) = self.core.store().workspace(&id) else {
                continue;
            };
            if record.status != WorkspaceStatus::Error {
                continue;
            }
            // A workspace retried to its cap stays in `error` by design.
            let Ok(operation) = lifecycle.begin_retry(&id) else {
                continue;
            };
            let kind = operation.kind;
            let after = lifecycle.run(operation).await;
            let expected = match kind {
                OperationKind::Create | OperationKind::Start => Some(WorkspaceStatus::Running),
                OperationKind::Stop => Some(WorkspaceStatus::Stopped),
                OperationKind::Delete => None,
            };
            let status = match &after {
                Ok(workspace) => workspace.as_ref().map(|w| w.status),
                Err(err) => panic!("retrying the {kind:?} of {id} without faults failed: {err:?}"),
            };
            assert_eq!(
                status, expected,
                "retrying the {kind:?} of {id} without faults"
            );
            if kind == OperationKind::Delete {
                self.made.insert(id, true);
            }
        }
        self.check(&Op::Sweep).await;
    }

    /// What must hold after every step (faults off, as the next sweep would see it).
    async fn check(&self, op: &Op) {
        let client = &self.cloud.client;
        self.core
            .workspaces()
            .sweep()
            .await
            .expect("the sweep runs without faults");
        let report = self
            .core
            .hetzner()
            .last_report()
            .expect("the sweep's report");
        let store = self.core.store();
        let records: BTreeMap<WorkspaceId, _> = store
            .workspaces()
            .expect("records")
            .into_iter()
            .map(|w| (w.id.clone(), w))
            .collect();

        // No record lost: only a finished delete removes one.
        for (id, deleted) in &self.made {
            assert_eq!(
                records.contains_key(id),
                !deleted,
                "after {op:?}: record of {id} (deleted: {deleted})"
            );
        }

        let mine = format!("{LABEL_INSTALLATION}={INSTALLATION}");
        let unknown: BTreeSet<(String, i64)> = report
            .unknown
            .iter()
            .map(|r| (r.kind.clone(), r.id))
            .collect();
        let servers = client.servers(&mine).await.expect("servers");
        let volumes = client.volumes(&mine).await.expect("volumes");
        let owner = |labels: &BTreeMap<String, String>| -> Option<WorkspaceId> {
            labels.get(LABEL_WORKSPACE)?.parse().ok()
        };
        let mut per_workspace: BTreeMap<WorkspaceId, usize> = BTreeMap::new();
        for (kind, id, labels) in servers
            .iter()
            .map(|s| ("server", s.id, &s.labels))
            .chain(volumes.iter().map(|v| ("volume", v.id, &v.labels)))
        {
            let workspace = owner(labels);
            let live = workspace.as_ref().is_some_and(|w| records.contains_key(w));
            assert!(
                live || unknown.contains(&(kind.to_owned(), id)),
                "after {op:?}: {kind} {id} of {workspace:?} is neither a workspace's nor reported"
            );
            if kind == "server"
                && let Some(workspace) = workspace
            {
                *per_workspace.entry(workspace).or_default() += 1;
            }
        }
        for (workspace, count) in &per_workspace {
            assert!(*count <= 1, "after {op:?}: {workspace} has {count} servers");
        }

        for record in records.values() {
            match record.status {
                WorkspaceStatus::Error => {
                    let error = record.error.as_ref().expect("an error with the status");
                    assert!(
                        !error.message.is_empty() && !error.next_step.is_empty(),
                        "after {op:?}: {error:?}"
                    );
                }
                WorkspaceStatus::Running => assert_eq!(
                    per_workspace.get(&record.id).copied().unwrap_or(0),
                    1,
                    "after {op:?}: running {} without a server",
                    record.id
                ),
                WorkspaceStatus::Stopped => assert_eq!(
                    per_workspace.get(&record.id).copied().unwrap_or(0),
                    0,
                    "after {op:?}: stopped {} with a server billed",
                    record.id
                ),
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        max_shrink_iters: 8,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_operations_under_random_faults_never_leak_lose_or_double(
        steps in prop::collection::vec((op(), faults()), 3..8)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let cloud = cloud().await;
            let keys = Arc::new(MemoryKeys::default());
            let core = open_core(&cloud, &keys, "process-0");
            let repo = sam_test_support::source_repo(cloud.dir.path());
            let mut run = Run { cloud, keys, core, processes: 0, repo, made: BTreeMap::new() };
            run.step(&Op::Create).await;
            for (op, faults) in &steps {
                run.cloud.fake.set_faults(faults.clone());
                run.step(op).await;
                run.cloud.fake.set_faults(Faults::default());
                run.check(op).await;
            }
            run.recover().await;
        });
    }
}
