//! Terminals on the real agent: real PTYs and shells.

use std::collections::BTreeMap;

use sam_core::agent_client::{PtySize, StreamKind};

use super::harness::{TestAgent, contains, read_to_exit, read_until, shell_after};

const SIZE: PtySize = PtySize { cols: 80, rows: 24 };

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec![
        "/bin/sh".to_owned(),
        "-c".to_owned(),
        script.to_owned(),
    ])
}

#[tokio::test]
async fn a_shell_echoes_what_is_typed() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    // The quotes make the typed line differ from the output, so the output is really the echo.
    let (mut term, info) = shell_after(&client, "echo he''llo", "hello").await;
    assert_eq!(info.kind, StreamKind::Pty);
    term.write(b"exit 7\n", true);
    let (_, status) = read_to_exit(&mut term).await;
    assert_eq!(status.code, Some(7));
}

#[tokio::test]
async fn split_multibyte_utf8_arrives_intact() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    // The euro sign's three bytes, written in two separate writes with a pause between.
    let script = r"printf '\342\202'; sleep 0.2; printf '\254 done\n'";
    let info = client
        .open_pty(sh(script), None, BTreeMap::new(), SIZE)
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = read_to_exit(&mut term).await;
    assert_eq!(status.code, Some(0));
    assert!(
        String::from_utf8(out.clone()).is_ok_and(|text| text.contains("€ done")),
        "{out:?}"
    );
}

#[tokio::test]
async fn resize_reaches_the_program() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let (mut term, info) = shell_after(&client, "stty size", "24 80").await;
    client
        .resize(
            info.stream,
            PtySize {
                cols: 100,
                rows: 40,
            },
        )
        .await
        .expect("resizes");
    term.write(b"stty size\n", true);
    let out = read_until(&mut term, |out| contains(out, "40 100")).await;
    assert!(contains(&out, "40 100"));
}

#[tokio::test]
async fn a_full_screen_program_draws_and_exits_cleanly() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let info = client
        .open_pty(
            Some(vec!["vi".into(), "notes.txt".into()]),
            None,
            BTreeMap::new(),
            SIZE,
        )
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    // vi switches to the alternate screen when it starts.
    let out = read_until(&mut term, |out| contains(out, "\x1b[?1049h")).await;
    assert!(contains(&out, "\x1b[?1049h"));
    term.write(b"ihello from vi\x1b:wq\r", true);
    let (_, status) = read_to_exit(&mut term).await;
    assert_eq!(status.code, Some(0));
    let saved = std::fs::read_to_string(agent.workspace_root().join("notes.txt"))
        .expect("vi saved the file");
    assert_eq!(saved, "hello from vi\n");
}

#[tokio::test]
async fn sessions_outlive_connections_and_are_listed_to_the_next_client() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let (term, info) = shell_after(&client, "echo first-connection", "first-connection\r\n").await;
    drop(term);
    drop(client);

    let client = agent.connect(&agent.fingerprint).await;
    let listed = client.list().await.expect("lists");
    assert!(
        listed
            .iter()
            .any(|s| s.stream == info.stream && s.kind == StreamKind::Pty),
        "{listed:?}"
    );
    let (mut term, _) = client.attach(info.stream, 0).await.expect("re-attaches");
    let out = read_until(&mut term, |out| contains(out, "first-connection\r\n")).await;
    assert!(contains(&out, "first-connection"));
}

#[tokio::test]
async fn a_job_reports_output_and_exit_status_and_jobs_are_separate_from_terminals() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let info = client
        .run_job(
            vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo out; echo err >&2; exit 3".into(),
            ],
            None,
            BTreeMap::new(),
        )
        .await
        .expect("starts");
    assert_eq!(info.kind, StreamKind::Job);
    let (mut job, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = read_to_exit(&mut job).await;
    assert_eq!(status.code, Some(3));
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.contains("out\n") && text.contains("err\n"), "{text:?}");
    client.close_stream(info.stream).await.expect("closes");
    assert!(
        !client
            .list()
            .await
            .expect("lists")
            .iter()
            .any(|s| s.stream == info.stream)
    );
}

#[tokio::test]
async fn the_agents_own_log_is_a_stream_too() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let (mut log, info) = client
        .attach(sam_protocol::LOG_STREAM, 0)
        .await
        .expect("attaches");
    assert_eq!(info.kind, StreamKind::Log);
    let out = read_until(&mut log, |out| contains(out, "enrolled")).await;
    assert!(contains(&out, "agent 0.1.0 started"));
}

#[tokio::test]
async fn bad_requests_get_typed_errors() {
    let agent = TestAgent::start(&["--max-streams", "1"]);
    let client = agent.client().await;
    use sam_core::agent_client::AgentError;
    use sam_protocol::message::ErrorCode;
    fn code<T: std::fmt::Debug>(result: Result<T, AgentError>) -> ErrorCode {
        match result {
            Err(AgentError::Remote { code, .. }) => code,
            other => panic!("expected a remote error, got {other:?}"),
        }
    }
    assert_eq!(
        code(
            client
                .open_pty(None, None, BTreeMap::new(), PtySize { cols: 0, rows: 0 })
                .await
        ),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(
            client
                .open_pty(None, Some("../..".into()), BTreeMap::new(), SIZE)
                .await
        ),
        ErrorCode::PathOutsideWorkspace
    );
    assert_eq!(
        code(
            client
                .run_job(vec!["/no/such/program".into()], None, BTreeMap::new())
                .await
        ),
        ErrorCode::SpawnFailed
    );
    client
        .open_pty(Some(vec!["/bin/sh".into()]), None, BTreeMap::new(), SIZE)
        .await
        .expect("first");
    assert_eq!(
        code(client.open_pty(None, None, BTreeMap::new(), SIZE).await),
        ErrorCode::TooManyStreams
    );
    assert_eq!(
        code(client.attach(999, 0).await.map(|(_, info)| info)),
        ErrorCode::UnknownStream
    );
    assert_eq!(
        code(client.attach(0, u64::MAX).await.map(|(_, info)| info)),
        ErrorCode::InvalidOffset
    );
}

#[tokio::test]
async fn a_large_cat_through_a_terminal_arrives_byte_for_byte() {
    let agent = TestAgent::start(&[]);
    // 4 MiB of printable bytes without newlines (which a terminal would turn into CR LF).
    let payload: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|n| b'!' + (n.wrapping_mul(2_654_435_761) >> 26) as u8)
        .collect();
    std::fs::write(agent.workspace_root().join("big.txt"), &payload).expect("write");
    let client = agent.client().await;
    let info = client
        .open_pty(
            Some(vec!["cat".into(), "big.txt".into()]),
            None,
            BTreeMap::new(),
            SIZE,
        )
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, status) = read_to_exit(&mut term).await;
    assert_eq!(status.code, Some(0));
    assert_eq!(out.len(), payload.len());
    assert!(out == payload, "the bytes differ");
}

#[tokio::test]
async fn shells_run_as_the_configured_unprivileged_user() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root, as the whole suite does: the agent switches to the user nobody \
         (run ./scripts/test as root)"
    );
    let agent = TestAgent::start(&["--run-as", "nobody"]);
    // The unprivileged user must be able to enter the workspace.
    use std::os::unix::fs::PermissionsExt;
    for dir in [agent.dir.path().to_path_buf(), agent.workspace_root()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let client = agent.client().await;
    let info = client
        .open_pty(sh("id -u; echo $HOME"), None, BTreeMap::new(), SIZE)
        .await
        .expect("opens");
    let (mut term, _) = client.attach(info.stream, 0).await.expect("attaches");
    let (out, _) = read_to_exit(&mut term).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("65534\r\n"), "{text:?}");
    assert!(!text.contains("/root"), "{text:?}");
}
