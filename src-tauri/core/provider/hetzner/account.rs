//! The Hetzner account: its token (`HCLOUD_TOKEN` or the keyring), the provider made on first
//! use from it and this installation's identity, the catalogue and the user's preferences, the
//! reconciler's latest report and deleting what it found, the spend, and the opt-in "idle
//! servers delete themselves" (each running Hetzner workspace's agent holds, in memory only, the
//! Hetzner token with its server's id, and its backstop deletes the server instead of powering it
//! off; such a token can manage the whole project, so it is off by default and Settings says so).
//!
//! It registers Hetzner with the provider registry ([`HetznerAccount::registration`]) as the
//! source of Hetzner machines, with placements, reconciling and self-deletion; what the
//! reconciler finds is applied to the workspaces by
//! [`Workspaces::sweep`](crate::lifecycle::Workspaces::sweep).
//!
//! The token is checked with real API calls before it is kept, and kept only in the OS keyring.
//! A token is project-scoped and either *Read* or *Read & Write*; SAM needs the latter. The
//! check makes two calls and creates nothing: a list (does the token authenticate?) and a
//! create with an empty body (a read-only token is refused with `token_readonly` before the
//! body is looked at; a Read & Write token gets `invalid_input` for the missing name).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use sam_protocol::message::SELF_DELETE_SECRET;

use super::catalog::{Catalog, PREFERENCES, Preferences};
use super::client::{self, ClientOptions, HetznerClient, TOKEN_ENTRY};
use super::error::HetznerError;
use super::provider::{HetznerProvider, HetznerSettings, resource_name};
use super::reconcile::{Findings, Report, Resource, reconcile};
use super::spend::{self, Spend};
use crate::agent_client::BackstopAction;
use crate::clock::now_ms;
use crate::config::vars;
use crate::context::Context;
use crate::error::{ErrorCategory, SamError};
use crate::installation::KeyStore;
use crate::provider::registry::Registration;
use crate::provider::{Drift, Placement, Placements, Provider, Reconcile, SelfDelete, Source};
use crate::redact::Secret;
use crate::store::{Setting, StoreError};
use crate::workspace::{ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

/// The idle timeout of a Hetzner workspace unless the user picks another: the roadmap's 30 min.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(30 * 60);

/// The setting: `true` when servers may delete themselves.
const SELF_DELETE: Setting<bool> = Setting::new("hetzner.self_delete");

/// The Hetzner account of one process.
#[derive(Debug, Clone)]
pub struct HetznerAccount {
    ctx: Arc<Context>,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Made on first use (see [`HetznerAccount::provider`]).
    provider: Mutex<Option<Arc<HetznerProvider>>>,
    /// The reconciler's latest report: what may be deleted from it.
    reconciled: Mutex<Option<Report>>,
    /// Bumped whenever `reconciled` changes.
    report_generation: AtomicU64,
}

impl HetznerAccount {
    /// The account over `ctx`; nothing is read until it is used.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            state: Arc::default(),
        }
    }

    /// Fails, blocking on the keyring, when Hetzner workspaces cannot be made: no token.
    fn require(&self) -> Result<(), SamError> {
        if self.slot().is_some() {
            return Ok(());
        }
        self.token().map(|_| ())
    }

    /// Whether SAM can work in the account: a provider is in use, or there is a token.
    pub async fn connected(&self) -> bool {
        self.slot().is_some() || matches!(self.token_source().await, Ok(Some(_)))
    }

    /// Uses `provider` for Hetzner workspaces instead of making one from the token (tests).
    pub fn use_provider(&self, provider: Arc<HetznerProvider>) {
        *self.slot() = Some(provider);
    }

    fn slot(&self) -> MutexGuard<'_, Option<Arc<HetznerProvider>>> {
        self.state
            .provider
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The Hetzner token (`HCLOUD_TOKEN` or the keyring). Blocking: the keyring is D-Bus.
    fn token(&self) -> Result<Secret, SamError> {
        client::token(self.ctx.keys(), self.ctx.config().hetzner.token.as_ref())?.ok_or_else(|| {
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
    async fn client(&self) -> Result<HetznerClient, SamError> {
        let this = self.clone();
        let token = tokio::task::spawn_blocking(move || this.token())
            .await
            .map_err(|err| SamError::internal("Reading the Hetzner token failed.", &err))??;
        Ok(HetznerClient::new(
            token,
            ClientOptions::configured(&self.ctx.config().hetzner),
        )?)
    }

    /// The Hetzner provider, made on first use from the token and this installation's
    /// identity.
    pub async fn provider(&self) -> Result<Arc<HetznerProvider>, SamError> {
        if let Some(provider) = self.slot().as_ref() {
            return Ok(Arc::clone(provider));
        }
        let installation = self.ctx.installation_async().await?;
        let mut settings = HetznerSettings::for_this_build(
            installation.id.clone(),
            &self.ctx.config().agent_override,
            &self.ctx.config().agent_binary(),
        );
        settings.ssh_authorized_keys = self.ssh_keys()?;
        let client = self.client().await?;
        let provider = Arc::new(HetznerProvider::new(Arc::new(client), settings));
        *self.slot() = Some(Arc::clone(&provider));
        Ok(provider)
    }

    /// The provider, if one was made already.
    pub(super) fn made_provider(&self) -> Option<Arc<HetznerProvider>> {
        self.slot().clone()
    }

    /// The store.
    pub(super) fn store(&self) -> &crate::store::Store {
        self.ctx.store()
    }

    /// Where the Hetzner token comes from, if there is one: `HCLOUD_TOKEN` or `keyring`. The
    /// token itself never leaves the core.
    pub async fn token_source(&self) -> Result<Option<&'static str>, SamError> {
        if self.ctx.config().hetzner.token.is_some() {
            return Ok(Some(vars::HCLOUD_TOKEN));
        }
        let found = self.ctx.with_keys(|keys, _| keys.get(TOKEN_ENTRY)).await?;
        Ok(found.map(|_| "keyring"))
    }

    /// Checks `token` (it must authenticate and may write; nothing is created) and keeps it in
    /// the keyring; Hetzner workspaces use it from now on.
    pub async fn set_token(&self, token: &Secret) -> Result<(), SamError> {
        check_token(token, ClientOptions::configured(&self.ctx.config().hetzner)).await?;
        let value = token.expose().trim().to_owned();
        self.ctx
            .with_keys(move |keys, _| keys.set(TOKEN_ENTRY, &value))
            .await?;
        *self.slot() = None;
        Ok(())
    }

    /// The reconciler's view of the Hetzner account: resources not known to SAM, other
    /// installations' resources, and records whose server vanished (`reconcile.rs`). Kept as
    /// the latest report for [`HetznerAccount::delete_resource`].
    pub async fn resources(&self) -> Result<Report, SamError> {
        Ok(self.look().await?.report)
    }

    /// One look at the account: keeps the report and brings the billing history up to date.
    pub async fn look(&self) -> Result<Findings, SamError> {
        let provider = self.provider().await?;
        let catalog = provider.catalog().await?;
        let workspaces: Vec<_> = self
            .ctx
            .store()
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
        self.ctx.store().sync_billing(&findings.billing, now_ms())?;
        self.keep_report(Some(findings.report.clone()), |_| ());
        Ok(findings)
    }

    /// Replaces the kept report with `fresh` (when given) and then applies `change`; a report
    /// that differs from the one before moves [`HetznerAccount::report_generation`].
    fn keep_report(&self, fresh: Option<Report>, change: impl FnOnce(&mut Report)) {
        let mut kept = self
            .state
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
            self.state.report_generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Moves whenever the reconciler's findings change (the window refreshes what it shows).
    pub fn report_generation(&self) -> u64 {
        self.state.report_generation.load(Ordering::Relaxed)
    }

    /// The latest reconciler report, if there has been one.
    pub fn last_report(&self) -> Option<Report> {
        self.state
            .reconciled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Deletes one resource the last reconciler report listed: one of this installation's
    /// resources not known to SAM, or — only with `foreign` — one of another installation's.
    /// Anything else (a resource of a live workspace, an unlabelled one, one not seen yet) is
    /// refused: SAM deletes only what it has shown the user.
    pub async fn delete_resource(
        &self,
        kind: &str,
        id: i64,
        foreign: bool,
    ) -> Result<(), SamError> {
        let listed = self
            .state
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
        let provider = self.provider().await?;
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
        Ok(spend::summarize(&self.ctx.store().billing()?, now_ms))
    }

    /// What may be chosen on Hetzner, with prices.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, SamError> {
        self.provider().await?.catalog().await
    }

    /// The user's ordered location and server type preferences (the defaults until saved).
    pub fn preferences(&self) -> Result<Preferences, SamError> {
        match self.ctx.store().get(&PREFERENCES) {
            Ok(preferences) => Ok(preferences.unwrap_or_default()),
            Err(StoreError::Corrupt { detail, .. }) => Err(SamError::new(
                ErrorCategory::Configuration,
                format!("The saved Hetzner preferences are unreadable: {detail}."),
                "Choose locations and server types again in Settings → Hetzner.",
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// Checks `preferences` against the catalogue and saves them.
    pub async fn set_preferences(&self, preferences: &Preferences) -> Result<(), SamError> {
        preferences.check(&*self.catalog().await?)?;
        self.ctx.store().put(&PREFERENCES, preferences)?;
        Ok(())
    }

    /// Whether idle servers delete themselves instead of powering off.
    pub fn self_delete(&self) -> Result<bool, SamError> {
        Ok(self.ctx.store().get(&SELF_DELETE)?.unwrap_or(false))
    }

    /// Turns self-deletion on or off, and tells every running Hetzner workspace's agent.
    pub async fn set_self_delete(&self, on: bool) -> Result<(), SamError> {
        self.ctx.store().put(&SELF_DELETE, &on)?;
        for workspace in self.ctx.store().workspaces()? {
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
    async fn arm_backstop(&self, workspace: &Workspace) {
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
        let client = self.ctx.connect(workspace).await?;
        let action = if delete {
            let provider = self.provider().await?;
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

impl HetznerAccount {
    /// Hetzner as the provider registry knows it.
    pub fn registration(&self) -> Registration {
        let this = Arc::new(self.clone());
        Registration {
            placements: Some(Arc::clone(&this) as Arc<dyn Placements>),
            reconcile: Some(Arc::clone(&this) as Arc<dyn Reconcile>),
            self_delete: Some(Arc::clone(&this) as Arc<dyn SelfDelete>),
            ..Registration::new(ProviderKind::Hetzner, Some(DEFAULT_IDLE), this)
        }
    }
}

#[async_trait]
impl Source for HetznerAccount {
    fn require_ready(&self) -> Result<(), SamError> {
        self.require()
    }

    async fn provider(&self) -> Result<Arc<dyn Provider>, SamError> {
        Ok(HetznerAccount::provider(self).await? as Arc<dyn Provider>)
    }
}

#[async_trait]
impl Placements for HetznerAccount {
    async fn check(&self, placement: &Placement) -> Result<(), SamError> {
        self.catalog().await?.check(placement)
    }

    fn preferred(&self) -> Result<Vec<Placement>, SamError> {
        Ok(self.preferences()?.placements())
    }
}

#[async_trait]
impl Reconcile for HetznerAccount {
    async fn connected(&self) -> bool {
        HetznerAccount::connected(self).await
    }

    async fn look(&self) -> Result<Drift, SamError> {
        let findings = HetznerAccount::look(self).await?;
        let ids = |names: &[String]| names.iter().filter_map(|id| id.parse().ok()).collect();
        Ok(Drift {
            vanished: ids(&findings.report.vanished),
            powered_off: ids(&findings.powered_off),
        })
    }
}

#[async_trait]
impl SelfDelete for HetznerAccount {
    fn enabled(&self) -> Result<bool, SamError> {
        self.self_delete()
    }

    async fn arm(&self, workspace: &Workspace) {
        self.arm_backstop(workspace).await;
    }
}

fn refused(message: &str, next_step: &str) -> SamError {
    SamError::new(ErrorCategory::Credentials, message, next_step)
}

/// Checks `token` against the API at `options.endpoint`: it must authenticate and may write.
pub async fn check_token(token: &Secret, options: ClientOptions) -> Result<(), SamError> {
    let trimmed = token.expose().trim();
    if trimmed.is_empty() || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SamError::invalid_input(
            "That is not a Hetzner API token (it is empty or has spaces in it).",
            "Copy the whole token from Hetzner Console → your project → Security → API tokens.",
        ));
    }
    let client = HetznerClient::new(Secret::new(trimmed), options)?;
    match client.locations().await {
        Ok(_) => {}
        Err(HetznerError::Api { status: 401, .. }) => {
            return Err(refused(
                "Hetzner refused this token.",
                "Check that you copied the whole token and that it was not deleted; create a new Read & Write token if in doubt.",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    match client.post("/firewalls", &serde_json::json!({})).await {
        Err(HetznerError::Api { code, .. }) if code == "token_readonly" => Err(refused(
            "This Hetzner token is read-only; SAM needs to create and delete servers.",
            "Create a Read & Write token for the project and enter that one.",
        )),
        Err(HetznerError::Api {
            status: 422 | 400, ..
        }) => Ok(()),
        Err(err) => Err(err.into()),
        Ok(_) => Err(SamError::new(
            ErrorCategory::Provider,
            "Hetzner accepted an empty firewall, which it should not.",
            "Check your Hetzner project for a firewall without a name and delete it.",
        )),
    }
}

/// Checks `token` and keeps it in the keyring.
pub async fn save_token(
    keys: &dyn KeyStore,
    token: &Secret,
    options: ClientOptions,
) -> Result<(), SamError> {
    check_token(token, options).await?;
    keys.set(TOKEN_ENTRY, token.expose().trim())
}
