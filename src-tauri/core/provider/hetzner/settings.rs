//! What a Hetzner provider is configured with: the user's choices (placements) and what this
//! build provides (the agent downloads), with the defaults.

use std::path::Path;
use std::time::Duration;

use super::api::Placement;
use super::catalog::Preferences;
use crate::agent_release::{self, AgentDownload, AgentSource, Arch};
use crate::config::AgentOverride;

/// What the user chose and what this build provides.
#[derive(Debug, Clone)]
pub struct HetznerSettings {
    /// This installation's id (labels).
    pub installation: String,
    /// Server type and location preferences, best first, when a workspace brings none.
    pub placements: Vec<Placement>,
    /// The system image.
    pub image: String,
    /// The workspace disk's size.
    pub volume_gb: u32,
    /// How x86 servers get the agent; `None` when this build has no agent to install (no
    /// checksum embedded, no `SAM_AGENT_URL`, and no x86-64 agent beside the app): such a
    /// provider lists, stops and deletes, but refuses to make servers.
    pub agent: Option<AgentSource>,
    /// The same for arm servers; `None` (no arm agent) keeps arm server types (`cax*`) out of
    /// every attempt.
    pub arm_agent: Option<AgentSource>,
    /// The developer's agent overrides these downloads were made from: asked again for the
    /// reason when [`HetznerSettings::agent`] is `None` and a server is wanted.
    pub agent_override: AgentOverride,
    /// Seconds past the idle deadline before the backstop acts.
    pub idle_grace_secs: u64,
    /// Public keys that may log in over SSH (and open port 22); empty = no SSH.
    pub ssh_authorized_keys: Vec<String>,
    /// How long a create, shutdown or delete may take.
    pub action_timeout: Duration,
    /// How long an ACPI shutdown may take before the plug is pulled.
    pub shutdown_timeout: Duration,
    /// How long a new server may take to take the agent the app sends it.
    pub delivery_timeout: Duration,
    /// How long a status list is reused.
    pub status_ttl: Duration,
}

impl HetznerSettings {
    /// Defaults with this build's agent downloads (see [`agent_release`]) or the developer's
    /// `overrides`, each when it exists, else delivery of `local_agent` (the agent beside the
    /// app) to servers of this computer's architecture.
    pub fn for_this_build(
        installation: impl Into<String>,
        overrides: &AgentOverride,
        local_agent: &Path,
    ) -> Self {
        let source = |arch| agent_release::agent_source(arch, overrides, local_agent).ok();
        Self {
            agent_override: overrides.clone(),
            ..Self::with_agents(installation, source(Arch::X86_64), source(Arch::Aarch64))
        }
    }

    /// Defaults for `installation`: Debian 12, a 20 GB disk, cx23 then cx33 in Falkenstein,
    /// Nuremberg and Helsinki.
    pub fn new(installation: impl Into<String>, agent: AgentDownload) -> Self {
        Self::with_agents(installation, Some(AgentSource::Download(agent)), None)
    }

    /// The same, with x86 servers getting the agent from `agent`.
    pub fn with_agent(installation: impl Into<String>, agent: AgentSource) -> Self {
        Self::with_agents(installation, Some(agent), None)
    }

    fn with_agents(
        installation: impl Into<String>,
        agent: Option<AgentSource>,
        arm_agent: Option<AgentSource>,
    ) -> Self {
        Self {
            installation: installation.into(),
            placements: Preferences::default().placements(),
            agent,
            image: "debian-12".to_owned(),
            volume_gb: 20,
            arm_agent,
            agent_override: AgentOverride::default(),
            idle_grace_secs: 5 * 60,
            ssh_authorized_keys: Vec::new(),
            action_timeout: Duration::from_secs(5 * 60),
            shutdown_timeout: Duration::from_secs(60),
            delivery_timeout: super::delivery::DELIVERY_TIMEOUT,
            status_ttl: Duration::from_secs(5),
        }
    }
}
