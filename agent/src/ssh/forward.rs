//! Forwarding through an SSH connection: `ssh -L` and `ssh -D` (direct-tcpip channels, which
//! VS Code's Remote-SSH relies on), `ssh -R` (listeners in the workspace), and `ssh -A` (a
//! socket in the workspace whose connections reach the client's agent).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use russh::server::{ChannelOpenHandle, Handle, Msg};
use russh::{Channel, ChannelOpenFailure};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::task::AbortHandle;

use crate::agent::Agent;

/// Connects a direct-tcpip channel to `host:port` as seen from the workspace. Connecting may
/// take a while (a name to resolve), so it happens in a task: the connection's other channels
/// go on meanwhile.
pub(super) async fn direct(channel: Channel<Msg>, host: &str, port: u32, reply: ChannelOpenHandle) {
    let host = host.to_owned();
    tokio::spawn(async move {
        let Ok(port) = u16::try_from(port) else {
            return reply.reject(ChannelOpenFailure::ConnectFailed).await;
        };
        match TcpStream::connect((host.as_str(), port)).await {
            Ok(socket) => {
                reply.accept().await;
                bridge(channel.into_stream(), socket).await;
            }
            Err(err) => {
                tracing::debug!(%err, host, port, "direct-tcpip connection failed");
                reply.reject(ChannelOpenFailure::ConnectFailed).await;
            }
        }
    });
}

/// Listens for `ssh -R` on the workspace's loopback (as OpenSSH's `GatewayPorts no` does,
/// whatever address the client named); returns the port bound and the listener's task.
pub(super) async fn remote(
    address: &str,
    port: u32,
    handle: Handle,
) -> std::io::Result<(u32, AbortHandle)> {
    let port = u16::try_from(port).map_err(|_| std::io::Error::other("no such port"))?;
    let ip = match address {
        "::1" | "[::1]" => IpAddr::V6(Ipv6Addr::LOCALHOST),
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await?;
    let bound = u32::from(listener.local_addr()?.port());
    let address = address.to_owned();
    let task = tokio::spawn(async move {
        while let Ok((socket, peer)) = listener.accept().await {
            let handle = handle.clone();
            let address = address.clone();
            tokio::spawn(async move {
                let opened = handle
                    .channel_open_forwarded_tcpip(
                        address,
                        bound,
                        peer.ip().to_string(),
                        u32::from(peer.port()),
                    )
                    .await;
                if let Ok(channel) = opened {
                    bridge(channel.into_stream(), socket).await;
                }
            });
        }
    });
    Ok((bound, task.abort_handle()))
}

/// The socket of a forwarded agent (`SSH_AUTH_SOCK` in the connection's sessions), in a
/// private folder of the workspace's user; both go when the connection ends.
pub(crate) struct AgentSocket {
    folder: PathBuf,
    path: PathBuf,
    listener: AbortHandle,
}

impl AgentSocket {
    /// Listens on a new socket; each connection to it opens an agent channel to the client.
    pub(super) fn listen(agent: &Agent, handle: Handle) -> std::io::Result<Self> {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(std::io::Error::other)?;
        let name: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let folder = std::env::temp_dir().join(format!("sam-ssh-{name}"));
        std::fs::create_dir(&folder)?;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
        let path = folder.join("agent.sock");
        let listener = UnixListener::bind(&path)?;
        if let Some(user) = &agent.config.run_as {
            let owner = Some(nix::unistd::Uid::from_raw(user.uid));
            let group = Some(nix::unistd::Gid::from_raw(user.gid));
            for owned in [&folder, &path] {
                nix::unistd::chown(owned.as_path(), owner, group).map_err(std::io::Error::from)?;
            }
        }
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let handle = handle.clone();
                tokio::spawn(async move {
                    if let Ok(channel) = handle.channel_open_agent().await {
                        bridge(channel.into_stream(), socket).await;
                    }
                });
            }
        });
        Ok(Self {
            folder,
            path,
            listener: task.abort_handle(),
        })
    }

    /// The socket's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AgentSocket {
    fn drop(&mut self) {
        self.listener.abort();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// Copies both ways until both sides are done.
async fn bridge(
    mut channel: impl AsyncRead + AsyncWrite + Unpin,
    mut socket: impl AsyncRead + AsyncWrite + Unpin,
) {
    let _ = tokio::io::copy_bidirectional(&mut channel, &mut socket).await;
}
