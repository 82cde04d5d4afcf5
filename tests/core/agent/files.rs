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
