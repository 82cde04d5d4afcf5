//! The desktop's port forwards: chosen per workspace on its Ports panel, kept in the database,
//! listening on this computer's loopback while the workspace runs — re-established when the app
//! starts again, stopped when the workspace stops — through `crate::port_forward`.
//!
//! [`Forwards::reconcile`] is the one place that starts and stops listeners: the app calls it
//! whenever workspaces change (and once at start), so a forward follows its workspace whoever
//! started or stopped it (this window, the tray, the CLI, the idle watch).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::agent_client::{AgentClient, AgentError, ErrorCode, LinkState, ListeningPort};
use crate::context::Context;
use crate::devcontainer;
use crate::error::SamError;
use crate::port_forward::{self, Listening, PortSpec};
use crate::workspace::{EventLevel, ProviderKind, WorkspaceId, WorkspaceStatus};

/// One forward as the Ports panel shows it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortForward {
    /// The port in the workspace.
    pub remote: u16,
    /// The port chosen here (0: any free one).
    pub local: u16,
    /// Where it listens now (`http://127.0.0.1:<port>`), while it does.
    pub url: Option<String>,
    /// Why it does not listen (a local port in use, say); none while the workspace is not
    /// running.
    pub error: Option<String>,
}

/// A port something printed the address of (a coding agent, or a command it ran), offered on
/// the Ports panel until it is forwarded or dismissed.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortOffer {
    /// The port in the workspace.
    pub port: u16,
    /// Who printed it: the coding agent.
    pub by: String,
}

/// Per running workspace: its connection and its listeners (or why one failed).
struct Live {
    client: AgentClient,
    listeners: BTreeMap<u16, Result<Listening, String>>,
}

/// Every workspace's forwards in this process.
pub struct Forwards {
    ctx: Arc<Context>,
    live: Mutex<HashMap<WorkspaceId, Live>>,
    /// One reconcile at a time.
    reconciling: tokio::sync::Mutex<()>,
    /// Per workspace, the ports offered while this process runs: who printed each, or `None`
    /// once dismissed.
    offers: Mutex<HashMap<WorkspaceId, BTreeMap<u16, Option<String>>>>,
}

impl std::fmt::Debug for Forwards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwards")
            .field("workspaces", &lock(&self.live).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The local port a forward of `remote` gets unless the user chose one: the same number for a
/// server's workspace; any free port (0) for a workspace on this computer, whose loopback is this
/// computer's, where `remote` is taken by the very program being forwarded.
fn default_local(provider: ProviderKind, remote: u16) -> u16 {
    match provider {
        ProviderKind::Local => 0,
        ProviderKind::Hetzner => remote,
    }
}

fn valid_port(port: u16, what: &str) -> Result<u16, SamError> {
    if port == 0 {
        return Err(SamError::invalid_input(
            format!("Port 0 is not a {what} port."),
            "Choose a port from 1 to 65535.",
        ));
    }
    Ok(port)
}

impl Forwards {
    /// The service over `ctx`.
    pub fn new(ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            live: Mutex::default(),
            reconciling: tokio::sync::Mutex::new(()),
            offers: Mutex::default(),
        }
    }

    /// Offers forwarding `port` of a workspace, whose address `by` printed — unless it was
    /// offered or dismissed before.
    pub fn offer(&self, id: &WorkspaceId, port: u16, by: &str) {
        if port != 0 {
            lock(&self.offers)
                .entry(id.clone())
                .or_default()
                .entry(port)
                .or_insert_with(|| Some(by.to_owned()));
        }
    }

    /// The offers neither forwarded nor dismissed.
    pub fn offers(&self, id: &WorkspaceId) -> Result<Vec<PortOffer>, SamError> {
        let forwarded: Vec<u16> = self
            .ctx
            .store()
            .port_forwards(id)?
            .iter()
            .map(|row| row.remote)
            .collect();
        Ok(lock(&self.offers)
            .get(id)
            .into_iter()
            .flatten()
            .filter(|(port, _)| !forwarded.contains(port))
            .filter_map(|(&port, by)| {
                Some(PortOffer {
                    port,
                    by: by.clone()?,
                })
            })
            .collect())
    }

    /// Declines the offer of `port` (or answers it by forwarding): it is not offered again
    /// while the app runs.
    pub fn dismiss(&self, id: &WorkspaceId, port: u16) {
        lock(&self.offers)
            .entry(id.clone())
            .or_default()
            .insert(port, None);
    }

    /// A workspace's forwards with their state.
    pub fn list(&self, id: &WorkspaceId) -> Result<Vec<PortForward>, SamError> {
        let chosen = self.ctx.store().port_forwards(id)?;
        let live = lock(&self.live);
        let listeners = live.get(id).map(|live| &live.listeners);
        Ok(chosen
            .into_iter()
            .map(|row| {
                let state = listeners.and_then(|l| l.get(&row.remote));
                PortForward {
                    remote: row.remote,
                    local: row.local,
                    url: match state {
                        Some(Ok(listening)) => Some(format!("http://{}", listening.local)),
                        _ => None,
                    },
                    error: match state {
                        Some(Err(why)) => Some(why.clone()),
                        _ => None,
                    },
                }
            })
            .collect())
    }

    /// Forwards `remote` from `local` here, and starts listening at once when the workspace
    /// runs. Without `local`: the same number for a server's workspace, and any free port for a
    /// workspace on this computer (whose loopback is this computer's, where `remote` is taken
    /// by the very program being forwarded). A port chosen by the system is kept, so the forward
    /// comes back on it after a restart. Choosing a port again replaces its forward.
    pub async fn add(
        &self,
        id: &WorkspaceId,
        remote: u16,
        local: Option<u16>,
    ) -> Result<PortForward, SamError> {
        let remote = valid_port(remote, "workspace")?;
        let workspace = self.ctx.store().workspace(id)?;
        let local = local.unwrap_or_else(|| default_local(workspace.provider, remote));
        self.ctx.store().set_port_forward(id, remote, local)?;
        // An offer to forward it is answered.
        self.dismiss(id, remote);
        let replaced = lock(&self.live)
            .get_mut(id)
            .and_then(|live| live.listeners.remove(&remote));
        if let Some(Ok(listening)) = replaced {
            listening.close().await;
        }
        self.reconcile().await;
        self.list(id)?
            .into_iter()
            .find(|forward| forward.remote == remote)
            .ok_or_else(|| SamError::internal("A forward vanished as it was made.", &"race"))
    }

    /// Stops forwarding `remote`; returns once its local port is free.
    pub async fn remove(&self, id: &WorkspaceId, remote: u16) -> Result<(), SamError> {
        self.ctx.store().remove_port_forward(id, remote)?;
        let listening = lock(&self.live)
            .get_mut(id)
            .and_then(|live| live.listeners.remove(&remote));
        if let Some(Ok(listening)) = listening {
            listening.close().await;
        }
        Ok(())
    }

    /// The TCP ports programs listen on in the workspace (what the Ports panel offers).
    pub async fn listening(&self, id: &WorkspaceId) -> Result<Vec<ListeningPort>, SamError> {
        let client = self.client(id).await?;
        Ok(client.list_ports().await?)
    }

    /// Starts the forwards of running workspaces that are not listening yet, and stops those of
    /// workspaces that no longer run. A local port that cannot be had is recorded as the
    /// forward's error and tried again at the next reconcile.
    pub async fn reconcile(&self) {
        let _one = self.reconciling.lock().await;
        let workspaces = match self.ctx.store().workspaces() {
            Ok(workspaces) => workspaces,
            Err(err) => {
                tracing::warn!(%err, "reading workspaces for port forwards failed");
                return;
            }
        };
        let running: Vec<WorkspaceId> = workspaces
            .iter()
            .filter(|w| w.status == WorkspaceStatus::Running)
            .map(|w| w.id.clone())
            .collect();
        lock(&self.live).retain(|id, _| running.contains(id));
        for id in running {
            if let Err(err) = self.adopt_declared(&id).await {
                tracing::info!(workspace = %id, error = %err.message, "declared ports wait");
            }
            let chosen = match self.ctx.store().port_forwards(&id) {
                Ok(chosen) => chosen,
                Err(err) => {
                    tracing::warn!(%err, "reading port forwards failed");
                    continue;
                }
            };
            let wanted: Vec<_> = chosen
                .into_iter()
                .filter(|row| {
                    !lock(&self.live)
                        .get(&id)
                        .and_then(|live| live.listeners.get(&row.remote))
                        .is_some_and(Result::is_ok)
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let client = match self.client(&id).await {
                Ok(client) => client,
                Err(err) => {
                    tracing::info!(workspace = %id, error = %err.message, "forwards wait for the agent");
                    continue;
                }
            };
            for row in wanted {
                let spec = PortSpec {
                    local: row.local,
                    remote: row.remote,
                };
                let workspace = id.clone();
                let started = port_forward::listen(client.clone(), spec, move |why| {
                    tracing::info!(%workspace, "{why}");
                })
                .await
                .map_err(|err| format!("{} {}", err.message, err.next_step));
                if let Ok(listening) = &started
                    && row.local == 0
                {
                    // Kept, so the forward comes back on this port after a restart.
                    let bound = listening.local.port();
                    if let Err(err) = self.ctx.store().set_port_forward(&id, row.remote, bound) {
                        tracing::warn!(%err, "recording a forward's port failed");
                    }
                }
                if let Some(live) = lock(&self.live).get_mut(&id) {
                    live.listeners.insert(row.remote, started);
                }
            }
        }
    }

    /// The first time a workspace runs, forwards the ports its repository declares
    /// (`forwardPorts` of its dev container configuration), and says in its log what becomes of
    /// that configuration; afterwards the user's choices stand.
    async fn adopt_declared(&self, id: &WorkspaceId) -> Result<(), SamError> {
        if self.ctx.store().declared_ports_checked(id)? {
            return Ok(());
        }
        let workspace = self.ctx.store().workspace(id)?;
        let client = self.client(id).await?;
        let mut declared = Vec::new();
        for path in devcontainer::CONFIG_PATHS {
            let text = match client
                .fs_read(path, 0, devcontainer::MAX_CONFIG_BYTES)
                .await
            {
                Ok((bytes, _)) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(AgentError::Remote {
                    code: ErrorCode::NotFound,
                    ..
                }) => continue,
                Err(err) => return Err(err.into()),
            };
            let (level, note) = devcontainer::first_run_note(path, &text);
            self.ctx.log(id, "devcontainer", level, &note);
            match devcontainer::forward_ports(&text) {
                Ok(ports) => declared = ports,
                Err(why) => self.ctx.log(
                    id,
                    "ports",
                    EventLevel::Warn,
                    &format!("{path}: {why}; its forwardPorts are not forwarded."),
                ),
            }
            break;
        }
        let chosen: Vec<(u16, u16)> = declared
            .iter()
            .map(|p| (*p, default_local(workspace.provider, *p)))
            .collect();
        self.ctx.store().adopt_declared_ports(id, &chosen)?;
        if !chosen.is_empty() {
            let list: Vec<String> = declared.iter().map(u16::to_string).collect();
            self.ctx.log(
                id,
                "ports",
                EventLevel::Info,
                &format!(
                    "forwarding the ports the repository declares: {}",
                    list.join(", ")
                ),
            );
        }
        Ok(())
    }

    /// The workspace's connection, made on first use and kept while it runs.
    async fn client(&self, id: &WorkspaceId) -> Result<AgentClient, SamError> {
        if let Some(live) = lock(&self.live).get(id)
            && *live.client.state().borrow() != LinkState::Closed
        {
            return Ok(live.client.clone());
        }
        let workspace = self.ctx.store().workspace(id)?;
        let client = self.ctx.connect(&workspace).await?;
        lock(&self.live)
            .entry(id.clone())
            .and_modify(|live| live.client = client.clone())
            .or_insert_with(|| Live {
                client: client.clone(),
                listeners: BTreeMap::new(),
            });
        Ok(client)
    }
}
