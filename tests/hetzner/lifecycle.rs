//! The lifecycle with Hetzner workspaces, headless, against the fake: create (server, Volume,
//! Firewall; the agent enrolled as soon as it answers; the repository cloned onto the Volume),
//! stop (the server deleted, the disk kept), start (a new server enrolled anew, the work
//! intact), delete (nothing left); and a create without a token refused up front.

use std::sync::Arc;

use sam_core::Core;
use sam_core::error::ErrorCategory;
use sam_core::idle::IdleChoice;
use sam_core::installation::{KeyStore, MemoryKeys};
use sam_core::lifecycle::CreateRequest;
use sam_core::paths::AppPaths;
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use sam_core::provider::hetzner::reconcile::reconcile;
use sam_core::redact::Secret;
use sam_core::store::OperationKind;
use sam_core::workspace::{ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

use super::{WAIT, cloud, fast, provider::agent, run_script};

fn core(dir: &std::path::Path) -> Core {
    Core::open_with(
        AppPaths::under(dir.join("app")),
        sam_core::config::Config::default()
            .with_agent_binary(sam_test_support::binary("sam-agent")),
        Arc::new(MemoryKeys::default()) as Arc<dyn KeyStore>,
        None,
    )
    .expect("core")
}

/// A core whose Hetzner workspaces run on `cloud` as installation `installation`.
pub fn hetzner_core(cloud: &super::Cloud, installation: &str) -> Core {
    let core = core(cloud.dir.path());
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let mut settings = HetznerSettings::new(installation, agent());
    settings.action_timeout = WAIT;
    settings.shutdown_timeout = std::time::Duration::from_secs(2);
    core.hetzner()
        .use_provider(Arc::new(HetznerProvider::new(Arc::new(client), settings)));
    core
}

/// A core on `cloud` as `installation` with one workspace created and running.
pub async fn running_workspace(cloud: &super::Cloud, installation: &str) -> (Core, Workspace) {
    let core = hetzner_core(cloud, installation);
    let repo = sam_test_support::source_repo(cloud.dir.path());
    let lifecycle = core.workspaces();
    let (_, operation) = lifecycle
        .begin_create(&create_request(repo))
        .expect("begun");
    let workspace = lifecycle
        .run(operation)
        .await
        .expect("created")
        .expect("a workspace");
    assert_eq!(workspace.status, WorkspaceStatus::Running, "{workspace:?}");
    (core, workspace)
}

pub fn create_request(repo: String) -> CreateRequest {
    CreateRequest {
        repo,
        name: None,
        branch: None,
        provider: ProviderKind::Hetzner,
        idle: IdleChoice::After { secs: 1800 },
        placement: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hetzner_workspace_is_created_stopped_started_with_its_work_and_deleted() {
    let cloud = cloud().await;
    let core = hetzner_core(&cloud, "lifecycle-test");
    let lifecycle = core.workspaces();
    let repo = sam_test_support::source_repo(cloud.dir.path());

    let (workspace, operation) = lifecycle
        .begin_create(&create_request(repo))
        .expect("begun");
    let created = lifecycle
        .run(operation)
        .await
        .expect("created")
        .expect("a workspace");
    assert_eq!(created.status, WorkspaceStatus::Running, "{created:?}");
    let servers = cloud.fake.servers();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].0, format!("sam-{}", workspace.id));
    let disk = cloud
        .fake
        .volume_dir(&format!("sam-{}", workspace.id))
        .expect("the workspace's Volume");
    assert!(disk.join("README.md").is_file(), "cloned onto the Volume");
    // The server's boot log was shown, in order, before the clone.
    let boot: Vec<String> = core
        .store()
        .events(&workspace.id, 0, 1000)
        .expect("events")
        .into_iter()
        .filter(|e| e.step == "boot")
        .map(|e| e.message)
        .collect();
    let start = boot
        .iter()
        .position(|m| m == "sam-boot: read-config: ok")
        .expect("the boot log's first line");
    assert_eq!(
        boot[start..].last().map(String::as_str),
        Some("sam-boot: done: ok"),
        "{boot:?}"
    );

    // Uncommitted work, written through the agent.
    let client = lifecycle.connect(&created).await.expect("connected");
    run_script(&client, "echo draft > notes.txt").await;
    let first_epoch = client.epoch();
    assert!(first_epoch.is_some());
    drop(client);

    let stop = lifecycle
        .begin(&workspace.id, OperationKind::Stop)
        .expect("stop");
    let stopped = lifecycle
        .run(stop)
        .await
        .expect("stopped")
        .expect("a workspace");
    assert_eq!(stopped.status, WorkspaceStatus::Stopped);
    assert!(
        cloud.fake.servers().is_empty(),
        "stop deletes the server: the bill stops"
    );
    assert!(disk.join("notes.txt").is_file(), "the disk is kept");

    let start = lifecycle
        .begin(&workspace.id, OperationKind::Start)
        .expect("start");
    let started = lifecycle
        .run(start)
        .await
        .expect("started")
        .expect("a workspace");
    assert_eq!(started.status, WorkspaceStatus::Running);
    // A new server, enrolled anew: the app reaches it with the new pin and the work is there.
    let client = lifecycle
        .connect(&started)
        .await
        .expect("connected to the new server");
    client.list().await.expect("the agent answers");
    assert_ne!(
        client.epoch(),
        first_epoch,
        "another agent, on another server"
    );
    drop(client);
    assert_eq!(
        std::fs::read_to_string(disk.join("notes.txt")).expect("kept"),
        "draft\n"
    );

    let delete = lifecycle
        .begin(&workspace.id, OperationKind::Delete)
        .expect("delete");
    lifecycle.run(delete).await.expect("deleted");
    assert!(cloud.fake.servers().is_empty());
    assert!(
        cloud
            .fake
            .volume_dir(&format!("sam-{}", workspace.id))
            .is_none(),
        "the Volume is deleted with the workspace"
    );
}

#[test]
fn a_hetzner_create_without_a_token_is_refused_up_front() {
    let dir = tempfile::tempdir().expect("dir");
    let core = core(dir.path());
    if std::env::var_os("HCLOUD_TOKEN").is_some() {
        return; // The environment supplies a token: nothing to refuse.
    }
    let err = core
        .workspaces()
        .begin_create(&create_request(sam_test_support::source_repo(dir.path())))
        .expect_err("no token");
    assert_eq!(err.category, ErrorCategory::Credentials);
    assert!(err.next_step.contains("HCLOUD_TOKEN"), "{}", err.next_step);
    assert!(
        core.list_workspaces().expect("list").is_empty(),
        "nothing recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boot_that_fails_is_the_create_s_error_with_its_line_and_a_retry_recovers() {
    let cloud = cloud().await;
    let core = hetzner_core(&cloud, "boot-test");
    let lifecycle = core.workspaces();
    cloud.fake.set_faults(fake_hetzner::Faults {
        failed_boot_phase: Some("dev-container".to_owned()),
        ..fake_hetzner::Faults::default()
    });
    let repo = sam_test_support::source_repo(cloud.dir.path());
    let (workspace, operation) = lifecycle
        .begin_create(&create_request(repo))
        .expect("begun");
    let err = lifecycle.run(operation).await.expect_err("the boot failed");
    assert_eq!(err.category, ErrorCategory::Provider);
    assert_eq!(err.step.as_deref(), Some("boot"));
    assert!(
        err.message
            .contains("sam-boot: dev-container: FAILED: simulated by fake-hetzner"),
        "{err:?}"
    );
    let record = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(record.status, WorkspaceStatus::Error);
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        events.iter().any(|e| e.step == "boot"
            && e.level == sam_core::workspace::EventLevel::Error
            && e.message.contains("dev-container: FAILED")),
        "{events:?}"
    );

    cloud.fake.set_faults(fake_hetzner::Faults::default());
    let operation = lifecycle.begin_retry(&workspace.id).expect("retry");
    let retried = lifecycle
        .run(operation)
        .await
        .expect("recovered")
        .expect("a workspace");
    assert_eq!(retried.status, WorkspaceStatus::Running);
    assert_eq!(
        cloud.fake.servers().len(),
        1,
        "the failed server was replaced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_whose_server_vanished_is_marked_stopped_and_explained() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "vanish-test").await;
    let lifecycle = core.workspaces();

    // Deleted behind SAM's back.
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let name = format!("sam-{}", workspace.id);
    let server = client
        .server_named(&name)
        .await
        .expect("get")
        .expect("server");
    assert!(cloud.fake.vanish(server.id));

    let known = std::collections::BTreeSet::from([workspace.id.clone()]);
    let report = reconcile(
        &client,
        &client.pricing().await.expect("pricing"),
        "vanish-test",
        &known,
        &known,
    )
    .await
    .expect("report")
    .report;
    assert_eq!(report.vanished, vec![workspace.id.to_string()]);
    let vanished: Vec<WorkspaceId> = report
        .vanished
        .iter()
        .map(|id| id.parse().expect("a workspace id"))
        .collect();
    let marked = lifecycle
        .mark_vanished(ProviderKind::Hetzner, &vanished)
        .expect("marked");
    assert_eq!(marked, vec![workspace.id.clone()]);
    let record = core
        .store()
        .workspace(&workspace.id)
        .expect("kept, not dropped");
    assert_eq!(record.status, WorkspaceStatus::Stopped);
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.message.contains("deleted outside SAM")),
        "explained in the log"
    );
    // Marking again changes nothing.
    assert!(
        lifecycle
            .mark_vanished(ProviderKind::Hetzner, &vanished)
            .expect("again")
            .is_empty()
    );
}
