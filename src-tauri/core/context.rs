//! What every part of the core shares: its folders, the database, the keyring, the
//! configuration read at start-up, the installation's identity, the channel of notices, and the way to reach a
//! workspace's agent. Each service ([`Workspaces`](crate::lifecycle::Workspaces),
//! [`HetznerAccount`](crate::provider::hetzner::account::HetznerAccount), …) holds one `Arc<Context>` and
//! its own state besides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::agent_client::{AgentClient, AgentEndpoint};
use crate::config::Config;
use crate::error::{ErrorCategory, SamError};
use crate::installation::{Installation, KeyStore};
use crate::notice::Notices;
use crate::paths::AppPaths;
use crate::store::{Store, StoreError};
use crate::workspace::{EventLevel, Workspace, WorkspaceId};

/// How long to wait for a running workspace's agent to accept a session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// The handles every service shares.
#[derive(Debug)]
pub struct Context {
    paths: AppPaths,
    store: Arc<Store>,
    keys: Arc<dyn KeyStore>,
    config: Arc<Config>,
    notices: Notices,
    /// Loaded once: every keyring access is a blocking D-Bus round trip.
    installation: Mutex<Option<Arc<Installation>>>,
}

impl Context {
    /// A context over `store` in the folders `paths`, with secrets in `keys`, configured by
    /// `config`.
    pub fn new(
        paths: AppPaths,
        store: Arc<Store>,
        keys: Arc<dyn KeyStore>,
        config: Arc<Config>,
    ) -> Arc<Self> {
        Arc::new(Self {
            paths,
            store,
            keys,
            config,
            notices: Notices::default(),
            installation: Mutex::default(),
        })
    }

    /// The folders the core keeps its data in.
    pub fn paths(&self) -> &AppPaths {
        &self.paths
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The keyring (blocking: call it off the async threads, or through [`Context::with_keys`]).
    pub(crate) fn keys(&self) -> &dyn KeyStore {
        self.keys.as_ref()
    }

    /// What the environment said at start-up.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the core publishes what the user should hear about (desktop notifications).
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// Runs `work` on the keyring and the store off the async threads (keyring calls block).
    pub(crate) async fn with_keys<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn KeyStore, &Store) -> Result<T, SamError> + Send + 'static,
    ) -> Result<T, SamError> {
        let (keys, store) = (Arc::clone(&self.keys), Arc::clone(&self.store));
        tokio::task::spawn_blocking(move || work(keys.as_ref(), &store))
            .await
            .map_err(|err| SamError::internal("Reading the keyring failed.", &err))?
    }

    /// The installation identity, from the cache or the keyring. Blocking: call it from a
    /// blocking context (or through [`Context::installation_async`]).
    pub(crate) fn installation(&self) -> Result<Arc<Installation>, SamError> {
        let mut cached = self
            .installation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(installation) = cached.as_ref() {
            return Ok(Arc::clone(installation));
        }
        let loaded = Arc::new(Installation::load_or_create(
            &self.store,
            self.keys.as_ref(),
        )?);
        *cached = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// [`Context::installation`] off the async threads: the keyring's D-Bus client blocks, and
    /// blocking a runtime worker on it can starve the very tasks it waits for.
    pub(crate) async fn installation_async(
        self: &Arc<Self>,
    ) -> Result<Arc<Installation>, SamError> {
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.installation())
            .await
            .map_err(|err| SamError::internal("Loading the installation key failed.", &err))?
    }

    /// A connected client for the workspace's agent, at the address and pin its enrollment
    /// recorded.
    pub async fn connect(self: &Arc<Self>, workspace: &Workspace) -> Result<AgentClient, SamError> {
        let (addr, pin) = self.store.agent(&workspace.id)?;
        let (Some(addr), Some(pin)) = (addr, pin) else {
            return Err(SamError::new(
                ErrorCategory::Agent,
                "The workspace's agent was never enrolled.",
                "Retry the workspace, or delete it.",
            )
            .with_step("connect"));
        };
        let installation = self.installation_async().await?;
        let endpoint = AgentEndpoint {
            addr,
            workspace: workspace.id.to_string(),
            pin,
        };
        let client = AgentClient::connect(endpoint, installation.signing_key().clone());
        client
            .wait_connected(CONNECT_TIMEOUT)
            .await
            .map_err(|err| SamError::from(err).with_step("connect"))?;
        Ok(client)
    }

    /// Records a line in the workspace's event log (and the process log). A workspace deleted
    /// meanwhile has no log any more; that is not a failure.
    pub(crate) fn log(&self, id: &WorkspaceId, step: &str, level: EventLevel, message: &str) {
        tracing::info!(workspace = %id, step, "{message}");
        match self.store.append_event(id, step, level, message) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => tracing::warn!(%err, "recording an event failed"),
        }
    }
}
