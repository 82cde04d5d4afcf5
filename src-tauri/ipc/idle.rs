//! Commands for a workspace's idle policy (where it stands, changing it, "Keep running") and
//! for the notifications that announce it.

use std::time::Duration;

use tauri::State;

use super::AppState;
use sam_core::clock::now_ms;
use sam_core::error::SamError;
use sam_core::idle::watch::IdleView;
use sam_core::workspace::WorkspaceId;

/// The longest single "Keep running".
const KEEP_RUNNING_MAX_MINUTES: u32 = 24 * 60;

/// Where the workspace's idle policy stands: timeout, deadline, warning, "kept running until".
#[tauri::command]
#[specta::specta]
pub async fn workspace_idle(state: State<'_, AppState>, id: String) -> Result<IdleView, SamError> {
    let id: WorkspaceId = id.parse()?;
    state.core.idle().view(&id, now_ms())
}

/// Changes the workspace's idle timeout in seconds; `null` = never.
#[tauri::command]
#[specta::specta]
pub async fn workspace_set_idle_timeout(
    state: State<'_, AppState>,
    id: String,
    timeout_secs: Option<u32>,
) -> Result<(), SamError> {
    let id: WorkspaceId = id.parse()?;
    state
        .core
        .idle()
        .set_timeout(&id, timeout_secs.map(u64::from))
        .await
}

/// "Keep running": the workspace is not stopped for idleness for `minutes` from now.
#[tauri::command]
#[specta::specta]
pub async fn workspace_keep_running(
    state: State<'_, AppState>,
    id: String,
    minutes: u32,
) -> Result<IdleView, SamError> {
    let id: WorkspaceId = id.parse()?;
    if minutes == 0 || minutes > KEEP_RUNNING_MAX_MINUTES {
        return Err(SamError::invalid_input(
            "Keep running takes between 1 minute and 24 hours.",
            "Pick a time in that range, or set the idle timeout to never.",
        ));
    }
    let now = now_ms();
    state
        .core
        .idle()
        .keep_running(&id, Duration::from_secs(u64::from(minutes) * 60), now)
        .await?;
    state.core.idle().view(&id, now)
}

/// Whether desktop notifications are silenced ("do not disturb").
#[tauri::command]
#[specta::specta]
pub async fn do_not_disturb(state: State<'_, AppState>) -> Result<bool, SamError> {
    Ok(state.core.store().do_not_disturb()?)
}

/// Silences desktop notifications, or lets them through again.
#[tauri::command]
#[specta::specta]
pub async fn set_do_not_disturb(state: State<'_, AppState>, on: bool) -> Result<(), SamError> {
    Ok(state.core.store().set_do_not_disturb(on)?)
}
