//! The desktop's ACP client (`sam_core::acp`) against the scripted `fake-acp`, hosted by the
//! real `sam-agent` as an `acp` stream: typed updates, permission requests that wait for an
//! answer, cancellation, and what it does with input that is not ACP.

use std::collections::BTreeMap;

use agent_client_protocol_schema::v1::{
    ContentBlock, PermissionOptionKind, PromptResponse, RequestPermissionOutcome,
    SelectedPermissionOutcome, SessionId, SessionUpdate, StopReason, ToolKind,
};
use sam_core::acp::{AcpConnection, AcpError, AcpEvent, AcpEvents};
use sam_core::agent_client::{AgentClient, OpenAcp};
use sam_test_support::binary;

use crate::agent::harness::TestAgent;

async fn start(agent: &TestAgent) -> (AgentClient, AcpConnection, AcpEvents, SessionId) {
    let client = agent.client().await;
    let info = client
        .open_acp(OpenAcp {
            command: vec![binary("fake-acp").to_string_lossy().into_owned()],
            cwd: None,
            env: BTreeMap::new(),
            secret_env: BTreeMap::new(),
        })
        .await
        .expect("starts");
    let (acp, events) = AcpConnection::attach(&client, info.stream, 0)
        .await
        .expect("attaches");
    acp.initialize().await.expect("initializes");
    let session = acp.new_session("/").await.expect("a session").session_id;
    (client, acp, events, session)
}

/// The text of an update that is an agent message chunk.
fn chunk_text(event: &AcpEvent) -> Option<String> {
    let AcpEvent::Update(note) = event else {
        return None;
    };
    let SessionUpdate::AgentMessageChunk(chunk) = &note.update else {
        return None;
    };
    match &chunk.content {
        ContentBlock::Text(text) => Some(text.text.clone()),
        _ => None,
    }
}

/// A prompt `ask` running on its own task, so the test can answer its permission request.
fn ask_in_background(
    acp: &AcpConnection,
    session: &SessionId,
) -> tokio::task::JoinHandle<Result<PromptResponse, AcpError>> {
    let (acp, session) = (acp.clone(), session.clone());
    tokio::spawn(async move { acp.prompt(&session, "ask").await })
}

/// Events until one satisfies `done`, which is returned last.
async fn events_until(events: &mut AcpEvents, done: impl Fn(&AcpEvent) -> bool) -> Vec<AcpEvent> {
    let mut seen = Vec::new();
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(20), events.next())
            .await
            .expect("the coding agent goes on")
            .expect("the stream is open");
        let last = done(&event);
        seen.push(event);
        if last {
            return seen;
        }
    }
}

#[tokio::test]
async fn a_turn_of_ten_thousand_updates_arrives_typed_in_order_and_once() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    let response = acp.prompt(&session, "count 10000").await.expect("a turn");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let mut texts = Vec::new();
    while texts.len() < 10_000 {
        let event = events.next().await.expect("an update");
        texts.push(chunk_text(&event).unwrap_or_else(|| panic!("a chunk: {event:?}")));
    }
    let expected: Vec<String> = (1..=10_000).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(texts, expected);
}

#[tokio::test]
async fn a_permission_request_waits_for_the_users_answer_with_the_agents_own_options() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    let turn = ask_in_background(&acp, &session);
    let seen = events_until(&mut events, |e| matches!(e, AcpEvent::Permission(_))).await;
    let Some(AcpEvent::Permission(ask)) = seen.last() else {
        unreachable!()
    };
    assert_eq!(ask.request.session_id, session);
    assert_eq!(ask.request.tool_call.fields.kind, Some(ToolKind::Execute));
    let options: Vec<(&str, PermissionOptionKind)> = ask
        .request
        .options
        .iter()
        .map(|o| (&*o.option_id.0, o.kind))
        .collect();
    assert_eq!(
        options,
        [
            ("allow", PermissionOptionKind::AllowOnce),
            ("deny", PermissionOptionKind::RejectOnce)
        ]
    );
    // Nothing was decided for the user: the turn is still running.
    assert!(!turn.is_finished());

    let outcome = RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new("deny"));
    assert!(acp.answer(&ask.id, outcome.clone()));
    assert!(!acp.answer(&ask.id, outcome), "an answer is given once");
    let after = events_until(&mut events, |e| chunk_text(e).is_some()).await;
    assert_eq!(chunk_text(&after[0]).as_deref(), Some("permission: deny\n"));
    let response = turn.await.expect("joins").expect("a turn");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
}

#[tokio::test]
async fn cancel_answers_a_waiting_permission_request_cancelled() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    let turn = ask_in_background(&acp, &session);
    events_until(&mut events, |e| matches!(e, AcpEvent::Permission(_))).await;
    acp.cancel(&session);
    let after = events_until(&mut events, |e| chunk_text(e).is_some()).await;
    assert_eq!(
        chunk_text(&after[0]).as_deref(),
        Some("permission: cancelled\n")
    );
    let response = turn.await.expect("joins").expect("a turn");
    assert_eq!(response.stop_reason, StopReason::Cancelled);
}

#[tokio::test]
async fn lines_that_are_not_acp_are_reported_and_skipped() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    acp.prompt(&session, "noise").await.expect("a turn");
    let seen = events_until(&mut events, |e| chunk_text(e).is_some()).await;
    let malformed: Vec<String> = seen
        .iter()
        .filter_map(|e| match e {
            AcpEvent::Malformed(what) => Some(what.clone()),
            AcpEvent::StrayAnswer(message) => Some(format!("stray answer {}", message["id"])),
            _ => None,
        })
        .collect();
    assert_eq!(
        malformed,
        ["not JSON-RPC: this is not json", "stray answer 424242"],
        "the vendor's notification is ignored quietly"
    );
    assert_eq!(
        chunk_text(seen.last().expect("a chunk")).as_deref(),
        Some("after noise\n")
    );
}

#[tokio::test]
async fn a_crash_mid_turn_fails_the_prompt_and_reports_the_exit() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    let err = acp.prompt(&session, "crash").await.expect_err("no answer");
    assert_eq!(err, AcpError::Gone("session/prompt".to_owned()));
    let seen = events_until(&mut events, |e| matches!(e, AcpEvent::Exited(_))).await;
    let Some(AcpEvent::Exited(status)) = seen.last() else {
        unreachable!()
    };
    assert_eq!(status.code, Some(3));
}

#[tokio::test]
async fn a_coding_agent_reads_workspace_files_and_nothing_outside() {
    let agent = TestAgent::start(&[]);
    std::fs::write(
        agent.workspace_root().join("notes.txt"),
        "one\ntwo\nthree\nfour\n",
    )
    .expect("a file");
    let (_client, acp, mut events, session) = start(&agent).await;
    let root = agent.workspace_root().canonicalize().expect("root");
    let inside = root.join("notes.txt").display().to_string();
    let cases = [
        (
            format!("read {inside}"),
            "read: one\ntwo\nthree\nfour\n".to_owned(),
        ),
        (
            format!("read {inside}#2+2"),
            "read: two\nthree\n".to_owned(),
        ),
        (
            "read /etc/passwd".to_owned(),
            format!(
                "read failed: /etc/passwd is outside the workspace ({})",
                root.display()
            ),
        ),
        (
            format!("read {}/missing.txt", root.display()),
            "read failed:".to_owned(),
        ),
    ];
    for (prompt, expected) in cases {
        acp.prompt(&session, &prompt).await.expect("a turn");
        let seen = events_until(&mut events, |e| chunk_text(e).is_some()).await;
        let text = chunk_text(seen.last().expect("a chunk")).expect("text");
        assert!(text.starts_with(&expected), "{prompt}: {text}");
    }
}

#[tokio::test]
async fn a_coding_agent_writes_workspace_files_whole_and_nothing_outside() {
    use std::os::unix::fs::PermissionsExt;

    let agent = TestAgent::start(&[]);
    let script = agent.workspace_root().join("run.sh");
    std::fs::write(&script, "old\n").expect("a file");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let (_client, acp, mut events, session) = start(&agent).await;
    let root = agent.workspace_root().canonicalize().expect("root");
    let cases = [
        (format!("write {} echo new", script.display()), "wrote"),
        (
            format!("write {}/src/new.rs @40000", root.display()),
            "wrote",
        ),
        (
            "write /etc/sam-test hi".to_owned(),
            "write failed: /etc/sam-test is outside the workspace",
        ),
    ];
    for (prompt, expected) in cases {
        acp.prompt(&session, &prompt).await.expect("a turn");
        let seen = events_until(&mut events, |e| chunk_text(e).is_some()).await;
        let text = chunk_text(seen.last().expect("a chunk")).expect("text");
        assert!(text.starts_with(expected), "{prompt}: {text}");
    }
    assert_eq!(std::fs::read_to_string(&script).expect("read"), "echo new");
    let mode = std::fs::metadata(&script)
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "the file keeps its mode");
    let written = std::fs::read_to_string(root.join("src/new.rs")).expect("read");
    let expected: String = (1..=40_000).map(|i| format!("line {i}\n")).collect();
    assert!(
        expected.len() > 2 * sam_protocol::MAX_WRITE as usize,
        "several chunks"
    );
    assert!(written == expected, "the big file arrived whole");
    assert!(!std::path::Path::new("/etc/sam-test").exists());
}

#[tokio::test]
async fn a_coding_agents_commands_run_as_terminals_in_the_workspace() {
    let agent = TestAgent::start(&[]);
    std::fs::create_dir(agent.workspace_root().join("sub")).expect("a folder");
    let (_client, acp, mut events, session) = start(&agent).await;
    let cases = [
        // In the repository, with its output and exit code.
        ("term pwd; echo out; exit 3", "term 3: "),
        // Killed while it runs: the signal is its exit.
        ("termkill", "killed: SIGTERM"),
    ];
    let root = agent.workspace_root().canonicalize().expect("root");
    for (prompt, expected) in cases {
        acp.prompt(&session, prompt).await.expect("a turn");
        let seen = events_until(&mut events, |e| chunk_text(e).is_some()).await;
        let text = chunk_text(seen.last().expect("a chunk")).expect("text");
        assert!(text.starts_with(expected), "{prompt}: {text}");
        if prompt.starts_with("term ") {
            assert_eq!(text, format!("term 3: {}\nout\n", root.display()));
        }
    }
}

#[tokio::test]
async fn usage_updates_arrive_typed() {
    let agent = TestAgent::start(&[]);
    let (_client, acp, mut events, session) = start(&agent).await;
    acp.prompt(&session, "usage").await.expect("a turn");
    let seen = events_until(&mut events, |e| chunk_text(e).is_some()).await;
    let usage = seen.iter().find_map(|event| match event {
        AcpEvent::Update(note) => match &note.update {
            SessionUpdate::UsageUpdate(usage) => Some((usage.used, usage.size)),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(usage, Some((24_000, 200_000)), "{seen:?}");
}
