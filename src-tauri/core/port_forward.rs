//! Port forwarding: a port on this computer's loopback that reaches a port on a workspace's
//! loopback, one tunnel (`crate::tunnel`) per connection.
//!
//! Forwards listen on `127.0.0.1` only: a workspace's web app is for this computer's browser,
//! not for the network it is on. A listener lives as long as its [`Listening`] handle; the
//! agent session under it reconnects on its own, so a forward outlasts network drops, and
//! connections made while the agent is unreachable wait for it (up to a request's timeout).

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::agent_client::{AgentClient, TunnelTarget};
use crate::error::SamError;

/// One forward: `local` on this computer to `remote` in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    /// The port here; 0 lets the system choose a free one.
    pub local: u16,
    /// The port in the workspace.
    pub remote: u16,
}

impl FromStr for PortSpec {
    type Err = SamError;

    /// `3000` (the same port on both sides) or `8080:3000` (here:there).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let port = |part: &str, zero_ok: bool| {
            part.trim()
                .parse::<u16>()
                .ok()
                .filter(|port| zero_ok || *port != 0)
                .ok_or_else(|| {
                    SamError::invalid_input(
                        format!("{text:?} is not a port forward."),
                        "Write PORT, or LOCAL:REMOTE with ports from 1 to 65535 (LOCAL may be 0 \
                         for any free port), for example 3000 or 8080:3000.",
                    )
                })
        };
        match text.split_once(':') {
            Some((local, remote)) => Ok(Self {
                local: port(local, true)?,
                remote: port(remote, false)?,
            }),
            None => {
                let same = port(text, false)?;
                Ok(Self {
                    local: same,
                    remote: same,
                })
            }
        }
    }
}

/// A forward that is listening; dropping it stops listening (connections already made go on
/// until either end closes them).
#[derive(Debug)]
pub struct Listening {
    /// Where it listens.
    pub local: SocketAddr,
    /// The port it reaches in the workspace.
    pub remote: u16,
    task: JoinHandle<()>,
}

impl Listening {
    /// Stops listening, and returns once the port is free again.
    pub async fn close(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on `127.0.0.1:<spec.local>` and carries each connection to `spec.remote` in the
/// workspace behind `client`. `failed` hears about connections that could not be carried (the
/// port refused in the workspace, the agent unreachable), with the reason.
pub async fn listen(
    client: AgentClient,
    spec: PortSpec,
    failed: impl Fn(String) + Send + Sync + 'static,
) -> Result<Listening, SamError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, spec.local))
        .await
        .map_err(|err| bind_error(spec.local, &err))?;
    let local = listener
        .local_addr()
        .map_err(|err| bind_error(spec.local, &err))?;
    let failed = std::sync::Arc::new(failed);
    let task = tokio::spawn(async move {
        loop {
            let socket = match listener.accept().await {
                Ok((socket, _)) => socket,
                Err(err) => {
                    // Out of file descriptors, say: give the system a moment, keep listening.
                    tracing::warn!(%err, "accepting a forwarded connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let client = client.clone();
            let failed = std::sync::Arc::clone(&failed);
            tokio::spawn(async move {
                let (from, to) = socket.into_split();
                let piped =
                    crate::tunnel::pipe(&client, TunnelTarget::Tcp, Some(spec.remote), from, to)
                        .await;
                if let Err(err) = piped {
                    failed(format!(
                        "A connection to port {} of the workspace failed: {err}.",
                        spec.remote
                    ));
                }
            });
        }
    });
    Ok(Listening {
        local,
        remote: spec.remote,
        task,
    })
}

fn bind_error(port: u16, err: &std::io::Error) -> SamError {
    if err.kind() == std::io::ErrorKind::AddrInUse {
        SamError::invalid_input(
            format!("Port {port} on this computer is already in use by another program."),
            format!(
                "Choose another local port, for example {}:{port}, or 0:{port} for any free one.",
                port.saturating_add(1)
            ),
        )
    } else {
        SamError::configuration(
            format!("SAM cannot listen on port {port} of this computer: {err}."),
            "Ports below 1024 need privileges; choose a port from 1024 up.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_read_like_ssh_and_coder() {
        let spec = |text: &str| text.parse::<PortSpec>();
        assert_eq!(
            spec("3000").ok(),
            Some(PortSpec {
                local: 3000,
                remote: 3000
            })
        );
        assert_eq!(
            spec("8080:3000").ok(),
            Some(PortSpec {
                local: 8080,
                remote: 3000
            })
        );
        assert_eq!(
            spec("0:3000").ok(),
            Some(PortSpec {
                local: 0,
                remote: 3000
            })
        );
        for bad in ["", "0", "3000:0", "70000", "a:b", "1:2:3", "-1"] {
            let err = spec(bad).expect_err(bad);
            assert!(
                err.message.contains("is not a port forward"),
                "{bad}: {err:?}"
            );
        }
    }
}
