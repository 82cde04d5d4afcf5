//! Operations (create, stop, start, delete) as durable jobs with leases.
//!
//! An operation row exists from the moment the user asks until it succeeds or fails, so a
//! process that dies half-way leaves a record the next process (the app or the CLI) can pick up.
//! A lease — an owner and an expiry, renewed while the owner works — keeps two processes from
//! running operations on one workspace at once; the partial unique index in the schema makes
//! "one running operation per workspace" a database invariant, not a convention.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::workspace::WorkspaceId;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum OperationKind {
    /// Provision and clone.
    Create,
    /// Release compute, keep the disk.
    Stop,
    /// Bring compute back.
    Start,
    /// Remove everything.
    Delete,
}

impl OperationKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Delete => "delete",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        [Self::Create, Self::Stop, Self::Start, Self::Delete]
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| StoreError::Corrupt {
                table: "operations",
                detail: format!("kind {text:?}"),
            })
    }
}

/// An operation's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Its id.
    pub id: i64,
    /// The workspace.
    pub workspace: WorkspaceId,
    /// What it does.
    pub kind: OperationKind,
    /// The step under way or failed.
    pub step: Option<String>,
    /// Who holds the lease.
    pub lease_owner: Option<String>,
    /// Until when (Unix ms).
    pub lease_expires_ms: Option<i64>,
}

const COLUMNS: &str = "id, workspace_id, kind, step, lease_owner, lease_expires_ms";

/// An operations row as SQLite returns it, before decoding.
type RawOperation = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn read(row: &Row<'_>) -> rusqlite::Result<RawOperation> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn decode(
    (id, workspace, kind, step, lease_owner, lease_expires_ms): RawOperation,
) -> Result<Operation, StoreError> {
    Ok(Operation {
        id,
        workspace: workspace.parse().map_err(|_| StoreError::Corrupt {
            table: "operations",
            detail: format!("workspace {workspace:?}"),
        })?,
        kind: OperationKind::parse(&kind)?,
        step,
        lease_owner,
        lease_expires_ms,
    })
}

impl Store {
    /// Starts an operation owned by `owner` for `lease_ms`. Fails with [`StoreError::Busy`] when
    /// the workspace already has one running.
    pub fn begin_operation(
        &self,
        workspace: &WorkspaceId,
        kind: OperationKind,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Operation, StoreError> {
        let now = now_ms();
        let conn = self.lock();
        let inserted = conn.execute(
            "INSERT INTO operations (workspace_id, kind, state, lease_owner, lease_expires_ms, created_at_ms, \
             updated_at_ms) VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?5)",
            params![workspace.as_str(), kind.as_str(), owner, now + lease_ms, now],
        );
        match inserted {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                drop(conn);
                let running = self.running_operation(workspace)?;
                return Err(StoreError::Busy {
                    id: workspace.to_string(),
                    operation: running
                        .map_or("another operation", |op| op.kind.as_str())
                        .to_owned(),
                });
            }
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
            {
                return Err(StoreError::NotFound {
                    what: "workspace",
                    id: workspace.to_string(),
                });
            }
            Err(err) => return Err(err.into()),
        }
        let id = conn.last_insert_rowid();
        Ok(Operation {
            id,
            workspace: workspace.clone(),
            kind,
            step: None,
            lease_owner: Some(owner.to_owned()),
            lease_expires_ms: Some(now + lease_ms),
        })
    }

    /// The running operation of a workspace, if any.
    pub fn running_operation(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Option<Operation>, StoreError> {
        self.one_operation(workspace, "state = 'running'")
    }

    /// The newest operation of a workspace matching `condition` (a fixed SQL fragment).
    fn one_operation(
        &self,
        workspace: &WorkspaceId,
        condition: &str,
    ) -> Result<Option<Operation>, StoreError> {
        let row = self
            .lock()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM operations WHERE workspace_id = ?1 AND {condition} \
                     ORDER BY id DESC LIMIT 1"
                ),
                [workspace.as_str()],
                read,
            )
            .optional()?;
        row.map(decode).transpose()
    }

    /// Takes (or renews) the lease of a running operation: succeeds when it is free, expired, or
    /// already ours.
    pub fn claim_operation(&self, id: i64, owner: &str, lease_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let changed = self.lock().execute(
            "UPDATE operations SET lease_owner = ?2, lease_expires_ms = ?3, updated_at_ms = ?4 \
             WHERE id = ?1 AND state = 'running' \
             AND (lease_owner IS NULL OR lease_owner = ?2 OR lease_expires_ms < ?4)",
            params![id, owner, now + lease_ms, now],
        )?;
        Ok(changed == 1)
    }

    /// Records the step an operation is on.
    pub fn set_operation_step(&self, id: i64, step: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE operations SET step = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![id, step, now_ms()],
        )?;
        Ok(())
    }

    /// Ends an operation.
    pub fn finish_operation(&self, id: i64, succeeded: bool) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE operations SET state = ?2, lease_owner = NULL, lease_expires_ms = NULL, updated_at_ms = ?3 \
             WHERE id = ?1",
            params![id, if succeeded { "succeeded" } else { "failed" }, now_ms()],
        )?;
        Ok(())
    }

    /// The last failed operation of a workspace (what a retry re-runs).
    pub fn last_failed_operation(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Option<Operation>, StoreError> {
        self.one_operation(workspace, "state = 'failed'")
    }

    /// Running operations whose owner stopped renewing its lease: work to pick up.
    pub fn orphaned_operations(&self) -> Result<Vec<Operation>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM operations WHERE state = 'running' \
             AND (lease_expires_ms IS NULL OR lease_expires_ms < ?1) ORDER BY id"
        ))?;
        let rows = stmt.query_map([now_ms()], read)?;
        rows.map(|row| decode(row?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{NewWorkspace, ProviderKind};

    fn workspace(store: &Store) -> WorkspaceId {
        let id = WorkspaceId::generate().expect("id");
        let new = NewWorkspace {
            name: "w".into(),
            repo_url: "https://example.com/w.git".into(),
            branch: None,
            provider: ProviderKind::Local,
            idle_timeout_secs: None,
            placement: None,
        };
        store.insert_workspace(&id, &new).expect("inserts");
        id
    }

    #[test]
    fn one_running_operation_per_workspace() {
        let store = Store::in_memory().expect("opens");
        let ws = workspace(&store);
        let op = store
            .begin_operation(&ws, OperationKind::Create, "a", 30_000)
            .expect("begins");
        match store.begin_operation(&ws, OperationKind::Stop, "b", 30_000) {
            Err(StoreError::Busy { operation, .. }) => assert_eq!(operation, "create"),
            other => panic!("expected busy, got {other:?}"),
        }
        store.finish_operation(op.id, true).expect("finishes");
        store
            .begin_operation(&ws, OperationKind::Stop, "b", 30_000)
            .expect("begins after");
    }

    #[test]
    fn a_live_lease_cannot_be_taken_and_an_expired_one_can() {
        let store = Store::in_memory().expect("opens");
        let ws = workspace(&store);
        let op = store
            .begin_operation(&ws, OperationKind::Create, "a", 30_000)
            .expect("begins");
        assert!(!store.claim_operation(op.id, "b", 30_000).expect("claims"));
        assert!(store.claim_operation(op.id, "a", 30_000).expect("renews"));
        assert!(store.orphaned_operations().expect("lists").is_empty());

        let expired = store
            .begin_operation(&workspace(&store), OperationKind::Create, "dead", -1)
            .expect("begins");
        let orphans = store.orphaned_operations().expect("lists");
        assert_eq!(
            orphans.iter().map(|o| o.id).collect::<Vec<_>>(),
            [expired.id]
        );
        assert!(
            store
                .claim_operation(expired.id, "b", 30_000)
                .expect("takes over")
        );
        assert!(store.orphaned_operations().expect("lists").is_empty());
    }
}
