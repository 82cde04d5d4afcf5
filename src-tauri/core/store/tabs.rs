//! Names of terminal tabs, by workspace and agent stream.

use rusqlite::params;

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::workspace::WorkspaceId;

impl Store {
    /// Names of the workspace's terminal tabs, by stream, oldest first.
    pub fn terminal_tabs(&self, workspace: &WorkspaceId) -> Result<Vec<(u32, String)>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT stream, name FROM terminal_tabs WHERE workspace_id = ?1 \
             ORDER BY created_at_ms, stream",
        )?;
        let rows = stmt.query_map([workspace.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Names a tab (a new one, or a rename).
    pub fn set_terminal_tab(
        &self,
        workspace: &WorkspaceId,
        stream: u32,
        name: &str,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO terminal_tabs (workspace_id, stream, name, created_at_ms) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (workspace_id, stream) DO UPDATE SET name = ?3",
            params![workspace.as_str(), stream, name, now_ms()],
        )?;
        Ok(())
    }

    /// Forgets tabs whose streams are gone (closed, or a new agent).
    pub fn retain_terminal_tabs(
        &self,
        workspace: &WorkspaceId,
        live: &[u32],
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT stream FROM terminal_tabs WHERE workspace_id = ?1")?;
        let known: Vec<u32> = stmt
            .query_map([workspace.as_str()], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for stream in known.into_iter().filter(|stream| !live.contains(stream)) {
            conn.execute(
                "DELETE FROM terminal_tabs WHERE workspace_id = ?1 AND stream = ?2",
                params![workspace.as_str(), stream],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::{NewWorkspace, ProviderKind};

    #[test]
    fn tabs_are_named_renamed_and_pruned() {
        let store = Store::in_memory().expect("store");
        let id = WorkspaceId::generate().expect("id");
        store
            .insert_workspace(
                &id,
                &NewWorkspace {
                    name: "w".into(),
                    repo_url: "https://example.com/r.git".into(),
                    branch: None,
                    provider: ProviderKind::Local,
                    idle_timeout_secs: None,
                    placement: None,
                },
            )
            .expect("insert");
        store.set_terminal_tab(&id, 1, "Terminal 1").expect("name");
        store.set_terminal_tab(&id, 2, "Terminal 2").expect("name");
        store.set_terminal_tab(&id, 1, "build").expect("rename");
        assert_eq!(
            store.terminal_tabs(&id).expect("tabs"),
            [(1, "build".to_owned()), (2, "Terminal 2".to_owned())]
        );
        store.retain_terminal_tabs(&id, &[2]).expect("prune");
        assert_eq!(
            store.terminal_tabs(&id).expect("tabs"),
            [(2, "Terminal 2".to_owned())]
        );
        store.delete_workspace(&id).expect("delete");
        assert!(
            store.terminal_tabs(&id).expect("tabs").is_empty(),
            "cascades"
        );
    }
}
