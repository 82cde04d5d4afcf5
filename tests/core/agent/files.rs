//! Files through the client, confined to the workspace.

use sam_core::agent_client::{AgentError, FsKind};
use sam_protocol::message::ErrorCode;

use super::harness::TestAgent;

#[tokio::test]
async fn list_stat_and_read_inside_and_refusals_outside() {
    let agent = TestAgent::start(&[]);
    let root = agent.workspace_root();
    std::fs::create_dir(root.join("src")).expect("mkdir");
    std::fs::write(root.join("src/lib.rs"), "pub fn answer() -> u32 { 42 }\n").expect("write");
    std::os::unix::fs::symlink("/etc", root.join("etc-link")).expect("symlink");
    let client = agent.client().await;

    let entries = client.fs_list("").await.expect("lists");
    let names: Vec<(&str, FsKind)> = entries.iter().map(|e| (e.name.as_str(), e.kind)).collect();
    assert_eq!(names, [("etc-link", FsKind::Symlink), ("src", FsKind::Dir)]);
    assert_eq!(client.fs_stat("src/lib.rs").await.expect("stats").size, 30);
    let (bytes, eof) = client.fs_read("src/lib.rs", 4, 2).await.expect("reads");
    assert_eq!((bytes.as_slice(), eof), (&b"fn"[..], false));

    for path in ["etc-link/passwd", "../state/tls-key.pem", "/etc/passwd"] {
        match client.fs_read(path, 0, 100).await {
            Err(AgentError::Remote {
                code: ErrorCode::PathOutsideWorkspace,
                ..
            }) => {}
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
    match client.fs_stat("missing.txt").await {
        Err(AgentError::Remote {
            code: ErrorCode::NotFound,
            ..
        }) => {}
        other => panic!("expected not_found, got {other:?}"),
    }
}

/// A regression: the largest read's reply (1 MiB in base64, about 1.4 MB of JSON) was larger than
/// the client accepted, and the connection dropped instead of the file arriving.
#[tokio::test]
async fn the_largest_read_arrives_whole() {
    let agent = TestAgent::start(&[]);
    let content: Vec<u8> = (0..sam_protocol::MAX_READ)
        .map(|i| (i % 251) as u8)
        .collect();
    std::fs::write(agent.workspace_root().join("big.bin"), &content).expect("write");
    let client = agent.client().await;
    let (bytes, eof) = client
        .fs_read("big.bin", 0, sam_protocol::MAX_READ)
        .await
        .expect("reads");
    assert!(eof);
    assert!(bytes == content, "the bytes differ");
}

/// A write of several chunks lands byte-exact, in one step: until the last chunk the old file
/// is there, whole.
#[tokio::test]
async fn a_write_of_many_chunks_replaces_the_file_whole() {
    let agent = TestAgent::start(&[]);
    let root = agent.workspace_root();
    std::fs::write(root.join("data.bin"), "old").expect("write");
    let content: Vec<u8> = (0..3 * sam_protocol::MAX_WRITE + 17)
        .map(|i| (i % 253) as u8)
        .collect();
    let client = agent.client().await;
    let size = client.fs_write("data.bin", &content).await.expect("writes");
    assert_eq!(size, content.len() as u64);
    assert!(std::fs::read(root.join("data.bin")).expect("read") == content);
    client
        .fs_write("new/folder/empty.txt", b"")
        .await
        .expect("writes an empty file in new folders");
    assert_eq!(
        std::fs::read(root.join("new/folder/empty.txt")).expect("read"),
        b""
    );
    for path in ["../outside.txt", "/tmp/x", "new"] {
        match client.fs_write(path, b"x").await {
            Err(AgentError::Remote {
                code: ErrorCode::PathOutsideWorkspace | ErrorCode::InvalidArgument,
                ..
            }) => {}
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
    assert!(!root.parent().expect("parent").join("outside.txt").exists());
}

/// The wire rules of `fs_write`: chunks in order or the write is dropped, and what a connection
/// staged goes with it.
#[tokio::test]
async fn chunks_out_of_order_drop_the_write_and_a_lost_connection_drops_what_it_staged() {
    use super::robustness::{next_reply, raw_session, send};
    use sam_protocol::message::{AgentMessage, Envelope, Reply};

    let agent = TestAgent::start(&[]);
    let root = agent.workspace_root();
    let staged = || -> Vec<String> {
        std::fs::read_dir(&root)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    };
    let mut socket = raw_session(&agent).await;
    send(
        &mut socket,
        &format!(
            r#"{{"type":"hello","protocol":{},"client":"test"}}"#,
            sam_protocol::PROTOCOL_VERSION
        ),
    )
    .await;
    next_reply(&mut socket).await;
    let chunk = |req: u64, offset: u64, last: bool| {
        format!(
            r#"{{"req":{req},"type":"fs_write","path":"a.txt","offset":{offset},"data":"YWI=","last":{last}}}"#
        )
    };
    let reply = |message: AgentMessage| match message {
        AgentMessage::Reply(Envelope { body, .. }) => body,
        other => panic!("expected a reply, got {other:?}"),
    };

    send(&mut socket, &chunk(1, 0, false)).await;
    assert_eq!(
        reply(next_reply(&mut socket).await),
        Reply::FsWritten {
            size: 2,
            done: false
        }
    );
    assert!(
        !root.join("a.txt").exists(),
        "nothing in place before the last chunk"
    );
    assert_eq!(staged().len(), 1, "{:?}", staged());
    for (req, offset) in [(2, 5), (3, 2)] {
        send(&mut socket, &chunk(req, offset, true)).await;
        assert!(
            matches!(
                reply(next_reply(&mut socket).await),
                Reply::Error {
                    code: ErrorCode::InvalidOffset,
                    ..
                }
            ),
            "offset {offset}"
        );
    }
    assert_eq!(
        staged(),
        Vec::<String>::new(),
        "a dropped write leaves nothing"
    );

    send(&mut socket, &chunk(4, 0, false)).await;
    reply(next_reply(&mut socket).await);
    send(&mut socket, &chunk(5, 2, true)).await;
    assert_eq!(
        reply(next_reply(&mut socket).await),
        Reply::FsWritten {
            size: 4,
            done: true
        }
    );
    assert_eq!(std::fs::read(root.join("a.txt")).expect("read"), b"abab");

    send(&mut socket, &chunk(6, 0, false)).await;
    reply(next_reply(&mut socket).await);
    assert_eq!(staged().len(), 1);
    drop(socket);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !staged().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the staged file outlived its connection"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(std::fs::read(root.join("a.txt")).expect("read"), b"abab");
}
