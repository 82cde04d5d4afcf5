//! The commands the webview may call. Each one is a single call into the core.

use serde::Deserialize;
use tauri::State;

use super::AppState;
use sam_core::error::SamError;
use sam_core::idle::IdleChoice;
use sam_core::lifecycle::CreateRequest;
use sam_core::provider::{MachineDetails, Placement};
use sam_core::store::{Operation, OperationKind};
use sam_core::workspace::{ProviderKind, Workspace, WorkspaceEvent, WorkspaceId};
use sam_core::{AppInfo, Core};

/// Runs a core call on the blocking pool so SQLite and the keyring never stall the UI thread.
async fn on_core<T: Send + 'static>(
    state: &State<'_, AppState>,
    call: impl FnOnce(&Core) -> Result<T, SamError> + Send + 'static,
) -> Result<T, SamError> {
    let core = state.core.clone();
    tauri::async_runtime::spawn_blocking(move || call(&core))
        .await
        .map_err(|err| SamError::internal("A background task of SAM failed.", &err))?
}

/// Runs an operation in the background; its progress reaches the UI as change events.
fn run_in_background(state: &State<'_, AppState>, operation: Operation) {
    state.core.run_in_background(operation);
}

/// About this installation.
#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, AppState>) -> Result<AppInfo, SamError> {
    on_core(&state, Core::app_info).await
}

/// Every workspace, newest first.
#[tauri::command]
#[specta::specta]
pub async fn list_workspaces(state: State<'_, AppState>) -> Result<Vec<Workspace>, SamError> {
    on_core(&state, Core::list_workspaces).await
}

/// What the create dialog sends.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct CreateWorkspace {
    /// Repository URL.
    pub repo: String,
    /// Name; the repository's when empty or absent.
    pub name: Option<String>,
    /// Branch; the default when empty or absent.
    pub branch: Option<String>,
    /// Where it runs.
    pub provider: ProviderKind,
    /// Server type and location (Hetzner); absent follows the preferences.
    pub placement: Option<Placement>,
    /// Idle timeout; absent is the provider's default.
    pub idle: Option<IdleChoice>,
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Creates a workspace; the work continues in the background.
#[tauri::command]
#[specta::specta]
pub async fn create_workspace(
    state: State<'_, AppState>,
    request: CreateWorkspace,
) -> Result<Workspace, SamError> {
    let create = CreateRequest {
        repo: request.repo,
        name: non_empty(request.name),
        branch: non_empty(request.branch),
        provider: request.provider,
        idle: request.idle.unwrap_or_default(),
        placement: request.placement,
    };
    state.core.workspaces().check_placement(&create).await?;
    let (workspace, operation) =
        on_core(&state, move |core| core.workspaces().begin_create(&create)).await?;
    run_in_background(&state, operation);
    Ok(workspace)
}

/// What can be done to an existing workspace.
#[derive(Debug, Clone, Copy, Deserialize, specta::Type)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceAction {
    /// Stop it (files stay).
    Stop,
    /// Start it again.
    Start,
    /// Delete it and its files.
    Delete,
    /// Retry its failed operation.
    Retry,
}

/// Starts an action on a workspace; the work continues in the background.
#[tauri::command]
#[specta::specta]
pub async fn workspace_action(
    state: State<'_, AppState>,
    id: String,
    action: WorkspaceAction,
) -> Result<(), SamError> {
    let id: WorkspaceId = id.parse()?;
    if matches!(action, WorkspaceAction::Stop | WorkspaceAction::Delete) {
        // Its terminals end with it; their views are told the terminal is gone.
        state.core.terminals().forget(&id);
    }
    let operation = on_core(&state, move |core| {
        let lifecycle = core.workspaces();
        match action {
            WorkspaceAction::Stop => lifecycle.begin(&id, OperationKind::Stop),
            WorkspaceAction::Start => lifecycle.begin(&id, OperationKind::Start),
            WorkspaceAction::Delete => lifecycle.begin(&id, OperationKind::Delete),
            WorkspaceAction::Retry => lifecycle.begin_retry(&id),
        }
    })
    .await?;
    run_in_background(&state, operation);
    Ok(())
}

/// One workspace.
#[tauri::command]
#[specta::specta]
pub async fn get_workspace(state: State<'_, AppState>, id: String) -> Result<Workspace, SamError> {
    let id: WorkspaceId = id.parse()?;
    on_core(&state, move |core| Ok(core.store().workspace(&id)?)).await
}

/// What a workspace's machine is now: server, location, address, cost so far (Hetzner);
/// `None` for workspaces on this computer.
#[tauri::command]
#[specta::specta]
pub async fn workspace_machine(
    state: State<'_, AppState>,
    id: String,
) -> Result<Option<MachineDetails>, SamError> {
    let id: WorkspaceId = id.parse()?;
    state.core.workspaces().machine_details(&id).await
}

/// A workspace's step log after sequence number `after` (0 for all), oldest first.
#[tauri::command]
#[specta::specta]
pub async fn workspace_events(
    state: State<'_, AppState>,
    id: String,
    after: i64,
) -> Result<Vec<WorkspaceEvent>, SamError> {
    let id: WorkspaceId = id.parse()?;
    on_core(&state, move |core| {
        Ok(core.store().events(&id, after, 10_000)?)
    })
    .await
}
