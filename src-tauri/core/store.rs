//! Local state: one SQLite file in the data folder.
//!
//! The store is the only place that speaks SQL. It opens the database in WAL mode with foreign
//! keys enforced, migrates it to the current schema, and offers typed operations. Secrets never
//! enter it (DESIGN decision 3): they live in the OS keyring.
//!
//! The connection sits behind a `std::sync::Mutex`: every operation is a short, local call, and
//! none holds the lock across an `.await`.

mod agent_events;
mod agent_sessions;
mod billing;
mod idle;
mod migrations;
mod operations;
mod permission_rules;
mod port_forwards;
mod settings;
mod tabs;
mod workspaces;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{ErrorCategory, SamError};

pub use agent_events::{AgentEventRow, TranscriptEntry};
pub use agent_sessions::{AgentActivity, AgentSessionRow, PermissionRow};
pub use billing::BillingRecord;
pub use migrations::LATEST_VERSION;
pub use operations::{Operation, OperationKind};
pub use permission_rules::{AuditRow, NewPermissionRule, PermissionRule, RuleDecision};
pub use port_forwards::ForwardRow;
pub use settings::Setting;

/// How long a writer waits for another process (the app and the CLI share the file).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite itself failed (disk full, file unreadable, constraint violated).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The folder for the database could not be created.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The database was written by a newer SAM.
    #[error("database schema version {found} is newer than this build knows ({known})")]
    TooNew {
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// A row holds a value this build cannot interpret.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The workspace already has an operation running.
    #[error("workspace {id} is busy with {operation}")]
    Busy {
        /// The workspace.
        id: String,
        /// What it is doing.
        operation: String,
    },
    /// No row has the requested key.
    #[error("no {what} with id {id}")]
    NotFound {
        /// What kind of thing was looked up.
        what: &'static str,
        /// The key.
        id: String,
    },
}

impl From<StoreError> for SamError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::TooNew { found, known } => SamError::configuration(
                format!(
                    "SAM's database was written by a newer version of SAM (schema {found}; this \
                     version knows up to {known})."
                ),
                "Install the newer version of SAM again, or point SAM_DATA_DIR at another folder.",
            ),
            StoreError::Busy { id, operation } => SamError::new(
                ErrorCategory::Transient,
                format!("Workspace {id} is busy: a {operation} is in progress."),
                "Wait for it to finish, then try again.",
            ),
            StoreError::NotFound { what, id } => SamError::new(
                ErrorCategory::InvalidInput,
                format!("There is no {what} {id}."),
                "Refresh the list; it may have been deleted elsewhere.",
            ),
            StoreError::CreateDir { path, source } => SamError::configuration(
                format!("SAM cannot create its data folder {path}: {source}."),
                "Make sure the folder is writable, or point SAM_DATA_DIR somewhere writable.",
            ),
            other @ (StoreError::Sqlite(_) | StoreError::Corrupt { .. }) => {
                SamError::internal("SAM's local database could not be read or written.", &other)
            }
        }
    }
}

/// Switches to WAL (once per database file; the mode is persistent). Changing the mode needs an
/// exclusive lock that SQLite's busy handler does not wait for, so two processes opening a new
/// database at once retry briefly instead of failing.
fn set_wal(conn: &Connection) -> Result<(), StoreError> {
    let mut attempts = 0;
    loop {
        // Answers with the mode in effect; in-memory databases stay `memory`.
        match conn.query_row("PRAGMA journal_mode = WAL", [], |row| {
            row.get::<_, String>(0)
        }) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 100 =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The local database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    /// Woken whenever this process appends to a transcript, so the window follows it at once;
    /// other processes' entries are found by polling.
    transcripts: tokio::sync::Notify,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the latest schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        Self::from_connection(conn, LATEST_VERSION)
    }

    /// An in-memory database with the production schema, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?, LATEST_VERSION)
    }

    fn from_connection(mut conn: Connection, version: u32) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        set_wal(&conn)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        migrations::migrate_to(&mut conn, version)?;
        Ok(Self {
            conn: Mutex::new(conn),
            transcripts: tokio::sync::Notify::new(),
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        migrations::current_version(&self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is safe to keep using.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
