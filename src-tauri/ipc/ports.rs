//! Commands of a workspace's Ports panel: the forwards chosen and their state, the ports
//! programs listen on in the workspace, forwarding one and stopping it.

use serde::{Deserialize, Serialize};
use tauri::State;

use super::AppState;
use sam_core::error::SamError;
use sam_core::forwards::{PortForward, PortOffer};
use sam_core::workspace::WorkspaceId;

/// A TCP socket listening in the workspace.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct WorkspacePort {
    /// The port.
    pub port: u16,
    /// The address it listens on (`127.0.0.1`, `::1`, `0.0.0.0`, `::`).
    pub address: String,
}

/// What the Ports panel shows.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct PortsView {
    /// The forwards chosen, with where they listen or why they do not.
    pub forwards: Vec<PortForward>,
    /// The TCP ports programs listen on in the workspace, while it runs.
    pub listening: Vec<WorkspacePort>,
    /// Why `listening` could not be read (the agent unreachable, say).
    pub listening_error: Option<SamError>,
    /// Ports whose addresses a coding agent printed, not forwarded or dismissed yet.
    pub offers: Vec<PortOffer>,
}

/// The workspace's forwards and listening ports.
#[tauri::command]
#[specta::specta]
pub async fn ports_view(state: State<'_, AppState>, id: String) -> Result<PortsView, SamError> {
    let id: WorkspaceId = id.parse()?;
    let forwards = state.core.forwards();
    let (listening, listening_error) = match forwards.listening(&id).await {
        Ok(listening) => (
            listening
                .into_iter()
                .map(|p| WorkspacePort {
                    port: p.port,
                    address: p.address,
                })
                .collect(),
            None,
        ),
        Err(err) => (Vec::new(), Some(err)),
    };
    Ok(PortsView {
        forwards: forwards.list(&id)?,
        listening,
        listening_error,
        offers: forwards.offers(&id)?,
    })
}

/// Declines the offer to forward `port`: it is not offered again while the app runs.
#[tauri::command]
#[specta::specta]
pub async fn ports_dismiss(
    state: State<'_, AppState>,
    id: String,
    port: u16,
) -> Result<(), SamError> {
    let id: WorkspaceId = id.parse()?;
    state.core.forwards().dismiss(&id, port);
    Ok(())
}

/// Forwards `remote` from `local` on this computer (the same number when `null`; 0 for any
/// free port), kept until removed and listening while the workspace runs.
#[tauri::command]
#[specta::specta]
pub async fn ports_forward(
    state: State<'_, AppState>,
    id: String,
    remote: u16,
    local: Option<u16>,
) -> Result<PortForward, SamError> {
    let id: WorkspaceId = id.parse()?;
    state.core.forwards().add(&id, remote, local).await
}

/// Stops forwarding `remote`.
#[tauri::command]
#[specta::specta]
pub async fn ports_unforward(
    state: State<'_, AppState>,
    id: String,
    remote: u16,
) -> Result<(), SamError> {
    let id: WorkspaceId = id.parse()?;
    state.core.forwards().remove(&id, remote).await
}
