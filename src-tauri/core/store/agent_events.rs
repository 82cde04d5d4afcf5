//! Coding agent sessions' transcripts: the desktop's journal of everything a session showed, in
//! order, with how far into the coding agent's stream it has read.

use rusqlite::{OptionalExtension, Row, params};
use serde_json::Value;

use super::agent_sessions::{PERMISSION_COLUMNS, permission_row};
use super::permission_rules::audit;
use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::redact::redact_json;

/// One entry of a transcript as stored.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentEventRow {
    /// Its place among every transcript's entries (increasing, never reused).
    pub seq: i64,
    /// Its session.
    pub session_id: String,
    /// `prompt`, `update`, `permission`, `answered`, `malformed`, `turn` or `ended`
    /// (`docs/agents.md` says what each body holds).
    pub kind: String,
    /// What happened, as JSON.
    pub body: Value,
    /// When it was recorded, Unix milliseconds.
    pub at_ms: i64,
}

/// What to append to a transcript.
#[derive(Debug, Clone)]
pub enum TranscriptEntry {
    /// Anything but a permission request.
    Event {
        /// Its kind.
        kind: &'static str,
        /// Its body.
        body: Value,
    },
    /// A permission request: it joins the audit log too, and the session waits for a person —
    /// unless a rule answered it, in which case the answer is recorded with it.
    Permission {
        /// The JSON-RPC id to answer it by, as JSON text.
        rpc_id: String,
        /// The request exactly as the coding agent sent it.
        request: Value,
        /// A rule's answer: the option's id, and `rule N`.
        ruled: Option<(String, String)>,
    },
}

impl Store {
    /// Appends `entries` to a session's transcript in one transaction, together with how far
    /// into the coding agent's stream they were read (`read_offset`, when they came from it).
    /// Secrets SAM knows, and text shaped like one, are redacted first: what a coding agent
    /// says may quote a key. Returns the rows appended.
    pub fn append_transcript(
        &self,
        session: &str,
        entries: &[TranscriptEntry],
        read_offset: Option<u64>,
    ) -> Result<Vec<AgentEventRow>, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let now = now_ms();
        let mut appended = Vec::with_capacity(entries.len());
        for entry in entries {
            let (kind, mut body) = match entry {
                TranscriptEntry::Event { kind, body } => (*kind, body.clone()),
                TranscriptEntry::Permission {
                    rpc_id,
                    request,
                    ruled,
                } => {
                    let mut request = request.clone();
                    redact_json(&mut request);
                    let (answer, by) = ruled.clone().unzip();
                    tx.execute(
                        "INSERT INTO agent_permissions (session_id, rpc_id, request, asked_at_ms, \
                         answer, answered_by, answered_at_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?5 IS NULL THEN NULL ELSE ?4 END)",
                        params![session, rpc_id, request.to_string(), now, answer, by],
                    )?;
                    let number = tx.last_insert_rowid();
                    audit(&tx, number)?;
                    let row = tx.query_row(
                        &format!(
                            "SELECT {PERMISSION_COLUMNS} FROM agent_permissions WHERE id = ?1"
                        ),
                        [number],
                        permission_row,
                    )?;
                    if ruled.is_none() {
                        tx.execute(
                            "UPDATE agent_sessions SET state = 'waiting', updated_at_ms = ?2 \
                             WHERE id = ?1",
                            params![session, now],
                        )?;
                    }
                    (
                        "permission",
                        serde_json::to_value(row).unwrap_or(Value::Null),
                    )
                }
            };
            redact_json(&mut body);
            tx.execute(
                "INSERT INTO agent_events (session_id, kind, body, at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![session, kind, body.to_string(), now],
            )?;
            appended.push(AgentEventRow {
                seq: tx.last_insert_rowid(),
                session_id: session.to_owned(),
                kind: kind.to_owned(),
                body,
                at_ms: now,
            });
        }
        if let Some(offset) = read_offset {
            tx.execute(
                "UPDATE agent_sessions SET read_offset = max(read_offset, ?2) WHERE id = ?1",
                params![session, i64::try_from(offset).unwrap_or(i64::MAX)],
            )?;
        }
        tx.commit()?;
        self.transcripts.notify_waiters();
        Ok(appended)
    }

    /// Woken (`notify_waiters`) whenever this process appends to any transcript.
    pub fn transcript_appended(&self) -> &tokio::sync::Notify {
        &self.transcripts
    }

    /// A session's transcript after entry `after`, oldest first, at most `limit` entries.
    pub fn transcript(
        &self,
        session: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AgentEventRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT seq, session_id, kind, body, at_ms FROM agent_events \
             WHERE session_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![session, after, limit], event_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest entry's `seq` of a session's transcript (0 when it has none).
    pub fn transcript_head(&self, session: &str) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT max(seq) FROM agent_events WHERE session_id = ?1",
                [session],
                |row| row.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten()
            .unwrap_or(0))
    }

    /// Takes the right to follow a session's turn: granted when nobody has shown a heartbeat
    /// for `stale_ms` (or `force`, for a process that just started the session). Exactly one of
    /// two processes asking at once is granted it.
    pub fn claim_agent_session(&self, session: &str, stale_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let changed = self.lock().execute(
            "UPDATE agent_sessions SET driver_seen_ms = ?2 WHERE id = ?1 AND driver_seen_ms < ?3",
            params![session, now, now - stale_ms],
        )?;
        Ok(changed == 1)
    }

    /// The agents of a workspace's sessions in `states` (`working`, `waiting`, …), one entry
    /// per session; with `followed_since_ms`, only sessions whose follower showed a heartbeat
    /// since then.
    pub fn agents_in_state(
        &self,
        workspace: &str,
        states: &[&str],
        followed_since_ms: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT agent, state FROM agent_sessions WHERE workspace_id = ?1 \
             AND driver_seen_ms >= ?2 ORDER BY created_at_ms, id",
        )?;
        let rows = stmt.query_map(params![workspace, followed_since_ms.unwrap_or(0)], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut agents = Vec::new();
        for row in rows {
            let (agent, state) = row?;
            if states.contains(&state.as_str()) {
                agents.push(agent);
            }
        }
        Ok(agents)
    }

    /// The follower of a session's turn is alive.
    pub fn heartbeat_agent_session(&self, session: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_sessions SET driver_seen_ms = ?2 WHERE id = ?1",
            params![session, now_ms()],
        )?;
        Ok(())
    }

    /// Asks the follower of a session's turn to set its mode to `mode` (replacing a change
    /// asked earlier that it has not handed over yet).
    pub fn request_agent_mode(
        &self,
        session: &str,
        mode: &str,
        by: &str,
    ) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_sessions SET mode_request = ?2, mode_request_by = ?3 WHERE id = ?1",
            params![session, mode, by],
        )?;
        Ok(())
    }

    /// Withdraws the mode change `mode` if nobody has taken it; whether it was still there.
    pub fn withdraw_agent_mode(&self, session: &str, mode: &str) -> Result<bool, StoreError> {
        let changed = self.lock().execute(
            "UPDATE agent_sessions SET mode_request = NULL, mode_request_by = NULL \
             WHERE id = ?1 AND mode_request = ?2",
            params![session, mode],
        )?;
        Ok(changed == 1)
    }

    /// Takes the mode change asked for a session, if any: the mode and who asked.
    pub fn take_agent_mode(&self, session: &str) -> Result<Option<(String, String)>, StoreError> {
        let mut db = self.lock();
        let tx = db.transaction()?;
        let asked = tx
            .query_row(
                "SELECT mode_request, mode_request_by FROM agent_sessions \
                 WHERE id = ?1 AND mode_request IS NOT NULL",
                [session],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ))
                },
            )
            .optional()?;
        if asked.is_some() {
            tx.execute(
                "UPDATE agent_sessions SET mode_request = NULL, mode_request_by = NULL WHERE id = ?1",
                [session],
            )?;
        }
        tx.commit()?;
        Ok(asked)
    }

    /// The follower of a session's turn lets go (the turn ended, or it stopped following).
    pub fn release_agent_session(&self, session: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE agent_sessions SET driver_seen_ms = 0 WHERE id = ?1",
            [session],
        )?;
        Ok(())
    }
}

fn event_row(row: &Row<'_>) -> rusqlite::Result<AgentEventRow> {
    let body: String = row.get(3)?;
    Ok(AgentEventRow {
        seq: row.get(0)?,
        session_id: row.get(1)?,
        kind: row.get(2)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        at_ms: row.get(4)?,
    })
}
