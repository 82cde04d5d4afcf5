//! Where each workspace's idle policy stands (`core::idle`).

use rusqlite::{OptionalExtension, params};

use super::workspaces::require_row;
use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::idle::IdleState;
use crate::workspace::WorkspaceId;

impl Store {
    /// The workspace's idle state (all empty until the first decision).
    pub fn idle_state(&self, id: &WorkspaceId) -> Result<IdleState, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT deadline_ms, warned_ms, snoozed_until_ms FROM idle_state WHERE workspace_id = ?1",
                [id.as_str()],
                |row| {
                    Ok(IdleState {
                        deadline_ms: row.get(0)?,
                        warned_ms: row.get(1)?,
                        snoozed_until_ms: row.get(2)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
    }

    /// Records the workspace's idle state.
    pub fn set_idle_state(&self, id: &WorkspaceId, state: &IdleState) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO idle_state (workspace_id, deadline_ms, warned_ms, snoozed_until_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (workspace_id) DO UPDATE
             SET deadline_ms = ?2, warned_ms = ?3, snoozed_until_ms = ?4",
            params![
                id.as_str(),
                state.deadline_ms,
                state.warned_ms,
                state.snoozed_until_ms
            ],
        )?;
        Ok(())
    }
}

impl Store {
    /// Changes the workspace's idle timeout (`None` = never) and forgets its deadline, warning and
    /// "keep running": the new policy starts afresh.
    pub fn set_idle_timeout(
        &self,
        id: &WorkspaceId,
        timeout_secs: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let changed = tx.execute(
            "UPDATE workspaces SET idle_timeout_secs = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![
                id.as_str(),
                timeout_secs.map(|secs| i64::try_from(secs).unwrap_or(i64::MAX)),
                now_ms()
            ],
        )?;
        tx.execute(
            "UPDATE idle_state SET deadline_ms = NULL, warned_ms = NULL, snoozed_until_ms = NULL
             WHERE workspace_id = ?1",
            [id.as_str()],
        )?;
        tx.commit()?;
        require_row(changed, id)
    }
}
