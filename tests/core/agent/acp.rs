//! Coding agents over the agent protocol: an ACP agent (the scripted `fake-acp`) runs in the
//! workspace as an `acp` stream, and its JSON-RPC travels with the guarantees of terminals —
//! offsets, exact resume, nothing lost or doubled when the desktop goes away and comes back.

use std::collections::BTreeMap;
use std::time::Duration;

use sam_core::agent_client::{
    AgentClient, AgentError, OpenAcp, StreamEvent, StreamHandle, StreamKind,
};
use sam_test_support::binary;
use serde_json::{Value, json};

use super::harness::{TestAgent, read_until};

/// One side of an ACP conversation over an attached stream: whole JSON lines in and out.
struct Acp {
    handle: StreamHandle,
    /// Bytes of output after the last whole line.
    partial: Vec<u8>,
    /// Output offset just past the last whole line returned.
    consumed: u64,
}

impl Acp {
    async fn attach(client: &AgentClient, stream: u32, from: u64) -> Self {
        let (handle, _) = client.attach(stream, from).await.expect("attaches");
        Self {
            handle,
            partial: Vec::new(),
            consumed: from,
        }
    }

    fn send(&self, message: &Value) {
        self.handle.write(format!("{message}\n").as_bytes(), false);
    }

    /// The next whole message, or `None` when the agent's process ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                self.consumed += line.len() as u64;
                return Some(serde_json::from_slice(&line).expect("a JSON line"));
            }
            let event = tokio::time::timeout(Duration::from_secs(20), self.handle.next())
                .await
                .expect("the agent answers");
            match event {
                Some(StreamEvent::Output { bytes, .. }) => self.partial.extend_from_slice(&bytes),
                Some(StreamEvent::Exit(_)) | None => return None,
                Some(other) => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Sends a request and returns its result, collecting the notifications before it.
    async fn call(&mut self, id: u64, method: &str, params: Value) -> (Value, Vec<Value>) {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut notes = Vec::new();
        loop {
            let message = self.next().await.expect("an answer");
            if message["id"] == json!(id) && message.get("method").is_none() {
                return (message["result"].clone(), notes);
            }
            notes.push(message);
        }
    }

    async fn start_session(&mut self) -> String {
        let (init, _) = self
            .call(
                1,
                "initialize",
                json!({"protocolVersion": 1, "clientCapabilities": {}}),
            )
            .await;
        assert_eq!(init["protocolVersion"], 1, "{init}");
        let (session, _) = self
            .call(2, "session/new", json!({"cwd": "/", "mcpServers": []}))
            .await;
        session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }
}

fn prompt(session: &str, text: &str) -> Value {
    json!({"sessionId": session, "prompt": [{"type": "text", "text": text}]})
}

/// The text of every `agent_message_chunk` among `messages`, joined.
fn chunks(messages: &[Value]) -> String {
    messages
        .iter()
        .filter(|m| m["params"]["update"]["sessionUpdate"] == "agent_message_chunk")
        .filter_map(|m| m["params"]["update"]["content"]["text"].as_str())
        .collect()
}

fn fake_acp() -> OpenAcp {
    OpenAcp {
        command: vec![binary("fake-acp").to_string_lossy().into_owned()],
        cwd: None,
        env: BTreeMap::new(),
        secret_env: BTreeMap::new(),
    }
}

#[tokio::test]
async fn an_acp_agent_streams_a_turn_over_its_stream_and_logs_its_stderr() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let info = client.open_acp(fake_acp()).await.expect("starts");
    assert_eq!(info.kind, StreamKind::Acp);
    let mut acp = Acp::attach(&client, info.stream, 0).await;
    let session = acp.start_session().await;

    let (result, notes) = acp
        .call(3, "session/prompt", prompt(&session, "count 500"))
        .await;
    assert_eq!(result["stopReason"], "end_turn");
    let expected: String = (1..=500).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(chunks(&notes), expected, "every update once, in order");

    // Its stderr is in the agent's log, marked with the stream.
    let (mut log, _) = client
        .attach(sam_protocol::LOG_STREAM, 0)
        .await
        .expect("log");
    let needle = format!("coding agent {}: fake-acp: ready", info.stream);
    read_until(&mut log, |bytes| {
        String::from_utf8_lossy(bytes).contains(&needle)
    })
    .await;

    // A coding agent is not a terminal.
    let resized = client
        .resize(
            info.stream,
            sam_core::agent_client::PtySize { cols: 80, rows: 24 },
        )
        .await;
    assert!(
        matches!(resized, Err(AgentError::Remote { .. })),
        "{resized:?}"
    );
}

#[tokio::test]
async fn a_permission_request_waits_while_the_desktop_is_away_and_is_answered_after() {
    let agent = TestAgent::start(&[]);
    let pin = agent.enroll().await;
    let first = agent.connect(&pin).await;
    let info = first.open_acp(fake_acp()).await.expect("starts");
    let mut acp = Acp::attach(&first, info.stream, 0).await;
    let session = acp.start_session().await;
    acp.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt(&session, "ask")}));
    let request = acp.next().await.expect("a permission request");
    assert_eq!(request["method"], "session/request_permission", "{request}");
    assert_eq!(
        request["params"]["toolCall"]["rawInput"]["command"],
        "touch x"
    );
    let resume_at = acp.consumed;

    // The desktop goes away (an app restart, a sleeping laptop) while the request waits.
    drop(acp);
    drop(first);

    let second = agent.connect(&pin).await;
    let listed = second.list().await.expect("lists");
    let waiting = listed
        .iter()
        .find(|stream| stream.stream == info.stream)
        .expect("the agent is still there");
    assert_eq!(waiting.kind, StreamKind::Acp);
    assert!(waiting.exit.is_none(), "still running: {waiting:?}");
    let mut acp = Acp::attach(&second, info.stream, resume_at).await;
    acp.send(&json!({
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"outcome": {"outcome": "selected", "optionId": "deny"}},
    }));
    let mut after = Vec::new();
    loop {
        let message = acp.next().await.expect("the turn goes on");
        if message["id"] == 3 {
            assert_eq!(message["result"]["stopReason"], "end_turn");
            break;
        }
        after.push(message);
    }
    // Exactly what followed the request: nothing replayed from before it, nothing lost.
    assert_eq!(chunks(&after), "permission: deny\n");
    assert_eq!(after.len(), 1, "{after:?}");
}

#[tokio::test]
async fn vendor_keys_reach_only_the_agents_environment_and_must_be_held() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let missing = client
        .open_acp(OpenAcp {
            secret_env: BTreeMap::from([("FAKE_API_KEY".to_owned(), "vendor-key".to_owned())]),
            ..fake_acp()
        })
        .await;
    let Err(AgentError::Remote { message, .. }) = missing else {
        panic!("refused: {missing:?}");
    };
    assert!(message.contains("not held"), "{message}");

    client
        .push_secret("vendor-key", "sk-test-123", None)
        .await
        .expect("pushes");
    let info = client
        .open_acp(OpenAcp {
            secret_env: BTreeMap::from([("FAKE_API_KEY".to_owned(), "vendor-key".to_owned())]),
            ..fake_acp()
        })
        .await
        .expect("starts");
    let mut acp = Acp::attach(&client, info.stream, 0).await;
    let session = acp.start_session().await;
    let (_, notes) = acp
        .call(3, "session/prompt", prompt(&session, "env FAKE_API_KEY"))
        .await;
    assert_eq!(chunks(&notes), "FAKE_API_KEY=sk-test-123\n");

    // Not in the agent's log, and not in a job's environment.
    let (mut log, _) = client
        .attach(sam_protocol::LOG_STREAM, 0)
        .await
        .expect("log");
    let needle = format!("coding agent {}: fake-acp: ready", info.stream);
    let logged = read_until(&mut log, |bytes| {
        String::from_utf8_lossy(bytes).contains(&needle)
    })
    .await;
    assert!(!String::from_utf8_lossy(&logged).contains("sk-test"));
    let job = client
        .run_job(
            vec![
                "sh".into(),
                "-c".into(),
                "echo key=${FAKE_API_KEY:-none}".into(),
            ],
            None,
            BTreeMap::new(),
        )
        .await
        .expect("runs");
    let (mut handle, _) = client.attach(job.stream, 0).await.expect("attaches");
    let out = read_until(&mut handle, |bytes| bytes.ends_with(b"\n")).await;
    assert_eq!(String::from_utf8_lossy(&out), "key=none\n");
}

#[tokio::test]
async fn an_agent_that_crashes_mid_turn_reports_its_exit() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let info = client.open_acp(fake_acp()).await.expect("starts");
    let mut acp = Acp::attach(&client, info.stream, 0).await;
    let session = acp.start_session().await;
    acp.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt(&session, "crash")}));
    let last = acp.next().await.expect("its last words");
    assert_eq!(chunks(&[last]), "about to crash\n");
    assert!(acp.next().await.is_none(), "then the process ends");
    let listed = client.list().await.expect("lists");
    let ended = listed
        .iter()
        .find(|s| s.stream == info.stream)
        .expect("listed");
    assert_eq!(ended.exit.and_then(|exit| exit.code), Some(3));
}

#[tokio::test]
async fn a_coding_agents_journal_is_its_output_on_disk_until_its_stream_closes() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let epoch = client.epoch().expect("welcomed");
    let info = client.open_acp(fake_acp()).await.expect("starts");
    let mut acp = Acp::attach(&client, info.stream, 0).await;
    let session = acp.start_session().await;
    acp.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt(&session, "crash")}));
    acp.next().await.expect("its last words");
    assert!(acp.next().await.is_none(), "then the process ends");

    // Byte for byte what the stream carried, from any offset.
    let whole = client
        .journal_tail(&epoch, info.stream, 0)
        .await
        .expect("reads")
        .expect("a journal");
    assert_eq!(whole.len() as u64, acp.consumed);
    let tail = client
        .journal_tail(&epoch, info.stream, 10)
        .await
        .expect("reads")
        .expect("a journal");
    assert_eq!(tail, whole[10..]);
    let refused = client
        .journal_tail("../../etc/passwd", info.stream, 0)
        .await
        .expect_err("not an epoch");
    assert!(
        matches!(&refused, AgentError::Remote { code, .. } if *code == sam_protocol::message::ErrorCode::InvalidArgument),
        "{refused:?}"
    );

    // Closing the stream drops it: nobody will ask for it again.
    client.close_stream(info.stream).await.expect("closed");
    let gone = client
        .journal_tail(&epoch, info.stream, 0)
        .await
        .expect("asks");
    assert!(gone.is_none());
}

#[tokio::test]
async fn a_coding_agent_running_a_command_keeps_the_workspace_active_and_thinking_does_not() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let info = client.open_acp(fake_acp()).await.expect("starts");
    let mut acp = Acp::attach(&client, info.stream, 0).await;
    let session = acp.start_session().await;
    let reason = format!("coding agent {} is running a command", info.stream);
    let status = client.status().await.expect("status");
    assert!(!status.active_reasons.contains(&reason), "{status:?}");

    acp.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "session/prompt", "params": prompt(&session, "run 5")}));
    let running = acp.next().await.expect("a chunk");
    assert_eq!(chunks(&[running]), "running\n");
    // The tool is started right after the chunk; the status shows it while it runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = client.status().await.expect("status");
        if status.active_reasons.contains(&reason) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut after = Vec::new();
    loop {
        let message = acp.next().await.expect("the turn goes on");
        if message["id"] == 3 {
            break;
        }
        after.push(message);
    }
    assert_eq!(chunks(&after), "ran\n");
    let status = client.status().await.expect("status");
    assert!(!status.active_reasons.contains(&reason), "{status:?}");
}
