//! Which provider runs a workspace, and getting a machine's agent enrolled: a freshly booted
//! agent is enrolled as soon as it answers (a cloud server takes a minute or two to download
//! and start it).

use std::sync::Arc;
use std::time::Duration;

use super::{Lifecycle, agent_error};
use crate::core::agent_client::{AgentError, Caller, enroll};
use crate::core::error::SamError;
use crate::core::installation::{hex, random};
use crate::core::provider::{Machine, Provider};
use crate::core::redact::Secret;
use crate::core::store::Operation;
use crate::core::workspace::{ProviderKind, Workspace};

/// How long a new machine's agent may take to answer (a server boots, downloads and verifies
/// the agent, then starts it).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often a booting agent is tried.
const BOOT_POLL: Duration = Duration::from_millis(500);

impl Lifecycle {
    /// The provider of `kind`.
    pub(super) async fn provider(&self, kind: ProviderKind) -> Result<Arc<dyn Provider>, SamError> {
        match kind {
            ProviderKind::Local => Ok(Arc::clone(&self.local)),
            ProviderKind::Hetzner => Ok(self.hetzner().await? as Arc<dyn Provider>),
        }
    }

    /// A fresh one-time enrollment secret.
    pub(super) fn enrollment_secret() -> Result<Secret, SamError> {
        Ok(Secret::new(hex(&random::<32>()?)))
    }

    /// Enrolls the agent of a machine made with `secret` (waiting, bounded, for it to answer)
    /// and records its address and pin.
    pub(super) async fn enroll_machine(
        &self,
        operation: &Operation,
        workspace: &Workspace,
        machine: &Machine,
        secret: &Secret,
    ) -> Result<(), SamError> {
        let id = &workspace.id;
        self.store.set_agent(id, Some(&machine.agent_addr), None)?;
        self.step(
            operation,
            "enroll",
            "waiting for the agent, then verifying it and pinning its certificate",
        )
        .await;
        let installation = self.installation_async().await?;
        let caller = Caller {
            key: installation.signing_key(),
            workspace: id.as_str(),
        };
        let deadline = tokio::time::Instant::now() + self.timing().boot_timeout;
        let pin = loop {
            match enroll(&machine.agent_addr, &caller, secret.expose()).await {
                Ok(pin) => break pin,
                // Still booting: nothing listens yet, or the connection broke off mid-start.
                Err(
                    AgentError::Unreachable { .. }
                    | AgentError::ConnectionLost
                    | AgentError::Timeout(_),
                ) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(BOOT_POLL).await;
                }
                Err(err) => return Err(agent_error(err, "enroll")),
            }
        };
        self.store
            .set_agent(id, Some(&machine.agent_addr), Some(&pin))?;
        Ok(())
    }
}
