//! The idle policy applied to a real workspace and its real agent, with the app's clock moved
//! forward instead of waiting: nothing happens before the warning, the warning comes once with
//! notice, "Keep running" holds it off (and reaches the agent's backstop), and the stop is the
//! normal stop.

use std::time::Duration;

use sam_core::clock::now_ms;
use sam_core::idle::IdleChoice;
use sam_core::lifecycle::CreateRequest;
use sam_core::notice::Notice;
use sam_core::workspace::{ProviderKind, WorkspaceStatus};

use crate::lifecycle::{Fixture, source_repo};

const MIN: i64 = 60_000;

/// A running Local workspace that idles out after 30 minutes.
async fn idle_after_30_minutes(fixture: &Fixture) -> sam_core::workspace::Workspace {
    let lifecycle = fixture.core.workspaces();
    let (_, operation) = lifecycle
        .begin_create(&CreateRequest {
            repo: source_repo(fixture.dir.path()),
            name: None,
            branch: None,
            provider: ProviderKind::Local,
            idle: IdleChoice::After { secs: 30 * 60 },
            placement: None,
        })
        .expect("begun");
    lifecycle
        .run(operation)
        .await
        .expect("created")
        .expect("a workspace")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_workspace_is_warned_kept_running_on_request_and_then_stopped() {
    let fixture = Fixture::new();
    let workspace = idle_after_30_minutes(&fixture).await;
    let id = workspace.id.clone();
    let start = now_ms();

    // Fresh: nothing to say.
    assert!(
        fixture
            .core
            .idle()
            .tick(start)
            .await
            .expect("tick")
            .is_empty()
    );
    // 26 minutes on: the warning, once, with the stop at the deadline.
    let notices = fixture
        .core
        .idle()
        .tick(start + 26 * MIN)
        .await
        .expect("tick");
    let [
        Notice::IdleWarning {
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
        fixture
            .core
            .idle()
            .tick(start + 27 * MIN)
            .await
            .expect("tick")
            .is_empty(),
        "warned once"
    );

    let view = fixture
        .core
        .idle()
        .view(&id, start + 27 * MIN)
        .expect("view");
    assert_eq!(
        view.stop_at_ms,
        Some(*stop_at_ms),
        "the page shows the warning"
    );
    assert_eq!(view.timeout_secs, Some(1800));

    // "Keep running 1 h": nothing at the old deadline; the agent's backstop knows.
    let until = fixture
        .core
        .idle()
        .keep_running(&id, Duration::from_secs(3600), start + 27 * MIN)
        .await
        .expect("kept");
    assert_eq!(until, start + 87 * MIN);
    let view = fixture
        .core
        .idle()
        .view(&id, start + 27 * MIN)
        .expect("view");
    assert_eq!(view.stop_at_ms, None, "the warning is gone at once");
    assert_eq!(view.kept_until_ms, Some(start + 87 * MIN));
    assert!(
        fixture
            .core
            .idle()
            .tick(start + 40 * MIN)
            .await
            .expect("tick")
            .is_empty()
    );
    let client = fixture
        .core
        .workspaces()
        .connect(&fixture.core.store().workspace(&id).expect("record"))
        .await
        .expect("connected");
    let status = client.status().await.expect("status");
    assert_eq!(status.policy.extend_until, Some((start + 87 * MIN) / 1000));
    drop(client);

    // Past the new deadline: warned again, then stopped the normal way.
    let notices = fixture
        .core
        .idle()
        .tick(start + 83 * MIN)
        .await
        .expect("tick");
    assert!(
        matches!(notices.as_slice(), [Notice::IdleWarning { .. }]),
        "{notices:?}"
    );
    let notices = fixture
        .core
        .idle()
        .tick(start + 88 * MIN)
        .await
        .expect("tick");
    assert!(
        matches!(notices.as_slice(), [Notice::IdleStopped { .. }]),
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
            .idle()
            .tick(far)
            .await
            .expect("tick")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_timeout_reaches_the_agent_and_forgets_the_warning() {
    let fixture = Fixture::new();
    let lifecycle = fixture.core.workspaces();
    let id = crate::lifecycle::running_local_workspace(&fixture).await;
    let workspace = fixture.core.store().workspace(&id).expect("record");
    assert_eq!(
        workspace.idle_timeout_secs, None,
        "never is Local's default"
    );
    assert!(
        fixture
            .core
            .idle()
            .set_timeout(&id, Some(30))
            .await
            .is_err()
    );

    fixture
        .core
        .idle()
        .set_timeout(&id, Some(10 * 60))
        .await
        .expect("set");
    let start = now_ms();
    let notices = fixture
        .core
        .idle()
        .tick(start + 6 * MIN)
        .await
        .expect("tick");
    assert!(matches!(notices.as_slice(), [Notice::IdleWarning { .. }]));
    let client = lifecycle
        .connect(&fixture.core.store().workspace(&id).expect("record"))
        .await
        .expect("connected");
    assert_eq!(
        client.status().await.expect("status").policy.timeout_secs,
        Some(600)
    );

    fixture
        .core
        .idle()
        .set_timeout(&id, None)
        .await
        .expect("never");
    let view = fixture
        .core
        .idle()
        .view(&id, start + 6 * MIN)
        .expect("view");
    assert_eq!((view.timeout_secs, view.stop_at_ms), (None, None));
    assert_eq!(
        client.status().await.expect("status").policy.timeout_secs,
        None
    );
    assert!(
        fixture
            .core
            .idle()
            .tick(start + 1000 * MIN)
            .await
            .expect("tick")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_coding_agent_keeps_its_workspace_and_a_waiting_one_is_named_in_the_warning() {
    let fixture = Fixture::new();
    let workspace = idle_after_30_minutes(&fixture).await;
    let store = fixture.core.store();
    // A session whose turn this desktop follows (its heartbeat is fresh).
    store
        .insert_agent_session(&sam_core::store::AgentSessionRow {
            id: "agsession1".to_owned(),
            workspace_id: workspace.id.to_string(),
            agent: "claude-code".to_owned(),
            command: vec!["claude-agent-acp".to_owned()],
            stream: 9,
            epoch: "e".to_owned(),
            acp_session: "s".to_owned(),
            state: "working".to_owned(),
            created_at_ms: now_ms(),
            read_offset: 0,
        })
        .expect("recorded");
    assert!(store.claim_agent_session("agsession1", 0).expect("claims"));
    let start = now_ms();

    // Well past the warning time, but the agent works: nothing to say.
    let idle = fixture.core.idle();
    assert!(idle.tick(start + 26 * MIN).await.expect("tick").is_empty());

    // It waits for an answer: that is not work, and the warning names it.
    store
        .set_agent_session_state("agsession1", "waiting")
        .expect("waits");
    let notices = idle.tick(start + 52 * MIN).await.expect("tick");
    let [Notice::IdleWarning { waiting_agents, .. }] = notices.as_slice() else {
        panic!("one warning: {notices:?}");
    };
    assert_eq!(waiting_agents, &["claude-code"]);
    let body = notices[0].body(start + 52 * MIN);
    assert!(
        body.contains("The coding agent claude-code waits for your answer."),
        "{body}"
    );
}
