//! The sweep: what the reconciler found in the Hetzner account
//! ([`HetznerAccount::look`](crate::account::hetzner::HetznerAccount::look)) applied to the
//! workspaces. A server that vanished marks its workspace stopped; a running workspace whose
//! server is powered off is stopped properly (so it is no longer billed).

use super::Workspaces;
use crate::account::hetzner::SWEEP_EVERY;
use crate::clock::now_ms;
use crate::error::SamError;
use crate::notice::Notice;
use crate::provider::hetzner::reconcile::Report;
use crate::provider::hetzner::spend::format_amount;
use crate::store::OperationKind;
use crate::workspace::{EventLevel, ProviderKind, WorkspaceId, WorkspaceStatus};

impl Workspaces {
    /// The app's sweep: at start and then every [`SWEEP_EVERY`] (or the `SAM_SWEEP_SECS` hook), when
    /// there is a Hetzner token, the reconciler runs and vanished servers are marked. Three list
    /// calls a sweep, shared by every workspace. Never returns.
    pub async fn sweep_forever(&self) {
        let every = self.ctx.config().hooks.sweep_every.unwrap_or(SWEEP_EVERY);
        loop {
            let connected = self.hetzner.connected().await;
            if connected {
                match self.sweep().await {
                    Ok(report) if !report.unknown.is_empty() || !report.foreign.is_empty() => {
                        tracing::info!(
                            unknown = report.unknown.len(),
                            foreign = report.foreign.len(),
                            "Hetzner resources SAM does not know"
                        );
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "the Hetzner sweep failed"),
                }
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Runs the reconciler, marks what vanished and completes the stop of servers found
    /// powered off; the sweep the app runs at start and then periodically. Returns the report.
    pub async fn sweep(&self) -> Result<Report, SamError> {
        let findings = self.hetzner.look().await?;
        self.mark_vanished(&findings.report.vanished)?;
        self.complete_powered_off(&findings.powered_off).await?;
        Ok(findings.report)
    }

    /// Running workspaces whose server is powered off — by its idle backstop while the app was
    /// away, most likely — are still billed: the normal stop deletes the server (the disk
    /// stays), and the user is told what happened and what the server cost.
    async fn complete_powered_off(&self, powered_off: &[String]) -> Result<(), SamError> {
        for id in powered_off
            .iter()
            .filter_map(|id| id.parse::<WorkspaceId>().ok())
        {
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
    pub fn mark_vanished(&self, vanished: &[String]) -> Result<Vec<WorkspaceId>, SamError> {
        let mut marked = Vec::new();
        let self_deleting = self.hetzner.self_delete()?;
        for id in vanished
            .iter()
            .filter_map(|id| id.parse::<WorkspaceId>().ok())
        {
            let Ok(workspace) = self.ctx.store().workspace(&id) else {
                continue;
            };
            if workspace.provider != ProviderKind::Hetzner
                || workspace.status != WorkspaceStatus::Running
            {
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
