//! Tunnels to a TCP port in the workspace: byte-exact both ways, half-closes, many at once,
//! through a dropped connection, and clear refusals.

use sam_core::agent_client::{AgentError, ErrorCode, TunnelTarget};
use sam_core::tunnel::pipe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::harness::TestAgent;

/// A server on loopback that answers every connection with the SHA-256 of everything it read
/// up to the client's half-close, followed by `download` bytes of a known pattern.
async fn digest_server(download: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut received = Vec::new();
                socket.read_to_end(&mut received).await.expect("reads");
                let digest = sam_protocol::enroll::sha256_hex(&received);
                socket.write_all(digest.as_bytes()).await.expect("writes");
                socket.write_all(&pattern(download)).await.expect("writes");
                socket.shutdown().await.expect("closes");
            });
        }
    });
    port
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Sends `upload` through a tunnel to the digest server and returns what came back.
async fn round_trip(
    client: &sam_core::agent_client::AgentClient,
    port: u16,
    upload: Vec<u8>,
) -> Vec<u8> {
    let (near, mut far) = tokio::io::duplex(64 * 1024);
    let (near_in, near_out) = tokio::io::split(near);
    let piping = pipe(client, TunnelTarget::Tcp, Some(port), near_in, near_out);
    let talking = async move {
        far.write_all(&upload).await.expect("sends");
        far.shutdown().await.expect("half-closes");
        let mut answer = Vec::new();
        far.read_to_end(&mut answer).await.expect("reads");
        answer
    };
    let (piped, answer) = tokio::join!(piping, talking);
    piped.expect("the pipe ends cleanly");
    answer
}

#[tokio::test]
async fn a_tunnel_carries_bytes_exactly_both_ways_with_half_close() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let download = 20 * 1024 * 1024;
    let port = digest_server(download).await;
    let upload: Vec<u8> = (0..9_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let answer = round_trip(&client, port, upload.clone()).await;
    let (digest, rest) = answer.split_at(64);
    assert_eq!(
        std::str::from_utf8(digest).expect("hex"),
        sam_protocol::enroll::sha256_hex(&upload)
    );
    assert!(rest == pattern(download), "the download arrived byte-exact");
    // Closed streams leave nothing listed.
    let listed = client.list().await.expect("lists");
    assert!(
        listed
            .iter()
            .all(|s| s.kind != sam_core::agent_client::StreamKind::Tunnel)
    );
}

#[tokio::test]
async fn a_hundred_tunnels_at_once() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let port = digest_server(100_000).await;
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..100u32 {
        let client = client.clone();
        runs.spawn(async move {
            let upload = format!("connection {n}").into_bytes();
            let answer = round_trip(&client, port, upload.clone()).await;
            assert_eq!(
                &answer[..64],
                sam_protocol::enroll::sha256_hex(&upload).as_bytes()
            );
            assert!(answer[64..] == pattern(100_000));
        });
    }
    while let Some(run) = runs.join_next().await {
        run.expect("the connection worked");
    }
}

#[tokio::test]
async fn a_tunnel_survives_a_dropped_connection() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    let download = 32 * 1024 * 1024;
    let port = digest_server(download).await;
    let (near, mut far) = tokio::io::duplex(64 * 1024);
    let (near_in, near_out) = tokio::io::split(near);
    let piping = pipe(&client, TunnelTarget::Tcp, Some(port), near_in, near_out);
    let upload = pattern(3_000_000);
    let talking = {
        let client = client.clone();
        let upload = upload.clone();
        async move {
            far.write_all(&upload[..1_500_000]).await.expect("sends");
            // The network drops half-way through the upload, and again during the download.
            client.reconnect();
            far.write_all(&upload[1_500_000..]).await.expect("sends");
            far.shutdown().await.expect("half-closes");
            let mut answer = vec![0u8; 64 + download / 2];
            far.read_exact(&mut answer).await.expect("reads");
            client.reconnect();
            far.read_to_end(&mut answer).await.expect("reads");
            answer
        }
    };
    let (piped, answer) = tokio::join!(piping, talking);
    piped.expect("the pipe ends cleanly");
    assert_eq!(
        &answer[..64],
        sam_protocol::enroll::sha256_hex(&upload).as_bytes()
    );
    assert!(
        answer[64..] == pattern(download),
        "byte-exact across reconnects"
    );
}

#[tokio::test]
async fn refusals_say_what_is_wrong() {
    let agent = TestAgent::start(&[]);
    let client = agent.client().await;
    // Nothing listens on the port.
    let free = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    match client.open_tunnel(TunnelTarget::Tcp, Some(port)).await {
        Err(AgentError::Remote { code, message }) => {
            assert_eq!(code, ErrorCode::Io);
            assert!(
                message.contains(&format!("nothing answers on port {port}")),
                "{message}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    for (target, port, wanted) in [
        (TunnelTarget::Tcp, None, "needs a port"),
        (TunnelTarget::Tcp, Some(0), "needs a port"),
        (TunnelTarget::Ssh, Some(22), "takes no port"),
    ] {
        match client.open_tunnel(target, port).await {
            Err(AgentError::Remote { code, message }) => {
                assert_eq!(code, ErrorCode::InvalidArgument);
                assert!(message.contains(wanted), "{message}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}
