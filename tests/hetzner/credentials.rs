//! A private repository on a Hetzner workspace: the token reaches the agent over the
//! authenticated channel after boot, so it is in no user_data, and in no file — not the app's
//! database or logs, not the server's agent state, not the workspace disk.

use sam_core::redact::Secret;
use sam_core::workspace::WorkspaceStatus;
use sam_test_support::{bare_repo, files_under, start_fake};

use super::cloud;
use super::lifecycle::{create_request, hetzner_core};

const TOKEN: &str = "ghs_hetzner-private-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_repository_on_hetzner_clones_with_a_token_no_disk_and_no_user_data_holds() {
    let cloud = cloud().await;
    let root = tempfile::tempdir().expect("dir");
    bare_repo(root.path(), "private.git");
    let (_server, port) = start_fake(
        "git-http-server.py",
        &[&root.path().to_string_lossy(), TOKEN],
    );

    let core = hetzner_core(&cloud, "inst-creds");
    let lifecycle = core.workspaces();
    core.git()
        .set_token(&format!("127.0.0.1:{port}"), &Secret::new(TOKEN))
        .await
        .expect("kept");
    let (_, operation) = lifecycle
        .begin_create(&create_request(format!(
            "http://127.0.0.1:{port}/private.git"
        )))
        .expect("begun");
    let workspace = lifecycle
        .run(operation)
        .await
        .expect("cloned through the broker")
        .expect("a workspace");
    assert_eq!(workspace.status, WorkspaceStatus::Running);

    let user_data = cloud.fake.user_data();
    assert_eq!(user_data.len(), 1);
    assert!(!user_data[0].contains(TOKEN), "the token is in user_data");
    let files = files_under(cloud.dir.path());
    assert!(
        files.iter().any(|f| f.ends_with("README.md")),
        "the clone is on the workspace disk"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            file.display()
        );
    }
}
