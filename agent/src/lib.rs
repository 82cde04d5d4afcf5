//! `sam-agent`: the agent that runs on each workspace's machine (or as a local process for the
//! "Run on this computer" provider). The desktop dials it over TLS; it serves PTYs with exact
//! resume, jobs, files, activity and the idle backstop. The wire protocol lives in
//! `sam-protocol` and is described in `docs/agent-protocol.md`.

#![deny(missing_docs)]

pub mod activity;
pub mod agent;
pub mod backstop;
pub mod boot_log;
pub mod config;
pub mod credentials;
pub mod files;
pub mod identity;
pub mod journal;
pub mod ports;
pub mod ring;
pub mod self_delete;
pub mod server;
pub mod session;
pub mod ssh;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::agent::Agent;
use crate::config::Config;
use crate::identity::Identity;

/// How long shutdown waits for processes to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The TLS identity could not be loaded or created.
    #[error("identity: {0}")]
    Identity(#[from] identity::IdentityError),
    /// Listening or another I/O step failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A started agent: bound, with its identity loaded, not yet serving.
#[derive(Debug)]
pub struct Bound {
    /// The agent's state.
    pub agent: Arc<Agent>,
    listener: TcpListener,
}

impl Bound {
    /// Loads the identity and binds the listen address.
    pub async fn bind(config: Config) -> Result<Self, RunError> {
        let identity = Identity::load_or_create(&config.state_dir)?;
        let listener = TcpListener::bind(config.listen).await?;
        // The port chosen when the configuration said 0: the agent leaves it out of the ports
        // it reports as the workspace's.
        let mut config = config;
        config.listen = listener.local_addr()?;
        let agent = Agent::new(config, identity)?;
        Ok(Self { agent, listener })
    }

    /// The address actually bound (the port is chosen when the configuration says 0).
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `agent.shutdown` is cancelled, then ends every process.
    pub async fn serve(self) -> Result<(), RunError> {
        let backstop = tokio::spawn(backstop::run(Arc::clone(&self.agent)));
        let boot_log = self
            .agent
            .config
            .boot_log
            .clone()
            .map(|path| tokio::spawn(boot_log::follow(Arc::clone(&self.agent), path)));
        let socket = self.agent.config.credential_socket.clone();
        let broker_agent = Arc::clone(&self.agent);
        let broker = tokio::spawn(async move {
            if let Err(err) = credentials::serve(Arc::clone(&broker_agent), &socket).await {
                broker_agent.event(&format!(
                    "the git credential broker could not listen on {}: {err}",
                    socket.display()
                ));
            }
        });
        server::serve(Arc::clone(&self.agent), self.listener).await?;
        if let Some(following) = boot_log {
            following.abort();
        }
        broker.abort();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.agent.prepare_stop()).await;
        backstop.abort();
        Ok(())
    }
}
