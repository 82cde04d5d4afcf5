//! Coding agents' sessions and their permission requests (the audit log of every decision).

use rusqlite::{OptionalExtension, Row, params};

use super::permission_rules::audit;
use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::workspace::WorkspaceId;

/// What a workspace's coding agents are doing: how many are in a turn, and how many of those
/// wait for an answer.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentActivity {
    /// The workspace.
    pub workspace: String,
    /// Sessions working on a turn (or cancelling one).
    pub working: u32,
    /// Sessions waiting for a permission answer.
    pub waiting: u32,
}

/// A coding agent's session as SAM recorded it.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgentSessionRow {
    /// SAM's id for it.
    pub id: String,
    /// Its workspace.
    pub workspace_id: String,
    /// The catalogue id of the agent (or `custom`).
    pub agent: String,
    /// The command line it runs.
    pub command: Vec<String>,
    /// Its `acp` stream on the workspace's agent.
    pub stream: u32,
    /// The workspace agent's epoch when it started (the stream is gone once that changes).
    pub epoch: String,
    /// The coding agent's own session id.
    pub acp_session: String,
    /// `idle`, `working`, `waiting` (for a person) or `ended`.
    pub state: String,
    /// When it started, Unix milliseconds.
    pub created_at_ms: i64,
    /// How far into its stream the transcript has read.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub read_offset: u64,
}

/// A permission request, with its answer once given.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PermissionRow {
    /// SAM's number for it, what `sam agent answer` takes.
    pub id: i64,
    /// Its session.
    pub session_id: String,
    /// The JSON-RPC id to answer by, as JSON text.
    pub rpc_id: String,
    /// The request exactly as the coding agent sent it (its tool call and options).
    pub request: serde_json::Value,
    /// When it was asked, Unix milliseconds.
    pub asked_at_ms: i64,
    /// The chosen option's id, or `cancelled`; `None` while it waits.
    pub answer: Option<String>,
    /// Who answered: `cli`, `app`, `notification`, `cancel`, `rule N`.
    pub answered_by: Option<String>,
    /// Whether the answer reached the coding agent.
    pub delivered: bool,
    /// Its session's workspace.
    #[serde(default)]
    pub workspace_id: String,
    /// Its session's coding agent (catalogue id).
    #[serde(default)]
    pub agent: String,
}

impl Store {
    /// Records a new session.
    pub fn insert_agent_session(&self, row: &AgentSessionRow) -> Result<(), StoreError> {
        let command = serde_json::to_string(&row.command).unwrap_or_default();
        self.lock().execute(
            "INSERT INTO agent_sessions (id, workspace_id, agent, command, stream, epoch, \
             acp_session, state, created_at_ms, updated_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![
                row.id,
                row.workspace_id,
                row.agent,
                command,
                row.stream,
                row.epoch,
                row.acp_session,
                row.state,
                row.created_at_ms
            ],
        )?;
        Ok(())
    }

    /// One session.
    pub fn agent_session(&self, id: &str) -> Result<AgentSessionRow, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE id = ?1"),
                [id],
                session_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "coding agent session",
                id: id.to_owned(),
            })
    }

    /// A workspace's sessions, oldest first.
    pub fn agent_sessions(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<AgentSessionRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions WHERE workspace_id = ?1 \
             ORDER BY created_at_ms, id"
        ))?;
        let rows = stmt.query_map([workspace.as_str()], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Per workspace with sessions in a turn: how many work (or are cancelling) and how many
    /// wait for an answer; workspaces in name order of their ids.
    pub fn agent_activity(&self) -> Result<Vec<AgentActivity>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT workspace_id, \
               count(*) FILTER (WHERE state IN ('working', 'cancelling')), \
               count(*) FILTER (WHERE state = 'waiting') \
             FROM agent_sessions WHERE state IN ('working', 'cancelling', 'waiting') \
             GROUP BY workspace_id ORDER BY workspace_id",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(AgentActivity {
                workspace: row.get(0)?,
                working: row.get(1)?,
                waiting: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a session to a new process of its coding agent (after `session/load`): its stream,
    /// the workspace agent's epoch, and how far into the new stream the transcript has read.
    /// The session is idle again.
    pub fn rebind_agent_session(
        &self,
        id: &str,
        stream: u32,
        epoch: &str,
        read_offset: u64,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_sessions SET stream = ?2, epoch = ?3, read_offset = ?4, \
             state = 'idle', updated_at_ms = ?5 WHERE id = ?1",
            params![
                id,
                stream,
                epoch,
                i64::try_from(read_offset).unwrap_or(i64::MAX),
                now_ms()
            ],
        )?;
        Ok(())
    }

    /// Sets a session's state.
    pub fn set_agent_session_state(&self, id: &str, state: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_sessions SET state = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![id, state, now_ms()],
        )?;
        Ok(())
    }

    /// One permission request.
    pub fn permission(&self, id: i64) -> Result<PermissionRow, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {PERMISSION_COLUMNS} FROM agent_permissions WHERE id = ?1"),
                [id],
                permission_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "permission request",
                id: id.to_string(),
            })
    }

    /// Permission requests that still wait for an answer, oldest first.
    pub fn waiting_permissions(&self) -> Result<Vec<PermissionRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {PERMISSION_COLUMNS} FROM agent_permissions WHERE answer IS NULL ORDER BY id"
        ))?;
        let rows = stmt.query_map([], permission_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a session has a permission request that waits for a person.
    pub fn is_waiting(&self, session: &str) -> Result<bool, StoreError> {
        Ok(self.lock().query_row(
            "SELECT EXISTS (SELECT 1 FROM agent_permissions \
             WHERE session_id = ?1 AND answer IS NULL)",
            [session],
            |row| row.get(0),
        )?)
    }

    /// Sessions in a turn (`working`, `waiting`, `cancelling`) whose follower has not shown a
    /// heartbeat for `stale_ms`.
    pub fn unfollowed_agent_sessions(
        &self,
        stale_ms: i64,
    ) -> Result<Vec<AgentSessionRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SESSION_COLUMNS} FROM agent_sessions \
             WHERE state IN ('working', 'waiting', 'cancelling') AND driver_seen_ms < ?1 \
             ORDER BY created_at_ms, id"
        ))?;
        let rows = stmt.query_map([now_ms() - stale_ms], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records an answer, once: false when the request was answered already.
    /// The answer joins the audit log in the same transaction.
    pub fn answer_permission(&self, id: i64, answer: &str, by: &str) -> Result<bool, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let changed = tx.execute(
            "UPDATE agent_permissions SET answer = ?2, answered_by = ?3, answered_at_ms = ?4 \
             WHERE id = ?1 AND answer IS NULL",
            params![id, answer, by, now_ms()],
        )?;
        if changed == 1 {
            audit(&tx, id)?;
        }
        // The session changed too (what waits on it), for whoever watches the store.
        tx.execute(
            "UPDATE agent_sessions SET updated_at_ms = ?2 \
             WHERE id = (SELECT session_id FROM agent_permissions WHERE id = ?1)",
            params![id, now_ms()],
        )?;
        tx.commit()?;
        Ok(changed == 1)
    }

    /// Answers every request of `session` that still waits `cancelled` (each joins the audit
    /// log); returns how many.
    pub fn cancel_waiting_permissions(&self, session: &str) -> Result<usize, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let waiting: Vec<i64> = tx
            .prepare(
                "SELECT id FROM agent_permissions WHERE session_id = ?1 AND answer IS NULL \
                 ORDER BY id",
            )?
            .query_map([session], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for id in &waiting {
            tx.execute(
                "UPDATE agent_permissions SET answer = 'cancelled', answered_by = 'cancel', \
                 answered_at_ms = ?2 WHERE id = ?1",
                params![id, now_ms()],
            )?;
            audit(&tx, *id)?;
        }
        tx.commit()?;
        Ok(waiting.len())
    }

    /// A session's answers that have not reached the coding agent yet.
    pub fn undelivered_answers(&self, session: &str) -> Result<Vec<PermissionRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {PERMISSION_COLUMNS} FROM agent_permissions \
             WHERE session_id = ?1 AND answer IS NOT NULL AND delivered = 0 ORDER BY id"
        ))?;
        let rows = stmt.query_map([session], permission_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks an answer as delivered.
    pub fn mark_permission_delivered(&self, id: i64) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_permissions SET delivered = 1 WHERE id = ?1",
            [id],
        )?;
        Ok(())
    }
}

const SESSION_COLUMNS: &str = "id, workspace_id, agent, command, stream, epoch, acp_session, \
     state, created_at_ms, read_offset";

fn session_row(row: &Row<'_>) -> rusqlite::Result<AgentSessionRow> {
    let command: String = row.get(3)?;
    Ok(AgentSessionRow {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        agent: row.get(2)?,
        command: serde_json::from_str(&command).unwrap_or_default(),
        stream: row.get(4)?,
        epoch: row.get(5)?,
        acp_session: row.get(6)?,
        state: row.get(7)?,
        created_at_ms: row.get(8)?,
        read_offset: u64::try_from(row.get::<_, i64>(9)?).unwrap_or(0),
    })
}

pub(super) const PERMISSION_COLUMNS: &str = "id, session_id, rpc_id, request, asked_at_ms, answer, answered_by, delivered, \
     (SELECT workspace_id FROM agent_sessions s WHERE s.id = agent_permissions.session_id), \
     (SELECT agent FROM agent_sessions s WHERE s.id = agent_permissions.session_id)";

pub(super) fn permission_row(row: &Row<'_>) -> rusqlite::Result<PermissionRow> {
    let request: String = row.get(3)?;
    Ok(PermissionRow {
        id: row.get(0)?,
        session_id: row.get(1)?,
        rpc_id: row.get(2)?,
        request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
        asked_at_ms: row.get(4)?,
        answer: row.get(5)?,
        answered_by: row.get(6)?,
        delivered: row.get::<_, i64>(7)? != 0,
        workspace_id: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
        agent: row.get::<_, Option<String>>(9)?.unwrap_or_default(),
    })
}
