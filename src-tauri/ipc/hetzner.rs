//! The Hetzner account: whether SAM has a token (never the token itself), and entering one.

use serde::Serialize;
use tauri::State;

use super::AppState;
use crate::core::error::SamError;
use crate::core::redact::Secret;

/// Whether Hetzner workspaces can be made, and with which token.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct HetznerAccount {
    /// A token is there.
    pub connected: bool,
    /// Where it comes from: `keyring` or `HCLOUD_TOKEN`.
    pub source: Option<String>,
}

async fn account(state: &AppState) -> Result<HetznerAccount, SamError> {
    let source = state.core.lifecycle().hetzner_token_source().await?;
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
    state.core.lifecycle().set_hetzner_token(&token).await?;
    account(&state).await
}
