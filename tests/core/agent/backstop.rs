//! The idle backstop firing, and not firing while something is active.

use std::collections::BTreeMap;

use sam_core::agent_client::{BackstopAction, IdlePolicy, PtySize};

use super::harness::{TestAgent, wait_for_file};

#[tokio::test]
async fn an_idle_agent_exits_by_itself() {
    let mut agent = TestAgent::start(&[
        "--backstop",
        "exit",
        "--idle-timeout-secs",
        "1",
        "--idle-grace-secs",
        "0",
    ]);
    assert_eq!(agent.wait_for_exit().await, Some(0));
}

#[tokio::test]
async fn the_poweroff_action_runs_its_command() {
    let dir = tempfile::tempdir().expect("dir");
    let marker = dir.path().join("powered-off");
    let command = format!("touch {}", marker.display());
    let _agent = TestAgent::start(&[
        "--backstop",
        "poweroff",
        "--poweroff-command",
        &command,
        "--idle-timeout-secs",
        "1",
        "--idle-grace-secs",
        "0",
    ]);
    wait_for_file(&marker).await;
}

#[tokio::test]
async fn a_running_job_postpones_and_the_backstop_fires_once_it_ends() {
    let dir = tempfile::tempdir().expect("dir");
    let postponed = dir.path().join("postponed");
    let command = format!("touch {}", postponed.display());
    let mut agent = TestAgent::start(&["--idle-timeout-secs", "0", "--postpone-command", &command]);
    let client = agent.client().await;
    let job = client
        .run_job(vec!["sleep".into(), "1000".into()], None, BTreeMap::new())
        .await
        .expect("starts");
    client
        .set_idle_policy(IdlePolicy {
            timeout_secs: Some(1),
            extend_until: None,
            grace_secs: 0,
            action: BackstopAction::Exit,
        })
        .await
        .expect("policy");
    wait_for_file(&postponed).await;
    let status = client.status().await.expect("status");
    assert!(
        status
            .active_reasons
            .iter()
            .any(|r| r.contains("is running")),
        "{:?}",
        status.active_reasons
    );
    assert!(
        agent.child.try_wait().expect("try_wait").is_none(),
        "still running while the job runs"
    );

    client.close_stream(job.stream).await.expect("closes");
    assert_eq!(agent.wait_for_exit().await, Some(0));
}

#[tokio::test]
async fn typed_input_is_activity_and_terminal_replies_are_not() {
    let agent = TestAgent::start(&["--idle-timeout-secs", "0"]);
    let client = agent.client().await;
    let info = client
        .open_pty(
            Some(vec!["/bin/cat".into()]),
            None,
            BTreeMap::new(),
            PtySize { cols: 80, rows: 24 },
        )
        .await
        .expect("opens");
    let (term, _) = client.attach(info.stream, 0).await.expect("attaches");
    let before = client.status().await.expect("status").last_activity_ms;

    // A terminal's automatic reply (a cursor-position report) is not activity.
    term.write(b"\x1b[12;40R", false);
    assert_eq!(
        client.status().await.expect("status").last_activity_ms,
        before
    );

    // Make sure the clock moves on, then type.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    term.write(b"x", true);
    assert!(client.status().await.expect("status").last_activity_ms > before);
}

#[tokio::test]
async fn prepare_stop_ends_every_process_and_reports_it() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let size = PtySize { cols: 80, rows: 24 };
    client
        .open_pty(Some(vec!["/bin/sh".into()]), None, BTreeMap::new(), size)
        .await
        .expect("opens");
    client
        .run_job(vec!["sleep".into(), "1000".into()], None, BTreeMap::new())
        .await
        .expect("starts");
    assert_eq!(client.prepare_stop().await.expect("prepared"), 2);
    let streams = client.list().await.expect("lists");
    assert!(
        streams
            .iter()
            .filter(|s| s.stream != 0)
            .all(|s| s.exit.is_some()),
        "{streams:?}"
    );
    // Secrets are accepted and revoked (they are never written anywhere).
    client
        .push_secret("git:example.com/a/b", "s3cret-value", None)
        .await
        .expect("pushes");
    client
        .revoke_secret("git:example.com/a/b")
        .await
        .expect("revokes");
    assert!(
        !walk_contains(agent.dir.path(), b"s3cret-value"),
        "a secret reached the disk"
    );
}

fn walk_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).expect("dir").any(|entry| {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk_contains(&path, needle)
        } else {
            std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        }
    })
}
