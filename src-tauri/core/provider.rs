//! Where workspaces run. One trait, one implementation per place: [`local::LocalProvider`]
//! ("Run on this computer") and [`hetzner::provider::HetznerProvider`], each in its own folder
//! and registered in [`registry`], the one place that knows every [`ProviderKind`].
//!
//! What only some providers can do is an optional capability the registry can be asked for:
//! [`Placements`] (a catalogue of sizes and places, with prices and preferences), [`Reconcile`]
//! (an account that can drift from SAM's records, kept with its billing history) and
//! [`SelfDelete`] (idle machines that delete themselves).
//!
//! The trait speaks at the workspace level — compute plus disk — so the lifecycle never sees a
//! server, volume or folder. Every method is idempotent: provisioning a workspace that already
//! has a machine adopts it, releasing a stopped one succeeds, destroying a missing one succeeds.
//! That is what lets an interrupted operation simply run again.

pub mod hetzner;
pub mod local;
pub mod registry;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::error::SamError;
use crate::redact::Secret;
use crate::workspace::{ProviderKind, Workspace, WorkspaceId};

/// What a machine is provisioned with.
#[derive(Debug, Clone)]
pub struct MachineSpec<'a> {
    /// The workspace.
    pub workspace: &'a WorkspaceId,
    /// The installation's public key (base64url), which the agent verifies tokens with.
    pub public_key: String,
    /// The one-time enrollment secret, on the first start only.
    pub enrollment_secret: Option<Secret>,
    /// Idle timeout for the agent's backstop; `None` = never.
    pub idle_timeout_secs: Option<u64>,
    /// Where and how big, best first, for providers that offer a choice; empty = the
    /// provider's defaults.
    pub placements: Vec<Placement>,
}

/// A machine size in a place, for providers that offer a choice (Hetzner: a server type in a
/// location).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Placement {
    /// Server type, e.g. `cx23`.
    pub server_type: String,
    /// Location, e.g. `fsn1`.
    pub location: String,
}

/// What a workspace's machine is now, for the workspace page, in words any provider can fill:
/// labelled facts in the order shown, and what it costs when it is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MachineDetails {
    /// What the machine is, in the order shown.
    pub facts: Vec<MachineFact>,
    /// What it costs; `None` when nothing is billed.
    pub cost: Option<MachineCost>,
    /// What deleting the workspace removes from the provider's account, one item each, for the
    /// confirmation (empty when there is nothing beyond the workspace's own files).
    pub removed_on_delete: Vec<String>,
}

/// One labelled fact about a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MachineFact {
    /// A stable name for it (`server`, `location`, `address`, `disk`), for tests and styling.
    pub key: String,
    /// What it is called on the page.
    pub label: String,
    /// Its value, ready to show.
    pub value: String,
    /// Since when it holds, Unix milliseconds (the page shows it in local time).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub since_ms: Option<i64>,
}

impl MachineFact {
    /// A fact without a time.
    pub fn new(key: &str, label: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            label: label.to_owned(),
            value: value.into(),
            since_ms: None,
        }
    }
}

impl MachineDetails {
    /// The value of the fact named `key`, if the provider gave one.
    pub fn fact(&self, key: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|fact| fact.key == key)
            .map(|fact| fact.value.as_str())
    }
}

/// What a machine costs, in hundredths of a cent, gross.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MachineCost {
    /// An hour of compute now; `None` while there is no compute (stopped).
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub hourly_centicents: Option<u64>,
    /// A month at most, compute and disk.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub monthly_centicents: Option<u64>,
    /// The current compute and the disk so far.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub so_far_centicents: Option<u64>,
    /// The currency of the amounts, e.g. `EUR`.
    pub currency: String,
}

/// A provisioned machine: where its agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// `host:port` of the agent.
    pub agent_addr: String,
    /// Made by this call from the spec, so its agent expects the spec's enrollment secret;
    /// `false` when an existing machine (and its enrolled agent) was adopted.
    pub fresh: bool,
}

/// Whether a workspace's compute is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineStatus {
    /// Running.
    Running,
    /// Compute released, disk kept.
    Stopped,
    /// Nothing exists.
    Missing,
}

/// A place workspaces run.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Provisions compute (and, the first time, the disk) and starts the agent; adopts a machine
    /// that already runs for this workspace.
    async fn provision(&self, spec: &MachineSpec<'_>) -> Result<Machine, SamError>;

    /// Releases compute and keeps the disk.
    async fn release(&self, workspace: &WorkspaceId) -> Result<(), SamError>;

    /// Removes compute and disk.
    async fn destroy(&self, workspace: &WorkspaceId) -> Result<(), SamError>;

    /// Whether the workspace's compute is running.
    async fn status(&self, workspace: &WorkspaceId) -> Result<MachineStatus, SamError>;

    /// Every workspace this installation has resources for here.
    async fn list_owned(&self) -> Result<Vec<WorkspaceId>, SamError>;

    /// What the workspace's machine is now (server, place, address, cost), when the provider
    /// has more to say than the workspace record.
    async fn details(&self, _workspace: &WorkspaceId) -> Result<Option<MachineDetails>, SamError> {
        Ok(None)
    }

    /// Whether a new machine's agent follows a boot log (`boot: ` lines in its event log, ending
    /// with the boot script's last line) that the lifecycle should show before going on.
    fn has_boot_log(&self) -> bool {
        false
    }

    /// Whether every start makes a new machine (with a new agent identity that must be
    /// enrolled again), as on Hetzner, where stopping deletes the server. When `false` (Local),
    /// the agent keeps its identity across stops and only the first start enrolls.
    fn new_machine_each_start(&self) -> bool {
        false
    }
}

/// Where a provider's machines come from: ready at once (this computer), or made on first use
/// from an account's credentials (a cloud).
#[async_trait]
pub trait Source: Send + Sync + std::fmt::Debug {
    /// Fails with a clear error when workspaces cannot be made here now (no token, say).
    /// Blocking: it may read the keyring.
    fn require_ready(&self) -> Result<(), SamError> {
        Ok(())
    }

    /// The provider.
    async fn provider(&self) -> Result<Arc<dyn Provider>, SamError>;
}

/// Providers whose machines come in sizes and places the user chooses from.
#[async_trait]
pub trait Placements: Send + Sync + std::fmt::Debug {
    /// Fails with a clear error when `placement` is not on offer.
    async fn check(&self, placement: &Placement) -> Result<(), SamError>;

    /// The user's preferred placements, best first.
    fn preferred(&self) -> Result<Vec<Placement>, SamError>;
}

/// Providers whose account can drift from SAM's records: machines deleted or powered off
/// behind SAM's back. Looking also brings the billing history up to date.
#[async_trait]
pub trait Reconcile: Send + Sync + std::fmt::Debug {
    /// Whether the account can be looked at now (its credentials are known).
    async fn connected(&self) -> bool;

    /// One look at the account.
    async fn look(&self) -> Result<Drift, SamError>;
}

/// What a look at an account found about SAM's running workspaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Workspaces whose machine is gone.
    pub vanished: Vec<WorkspaceId>,
    /// Running workspaces whose machine is powered off (and still billed).
    pub powered_off: Vec<WorkspaceId>,
}

/// Providers whose idle machines may delete themselves instead of powering off.
#[async_trait]
pub trait SelfDelete: Send + Sync + std::fmt::Debug {
    /// Whether the user turned it on.
    fn enabled(&self) -> Result<bool, SamError>;

    /// Hands a freshly running workspace's agent what it needs to delete its machine, when on.
    async fn arm(&self, workspace: &Workspace);
}
