//! Where each workspace's idle policy stands (`core::idle`).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::core::idle::IdleState;
use crate::core::workspace::WorkspaceId;

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
