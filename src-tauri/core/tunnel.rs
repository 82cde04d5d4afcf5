//! Tunnels on the desktop's side: a byte pipe through the agent's session to its SSH server or
//! to a port in the workspace, pumped to and from something local (`sam ssh --stdio`'s standard
//! input and output, a forwarded port's socket).
//!
//! The session underneath reconnects on its own and resumes every stream exactly, so a pipe
//! survives a network blip: the bytes in flight are resent, none twice. It ends when both sides
//! are done, when the agent restarts (its tunnels are gone), or when the client is closed.

use sam_protocol::frame::MAX_PAYLOAD;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::agent_client::{AgentClient, AgentError, StreamEvent, TunnelTarget};

/// Input sent ahead of the agent's acknowledgement, when the agent does not say its window.
const DEFAULT_WINDOW: u64 = 1024 * 1024;

/// Why a pipe ended early.
#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    /// The agent refused or the session failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The agent restarted, or lost bytes: the connection through it cannot go on.
    #[error("the connection through the workspace's agent was lost ({0})")]
    Broken(&'static str),
    /// The local side failed.
    #[error("{0}")]
    Local(#[from] std::io::Error),
}

/// Opens a tunnel to `target` (`port` for TCP) and pumps it to and from `local` until both
/// directions are done; the stream is closed on the agent afterwards.
pub async fn pipe<R, W>(
    client: &AgentClient,
    target: TunnelTarget,
    port: Option<u16>,
    local_in: R,
    local_out: W,
) -> Result<(), TunnelError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let opened = client.open_tunnel(target, port).await?;
    let outcome = pump(client, opened.stream, local_in, local_out).await;
    // Also after a failure: the agent would otherwise keep the far end until it reaps orphans.
    let _ = client.close_stream(opened.stream).await;
    outcome
}

async fn pump<R, W>(
    client: &AgentClient,
    stream: u32,
    mut local_in: R,
    mut local_out: W,
) -> Result<(), TunnelError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut handle, _) = client.attach(stream, 0).await?;
    let input = handle.input();
    let window = client.tunnel_window().unwrap_or(DEFAULT_WINDOW);
    let limit = window.saturating_sub(MAX_PAYLOAD as u64);
    let upstream = async {
        let mut buf = vec![0u8; MAX_PAYLOAD];
        loop {
            input.room(limit).await;
            let n = local_in.read(&mut buf).await?;
            if n == 0 {
                // Everything read is sent; the far end sees end-of-file after it.
                input.room(0).await;
                client.end_input(stream).await?;
                return Ok::<(), TunnelError>(());
            }
            input.write(buf.get(..n).unwrap_or_default(), true);
        }
    };
    let downstream = async {
        loop {
            match handle.next().await {
                Some(StreamEvent::Output { bytes, .. }) => {
                    local_out.write_all(&bytes).await?;
                    local_out.flush().await?;
                }
                Some(StreamEvent::Exit(_)) => {
                    local_out.shutdown().await?;
                    return Ok::<(), TunnelError>(());
                }
                Some(StreamEvent::Gap { .. }) => return Err(TunnelError::Broken("bytes lost")),
                Some(StreamEvent::Reset) => return Err(TunnelError::Broken("the agent restarted")),
                None => return Err(TunnelError::Broken("the session closed")),
            }
        }
    };
    tokio::pin!(upstream, downstream);
    // The far end closing ends the pipe; the near end closing only ends its direction.
    tokio::select! {
        done = &mut downstream => done,
        sent = &mut upstream => {
            sent?;
            downstream.await
        }
    }
}
