//! The idle policy applied to a real workspace and its real agent, with the app's clock moved
//! forward instead of waiting: nothing happens before the warning, the warning comes once with
//! notice, "Keep running" holds it off (and reaches the agent's backstop), and the stop is the
//! normal stop.

use std::time::Duration;

use sam_desktop::core::clock::now_ms;
use sam_desktop::core::lifecycle::CreateRequest;
use sam_desktop::core::lifecycle::idle::IdleNotice;
use sam_desktop::core::workspace::{ProviderKind, WorkspaceStatus};

use crate::lifecycle::{Fixture, source_repo};

const MIN: i64 = 60_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_workspace_is_warned_kept_running_on_request_and_then_stopped() {
    let fixture = Fixture::new();
    let lifecycle = fixture.core.lifecycle();
    let repo = source_repo(fixture.dir.path());
    let (_, operation) = lifecycle
        .begin_create(&CreateRequest {
            repo,
            name: None,
            branch: None,
            provider: ProviderKind::Local,
            idle_timeout_secs: Some(30 * 60),
            placement: None,
        })
        .expect("begun");
    let workspace = lifecycle
        .run(operation)
        .await
        .expect("created")
        .expect("a workspace");
    let id = workspace.id.clone();
    let start = now_ms();

    // Fresh: nothing to say.
    assert!(lifecycle.idle_tick(start).await.expect("tick").is_empty());
    // 26 minutes on: the warning, once, with the stop at the deadline.
    let notices = lifecycle.idle_tick(start + 26 * MIN).await.expect("tick");
    let [
        IdleNotice::Warned {
            workspace,
            stop_at_ms,
            idle_minutes,
            ..
        },
    ] = notices.as_slice()
    else {
        panic!("one warning: {notices:?}");
    };
    assert_eq!(workspace, &id);
    assert!(*idle_minutes >= 25, "{idle_minutes}");
    assert!(*stop_at_ms > start + 26 * MIN && *stop_at_ms <= start + 31 * MIN);
    assert!(
        lifecycle
            .idle_tick(start + 27 * MIN)
            .await
            .expect("tick")
            .is_empty(),
        "warned once"
    );

    // "Keep running 1 h": nothing at the old deadline; the agent's backstop knows.
    let until = lifecycle
        .keep_running(&id, Duration::from_secs(3600), start + 27 * MIN)
        .await
        .expect("kept");
    assert_eq!(until, start + 87 * MIN);
    assert!(
        lifecycle
            .idle_tick(start + 40 * MIN)
            .await
            .expect("tick")
            .is_empty()
    );
    let client = lifecycle
        .connect(&fixture.core.store().workspace(&id).expect("record"))
        .await
        .expect("connected");
    let status = client.status().await.expect("status");
    assert_eq!(status.policy.extend_until, Some((start + 87 * MIN) / 1000));
    drop(client);

    // Past the new deadline: warned again, then stopped the normal way.
    let notices = lifecycle.idle_tick(start + 83 * MIN).await.expect("tick");
    assert!(
        matches!(notices.as_slice(), [IdleNotice::Warned { .. }]),
        "{notices:?}"
    );
    let notices = lifecycle.idle_tick(start + 88 * MIN).await.expect("tick");
    assert!(
        matches!(notices.as_slice(), [IdleNotice::Stopped { .. }]),
        "{notices:?}"
    );
    let record = fixture.core.store().workspace(&id).expect("kept");
    assert_eq!(record.status, WorkspaceStatus::Stopped);
    let events = fixture.core.store().events(&id, 0, 1000).expect("events");
    assert!(
        events
            .iter()
            .any(|e| e.step == "idle" && e.message.contains("stopping")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_on_local_means_never() {
    let fixture = Fixture::new();
    crate::lifecycle::running_local_workspace(&fixture).await;
    let far = now_ms() + 1000 * 24 * 60 * MIN;
    assert!(
        fixture
            .core
            .lifecycle()
            .idle_tick(far)
            .await
            .expect("tick")
            .is_empty()
    );
}
