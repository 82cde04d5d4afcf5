//! The core of SAM Desktop: everything that is not window, tray or IPC glue.
//!
//! Nothing in here names the GUI framework (a test in `tests/core` enforces it), so the CLI and
//! the integration tests drive exactly the code the app runs, headless.

pub mod agent_client;
pub mod clock;
pub mod error;
pub mod logging;
pub mod paths;
pub mod redact;
pub mod store;
pub mod workspace;

use serde::Serialize;

use self::error::SamError;
use self::paths::AppPaths;
use self::store::Store;
use self::workspace::Workspace;

/// Facts about this installation that the UI shows in its about/settings screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
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
    store: Store,
}

impl Core {
    /// Opens the database under `paths` (creating and migrating it as needed).
    pub fn open(paths: AppPaths) -> Result<Self, SamError> {
        let store = Store::open(&paths.database())?;
        tracing::info!(data_dir = %paths.data_dir.display(), "core opened");
        Ok(Self { paths, store })
    }

    /// The folders in use.
    pub fn paths(&self) -> &AppPaths {
        &self.paths
    }

    /// The database.
    pub fn store(&self) -> &Store {
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
