//! The commands the webview may call. Each one is a single call into the core.

use tauri::State;

use super::AppState;
use crate::core::error::SamError;
use crate::core::workspace::Workspace;
use crate::core::{AppInfo, Core};

/// Runs a core call on the blocking pool so SQLite never stalls the UI thread.
async fn on_core<T: Send + 'static>(
    state: State<'_, AppState>,
    call: impl FnOnce(&Core) -> Result<T, SamError> + Send + 'static,
) -> Result<T, SamError> {
    let core = state.core.clone();
    tauri::async_runtime::spawn_blocking(move || call(&core))
        .await
        .map_err(|err| SamError::internal("A background task of SAM failed.", &err))?
}

/// About this installation.
#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, SamError> {
    on_core(state, Core::app_info).await
}

/// Every workspace, newest first.
#[tauri::command]
#[specta::specta]
pub async fn list_workspaces(state: State<'_, AppState>) -> Result<Vec<Workspace>, SamError> {
    on_core(state, Core::list_workspaces).await
}
