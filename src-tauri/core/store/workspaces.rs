//! Workspaces and their event log.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::error::SamError;
use crate::provider::Placement;
use crate::workspace::{
    EventLevel, NewWorkspace, Workspace, WorkspaceEvent, WorkspaceId, WorkspaceStatus,
};

const COLUMNS: &str = "id, name, repo_url, branch, provider, status, error_json, created_at_ms, \
                       updated_at_ms, retry_count, idle_timeout_secs, location, server_type";

impl Store {
    /// Records a new workspace in `creating` and returns it.
    pub fn insert_workspace(
        &self,
        id: &WorkspaceId,
        new: &NewWorkspace,
    ) -> Result<Workspace, StoreError> {
        let now = now_ms();
        self.lock().execute(
            &format!(
                "INSERT INTO workspaces ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?7, 0, ?8, ?9, ?10)"
            ),
            params![
                id.as_str(),
                new.name,
                new.repo_url,
                new.branch,
                new.provider.as_str(),
                WorkspaceStatus::Creating.as_str(),
                now,
                new.idle_timeout_secs.map(|secs| i64::try_from(secs).unwrap_or(i64::MAX)),
                new.placement.as_ref().map(|p| p.location.as_str()),
                new.placement.as_ref().map(|p| p.server_type.as_str()),
            ],
        )?;
        self.workspace(id)
    }

    /// One workspace.
    pub fn workspace(&self, id: &WorkspaceId) -> Result<Workspace, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM workspaces WHERE id = ?1"),
                [id.as_str()],
                |row| Ok(read_workspace(row)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "workspace",
                id: id.to_string(),
            })?
    }

    /// Every workspace, newest first.
    pub fn workspaces(&self) -> Result<Vec<Workspace>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM workspaces ORDER BY created_at_ms DESC, id"
        ))?;
        let rows = stmt.query_map([], |row| Ok(read_workspace(row)))?;
        rows.map(|row| row?).collect()
    }

    /// Moves a workspace to `status`, recording `error` (cleared when `None`).
    pub fn set_workspace_status(
        &self,
        id: &WorkspaceId,
        status: WorkspaceStatus,
        error: Option<&SamError>,
    ) -> Result<(), StoreError> {
        let error_json = error
            .map(serde_json::to_string)
            .transpose()
            .map_err(|err| StoreError::Corrupt {
                table: "workspaces",
                detail: err.to_string(),
            })?;
        let changed = self.lock().execute(
            "UPDATE workspaces SET status = ?2, error_json = ?3, updated_at_ms = ?4 WHERE id = ?1",
            params![id.as_str(), status.as_str(), error_json, now_ms()],
        )?;
        require_row(changed, id)
    }

    /// Records how to reach the workspace's agent: its address and pinned certificate.
    pub fn set_agent(
        &self,
        id: &WorkspaceId,
        addr: Option<&str>,
        pin: Option<&str>,
    ) -> Result<(), StoreError> {
        let changed = self.lock().execute(
            "UPDATE workspaces SET agent_addr = ?2, agent_pin = ?3, updated_at_ms = ?4 WHERE id = ?1",
            params![id.as_str(), addr, pin, now_ms()],
        )?;
        require_row(changed, id)
    }

    /// Records the public half of the agent's SSH host key (`ssh-ed25519 AAAA…`).
    pub fn set_ssh_host_key(&self, id: &WorkspaceId, key: Option<&str>) -> Result<(), StoreError> {
        let changed = self.lock().execute(
            "UPDATE workspaces SET agent_ssh_host_key = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![id.as_str(), key, now_ms()],
        )?;
        require_row(changed, id)
    }

    /// The agent's SSH host key, when known.
    pub fn ssh_host_key(&self, id: &WorkspaceId) -> Result<Option<String>, StoreError> {
        self.lock()
            .query_row(
                "SELECT agent_ssh_host_key FROM workspaces WHERE id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "workspace",
                id: id.to_string(),
            })
    }

    /// The agent's address and pin, when known.
    pub fn agent(&self, id: &WorkspaceId) -> Result<(Option<String>, Option<String>), StoreError> {
        self.lock()
            .query_row(
                "SELECT agent_addr, agent_pin FROM workspaces WHERE id = ?1",
                [id.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "workspace",
                id: id.to_string(),
            })
    }

    /// Sets the retry counter.
    pub fn set_retry_count(&self, id: &WorkspaceId, count: u32) -> Result<(), StoreError> {
        let changed = self.lock().execute(
            "UPDATE workspaces SET retry_count = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![id.as_str(), count, now_ms()],
        )?;
        require_row(changed, id)
    }

    /// A value that changes whenever any workspace or event changes, in this process or another
    /// (the CLI shares the file): one cheap query for the app's change watcher.
    pub fn change_stamp(&self) -> Result<(i64, i64, i64, i64), StoreError> {
        Ok(self.lock().query_row(
            "SELECT coalesce(max(updated_at_ms), 0), count(*), \
             (SELECT coalesce(max(seq), 0) FROM workspace_events), \
             (SELECT coalesce(max(updated_at_ms), 0) + count(*) FROM agent_sessions) \
             FROM workspaces",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )?)
    }

    /// Removes a workspace and its events.
    pub fn delete_workspace(&self, id: &WorkspaceId) -> Result<(), StoreError> {
        let changed = self
            .lock()
            .execute("DELETE FROM workspaces WHERE id = ?1", [id.as_str()])?;
        require_row(changed, id)
    }

    /// Appends a line to a workspace's event log and returns its sequence number.
    pub fn append_event(
        &self,
        id: &WorkspaceId,
        step: &str,
        level: EventLevel,
        message: &str,
    ) -> Result<i64, StoreError> {
        let conn = self.lock();
        let result = conn.execute(
            "INSERT INTO workspace_events (workspace_id, at_ms, step, level, message) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.as_str(), now_ms(), step, level.as_str(), message],
        );
        match result {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(err) if is_foreign_key_violation(&err) => Err(StoreError::NotFound {
                what: "workspace",
                id: id.to_string(),
            }),
            Err(err) => Err(err.into()),
        }
    }

    /// A workspace's events with a sequence number above `after`, oldest first, at most `limit`.
    pub fn events(
        &self,
        id: &WorkspaceId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<WorkspaceEvent>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT seq, at_ms, step, level, message FROM workspace_events \
             WHERE workspace_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![id.as_str(), after, limit], |row| {
            let level: String = row.get(3)?;
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, level, row.get(4)?))
        })?;
        rows.map(|row| {
            let (seq, at_ms, step, level, message) = row?;
            let level = level
                .parse::<EventLevel>()
                .map_err(|detail| StoreError::Corrupt {
                    table: "workspace_events",
                    detail,
                })?;
            Ok(WorkspaceEvent {
                seq,
                at_ms,
                step,
                level,
                message,
            })
        })
        .collect()
    }
}

/// An update or delete that touched no row means the workspace does not exist.
pub(super) fn require_row(changed: usize, id: &WorkspaceId) -> Result<(), StoreError> {
    if changed == 0 {
        return Err(StoreError::NotFound {
            what: "workspace",
            id: id.to_string(),
        });
    }
    Ok(())
}

fn is_foreign_key_violation(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY
    )
}

/// Decodes a row; the outer `Result` is SQLite's, the inner one ours.
fn read_workspace(row: &Row<'_>) -> Result<Workspace, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "workspaces",
        detail,
    };
    let id: String = row.get(0)?;
    let provider: String = row.get(4)?;
    let status: String = row.get(5)?;
    let error_json: Option<String> = row.get(6)?;
    Ok(Workspace {
        id: id.parse().map_err(|err: SamError| corrupt(err.message))?,
        name: row.get(1)?,
        repo_url: row.get(2)?,
        branch: row.get(3)?,
        provider: provider.parse().map_err(corrupt)?,
        status: status.parse().map_err(corrupt)?,
        error: error_json
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|err| corrupt(format!("error_json: {err}")))?,
        created_at_ms: row.get(7)?,
        updated_at_ms: row.get(8)?,
        retry_count: row.get(9)?,
        idle_timeout_secs: row
            .get::<_, Option<i64>>(10)?
            .map(|secs| u64::try_from(secs).unwrap_or(0)),
        placement: match (
            row.get::<_, Option<String>>(11)?,
            row.get::<_, Option<String>>(12)?,
        ) {
            (Some(location), Some(server_type)) => Some(Placement {
                server_type,
                location,
            }),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCategory;
    use crate::workspace::ProviderKind;

    fn new_workspace(name: &str) -> NewWorkspace {
        NewWorkspace {
            name: name.to_owned(),
            repo_url: format!("https://github.com/example/{name}"),
            branch: None,
            provider: ProviderKind::Local,
            idle_timeout_secs: None,
            placement: None,
        }
    }

    #[test]
    fn insert_list_update_delete() {
        let store = Store::in_memory().expect("opens");
        let a = WorkspaceId::generate().expect("id");
        let b = WorkspaceId::generate().expect("id");
        let created = store
            .insert_workspace(&a, &new_workspace("alpha"))
            .expect("inserts");
        assert_eq!(created.status, WorkspaceStatus::Creating);
        assert_eq!(created.name, "alpha");
        store
            .insert_workspace(&b, &new_workspace("beta"))
            .expect("inserts");
        assert_eq!(store.workspaces().expect("lists").len(), 2);

        let failure = SamError::new(ErrorCategory::WorkspaceBuild, "clone failed", "check URL")
            .with_step("clone");
        store
            .set_workspace_status(&a, WorkspaceStatus::Error, Some(&failure))
            .expect("updates");
        let stored = store.workspace(&a).expect("reads");
        assert_eq!(stored.status, WorkspaceStatus::Error);
        assert_eq!(stored.error, Some(failure));

        store.delete_workspace(&a).expect("deletes");
        assert!(matches!(
            store.workspace(&a),
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            store.delete_workspace(&a),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let store = Store::in_memory().expect("opens");
        let id = WorkspaceId::generate().expect("id");
        store
            .insert_workspace(&id, &new_workspace("one"))
            .expect("inserts");
        assert!(store.insert_workspace(&id, &new_workspace("two")).is_err());
    }

    #[test]
    fn events_are_ordered_paged_and_deleted_with_their_workspace() {
        let store = Store::in_memory().expect("opens");
        let id = WorkspaceId::generate().expect("id");
        store
            .insert_workspace(&id, &new_workspace("ev"))
            .expect("inserts");
        let mut seqs = Vec::new();
        for n in 0..5 {
            seqs.push(
                store
                    .append_event(&id, "clone", EventLevel::Info, &format!("line {n}"))
                    .expect("appends"),
            );
        }
        let first = store.events(&id, 0, 2).expect("reads");
        assert_eq!(
            first.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["line 0", "line 1"]
        );
        let rest = store.events(&id, first[1].seq, 10).expect("reads");
        assert_eq!(rest.len(), 3);
        assert_eq!(rest[2].seq, seqs[4]);

        store.delete_workspace(&id).expect("deletes");
        assert!(store.events(&id, 0, 10).expect("reads").is_empty());
    }

    #[test]
    fn events_for_an_unknown_workspace_are_refused() {
        let store = Store::in_memory().expect("opens");
        let id = WorkspaceId::generate().expect("id");
        assert!(matches!(
            store.append_event(&id, "boot", EventLevel::Info, "x"),
            Err(StoreError::NotFound { .. })
        ));
    }

    #[test]
    fn a_row_with_an_unknown_status_is_reported_as_corrupt_not_a_panic() {
        let store = Store::in_memory().expect("opens");
        let id = WorkspaceId::generate().expect("id");
        store
            .insert_workspace(&id, &new_workspace("x"))
            .expect("inserts");
        store
            .lock()
            .execute("UPDATE workspaces SET status = 'exploded'", [])
            .expect("raw update");
        assert!(matches!(
            store.workspace(&id),
            Err(StoreError::Corrupt { .. })
        ));
        let err: SamError = store.workspaces().expect_err("corrupt").into();
        assert_eq!(err.category, ErrorCategory::Internal);
        assert!(err.log_ref.is_some());
    }
}
