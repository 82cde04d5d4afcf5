//! Hetzner in the lifecycle: the provider made on first use from the token (`HCLOUD_TOKEN` or
//! the keyring) and this installation's identity; the catalogue and the user's preferences; the
//! reconciler's sweep and deleting what it found; a workspace's machine details.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{CreateRequest, Lifecycle};
use crate::clock::now_ms;
use crate::config::vars;
use crate::error::{ErrorCategory, SamError};
use crate::notice::Notice;
use crate::provider::hetzner::account;
use crate::provider::hetzner::catalog::{Catalog, PREFERENCES_KEY, Preferences};
use crate::provider::hetzner::client::{self, ClientOptions, HetznerClient};
use crate::provider::hetzner::provider::{HetznerProvider, HetznerSettings};
use crate::provider::hetzner::reconcile::{Findings, Report, Resource, reconcile};
use crate::provider::hetzner::spend::{self, Spend, format_amount};
use crate::provider::{MachineDetails, Placement};
use crate::redact::Secret;
use crate::store::OperationKind;
use crate::workspace::{EventLevel, ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

/// How often the app sweeps the Hetzner account.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

impl Lifecycle {
    /// Fails, blocking on the keyring, when Hetzner workspaces cannot be made: no token.
    pub(super) fn require_hetzner(&self) -> Result<(), SamError> {
        if self.hetzner_slot().is_some() {
            return Ok(());
        }
        self.hetzner_token().map(|_| ())
    }

    /// Uses `provider` for Hetzner workspaces instead of making one from the token (tests).
    pub fn use_hetzner(&self, provider: Arc<HetznerProvider>) {
        *self.hetzner_slot() = Some(provider);
    }

    fn hetzner_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<HetznerProvider>>> {
        self.hetzner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Hetzner token (`HCLOUD_TOKEN` or the keyring). Blocking: the keyring is D-Bus.
    fn hetzner_token(&self) -> Result<Secret, SamError> {
        client::token(self.keys.as_ref(), self.config.hetzner.token.as_ref())?.ok_or_else(|| {
            SamError::new(
                ErrorCategory::Credentials,
                "SAM has no Hetzner API token.",
                format!(
                    "Enter a Read & Write token in Settings → Hetzner (Hetzner Console → your project → Security → API tokens), or set {}.",
                    vars::HCLOUD_TOKEN
                ),
            )
        })
    }

    /// A Hetzner API client with the token (`HCLOUD_TOKEN` or the keyring).
    async fn hetzner_client(&self) -> Result<HetznerClient, SamError> {
        let this = self.clone();
        let token = tokio::task::spawn_blocking(move || this.hetzner_token())
            .await
            .map_err(|err| SamError::internal("Reading the Hetzner token failed.", &err))??;
        Ok(HetznerClient::new(
            token,
            ClientOptions::configured(&self.config.hetzner),
        )?)
    }

    /// The Hetzner provider, made on first use from the token and this installation's
    /// identity.
    pub(super) async fn hetzner(&self) -> Result<Arc<HetznerProvider>, SamError> {
        if let Some(provider) = self.hetzner_slot().as_ref() {
            return Ok(Arc::clone(provider));
        }
        let installation = self.installation_async().await?;
        let settings =
            HetznerSettings::for_this_build(installation.id.clone(), &self.config.agent_override);
        let client = self.hetzner_client().await?;
        let provider = Arc::new(HetznerProvider::new(Arc::new(client), settings));
        *self.hetzner_slot() = Some(Arc::clone(&provider));
        Ok(provider)
    }

    /// Where the Hetzner token comes from, if there is one: `HCLOUD_TOKEN` or `keyring`. The
    /// token itself never leaves the core.
    pub async fn hetzner_token_source(&self) -> Result<Option<&'static str>, SamError> {
        if self.config.hetzner.token.is_some() {
            return Ok(Some(vars::HCLOUD_TOKEN));
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
        account::check_token(token, ClientOptions::configured(&self.config.hetzner)).await?;
        let (this, value) = (self.clone(), token.expose().trim().to_owned());
        tokio::task::spawn_blocking(move || this.keys.set(client::TOKEN_ENTRY, &value))
            .await
            .map_err(|err| SamError::internal("Writing the keyring failed.", &err))??;
        *self.hetzner_slot() = None;
        Ok(())
    }

    /// The reconciler's view of the Hetzner account: resources not known to SAM, other
    /// installations' resources, and records whose server vanished (`reconcile.rs`). Kept as
    /// the latest report for [`Lifecycle::delete_hetzner_resource`].
    pub async fn hetzner_resources(&self) -> Result<Report, SamError> {
        Ok(self.look_at_hetzner().await?.report)
    }

    /// One look at the account: keeps the report and brings the billing history up to date.
    async fn look_at_hetzner(&self) -> Result<Findings, SamError> {
        let provider = self.hetzner().await?;
        let catalog = provider.catalog().await?;
        let workspaces: Vec<_> = self
            .store
            .workspaces()?
            .into_iter()
            .filter(|w| w.provider == ProviderKind::Hetzner && w.status != WorkspaceStatus::Deleted)
            .collect();
        let known: BTreeSet<WorkspaceId> = workspaces.iter().map(|w| w.id.clone()).collect();
        let running: BTreeSet<WorkspaceId> = workspaces
            .iter()
            .filter(|w| w.status == WorkspaceStatus::Running)
            .map(|w| w.id.clone())
            .collect();
        let findings = reconcile(
            provider.client(),
            &catalog.pricing,
            &provider.settings().installation,
            &known,
            &running,
        )
        .await?;
        self.store.sync_billing(&findings.billing, now_ms())?;
        self.keep_report(Some(findings.report.clone()), |_| ());
        Ok(findings)
    }

    /// Replaces the kept report with `fresh` (when given) and then applies `change`; a report
    /// that differs from the one before moves [`Lifecycle::report_generation`].
    fn keep_report(&self, fresh: Option<Report>, change: impl FnOnce(&mut Report)) {
        let mut kept = self
            .reconciled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = kept.clone();
        if let Some(fresh) = fresh {
            *kept = Some(fresh);
        }
        if let Some(report) = kept.as_mut() {
            change(report);
        }
        if *kept != before {
            self.report_generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Moves whenever the reconciler's findings change (the window refreshes what it shows).
    pub fn report_generation(&self) -> u64 {
        self.report_generation
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The latest reconciler report, if there has been one.
    pub fn last_hetzner_report(&self) -> Option<Report> {
        self.reconciled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The app's sweep: at start and then every [`SWEEP_EVERY`] (or the `SAM_SWEEP_SECS` hook), when
    /// there is a Hetzner token, the reconciler runs and vanished servers are marked. Three list
    /// calls a sweep, shared by every workspace. Never returns.
    pub async fn sweep_hetzner_forever(&self) {
        let every = self.config.hooks.sweep_every.unwrap_or(SWEEP_EVERY);
        loop {
            let connected = self.hetzner_slot().is_some()
                || matches!(self.hetzner_token_source().await, Ok(Some(_)));
            if connected {
                match self.reconcile_hetzner().await {
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
    pub async fn reconcile_hetzner(&self) -> Result<Report, SamError> {
        let findings = self.look_at_hetzner().await?;
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
            self.notices().publish(Notice::BackstopStopped {
                workspace: id.clone(),
                name: self.store.workspace(&id)?.name,
                cost,
            });
        }
        Ok(())
    }

    /// Deletes one resource the last reconciler report listed: one of this installation's
    /// resources not known to SAM, or — only with `foreign` — one of another installation's.
    /// Anything else (a resource of a live workspace, an unlabelled one, one not seen yet) is
    /// refused: SAM deletes only what it has shown the user.
    pub async fn delete_hetzner_resource(
        &self,
        kind: &str,
        id: i64,
        foreign: bool,
    ) -> Result<(), SamError> {
        let listed = self
            .reconciled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .unwrap_or_default();
        let matches = |r: &&Resource| r.kind == kind && r.id == id;
        let found = listed
            .unknown
            .iter()
            .find(matches)
            .or_else(|| listed.foreign.iter().find(matches).filter(|_| foreign));
        let Some(resource) = found.cloned() else {
            let (message, next) = if listed.foreign.iter().any(|r| matches(&r)) {
                (
                    format!("{kind} {id} belongs to another installation of SAM."),
                    "Confirm that it belongs to no installation you still use, then delete it again.",
                )
            } else {
                (
                    format!("{kind} {id} is not among the resources SAM does not know."),
                    "Refresh the list of resources: SAM deletes only what it has listed.",
                )
            };
            return Err(SamError::invalid_input(message, next));
        };
        let provider = self.hetzner().await?;
        let client = provider.client();
        let timeout = provider.settings().action_timeout;
        match resource.kind.as_str() {
            "server" => {
                if let Some(action) = client.delete_server(resource.id).await? {
                    client.wait(&action, timeout).await?;
                }
            }
            "volume" => {
                // A Volume still attached to a (deleted) server is detached by the delete.
                client.delete_volume(resource.id).await?;
            }
            "firewall" => client.delete_firewall(resource.id).await?,
            other => {
                return Err(SamError::invalid_input(
                    format!("{other:?} is not a kind of resource SAM deletes."),
                    "Delete it in Hetzner Console.",
                ));
            }
        }
        tracing::info!(kind, id, name = %resource.name, "deleted a resource SAM did not know");
        self.keep_report(None, |report| {
            report.unknown.retain(|r| !(r.kind == kind && r.id == id));
            report.foreign.retain(|r| !(r.kind == kind && r.id == id));
        });
        Ok(())
    }

    /// What every workspace has cost so far and this month, and the month-to-date total, from
    /// the billing history (kept up to date by the sweep and by SAM's own deletions).
    pub fn spend(&self, now_ms: i64) -> Result<Spend, SamError> {
        Ok(spend::summarize(&self.store.billing()?, now_ms))
    }

    /// What may be chosen on Hetzner, with prices.
    pub async fn hetzner_catalog(&self) -> Result<Arc<Catalog>, SamError> {
        self.hetzner().await?.catalog().await
    }

    /// The user's ordered location and server type preferences (the defaults until saved).
    pub fn hetzner_preferences(&self) -> Result<Preferences, SamError> {
        match self.store.setting(PREFERENCES_KEY)? {
            Some(json) => Preferences::parse(&json),
            None => Ok(Preferences::default()),
        }
    }

    /// Checks `preferences` against the catalogue and saves them.
    pub async fn set_hetzner_preferences(&self, preferences: &Preferences) -> Result<(), SamError> {
        preferences.check(&*self.hetzner_catalog().await?)?;
        let json = serde_json::to_string(preferences)
            .map_err(|err| SamError::internal("Saving the preferences failed.", &err))?;
        self.store.set_setting(PREFERENCES_KEY, &json)?;
        Ok(())
    }

    /// Checks a create request's placement against the catalogue (Hetzner) before anything is
    /// recorded.
    pub async fn check_placement(&self, request: &CreateRequest) -> Result<(), SamError> {
        if let (ProviderKind::Hetzner, Some(placement)) = (request.provider, &request.placement) {
            self.hetzner_catalog().await?.check(placement)?;
        }
        Ok(())
    }

    /// The placements a workspace's machine is tried in: its own choice first, then the
    /// preferences. Empty for Local workspaces.
    pub(super) fn placements(&self, workspace: &Workspace) -> Result<Vec<Placement>, SamError> {
        if workspace.provider != ProviderKind::Hetzner {
            return Ok(Vec::new());
        }
        let mut placements: Vec<Placement> = workspace.placement.iter().cloned().collect();
        for placement in self.hetzner_preferences()?.placements() {
            if !placements.contains(&placement) {
                placements.push(placement);
            }
        }
        Ok(placements)
    }

    /// What a workspace's machine is now: server, location, address and cost (Hetzner);
    /// `None` when the provider has nothing to add to the record.
    pub async fn machine_details(
        &self,
        id: &WorkspaceId,
    ) -> Result<Option<MachineDetails>, SamError> {
        let workspace = self.store.workspace(id)?;
        if workspace.provider == ProviderKind::Local {
            return Ok(None);
        }
        self.provider(workspace.provider)
            .await?
            .details(&workspace.id)
            .await
    }

    /// Marks workspaces whose server vanished: a running one becomes `stopped` — its compute is
    /// gone, its disk may not be — with a warning in its log saying what happened and what to
    /// do. With self-deletion on, its backstop most likely deleted it: the user is told so, with
    /// what the server cost. Records are never dropped. Returns the workspaces it marked.
    pub fn mark_vanished(&self, vanished: &[String]) -> Result<Vec<WorkspaceId>, SamError> {
        let mut marked = Vec::new();
        let self_deleting = self.self_delete()?;
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
                self.notices().publish(Notice::BackstopStopped {
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
            .store
            .billing()?
            .into_iter()
            .rfind(|r| r.kind == "server" && r.workspace == id.as_str())
            .map(|record| format_amount(record.charge.cost(now_ms()), &record.currency)))
    }
}
