//! Which provider runs a workspace, and getting a machine's agent enrolled: Hetzner is made on
//! first use from the token (`HCLOUD_TOKEN` or the keyring) and this installation's identity;
//! a freshly booted agent is enrolled as soon as it answers (a cloud server takes a minute or
//! two to download and start it).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{Lifecycle, agent_error};
use crate::core::agent_client::{AgentError, Caller, enroll};
use crate::core::error::{ErrorCategory, SamError};
use crate::core::installation::{hex, random};
use crate::core::provider::hetzner::account;
use crate::core::provider::hetzner::client::{self, ClientOptions, HetznerClient};
use crate::core::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use crate::core::provider::hetzner::reconcile::{Report, reconcile};
use crate::core::provider::{Machine, Provider};
use crate::core::redact::Secret;
use crate::core::store::Operation;
use crate::core::workspace::{ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

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
            ProviderKind::Hetzner => self.hetzner().await,
        }
    }

    /// Fails, blocking on the keyring, when Hetzner workspaces cannot be made: no token.
    pub(super) fn require_hetzner(&self) -> Result<(), SamError> {
        if self.hetzner_slot().is_some() {
            return Ok(());
        }
        self.hetzner_token().map(|_| ())
    }

    /// Uses `provider` for Hetzner workspaces instead of making one from the token (tests).
    pub fn use_hetzner(&self, provider: Arc<dyn Provider>) {
        *self.hetzner_slot() = Some(provider);
    }

    fn hetzner_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<dyn Provider>>> {
        self.hetzner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Hetzner token (`HCLOUD_TOKEN` or the keyring). Blocking: the keyring is D-Bus.
    fn hetzner_token(&self) -> Result<Secret, SamError> {
        client::token(self.keys.as_ref(), |name| std::env::var(name).ok())?.ok_or_else(|| {
            SamError::new(
                ErrorCategory::Credentials,
                "SAM has no Hetzner API token.",
                format!(
                    "Enter a Read & Write token in Settings → Hetzner (Hetzner Console → your project → Security → API tokens), or set {}.",
                    client::TOKEN_ENV
                ),
            )
        })
    }

    async fn hetzner(&self) -> Result<Arc<dyn Provider>, SamError> {
        if let Some(provider) = self.hetzner_slot().as_ref() {
            return Ok(Arc::clone(provider));
        }
        let this = self.clone();
        let token = tokio::task::spawn_blocking(move || this.hetzner_token())
            .await
            .map_err(|err| SamError::internal("Reading the Hetzner token failed.", &err))??;
        let installation = self.installation_async().await?;
        let settings = HetznerSettings::for_this_build(installation.id.clone())?;
        let client = HetznerClient::new(token, ClientOptions::from_env())?;
        let provider: Arc<dyn Provider> =
            Arc::new(HetznerProvider::new(Arc::new(client), settings));
        *self.hetzner_slot() = Some(Arc::clone(&provider));
        Ok(provider)
    }

    /// Where the Hetzner token comes from, if there is one: `HCLOUD_TOKEN` or `keyring`. The
    /// token itself never leaves the core.
    pub async fn hetzner_token_source(&self) -> Result<Option<&'static str>, SamError> {
        if std::env::var(client::TOKEN_ENV).is_ok_and(|t| !t.trim().is_empty()) {
            return Ok(Some(client::TOKEN_ENV));
        }
        let this = self.clone();
        let found = tokio::task::spawn_blocking(move || this.keys.get(client::TOKEN_ENTRY))
            .await
            .map_err(|err| SamError::internal("Reading the keyring failed.", &err))??;
        Ok(found.map(|_| "keyring"))
    }

    /// Checks `token` (it must authenticate and may write; nothing is created) and keeps it in
    /// the keyring; Hetzner workspaces use it from now on.
    pub async fn set_hetzner_token(&self, token: &Secret) -> Result<(), SamError> {
        account::check_token(token, ClientOptions::from_env()).await?;
        let (this, value) = (self.clone(), token.expose().trim().to_owned());
        tokio::task::spawn_blocking(move || this.keys.set(client::TOKEN_ENTRY, &value))
            .await
            .map_err(|err| SamError::internal("Writing the keyring failed.", &err))??;
        *self.hetzner_slot() = None;
        Ok(())
    }

    /// The reconciler's view of the Hetzner account: resources not known to SAM, other
    /// installations' resources, and records whose server vanished (`reconcile.rs`).
    pub async fn hetzner_resources(&self) -> Result<Report, SamError> {
        let this = self.clone();
        let token = tokio::task::spawn_blocking(move || this.hetzner_token())
            .await
            .map_err(|err| SamError::internal("Reading the Hetzner token failed.", &err))??;
        let installation = self.installation_async().await?;
        let client = HetznerClient::new(token, ClientOptions::from_env())?;
        let workspaces: Vec<_> = self
            .store
            .workspaces()?
            .into_iter()
            .filter(|w| w.provider == ProviderKind::Hetzner)
            .collect();
        let known: BTreeSet<WorkspaceId> = workspaces.iter().map(|w| w.id.clone()).collect();
        let running: BTreeSet<WorkspaceId> = workspaces
            .iter()
            .filter(|w| w.status == WorkspaceStatus::Running)
            .map(|w| w.id.clone())
            .collect();
        reconcile(&client, &installation.id, &known, &running).await
    }

    /// Marks workspaces whose server vanished (deleted in Hetzner Console or by another tool):
    /// a running one becomes `stopped` — its compute is gone, its disk may not be — with a
    /// warning in its log saying what happened and what to do. Records are never dropped.
    /// Returns the workspaces it marked.
    pub fn mark_vanished(&self, vanished: &[String]) -> Result<Vec<WorkspaceId>, SamError> {
        let mut marked = Vec::new();
        for id in vanished
            .iter()
            .filter_map(|id| id.parse::<WorkspaceId>().ok())
        {
            let Ok(workspace) = self.store.workspace(&id) else {
                continue;
            };
            if workspace.provider != ProviderKind::Hetzner
                || workspace.status != WorkspaceStatus::Running
            {
                continue;
            }
            self.store
                .set_workspace_status(&id, WorkspaceStatus::Stopped, None)?;
            self.log(
                &id,
                "reconcile",
                crate::core::workspace::EventLevel::Warn,
                "The workspace's server was deleted outside SAM (in Hetzner Console or by another \
                 tool). Start the workspace to get a new server with the same disk, or delete it.",
            );
            marked.push(id);
        }
        Ok(marked)
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
        let deadline = tokio::time::Instant::now() + BOOT_TIMEOUT;
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
