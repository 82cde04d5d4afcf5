//! Permission rules per workspace, and the append-only audit log of every answer to a coding
//! agent's permission request.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, StoreError};
use crate::clock::now_ms;
use crate::workspace::WorkspaceId;

/// What a rule does with a request it matches.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleDecision {
    /// Answers with the agent's "allow once" option.
    Allow,
    /// Answers with the agent's "reject once" option.
    Deny,
}

impl RuleDecision {
    fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// A rule as the user wrote it (checked by `coding_agents::rules` before it is stored).
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewPermissionRule {
    /// The coding agent's catalogue id; any agent when absent.
    pub agent: Option<String>,
    /// ACP's tool kind (`execute`, `edit`, …); any kind when absent.
    pub tool_kind: Option<String>,
    /// A command prefix (`execute`) or a path glob (kinds with locations); anything when absent.
    pub pattern: Option<String>,
    /// Allow or deny.
    pub decision: RuleDecision,
}

/// A stored rule.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PermissionRule {
    /// Its number, what `sam agent rule remove` takes.
    pub id: i64,
    /// Its workspace.
    pub workspace_id: String,
    /// What it matches and decides.
    #[serde(flatten)]
    pub rule: NewPermissionRule,
    /// When it was added, Unix milliseconds.
    pub created_at_ms: i64,
}

/// One decision in the audit log.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRow {
    /// Its place in the log.
    pub id: i64,
    /// When the answer was given, Unix milliseconds.
    pub at_ms: i64,
    /// The workspace, by id and by the name it had then.
    pub workspace_id: String,
    /// The workspace's name then.
    pub workspace_name: String,
    /// The session.
    pub session_id: String,
    /// The coding agent.
    pub agent: String,
    /// The permission request's number.
    pub permission_id: i64,
    /// The request exactly as the coding agent sent it (secrets redacted).
    pub request: serde_json::Value,
    /// The chosen option's id, or `cancelled`.
    pub answer: String,
    /// Who or what answered: `app`, `cli`, `notification`, `cancel`, `rule N`.
    pub answered_by: String,
}

/// Copies an answered permission request into the audit log; nothing when it waits.
pub(super) fn audit(conn: &Connection, permission: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO agent_audit (at_ms, workspace_id, workspace_name, session_id, agent, \
           permission_id, request, answer, answered_by) \
         SELECT COALESCE(p.answered_at_ms, ?2), s.workspace_id, COALESCE(w.name, ''), \
           p.session_id, s.agent, p.id, p.request, p.answer, COALESCE(p.answered_by, '') \
         FROM agent_permissions p \
         JOIN agent_sessions s ON s.id = p.session_id \
         LEFT JOIN workspaces w ON w.id = s.workspace_id \
         WHERE p.id = ?1 AND p.answer IS NOT NULL",
        params![permission, now_ms()],
    )?;
    Ok(())
}

impl Store {
    /// Adds a rule to a workspace.
    pub fn add_permission_rule(
        &self,
        workspace: &WorkspaceId,
        rule: &NewPermissionRule,
    ) -> Result<PermissionRule, StoreError> {
        let conn = self.lock();
        let now = now_ms();
        conn.execute(
            "INSERT INTO permission_rules (workspace_id, agent, tool_kind, pattern, decision, \
             created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                workspace.as_str(),
                rule.agent,
                rule.tool_kind,
                rule.pattern,
                rule.decision.as_str(),
                now
            ],
        )?;
        Ok(PermissionRule {
            id: conn.last_insert_rowid(),
            workspace_id: workspace.as_str().to_owned(),
            rule: rule.clone(),
            created_at_ms: now,
        })
    }

    /// A workspace's rules, oldest first.
    pub fn permission_rules(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<PermissionRule>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {RULE_COLUMNS} FROM permission_rules WHERE workspace_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([workspace.as_str()], rule_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One rule.
    pub fn permission_rule(&self, id: i64) -> Result<PermissionRule, StoreError> {
        self.lock()
            .query_row(
                &format!("SELECT {RULE_COLUMNS} FROM permission_rules WHERE id = ?1"),
                [id],
                rule_row,
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound {
                what: "permission rule",
                id: id.to_string(),
            })
    }

    /// Removes a rule.
    pub fn remove_permission_rule(&self, id: i64) -> Result<(), StoreError> {
        let removed = self
            .lock()
            .execute("DELETE FROM permission_rules WHERE id = ?1", [id])?;
        if removed == 0 {
            return Err(StoreError::NotFound {
                what: "permission rule",
                id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The audit log, newest first: a workspace's (by id) or everyone's, at most `limit` rows.
    pub fn audit_log(
        &self,
        workspace: Option<&WorkspaceId>,
        limit: u32,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, at_ms, workspace_id, workspace_name, session_id, agent, permission_id, \
               request, answer, answered_by FROM agent_audit \
             WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![workspace.map(WorkspaceId::as_str), limit], |row| {
            let request: String = row.get(7)?;
            Ok(AuditRow {
                id: row.get(0)?,
                at_ms: row.get(1)?,
                workspace_id: row.get(2)?,
                workspace_name: row.get(3)?,
                session_id: row.get(4)?,
                agent: row.get(5)?,
                permission_id: row.get(6)?,
                request: serde_json::from_str(&request).unwrap_or(serde_json::Value::Null),
                answer: row.get(8)?,
                answered_by: row.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const RULE_COLUMNS: &str = "id, workspace_id, agent, tool_kind, pattern, decision, created_at_ms";

fn rule_row(row: &Row<'_>) -> rusqlite::Result<PermissionRule> {
    let decision: String = row.get(5)?;
    Ok(PermissionRule {
        id: row.get(0)?,
        workspace_id: row.get(1)?,
        rule: NewPermissionRule {
            agent: row.get(2)?,
            tool_kind: row.get(3)?,
            pattern: row.get(4)?,
            decision: if decision == "allow" {
                RuleDecision::Allow
            } else {
                RuleDecision::Deny
            },
        },
        created_at_ms: row.get(6)?,
    })
}
