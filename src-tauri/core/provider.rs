//! Where workspaces run. One trait, one implementation per place: [`local::LocalProvider`]
//! ("Run on this computer") and [`hetzner::provider::HetznerProvider`].
//!
//! The trait speaks at the workspace level — compute plus disk — so the lifecycle never sees a
//! server, volume or folder. Every method is idempotent: provisioning a workspace that already
//! has a machine adopts it, releasing a stopped one succeeds, destroying a missing one succeeds.
//! That is what lets an interrupted operation simply run again.

pub mod hetzner;
pub mod local;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::SamError;
use crate::redact::Secret;
use crate::workspace::{ProviderKind, WorkspaceId};

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

/// What a workspace's machine is now, for the workspace page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct MachineDetails {
    /// The server's name, if there is a server now.
    pub server: Option<String>,
    /// Its type.
    pub server_type: Option<String>,
    /// Where it (or the disk) is.
    pub location: Option<String>,
    /// Its public IPv4 address.
    pub ip: Option<String>,
    /// When the current server was created, Unix milliseconds.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub server_since_ms: Option<i64>,
    /// The disk's size in GB, when it is a separate billed resource.
    pub disk_gb: Option<u32>,
    /// What the server (with its IPv4 address) costs an hour, gross, in hundredths of a cent.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub hourly_centicents: Option<u64>,
    /// What server, address and disk cost a month at most, gross, in hundredths of a cent.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub monthly_centicents: Option<u64>,
    /// What the current server and the disk have cost so far, gross, in hundredths of a cent.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub cost_so_far_centicents: Option<u64>,
    /// The currency of the amounts, e.g. `EUR`.
    pub currency: Option<String>,
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

    /// What an hour of compute costs, in euro cents; `None` when nothing is billed.
    fn hourly_price_cents(&self) -> Option<u32>;

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
