//! The ports chosen for forwarding, per workspace.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::workspace::WorkspaceId;

/// A chosen forward: `local` on this computer (0: any free port) to `remote` in the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardRow {
    /// The port in the workspace.
    pub remote: u16,
    /// The port here.
    pub local: u16,
}

impl Store {
    /// Chooses (or re-chooses) a forward.
    pub fn set_port_forward(
        &self,
        id: &WorkspaceId,
        remote: u16,
        local: u16,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO port_forwards (workspace_id, remote_port, local_port, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (workspace_id, remote_port) DO UPDATE SET local_port = excluded.local_port",
            params![id.as_str(), remote, local, now_ms()],
        )?;
        Ok(())
    }

    /// Forgets a forward; whether there was one.
    pub fn remove_port_forward(&self, id: &WorkspaceId, remote: u16) -> Result<bool, StoreError> {
        let changed = self.lock().execute(
            "DELETE FROM port_forwards WHERE workspace_id = ?1 AND remote_port = ?2",
            params![id.as_str(), remote],
        )?;
        Ok(changed > 0)
    }

    /// Whether the workspace's declared ports were looked at already.
    pub fn declared_ports_checked(&self, id: &WorkspaceId) -> Result<bool, StoreError> {
        let found: Option<i64> = self
            .lock()
            .query_row(
                "SELECT checked_at_ms FROM declared_ports_checked WHERE workspace_id = ?1",
                [id.as_str()],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.is_some())
    }

    /// Chooses `ports` (each from the same number here, or `local` when given) that are not
    /// chosen yet, and records that the workspace's declared ports were looked at — in one
    /// transaction, so they are adopted once.
    pub fn adopt_declared_ports(
        &self,
        id: &WorkspaceId,
        ports: &[(u16, u16)],
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (remote, local) in ports {
            tx.execute(
                "INSERT OR IGNORE INTO port_forwards \
                 (workspace_id, remote_port, local_port, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id.as_str(), remote, local, now_ms()],
            )?;
        }
        tx.execute(
            "INSERT OR IGNORE INTO declared_ports_checked (workspace_id, checked_at_ms) \
             VALUES (?1, ?2)",
            params![id.as_str(), now_ms()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A workspace's forwards, by remote port.
    pub fn port_forwards(&self, id: &WorkspaceId) -> Result<Vec<ForwardRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT remote_port, local_port FROM port_forwards WHERE workspace_id = ?1 \
             ORDER BY remote_port",
        )?;
        let rows = stmt.query_map([id.as_str()], |row| {
            Ok(ForwardRow {
                remote: row.get(0)?,
                local: row.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
