//! Coding agents on a Hetzner workspace (the fake's servers): an npm agent is installed onto the
//! workspace's disk at its first start, out of git's sight, its session's journal is written
//! there too, and a stop and start (a new server, the same disk) finds it installed.

use sam_core::coding_agents::sessions::{self, AgentChoice};
use sam_core::coding_agents::{AgentSpec, add_custom};
use sam_core::store::OperationKind;
use sam_core::workspace::WorkspaceStatus;

use super::cloud;
use super::lifecycle::running_workspace;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_npm_agent_is_installed_on_the_workspace_disk_and_outlives_a_stop() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "agents-test").await;
    let packages = tempfile::tempdir().expect("dir");
    let spec: AgentSpec = serde_json::from_str(&sam_test_support::npm_fake_agent(
        packages.path(),
        "npm-fake",
    ))
    .expect("agent.json");
    add_custom(core.store(), spec).expect("added");
    let choice = AgentChoice::Catalogue("npm-fake".to_owned());

    let mut steps = Vec::new();
    let mut record = |step: &str| steps.push(step.to_owned());
    let session = sessions::start(&core, &workspace, &choice, None, &mut record)
        .await
        .expect("started");
    assert_eq!(session.state, "idle");
    assert!(
        steps.iter().any(|step| step.starts_with("installing")),
        "{steps:?}"
    );
    let disk = cloud
        .fake
        .volume_dir(&format!("sam-{}", workspace.id))
        .expect("the workspace's disk");
    assert!(disk.join(".sam/agents/packages").is_dir(), "on the disk");
    let excluded = std::fs::read_to_string(disk.join(".git/info/exclude")).expect("exclude");
    assert!(excluded.lines().any(|line| line == "/.sam/"), "{excluded}");
    // The session's journal is on the disk too, so it outlives the server.
    let journals = std::fs::read_dir(disk.join(".sam/journals")).expect("journals on the disk");
    assert!(
        journals
            .filter_map(Result::ok)
            .any(|entry| entry.path().extension().is_some_and(|e| e == "acp")),
        "a journal"
    );

    let lifecycle = core.workspaces();
    for kind in [OperationKind::Stop, OperationKind::Start] {
        let operation = lifecycle.begin(&workspace.id, kind).expect("begun");
        lifecycle.run(operation).await.expect("done");
    }
    let started = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(started.status, WorkspaceStatus::Running);
    let mut steps = Vec::new();
    let mut record = |step: &str| steps.push(step.to_owned());
    sessions::start(&core, &started, &choice, None, &mut record)
        .await
        .expect("started again");
    assert!(steps.is_empty(), "nothing installed again: {steps:?}");
}
