//! The backstop while the app is away, on the fake Hetzner Cloud with the real agent: the agent
//! powers its server off past its idle deadline; at its next start (the sweep) the app finds the
//! powered-off server, completes the normal stop (server deleted, disk kept), says so in the
//! workspace's log and as a notice with what the server cost, and the billing history ends the
//! server's record. With "idle servers delete themselves" on, the agent holds the token in
//! memory and deletes its own server instead; turning it off takes the credential back.

use std::time::Duration;

use sam_core::agent_client::{BackstopAction, IdlePolicy};
use sam_core::clock::now_ms;
use sam_core::notice::Notice;
use sam_core::provider::hetzner::client::HetznerClient;
use sam_core::provider::hetzner::model::ServerStatus;
use sam_core::redact::Secret;
use sam_core::workspace::WorkspaceStatus;

use super::lifecycle::running_workspace;
use super::{cloud, fast};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_powered_off_by_its_backstop_is_stopped_and_reported_at_the_next_start() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "backstop-test").await;
    let lifecycle = core.workspaces();
    let name = format!("sam-{}", workspace.id);

    // The app's sweep records what is billed.
    lifecycle.sweep().await.expect("sweep");
    let spend = core.hetzner().spend(now_ms()).expect("spend");
    let billed = spend
        .workspaces
        .iter()
        .find(|w| w.workspace == workspace.id.as_str())
        .expect("the workspace is billed");
    assert!(billed.so_far_centicents > 0, "{spend:?}");
    assert_eq!(spend.month_to_date_centicents, billed.this_month_centicents);

    // The app goes away; the agent's policy is due at once (as after a deadline passed).
    let agent = lifecycle.connect(&workspace).await.expect("connected");
    agent
        .set_idle_policy(IdlePolicy {
            timeout_secs: Some(1),
            extend_until: None,
            grace_secs: 0,
            action: BackstopAction::Poweroff,
        })
        .await
        .expect("policy");
    drop(agent);
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let server = client
            .server_named(&name)
            .await
            .expect("get")
            .expect("server");
        if server.status == ServerStatus::Off {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backstop never powered the server off: {:?}",
            server.status
        );
        // The agent checks once a tick; the fake shows the power-off on the next request.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The app starts again: its first sweep finds the powered-off server.
    let mut notices = lifecycle.notices().subscribe();
    lifecycle.sweep().await.expect("sweep");
    let record = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(record.status, WorkspaceStatus::Stopped, "{record:?}");
    assert!(
        client.server_named(&name).await.expect("get").is_none(),
        "the server is deleted"
    );
    assert!(cloud.fake.volume_dir(&name).is_some(), "the disk is kept");
    let notice = notices.try_recv().expect("a notice");
    let Notice::BackstopStopped {
        workspace: noticed,
        cost,
        ..
    } = &notice
    else {
        panic!("{notice:?}");
    };
    assert_eq!(noticed, &workspace.id);
    let cost = cost.clone().expect("the server's cost");
    assert!(cost.starts_with('€'), "{cost}");
    let body = notice.body(now_ms());
    assert!(body.contains("backstop powered the server off"), "{body}");
    assert!(body.contains(&cost), "{body}");
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.step == "backstop" && e.message.contains(&cost)),
        "{events:?}"
    );

    // Billing: the server's record ended with the stop; the disk's is still open.
    let records = core.store().billing().expect("billing");
    let server = records
        .iter()
        .find(|r| r.kind == "server")
        .expect("server record");
    assert!(server.charge.ended_ms.is_some(), "{server:?}");
    let disk = records
        .iter()
        .find(|r| r.kind == "volume")
        .expect("disk record");
    assert_eq!(disk.charge.ended_ms, None);
    // A second sweep finds nothing more to do.
    lifecycle.sweep().await.expect("sweep");
    assert!(notices.try_recv().is_err(), "told once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_self_deletion_on_an_idle_server_deletes_itself_and_the_app_reports_it() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "self-delete-test").await;
    let lifecycle = core.workspaces();
    let name = format!("sam-{}", workspace.id);
    lifecycle.sweep().await.expect("sweep");

    // Turned on: the running workspace's agent gets the credential and the new backstop.
    core.hetzner().set_self_delete(true).await.expect("on");
    let agent = lifecycle.connect(&workspace).await.expect("connected");
    let mut policy = agent.status().await.expect("status").policy;
    assert_eq!(policy.action, BackstopAction::DeleteServer);

    // The app goes away; the deadline passes.
    policy.timeout_secs = Some(1);
    policy.grace_secs = 0;
    agent.set_idle_policy(policy).await.expect("policy");
    drop(agent);
    let client =
        HetznerClient::new(Secret::new("test-token"), fast(cloud.fake.base_url())).expect("client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while client.server_named(&name).await.expect("get").is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never deleted itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(cloud.fake.volume_dir(&name).is_some(), "the disk is kept");

    // The app's next sweep explains it, with the cost.
    let mut notices = lifecycle.notices().subscribe();
    lifecycle.sweep().await.expect("sweep");
    let record = core.store().workspace(&workspace.id).expect("kept");
    assert_eq!(record.status, WorkspaceStatus::Stopped);
    let notice = notices.try_recv().expect("a notice");
    assert!(
        matches!(&notice, Notice::BackstopStopped { cost: Some(cost), .. } if cost.starts_with('€')),
        "{notice:?}"
    );
    let events = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.step == "backstop" && e.message.contains("delete themselves")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_self_deletion_off_takes_the_credential_back() {
    let cloud = cloud().await;
    let (core, workspace) = running_workspace(&cloud, "self-delete-off").await;
    let lifecycle = core.workspaces();
    core.hetzner().set_self_delete(true).await.expect("on");
    core.hetzner().set_self_delete(false).await.expect("off");
    assert!(!core.hetzner().self_delete().expect("setting"));
    let agent = lifecycle.connect(&workspace).await.expect("connected");
    let status = agent.status().await.expect("status");
    assert_eq!(status.policy.action, BackstopAction::Poweroff);
    // The credential is gone: revoking it again finds nothing to forget (still an ok answer).
    let log = core.store().events(&workspace.id, 0, 1000).expect("events");
    assert!(
        !log.iter().any(|e| e.message.contains("test-token")),
        "{log:?}"
    );
}
