//! The coding agents' catalogue: listing it, adding and removing the user's own agents.

use tauri::State;

use super::AppState;
use sam_core::coding_agents::{self, Entry};
use sam_core::error::SamError;
use sam_core::redact::Secret;

/// Every coding agent SAM knows: built-in ones, then the user's.
#[tauri::command]
#[specta::specta]
pub async fn agents_catalog(state: State<'_, AppState>) -> Result<Vec<Entry>, SamError> {
    coding_agents::catalogue(state.core.store())
}

/// Adds (or replaces) one of the user's agents from its command line; returns the catalogue.
#[tauri::command]
#[specta::specta]
pub async fn agents_add(
    state: State<'_, AppState>,
    id: String,
    name: String,
    command: String,
    key_env: Vec<String>,
) -> Result<Vec<Entry>, SamError> {
    let store = state.core.store();
    let spec = coding_agents::from_command_line(&id, Some(&name), &command, &[], key_env)?;
    coding_agents::add_custom(store, spec)?;
    coding_agents::catalogue(store)
}

/// Removes one of the user's agents; returns the catalogue.
#[tauri::command]
#[specta::specta]
pub async fn agents_remove(state: State<'_, AppState>, id: String) -> Result<Vec<Entry>, SamError> {
    let store = state.core.store();
    coding_agents::remove_custom(store, &id)?;
    coding_agents::catalogue(store)
}

/// The agents whose API key SAM keeps in the keyring (never the keys).
#[tauri::command]
#[specta::specta]
pub async fn agents_keyed(state: State<'_, AppState>) -> Result<Vec<String>, SamError> {
    coding_agents::keys::keyed(&state.core)
}

/// Keeps a catalogue agent's API key in the keyring; returns the keyed agents.
#[tauri::command]
#[specta::specta]
pub async fn agents_set_key(
    state: State<'_, AppState>,
    agent: String,
    key: String,
) -> Result<Vec<String>, SamError> {
    coding_agents::keys::set_key(&state.core, &agent, &Secret::new(key)).await?;
    coding_agents::keys::keyed(&state.core)
}

/// Forgets an agent's API key (in the keyring too); returns the keyed agents.
#[tauri::command]
#[specta::specta]
pub async fn agents_remove_key(
    state: State<'_, AppState>,
    agent: String,
) -> Result<Vec<String>, SamError> {
    coding_agents::keys::remove_key(&state.core, &agent).await?;
    coding_agents::keys::keyed(&state.core)
}
