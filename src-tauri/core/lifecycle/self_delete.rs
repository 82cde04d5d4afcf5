//! The opt-in "idle servers delete themselves" (Settings): each running Hetzner workspace's
//! agent holds, in memory only, the Hetzner token with its server's id, and its backstop deletes
//! the server instead of powering it off. Such a token can manage the whole Hetzner project, so
//! it is off by default and Settings says so.

use sam_protocol::message::SELF_DELETE_SECRET;

use super::Lifecycle;
use crate::agent_client::BackstopAction;
use crate::error::SamError;
use crate::provider::hetzner::provider::resource_name;
use crate::workspace::{ProviderKind, Workspace, WorkspaceStatus};

/// The setting: `true` when servers may delete themselves.
const SELF_DELETE_KEY: &str = "hetzner.self_delete";

impl Lifecycle {
    /// Whether idle servers delete themselves instead of powering off.
    pub fn self_delete(&self) -> Result<bool, SamError> {
        Ok(self.store.setting(SELF_DELETE_KEY)?.as_deref() == Some("true"))
    }

    /// Turns self-deletion on or off, and tells every running Hetzner workspace's agent.
    pub async fn set_self_delete(&self, on: bool) -> Result<(), SamError> {
        self.store
            .set_setting(SELF_DELETE_KEY, if on { "true" } else { "false" })?;
        for workspace in self.store.workspaces()? {
            if workspace.provider == ProviderKind::Hetzner
                && workspace.status == WorkspaceStatus::Running
                && let Err(err) = self.set_backstop(&workspace, on).await
            {
                tracing::warn!(workspace = %workspace.id, %err, "setting the backstop failed");
            }
        }
        Ok(())
    }

    /// With self-deletion on, gives a freshly running Hetzner workspace's agent the credential
    /// and `delete_server` (an agent starts with `poweroff`, so there is nothing to do when it is
    /// off). Failures are logged; the power-off backstop still guards the bill.
    pub(super) async fn arm_backstop(&self, workspace: &Workspace) {
        if workspace.provider != ProviderKind::Hetzner || !self.self_delete().unwrap_or(false) {
            return;
        }
        if let Err(err) = self.set_backstop(workspace, true).await {
            tracing::warn!(workspace = %workspace.id, %err, "setting the backstop failed");
        }
    }

    /// Gives the agent the credential and `delete_server` (`delete`), or takes the credential
    /// back and sets `poweroff`.
    async fn set_backstop(&self, workspace: &Workspace, delete: bool) -> Result<(), SamError> {
        let client = self.connect(workspace).await?;
        let action = if delete {
            let provider = self.hetzner().await?;
            let hetzner = provider.client();
            let Some(server) = hetzner.server_named(&resource_name(&workspace.id)).await? else {
                return Ok(());
            };
            let credential = serde_json::json!({
                "endpoint": hetzner.options().endpoint,
                "server_id": server.id,
                "token": hetzner.token().expose(),
            })
            .to_string();
            client
                .push_secret(SELF_DELETE_SECRET, &credential, None)
                .await?;
            BackstopAction::DeleteServer
        } else {
            client.revoke_secret(SELF_DELETE_SECRET).await?;
            BackstopAction::Poweroff
        };
        let mut policy = client.status().await?.policy;
        policy.action = action;
        client.set_idle_policy(policy).await?;
        Ok(())
    }
}
