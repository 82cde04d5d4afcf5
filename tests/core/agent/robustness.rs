//! Hostile or broken input on the wire: typed errors, a usable connection, and a close for
//! peers that keep at it.

use futures_util::{SinkExt, StreamExt};
use sam_core::agent_client::dial::AgentSocket;
use sam_core::agent_client::tls::PinVerifier;
use sam_core::agent_client::{dial, enroll};
use sam_protocol::message::{AgentMessage, Envelope, ErrorCode, Event, Reply};
use sam_protocol::token::Audience;
use sam_protocol::{PROTOCOL_VERSION, SESSION_PATH};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::harness::TestAgent;

pub(super) async fn raw_session(agent: &TestAgent) -> AgentSocket {
    let pin = enroll(&agent.addr, &agent.caller(), &agent.secret)
        .await
        .expect("enrolls");
    let verifier = PinVerifier::new(Some(pin));
    let (socket, _) = dial(
        &agent.addr,
        &verifier,
        SESSION_PATH,
        &agent.caller().token(Audience::Session),
    )
    .await
    .expect("dials");
    socket
}

async fn next_message(socket: &mut AgentSocket) -> Message {
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("in time")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return message,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

pub(super) async fn send(socket: &mut AgentSocket, text: &str) {
    socket
        .send(Message::Text(text.to_owned().into()))
        .await
        .expect("sends");
}

async fn expect_error(socket: &mut AgentSocket, expected: ErrorCode) {
    match next_reply(socket).await {
        AgentMessage::Event(Event::Error { code, .. })
        | AgentMessage::Reply(Envelope {
            body: Reply::Error { code, .. },
            ..
        }) => assert_eq!(code, expected),
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn expect_close(socket: &mut AgentSocket, expected: CloseCode) {
    match next_message(socket).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, expected),
        other => panic!("expected a close, got {other:?}"),
    }
}

pub(super) async fn next_reply(socket: &mut AgentSocket) -> AgentMessage {
    match next_message(socket).await {
        Message::Text(text) => AgentMessage::decode(text.as_str()).expect("a protocol message"),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_connection_stays_usable() {
    let agent = TestAgent::start(&[]);
    let mut socket = raw_session(&agent).await;
    socket
        .send(Message::Binary(vec![7u8; 5].into()))
        .await
        .expect("sends");
    assert!(matches!(
        next_reply(&mut socket).await,
        AgentMessage::Event(Event::Error {
            code: ErrorCode::BadFrame,
            ..
        })
    ));
    socket
        .send(Message::Text(r#"{"type":"format_disk","req":41}"#.into()))
        .await
        .expect("sends");
    assert!(matches!(
        next_reply(&mut socket).await,
        AgentMessage::Reply(Envelope {
            req: 41,
            body: Reply::Error {
                code: ErrorCode::BadMessage,
                ..
            }
        })
    ));
    socket
        .send(Message::Text(
            format!(r#"{{"type":"hello","protocol":{PROTOCOL_VERSION},"client":"test"}}"#).into(),
        ))
        .await
        .expect("sends");
    assert!(matches!(
        next_reply(&mut socket).await,
        AgentMessage::Event(Event::Welcome { .. })
    ));
    socket
        .send(Message::Text(r#"{"type":"list","req":2}"#.into()))
        .await
        .expect("sends");
    assert!(matches!(
        next_reply(&mut socket).await,
        AgentMessage::Reply(Envelope {
            req: 2,
            body: Reply::Streams { .. }
        })
    ));
}

#[tokio::test]
async fn a_peer_that_keeps_sending_garbage_is_closed_with_1008() {
    let agent = TestAgent::start(&[]);
    let mut socket = raw_session(&agent).await;
    for _ in 0..16 {
        socket
            .send(Message::Binary(vec![0u8; 3].into()))
            .await
            .expect("sends");
    }
    let close = loop {
        match next_message(&mut socket).await {
            Message::Close(frame) => break frame,
            Message::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::Policy));
}

#[tokio::test]
async fn a_request_before_hello_closes_with_4000_and_a_wrong_protocol_with_4002() {
    let agent = TestAgent::start(&[]);
    let mut socket = raw_session(&agent).await;
    send(&mut socket, r#"{"type":"list","req":1}"#).await;
    expect_error(&mut socket, ErrorCode::HelloExpected).await;
    expect_close(&mut socket, CloseCode::Library(4000)).await;

    let verifier = PinVerifier::new(Some(agent.fingerprint.clone()));
    let token = agent.caller().token(Audience::Session);
    let (mut socket, _) = dial(&agent.addr, &verifier, SESSION_PATH, &token)
        .await
        .expect("dials");
    send(
        &mut socket,
        r#"{"type":"hello","protocol":99,"client":"future"}"#,
    )
    .await;
    expect_error(&mut socket, ErrorCode::UnsupportedProtocol).await;
    expect_close(&mut socket, CloseCode::Library(4002)).await;
}

/// Protocol 2 moved `req` into the envelope; a client of protocol 1 must still be told plainly
/// which version the agent speaks rather than get a stream of `bad_message` errors.
#[tokio::test]
async fn a_client_of_protocol_1_is_told_which_version_the_agent_speaks() {
    let agent = TestAgent::start(&[]);
    let mut socket = raw_session(&agent).await;
    send(
        &mut socket,
        r#"{"type":"hello","protocol":1,"client":"old"}"#,
    )
    .await;
    match next_reply(&mut socket).await {
        AgentMessage::Event(Event::Error {
            code: ErrorCode::UnsupportedProtocol,
            message,
        }) => assert_eq!(
            message,
            format!("this agent speaks protocol {PROTOCOL_VERSION}, not 1")
        ),
        other => panic!("expected unsupported_protocol, got {other:?}"),
    }
    expect_close(&mut socket, CloseCode::Library(4002)).await;
}

#[tokio::test]
async fn sigterm_ends_the_agent_and_its_processes_gracefully() {
    let mut agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let script = "echo $$ > shell.pid; exec sleep 1000".to_owned();
    client
        .open_pty(
            Some(vec!["/bin/sh".into(), "-c".into(), script]),
            None,
            Default::default(),
            sam_core::agent_client::PtySize { cols: 80, rows: 24 },
        )
        .await
        .expect("opens");
    let pid_file = agent.workspace_root().join("shell.pid");
    super::harness::wait_for_file(&pid_file).await;
    let pid: i32 = loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .trim()
            .parse()
        {
            break pid;
        }
        tokio::task::yield_now().await;
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &agent.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(agent.wait_for_exit().await, Some(0));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the terminal's process was ended"
    );
}

#[test]
fn an_invalid_configuration_names_the_field_and_exits_2() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        r#"{"listen": "127.0.0.1:0", "workspace_id": "abcdefghijkm", "public_key": "not-a-key"}"#,
    )
    .expect("write");
    let output = std::process::Command::new(sam_test_support::binary("sam-agent"))
        .arg(format!("--config={}", config.display()))
        .arg(format!("--workspace-root={}", dir.path().display()))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("sam-agent: invalid configuration: public_key:"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing is announced");
}
