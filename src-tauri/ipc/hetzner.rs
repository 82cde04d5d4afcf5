//! The Hetzner account: whether SAM has a token (never the token itself) and entering one; the
//! catalogue with prices; the location and server type preferences; the reconciler's report and
//! deleting what it lists; what the workspaces have cost.

use serde::Serialize;
use tauri::State;

use super::AppState;
use sam_core::error::SamError;
use sam_core::provider::hetzner::catalog::{Catalog, Preferences};
use sam_core::provider::hetzner::reconcile::Report;
use sam_core::provider::hetzner::spend::Spend;
use sam_core::redact::Secret;

/// Whether Hetzner workspaces can be made, and with which token.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct HetznerAccount {
    /// A token is there.
    pub connected: bool,
    /// Where it comes from: `keyring` or `HCLOUD_TOKEN`.
    pub source: Option<String>,
}

async fn account(state: &AppState) -> Result<HetznerAccount, SamError> {
    let source = state.core.hetzner().token_source().await?;
    Ok(HetznerAccount {
        connected: source.is_some(),
        source: source.map(str::to_owned),
    })
}

/// Whether SAM has a Hetzner token.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_account(state: State<'_, AppState>) -> Result<HetznerAccount, SamError> {
    account(&state).await
}

/// Checks a token with Hetzner (it must authenticate and may write) and keeps it in the keyring.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_set_token(
    state: State<'_, AppState>,
    token: String,
) -> Result<HetznerAccount, SamError> {
    let token = Secret::new(token);
    state.core.hetzner().set_token(&token).await?;
    account(&state).await
}

/// What may be chosen on Hetzner (locations, server types, the disk) with prices.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_catalog(state: State<'_, AppState>) -> Result<Catalog, SamError> {
    Ok((*state.core.hetzner().catalog().await?).clone())
}

/// The ordered location and server type preferences.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_preferences(state: State<'_, AppState>) -> Result<Preferences, SamError> {
    state.core.hetzner().preferences()
}

/// Checks the preferences against the catalogue and saves them.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_set_preferences(
    state: State<'_, AppState>,
    preferences: Preferences,
) -> Result<Preferences, SamError> {
    state.core.hetzner().set_preferences(&preferences).await?;
    state.core.hetzner().preferences()
}

/// The reconciler's view of the account, checked now (running workspaces whose server
/// vanished are marked).
#[tauri::command]
#[specta::specta]
pub async fn hetzner_resources(state: State<'_, AppState>) -> Result<Report, SamError> {
    state.core.workspaces().sweep().await?;
    state.core.hetzner().last_report().ok_or_else(|| {
        SamError::internal(
            "The Hetzner sweep kept no report.",
            &"no report after a sweep",
        )
    })
}

/// The latest report of the periodic sweep, without asking Hetzner (`None` before the first).
#[tauri::command]
#[specta::specta]
pub async fn hetzner_last_resources(
    state: State<'_, AppState>,
) -> Result<Option<Report>, SamError> {
    Ok(state.core.hetzner().last_report())
}

/// Deletes a resource the reconciler listed (another installation's only with `foreign`).
#[tauri::command]
#[specta::specta]
pub async fn hetzner_delete_resource(
    state: State<'_, AppState>,
    kind: String,
    id: i64,
    foreign: bool,
) -> Result<(), SamError> {
    state
        .core
        .hetzner()
        .delete_resource(&kind, id, foreign)
        .await
}

/// What every workspace has cost so far and this month, and the month-to-date total.
#[tauri::command]
#[specta::specta]
pub async fn spend(state: State<'_, AppState>) -> Result<Spend, SamError> {
    state.core.hetzner().spend(sam_core::clock::now_ms())
}

/// Whether idle servers delete themselves instead of powering off.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_self_delete(state: State<'_, AppState>) -> Result<bool, SamError> {
    state.core.hetzner().self_delete()
}

/// Lets idle servers delete themselves (handing each the token in memory), or stops it.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_set_self_delete(state: State<'_, AppState>, on: bool) -> Result<(), SamError> {
    state.core.hetzner().set_self_delete(on).await
}

/// The SSH public keys new Hetzner servers get for the workspace user.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_ssh_keys(state: State<'_, AppState>) -> Result<Vec<String>, SamError> {
    state.core.hetzner().ssh_keys()
}

/// Adds an OpenSSH public key (one line of a `.pub` file); answers the keys.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_add_ssh_key(
    state: State<'_, AppState>,
    key: String,
) -> Result<Vec<String>, SamError> {
    state.core.hetzner().add_ssh_key(&key)
}

/// Removes a key (by its number from 1, its comment or the key); answers the keys left.
#[tauri::command]
#[specta::specta]
pub async fn hetzner_remove_ssh_key(
    state: State<'_, AppState>,
    key: String,
) -> Result<Vec<String>, SamError> {
    state.core.hetzner().remove_ssh_key(&key)
}
