//! The SSH server: OpenSSH's client, and the editors built on it, reach the workspace through a
//! tunnel (`open_tunnel` with the target `ssh`) — never through a network port.
//!
//! Each tunnel carries one SSH connection, served here by `russh`. The connection is already
//! authenticated when it starts: only a client holding the installation key, talking to the
//! certificate it pinned, can open a tunnel. So the SSH layer asks for nothing more (the `none`
//! method, for the workspace's user only), and no private key for SSH ever lands on the user's
//! disk. The host key proves to OpenSSH that it reached this agent; the desktop learned it at
//! enrollment, over the pinned connection.
//!
//! What a connection may do: sessions (shell, exec with stdin, PTY, environment, window
//! changes, signals, the `sftp` subsystem) in `channel`, and TCP forwarding both ways plus agent
//! forwarding in `forward`. Everything runs as the workspace's user, in the workspace.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::server::{Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use tokio::io::DuplexStream;

use crate::agent::Agent;

mod channel;
mod forward;

/// The in-memory pipe between a tunnel and its SSH connection, in bytes each way.
pub const PIPE_BYTES: usize = 256 * 1024;

/// Starts an SSH connection on `pipe`; it runs until either side closes.
pub fn serve(agent: Arc<Agent>, pipe: DuplexStream) {
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(
            concat!("SSH-2.0-sam_agent_", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::None][..]),
        // Rejections cannot be a guessing oracle here: the tunnel is authenticated already.
        auth_rejection_time: Duration::from_millis(10),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![agent.identity.ssh_host_key().clone()],
        // An idle shell is fine; a vanished client is noticed by the tunnel.
        inactivity_timeout: None,
        ..Default::default()
    });
    let handler = Connection {
        agent,
        user: None,
        state: Arc::new(Mutex::new(Shared::default())),
    };
    tokio::spawn(async move {
        match russh::server::run_stream(config, pipe, handler).await {
            Ok(running) => {
                if let Err(err) = running.await {
                    tracing::debug!(%err, "SSH connection ended");
                }
            }
            Err(err) => tracing::debug!(%err, "SSH connection failed to start"),
        }
    });
}

/// One SSH connection.
struct Connection {
    agent: Arc<Agent>,
    /// The user that logged in.
    user: Option<String>,
    state: Arc<Mutex<Shared>>,
}

/// What the connection's channels share.
#[derive(Default)]
pub(crate) struct Shared {
    /// Remote forwards (`ssh -R`) by address and port: their listeners.
    remote_forwards: HashMap<(String, u32), tokio::task::AbortHandle>,
    /// The forwarded agent's socket, once a channel asked for agent forwarding.
    agent_socket: Option<forward::AgentSocket>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        for (_, listener) in state.remote_forwards.drain() {
            listener.abort();
        }
        state.agent_socket = None;
    }
}

fn lock(state: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspace's user: the one processes run as.
pub(crate) fn workspace_user(agent: &Agent) -> Option<String> {
    match &agent.config.run_as {
        Some(user) => Some(user.name.clone()),
        None => nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.name),
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        let expected = workspace_user(&self.agent);
        if expected.as_deref() == Some(user) {
            self.user = Some(user.to_owned());
            return Ok(Auth::Accept);
        }
        self.agent.event(&format!(
            "ssh: refused the user {user:?}: this workspace's user is {}",
            expected.as_deref().unwrap_or("unknown")
        ));
        Ok(Auth::reject())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        let agent = Arc::clone(&self.agent);
        let state = Arc::clone(&self.state);
        tokio::spawn(channel::run(agent, state, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        forward::direct(channel, host, port, reply).await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The channel's task reads the request from its queue; this only answers it.
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name == "sftp" && channel::sftp_server().is_some() {
            session.channel_success(channel)
        } else {
            if name == "sftp" {
                self.agent.event(channel::NO_SFTP_SERVER);
            }
            session.channel_failure(channel)
        }
    }

    async fn agent_request(
        &mut self,
        _channel: ChannelId,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let mut state = lock(&self.state);
        if state.agent_socket.is_none() {
            match forward::AgentSocket::listen(&self.agent, session.handle()) {
                Ok(socket) => state.agent_socket = Some(socket),
                Err(err) => {
                    tracing::info!(%err, "SSH agent forwarding is unavailable");
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        match forward::remote(address, *port, session.handle()).await {
            Ok((bound, listener)) => {
                *port = bound;
                lock(&self.state)
                    .remote_forwards
                    .insert((address.to_owned(), bound), listener);
                Ok(true)
            }
            Err(err) => {
                self.agent.event(&format!(
                    "ssh: cannot listen on {address}:{port} for a remote forward: {err}"
                ));
                Ok(false)
            }
        }
    }

    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let listener = lock(&self.state)
            .remote_forwards
            .remove(&(address.to_owned(), port));
        Ok(listener.map(|listener| listener.abort()).is_some())
    }
}
