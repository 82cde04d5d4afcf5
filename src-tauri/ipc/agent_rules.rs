//! A workspace's permission rules and the audit log of answers, in the window.

use tauri::State;

use super::AppState;
use sam_core::coding_agents::rules;
use sam_core::error::SamError;
use sam_core::store::{AuditRow, NewPermissionRule, PermissionRule};
use sam_core::workspace::WorkspaceId;

/// The most audit rows the window shows at once.
const AUDIT_PAGE: u32 = 200;

/// A workspace's permission rules, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn agent_rules(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<PermissionRule>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    Ok(state.core.store().permission_rules(&id)?)
}

/// Adds a permission rule to a workspace, refused with the reason when it is not valid.
#[tauri::command]
#[specta::specta]
pub async fn agent_rule_add(
    state: State<'_, AppState>,
    workspace: String,
    rule: NewPermissionRule,
) -> Result<PermissionRule, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let workspace = state.core.store().workspace(&id)?;
    rules::add(&state.core, &workspace, rule)
}

/// Removes a permission rule.
#[tauri::command]
#[specta::specta]
pub async fn agent_rule_remove(state: State<'_, AppState>, id: i64) -> Result<(), SamError> {
    Ok(state.core.store().remove_permission_rule(id)?)
}

/// A workspace's answers to permission requests, newest first.
#[tauri::command]
#[specta::specta]
pub async fn agent_audit(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<AuditRow>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    Ok(state.core.store().audit_log(Some(&id), AUDIT_PAGE)?)
}
