//! The core of SAM Desktop: everything that is not window, tray or IPC glue.
//!
//! This crate has no GUI framework in its dependency tree (the compiler holds the boundary, and
//! `tests/core/architecture.rs` holds the dependency list), so the `sam` tool and the integration
//! tests drive exactly the code the app runs, headless. The TypeScript binding derives are behind
//! the `specta` feature, which only the app enables.

#![deny(missing_docs)]

pub mod agent_client;
pub mod agent_release;
pub mod clock;
pub mod config;
pub mod deep_link;
pub mod error;
pub mod github;
pub mod http;
pub mod idle;
pub mod installation;
pub mod lifecycle;
pub mod logging;
pub mod notice;
pub mod opener;
pub mod paths;
pub mod provider;
pub mod redact;
pub mod repo;
pub mod store;
pub mod terminal;
pub mod terminals;
pub mod workspace;

use std::sync::Arc;

use serde::Serialize;

use self::config::Config;
use self::error::SamError;
use self::installation::{KeyStore, OsKeyring};
use self::lifecycle::Lifecycle;
use self::paths::AppPaths;
use self::provider::local::LocalProvider;
use self::store::Store;
use self::terminals::Terminals;
use self::workspace::Workspace;

/// Facts about this installation that the UI shows in its about/settings screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AppInfo {
    /// SAM's version.
    pub version: String,
    /// Where SAM keeps its data.
    pub data_dir: String,
    /// Where SAM writes its logs.
    pub log_dir: String,
    /// The database's schema version.
    pub schema_version: u32,
}

/// One running instance of SAM's core: its folders and its database.
#[derive(Debug)]
pub struct Core {
    paths: AppPaths,
    config: Arc<Config>,
    store: Arc<Store>,
    lifecycle: Lifecycle,
    terminals: Terminals,
}

impl Core {
    /// Opens the database under `paths` (creating and migrating it as needed), with keys in the
    /// OS keyring, configured by `config` (read once from the environment at start-up).
    pub fn open(paths: AppPaths, config: Config) -> Result<Self, SamError> {
        Self::open_with(paths, config, Arc::new(OsKeyring), None)
    }

    /// Opens with explicit parts: a key store, and the lease owner (a CLI worker continues the
    /// operation its parent began under that owner).
    pub fn open_with(
        paths: AppPaths,
        config: Config,
        keys: Arc<dyn KeyStore>,
        owner: Option<String>,
    ) -> Result<Self, SamError> {
        let store = Arc::new(Store::open(&paths.database())?);
        keep_private(&paths.data_dir);
        let config = Arc::new(config);
        let local = Arc::new(LocalProvider::new(&paths.data_dir, config.agent_binary()));
        let lifecycle = Lifecycle::new(Arc::clone(&store), local, keys, owner, Arc::clone(&config));
        tracing::info!(data_dir = %paths.data_dir.display(), "core opened");
        Ok(Self {
            paths,
            config,
            store,
            lifecycle,
            terminals: Terminals::default(),
        })
    }

    /// The lifecycle engine.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// The workspaces' terminals.
    pub fn terminals(&self) -> &Terminals {
        &self.terminals
    }

    /// The folders in use.
    pub fn paths(&self) -> &AppPaths {
        &self.paths
    }

    /// What the environment said at start-up.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens `url` (http or https only) in the configured browser (`SAM_BROWSER`) or the
    /// desktop's default, without waiting for it.
    pub fn open_url(&self, url: &str) -> Result<(), SamError> {
        opener::open_url(url, self.config.browser.as_deref())
    }

    /// The database.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// About this installation.
    pub fn app_info(&self) -> Result<AppInfo, SamError> {
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            data_dir: self.paths.data_dir.display().to_string(),
            log_dir: self.paths.log_dir.display().to_string(),
            schema_version: self.store.schema_version()?,
        })
    }

    /// Every workspace, newest first.
    pub fn list_workspaces(&self) -> Result<Vec<Workspace>, SamError> {
        Ok(self.store.workspaces()?)
    }
}

/// Makes the data folder readable by this user only: it holds the Local workspaces (whose
/// credential sockets any process that can reach them may ask) and the logs.
fn keep_private(data_dir: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(err) = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(%err, dir = %data_dir.display(), "could not make the data folder private");
        }
    }
}
