//! Commands for SSH access from editors: opening a workspace in one, and SAM's block in the
//! user's `~/.ssh/config` (shown as a change before it is written).

use serde::{Deserialize, Serialize};
use tauri::State;

use super::AppState;
use sam_core::editors::Editor;
use sam_core::error::SamError;
use sam_core::ssh_config;
use sam_core::ssh_hosts::{self, SshFiles};
use sam_core::workspace::WorkspaceId;

/// Where SAM's block stands in the user's SSH config.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct SshConfigStatus {
    /// The file (`~/.ssh/config`).
    pub file: String,
    /// Whether SAM's block is in it.
    pub installed: bool,
    /// What turning SSH access on (or, when installed, off) changes in the file: lines starting
    /// with `+` or `-`.
    pub change: String,
}

/// Opens the workspace's repository in `editor` (`vscode`, `cursor`, `jetbrains`, `zed`);
/// returns the link handed to the desktop.
#[tauri::command]
#[specta::specta]
pub async fn workspace_open_editor(
    state: State<'_, AppState>,
    id: String,
    editor: String,
) -> Result<String, SamError> {
    let id: WorkspaceId = id.parse()?;
    let editor: Editor = editor.parse()?;
    let ssh_config = ssh_hosts::user_ssh_config()?;
    state.core.open_in_editor(&id, editor, &ssh_config)
}

/// Where SAM's block stands, and the change a switch would make.
#[tauri::command]
#[specta::specta]
pub async fn ssh_config_status(state: State<'_, AppState>) -> Result<SshConfigStatus, SamError> {
    status(&state)
}

/// Adds SAM's block to the user's SSH config (`on`), or takes it out; answers the new state.
#[tauri::command]
#[specta::specta]
pub async fn ssh_config_set(
    state: State<'_, AppState>,
    on: bool,
) -> Result<SshConfigStatus, SamError> {
    let file = ssh_hosts::user_ssh_config()?;
    let change = state.core.plan_ssh_config(&file, on)?;
    ssh_config::apply(&file, &change)?;
    status(&state)
}

fn status(state: &AppState) -> Result<SshConfigStatus, SamError> {
    let file = ssh_hosts::user_ssh_config()?;
    let files = SshFiles::of(state.core.paths());
    let install = ssh_config::plan_install(&file, &files.config)?;
    let installed = install.is_noop();
    let change = if installed {
        ssh_config::plan_remove(&file)?
    } else {
        install
    };
    Ok(SshConfigStatus {
        file: file.display().to_string(),
        installed,
        change: change.diff(),
    })
}
