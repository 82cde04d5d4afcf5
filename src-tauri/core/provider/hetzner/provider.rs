//! The Hetzner provider: a workspace is a server named `sam-<workspace id>`, a Volume that holds
//! the workspace disk (bound to one location), and a Firewall admitting only the agent's port.
//!
//! - **Provision** adopts a running server; otherwise it creates the server where there is
//!   capacity. The first time, the Volume is made in the location being tried (and, if that
//!   location has no capacity, deleted again — it is new and empty); after that the Volume's
//!   location is fixed and only server types there are tried.
//! - **Release** shuts the server down (ACPI, then power off if it hangs), deletes it and keeps
//!   the Volume: a powered-off server is billed in full, a deleted one is not.
//! - **Destroy** deletes the server, the Volume and the Firewall.
//! - **Status** comes from one label-selected list of this installation's servers, shared by
//!   every workspace for a few seconds.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::api::{
    Created, LABEL_INSTALLATION, LABEL_MANAGED, LABEL_WORKSPACE, Placement, Power,
    installation_selector,
};
use super::catalog::Catalog;
use super::client::HetznerClient;
use super::cloud_init::{self, BootConfig};
use super::delivery::Delivery;
use super::model::{
    Architecture, CreateServer, FirewallRef, FirewallRule, Labels, Server, ServerStatus, Volume,
};
pub use super::settings::HetznerSettings;
use super::spend;
use crate::agent_release::{self, AgentSource, Arch};
use crate::error::{ErrorCategory, SamError};
use crate::provider::{Machine, MachineDetails, MachineSpec, MachineStatus, Provider};
use crate::workspace::{ProviderKind, WorkspaceId};

/// The agent's port on every server.
pub const AGENT_PORT: u16 = 443;
/// The Volume's label naming the architecture (`x86`, `arm`) of the system first installed for
/// it: a restart tries only server types of that architecture.
pub const LABEL_ARCH: &str = "sam-arch";

/// Workspaces on Hetzner Cloud.
#[derive(Debug)]
pub struct HetznerProvider {
    client: Arc<HetznerClient>,
    settings: HetznerSettings,
    listed: Mutex<Option<(tokio::time::Instant, Vec<Server>)>>,
    catalog: Mutex<Option<(tokio::time::Instant, Arc<Catalog>)>>,
    /// The SSH keys new servers get (the settings' at first; the user may change them).
    ssh_keys: std::sync::Mutex<Vec<String>>,
}

/// How long the catalogue (and its price list) is reused.
const CATALOG_TTL: Duration = Duration::from_secs(15 * 60);

/// The server's (and Volume's and Firewall's) name.
pub fn resource_name(workspace: &WorkspaceId) -> String {
    format!("sam-{workspace}")
}

impl HetznerProvider {
    /// A provider over `client`.
    pub fn new(client: Arc<HetznerClient>, settings: HetznerSettings) -> Self {
        Self {
            client,
            ssh_keys: std::sync::Mutex::new(settings.ssh_authorized_keys.clone()),
            settings,
            listed: Mutex::new(None),
            catalog: Mutex::new(None),
        }
    }

    /// Sets the SSH keys the servers created from now on get.
    pub fn set_ssh_keys(&self, keys: Vec<String>) {
        *self
            .ssh_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
    }

    fn ssh_keys(&self) -> Vec<String> {
        self.ssh_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The API client.
    pub fn client(&self) -> &HetznerClient {
        &self.client
    }

    /// The settings.
    pub fn settings(&self) -> &HetznerSettings {
        &self.settings
    }

    /// What may be chosen, with prices; read again after [`CATALOG_TTL`].
    pub async fn catalog(&self) -> Result<Arc<Catalog>, SamError> {
        let mut cached = self.catalog.lock().await;
        if let Some((at, catalog)) = cached.as_ref()
            && at.elapsed() < CATALOG_TTL
        {
            return Ok(Arc::clone(catalog));
        }
        let catalog = Arc::new(
            Catalog::load(
                &self.client,
                self.settings.volume_gb,
                self.settings.arm_agent.is_some(),
            )
            .await?,
        );
        *cached = Some((tokio::time::Instant::now(), Arc::clone(&catalog)));
        Ok(catalog)
    }

    /// This installation's servers, as one list call shared by every workspace for a few
    /// seconds.
    pub async fn all_servers(&self) -> Result<Vec<Server>, SamError> {
        self.servers(false).await
    }

    fn labels(&self, workspace: &WorkspaceId) -> Labels {
        Labels::from([
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (
                LABEL_INSTALLATION.to_owned(),
                self.settings.installation.clone(),
            ),
            (LABEL_WORKSPACE.to_owned(), workspace.to_string()),
        ])
    }

    fn selector(&self, workspace: &WorkspaceId) -> String {
        format!(
            "{},{LABEL_WORKSPACE}={workspace}",
            installation_selector(&self.settings.installation)
        )
    }

    /// This installation's servers, from one list call reused for `status_ttl`.
    async fn servers(&self, fresh: bool) -> Result<Vec<Server>, SamError> {
        let mut listed = self.listed.lock().await;
        if let Some((at, servers)) = listed.as_ref()
            && !fresh
            && at.elapsed() < self.settings.status_ttl
        {
            return Ok(servers.clone());
        }
        let servers = self
            .client
            .servers(&installation_selector(&self.settings.installation))
            .await?;
        *listed = Some((tokio::time::Instant::now(), servers.clone()));
        Ok(servers)
    }

    async fn server(
        &self,
        workspace: &WorkspaceId,
        fresh: bool,
    ) -> Result<Option<Server>, SamError> {
        let name = resource_name(workspace);
        Ok(self
            .servers(fresh)
            .await?
            .into_iter()
            .find(|s| s.name == name))
    }

    async fn volume(&self, workspace: &WorkspaceId) -> Result<Option<Volume>, SamError> {
        Ok(self
            .client
            .volumes(&self.selector(workspace))
            .await?
            .into_iter()
            .next())
    }

    /// The workspace's firewall, made the first time.
    async fn firewall(&self, workspace: &WorkspaceId) -> Result<i64, SamError> {
        if let Some(existing) = self
            .client
            .firewalls(&self.selector(workspace))
            .await?
            .first()
        {
            return Ok(existing.id);
        }
        let everyone = vec!["0.0.0.0/0".to_owned(), "::/0".to_owned()];
        let mut rules = vec![FirewallRule {
            direction: "in",
            protocol: "tcp",
            port: AGENT_PORT.to_string(),
            source_ips: everyone.clone(),
            description: "SAM's agent (pinned TLS)".to_owned(),
        }];
        if !self.ssh_keys().is_empty() {
            rules.push(FirewallRule {
                direction: "in",
                protocol: "tcp",
                port: "22".to_owned(),
                source_ips: everyone,
                description: "SSH (enabled in SAM's settings)".to_owned(),
            });
        }
        let created = self
            .client
            .create_firewall(&resource_name(workspace), &rules, &self.labels(workspace))
            .await;
        match created {
            Ok(firewall) => Ok(firewall.id),
            // A concurrent or earlier attempt made it: use that one.
            Err(err) if err.code() == Some("uniqueness_error") => self
                .client
                .firewalls(&self.selector(workspace))
                .await?
                .first()
                .map(|f| f.id)
                .ok_or_else(|| err.into()),
            Err(err) => Err(err.into()),
        }
    }

    /// How servers of `architecture` get the agent, if they can.
    fn agent_for(&self, architecture: Architecture) -> Option<&AgentSource> {
        match architecture {
            Architecture::X86 => self.settings.agent.as_ref(),
            Architecture::Arm => self.settings.arm_agent.as_ref(),
            Architecture::Unknown => None,
        }
    }

    /// The preferences worth trying: server types that exist, are not deprecated, are in
    /// stock there per the catalogue, and whose architecture has an agent binary.
    async fn usable(
        &self,
        placements: &[Placement],
    ) -> Result<Vec<(Placement, AgentSource)>, SamError> {
        let types = self.client.server_types().await?;
        Ok(placements
            .iter()
            .filter_map(|p| {
                let usable = types.iter().find(|t| {
                    t.name == p.server_type
                        && t.deprecated != Some(true)
                        && self.agent_for(t.architecture).is_some()
                        && t.locations
                            .iter()
                            .any(|l| l.name == p.location && l.available && l.deprecation.is_none())
                })?;
                let agent = self.agent_for(usable.architecture)?;
                Some((p.clone(), agent.clone()))
            })
            .collect())
    }

    fn machine(server: &Server, fresh: bool) -> Result<Machine, SamError> {
        let ip = Self::ipv4(server)?;
        Ok(Machine {
            agent_addr: format!("{ip}:{AGENT_PORT}"),
            fresh,
        })
    }

    /// The server's public IPv4 address, where its agent answers.
    fn ipv4(server: &Server) -> Result<String, SamError> {
        server
            .public_net
            .ipv4
            .as_ref()
            .map(|ipv4| ipv4.ip.clone())
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| {
                SamError::new(
                    ErrorCategory::Provider,
                    format!("Server {} has no public IPv4 address.", server.name),
                    "Delete the workspace's server in SAM and start it again.",
                )
            })
    }

    /// The agent to send to `server`, found running, when the app delivers agents and the
    /// server's first stage is still waiting for it.
    async fn undelivered(&self, server: &Server) -> Result<Option<Delivery>, SamError> {
        let Some(AgentSource::Deliver(binary)) = self.agent_for(server.server_type.architecture)
        else {
            return Ok(None);
        };
        if !super::delivery::waiting(&Self::ipv4(server)?, AGENT_PORT).await {
            return Ok(None);
        }
        Ok(Some(Delivery::of(binary).await?))
    }

    /// Creates the server (and, the first time, the Volume) where there is capacity; with the
    /// agent the app must send it, when it does not download one.
    async fn create(&self, spec: &MachineSpec<'_>) -> Result<(Server, Option<Delivery>), SamError> {
        let secret = spec.enrollment_secret.as_ref().ok_or_else(|| {
            SamError::internal(
                "A new Hetzner server needs an enrollment secret.",
                &"provision without a secret",
            )
        })?;
        if self.settings.agent.is_none() {
            // Says why, and what to set.
            agent_release::agent_download(Arch::X86_64, &self.settings.agent_override)?;
        }
        let workspace = spec.workspace;
        let name = resource_name(workspace);
        let labels = self.labels(workspace);
        let firewall = self.firewall(workspace).await?;
        let existing = self.volume(workspace).await?;
        let wanted = if spec.placements.is_empty() {
            &self.settings.placements
        } else {
            &spec.placements
        };
        // The disk is bound to its location: only server types there, of the architecture
        // its system was installed for.
        let arch = existing
            .as_ref()
            .and_then(|v| v.labels.get(LABEL_ARCH).cloned());
        let catalog = self.catalog().await?;
        let configured: Vec<Placement> = wanted
            .iter()
            .filter(|p| {
                existing
                    .as_ref()
                    .is_none_or(|v| p.location == v.location.name)
                    && arch.as_ref().is_none_or(|arch| {
                        catalog
                            .server_type(&p.server_type)
                            .is_none_or(|t| &t.architecture == arch)
                    })
            })
            .cloned()
            .collect();
        if configured.is_empty() {
            return Err(SamError::new(
                ErrorCategory::Configuration,
                format!(
                    "The workspace's disk is in {}, but none of your server type preferences are there.",
                    existing.as_ref().map_or("?", |v| v.location.name.as_str())
                ),
                "Add a server type in that location to the Hetzner preferences in Settings.",
            ));
        }
        let placements = self.usable(&configured).await?;
        if placements.is_empty() {
            return Err(no_capacity(configured.len()));
        }
        let mut volume = existing;
        for (placement, agent) in &placements {
            // Only a Volume made by this very call (new and empty) moves with the location
            // being tried; an existing one restricted `placements` to its location above.
            if volume
                .as_ref()
                .is_some_and(|v| v.location.name != placement.location)
                && let Some(old) = volume.take()
            {
                self.client.delete_volume(old.id).await?;
            }
            let disk = match &volume {
                Some(v) => v.clone(),
                None => {
                    let mut labels = labels.clone();
                    if let Some(t) = catalog.server_type(&placement.server_type) {
                        labels.insert(LABEL_ARCH.to_owned(), t.architecture.clone());
                    }
                    let (created, action) = self
                        .client
                        .create_volume(&name, self.settings.volume_gb, &placement.location, &labels)
                        .await?;
                    self.client
                        .wait(&action, self.settings.action_timeout)
                        .await?;
                    volume = Some(created.clone());
                    created
                }
            };
            let device = disk.linux_device.clone();
            let ssh_keys = self.ssh_keys();
            let (agent_url, agent_sha256, delivery) = match agent {
                AgentSource::Download(download) => {
                    (Some(download.url.as_str()), download.sha256.clone(), None)
                }
                AgentSource::Deliver(binary) => {
                    let delivery = Delivery::of(binary).await?;
                    (None, delivery.sha256.clone(), Some(delivery))
                }
            };
            let user_data = cloud_init::user_data(&BootConfig {
                workspace,
                public_key: &spec.public_key,
                enrollment_secret: secret,
                agent_url,
                agent_sha256: &agent_sha256,
                idle_timeout_secs: spec.idle_timeout_secs,
                idle_grace_secs: self.settings.idle_grace_secs,
                volume_device: Some(&device),
                ssh_authorized_keys: &ssh_keys,
            })?;
            let request = CreateServer {
                name: &name,
                server_type: &placement.server_type,
                image: &self.settings.image,
                location: &placement.location,
                user_data: &user_data,
                labels: &labels,
                volumes: vec![disk.id],
                automount: false,
                firewalls: vec![FirewallRef { firewall }],
                start_after_create: true,
            };
            match self.client.create_server(&request).await {
                Ok(Created::New(created)) => {
                    self.client
                        .wait(&created.action, self.settings.action_timeout)
                        .await?;
                    self.client
                        .wait_all(&created.next_actions, self.settings.action_timeout)
                        .await?;
                    return Ok((created.server, delivery));
                }
                Ok(Created::Adopted(server)) => return Ok((*server, delivery)),
                Err(err)
                    if matches!(err.code(), Some("resource_unavailable" | "placement_error")) =>
                {
                    tracing::info!(
                        %workspace,
                        server_type = %placement.server_type,
                        location = %placement.location,
                        error = %err,
                        "no capacity; trying the next preference"
                    );
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(no_capacity(placements.len()))
    }
}

/// None of `tried` server type and location preferences has capacity now.
fn no_capacity(tried: usize) -> SamError {
    SamError::new(
        ErrorCategory::Capacity,
        format!(
            "Hetzner has no capacity for any of your {tried} server type and location preferences right now."
        ),
        "Try again later, or add other server types or locations to the Hetzner preferences in Settings.",
    )
}

#[async_trait]
impl Provider for HetznerProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Hetzner
    }

    async fn provision(&self, spec: &MachineSpec<'_>) -> Result<Machine, SamError> {
        let (server, fresh, delivery) = match self.server(spec.workspace, true).await? {
            // Its agent kept its identity: powered back on, it answers to the pin it had.
            Some(server) if server.status == ServerStatus::Off => {
                let action = self.client.power(server.id, Power::Poweron).await?;
                self.client
                    .wait(&action, self.settings.action_timeout)
                    .await?;
                (server, false, None)
            }
            // A server this app made but never sent its agent (it stopped in between).
            Some(server) => {
                let delivery = self.undelivered(&server).await?;
                (server, false, delivery)
            }
            None => {
                let (server, delivery) = self.create(spec).await?;
                (server, true, delivery)
            }
        };
        *self.listed.lock().await = None;
        if let Some(delivery) = delivery {
            delivery
                .send(
                    &Self::ipv4(&server)?,
                    AGENT_PORT,
                    self.settings.delivery_timeout,
                )
                .await?;
        }
        Self::machine(&server, fresh)
    }

    async fn release(&self, workspace: &WorkspaceId) -> Result<(), SamError> {
        let Some(server) = self.server(workspace, true).await? else {
            return Ok(());
        };
        if server.status == ServerStatus::Running {
            let shutdown = self.client.power(server.id, Power::Shutdown).await?;
            self.client
                .wait(&shutdown, self.settings.action_timeout)
                .await?;
            // ACPI is a request: wait for the OS to comply, then pull the plug.
            let deadline = tokio::time::Instant::now() + self.settings.shutdown_timeout;
            loop {
                match self.client.server(server.id).await? {
                    Some(s) if s.status == ServerStatus::Off => break,
                    None => break,
                    Some(_) if tokio::time::Instant::now() >= deadline => {
                        tracing::warn!(%workspace, "shutdown timed out; powering off");
                        let off = self.client.power(server.id, Power::Poweroff).await?;
                        self.client.wait(&off, self.settings.action_timeout).await?;
                        break;
                    }
                    Some(_) => tokio::time::sleep(self.client.options().poll_interval).await,
                }
            }
        }
        if let Some(action) = self.client.delete_server(server.id).await? {
            self.client
                .wait(&action, self.settings.action_timeout)
                .await?;
        }
        *self.listed.lock().await = None;
        Ok(())
    }

    async fn destroy(&self, workspace: &WorkspaceId) -> Result<(), SamError> {
        if let Some(server) = self.server(workspace, true).await?
            && let Some(action) = self.client.delete_server(server.id).await?
        {
            // Deleting the server detaches the Volume and the Firewall.
            self.client
                .wait(&action, self.settings.action_timeout)
                .await?;
        }
        for volume in self.client.volumes(&self.selector(workspace)).await? {
            self.client.delete_volume(volume.id).await?;
        }
        for firewall in self.client.firewalls(&self.selector(workspace)).await? {
            self.client.delete_firewall(firewall.id).await?;
        }
        *self.listed.lock().await = None;
        Ok(())
    }

    async fn status(&self, workspace: &WorkspaceId) -> Result<MachineStatus, SamError> {
        match self.server(workspace, false).await? {
            Some(server) => Ok(match server.status {
                ServerStatus::Off | ServerStatus::Stopping | ServerStatus::Deleting => {
                    MachineStatus::Stopped
                }
                _ => MachineStatus::Running,
            }),
            None if self.volume(workspace).await?.is_some() => Ok(MachineStatus::Stopped),
            None => Ok(MachineStatus::Missing),
        }
    }

    async fn list_owned(&self) -> Result<Vec<WorkspaceId>, SamError> {
        let selector = installation_selector(&self.settings.installation);
        let mut labels: Vec<Labels> = self
            .servers(true)
            .await?
            .into_iter()
            .map(|s| s.labels)
            .collect();
        labels.extend(
            self.client
                .volumes(&selector)
                .await?
                .into_iter()
                .map(|v| v.labels),
        );
        labels.extend(
            self.client
                .firewalls(&selector)
                .await?
                .into_iter()
                .map(|f| f.labels),
        );
        let mut owned: Vec<WorkspaceId> = labels
            .iter()
            .filter_map(|l| l.get(LABEL_WORKSPACE)?.parse().ok())
            .collect();
        owned.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        owned.dedup();
        Ok(owned)
    }

    async fn details(&self, workspace: &WorkspaceId) -> Result<Option<MachineDetails>, SamError> {
        let server = self.server(workspace, false).await?;
        let volume = self.volume(workspace).await?;
        if server.is_none() && volume.is_none() {
            return Ok(None);
        }
        let catalog = self.catalog().await?;
        Ok(Some(spend::details(
            server.as_ref(),
            volume.as_ref(),
            &catalog.pricing,
            crate::clock::now_ms(),
        )))
    }

    fn new_machine_each_start(&self) -> bool {
        true
    }

    fn has_boot_log(&self) -> bool {
        true
    }
}
