//! The sweep: what the reconciler found in the Hetzner account
//! ([`HetznerAccount::look`](crate::provider::hetzner::account::HetznerAccount::look)) applied to the
//! workspaces. A server that vanished marks its workspace stopped; a running workspace whose
//! server is powered off is stopped properly (so it is no longer billed).

use std::time::Duration;

use super::Workspaces;
use crate::clock::now_ms;
use crate::error::SamError;
use crate::notice::Notice;
use crate::provider::Reconcile;
use crate::provider::hetzner::spend::format_amount;
use crate::store::OperationKind;
use crate::workspace::{EventLevel, ProviderKind, WorkspaceId, WorkspaceStatus};

/// How often the app sweeps the accounts that can drift.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Workspaces {
    /// The app's sweep: at start and then every [`SWEEP_EVERY`] (or the `SAM_SWEEP_SECS` hook),
    /// each provider whose account can drift and whose credentials are known is looked at (on
    /// Hetzner, three list calls shared by every workspace) and the workspaces brought in line.
    /// Never returns.
    pub async fn sweep_forever(&self) {
        let every = self.ctx.config().hooks.sweep_every.unwrap_or(SWEEP_EVERY);
        loop {
            for (kind, account) in self.providers.reconcilers() {
                if !account.connected().await {
                    continue;
                }
                if let Err(err) = self.sweep_one(kind, account).await {
                    tracing::warn!(provider = kind.as_str(), error = %err, "the sweep failed");
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One sweep of every provider whose account can drift: what vanished is marked and what
    /// is powered off is stopped properly. The first failure is returned after the others
    /// were swept.
    pub async fn sweep(&self) -> Result<(), SamError> {
        let mut failed = None;
        for (kind, account) in self.providers.reconcilers() {
            if let Err(err) = self.sweep_one(kind, account).await {
                failed.get_or_insert(err);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    async fn sweep_one(&self, kind: ProviderKind, account: &dyn Reconcile) -> Result<(), SamError> {
        let drift = account.look().await?;
        self.mark_vanished(kind, &drift.vanished)?;
        self.complete_powered_off(&drift.powered_off).await
    }

    /// Running workspaces whose server is powered off — by its idle backstop while the app was
    /// away, most likely — are still billed: the normal stop deletes the server (the disk
    /// stays), and the user is told what happened and what the server cost.
    async fn complete_powered_off(&self, powered_off: &[WorkspaceId]) -> Result<(), SamError> {
        for id in powered_off {
            let id = id.clone();
            let Ok(operation) = self.begin(&id, OperationKind::Stop) else {
                continue;
            };
            self.log(
                &id,
                "backstop",
                EventLevel::Warn,
                "the server was found powered off — its idle backstop powers it off when nothing \
                 happened past the idle deadline while SAM was not running; finishing the stop so \
                 it is no longer billed",
            );
            if self.run(operation).await.is_err() {
                // Recorded on the workspace, with Retry.
                continue;
            }
            // The stop ended the server's billing record.
            let cost = self.last_server_cost(&id)?;
            if let Some(cost) = &cost {
                self.log(
                    &id,
                    "backstop",
                    EventLevel::Info,
                    &format!(
                        "the server is deleted and the disk kept; the server cost {cost} in all"
                    ),
                );
            }
            self.ctx.notices().publish(Notice::BackstopStopped {
                workspace: id.clone(),
                name: self.ctx.store().workspace(&id)?.name,
                cost,
            });
        }
        Ok(())
    }

    /// Marks workspaces whose server vanished: a running one becomes `stopped` — its compute is
    /// gone, its disk may not be — with a warning in its log saying what happened and what to
    /// do. With self-deletion on, its backstop most likely deleted it: the user is told so, with
    /// what the server cost. Records are never dropped. Returns the workspaces it marked.
    pub fn mark_vanished(
        &self,
        kind: ProviderKind,
        vanished: &[WorkspaceId],
    ) -> Result<Vec<WorkspaceId>, SamError> {
        let mut marked = Vec::new();
        let self_deleting = match self.providers.self_delete(kind) {
            Some(self_delete) => self_delete.enabled()?,
            None => false,
        };
        for id in vanished {
            let id = id.clone();
            let Ok(workspace) = self.ctx.store().workspace(&id) else {
                continue;
            };
            if workspace.provider != kind || workspace.status != WorkspaceStatus::Running {
                continue;
            }
            self.ctx
                .store()
                .set_workspace_status(&id, WorkspaceStatus::Stopped, None)?;
            if self_deleting {
                let cost = self.last_server_cost(&id)?;
                let spent = cost
                    .as_deref()
                    .map(|cost| format!(" (it cost {cost} in all)"))
                    .unwrap_or_default();
                self.log(
                    &id,
                    "backstop",
                    EventLevel::Warn,
                    &format!(
                        "The server is gone: with \"idle servers delete themselves\" on, its \
                         backstop deleted it after the idle deadline while SAM was not running{spent}. \
                         The disk is kept; start the workspace again when you need it."
                    ),
                );
                self.ctx.notices().publish(Notice::BackstopStopped {
                    workspace: id.clone(),
                    name: workspace.name.clone(),
                    cost,
                });
            } else {
                self.log(
                    &id,
                    "reconcile",
                    EventLevel::Warn,
                    "The workspace's server was deleted outside SAM (in Hetzner Console or by \
                     another tool). Start the workspace to get a new server with the same disk, or \
                     delete it.",
                );
            }
            marked.push(id);
        }
        Ok(marked)
    }

    /// What the workspace's latest server cost from creation to deletion (or now), as text.
    fn last_server_cost(&self, id: &WorkspaceId) -> Result<Option<String>, SamError> {
        Ok(self
            .store()
            .billing()?
            .into_iter()
            .rfind(|r| r.kind == "server" && r.workspace == id.as_str())
            .map(|record| format_amount(record.charge.cost(now_ms()), &record.currency)))
    }
}
