//! Tokens for private git repositories, per host: which hosts have one (never the tokens),
//! keeping one in the keyring, forgetting one.

use tauri::State;

use super::AppState;
use sam_core::error::SamError;
use sam_core::redact::Secret;

/// The git hosts SAM keeps a token for.
#[tauri::command]
#[specta::specta]
pub async fn git_token_hosts(state: State<'_, AppState>) -> Result<Vec<String>, SamError> {
    state.core.git().token_hosts()
}

/// Keeps `token` for `host` in the keyring; returns the hosts.
#[tauri::command]
#[specta::specta]
pub async fn git_set_token(
    state: State<'_, AppState>,
    host: String,
    token: String,
) -> Result<Vec<String>, SamError> {
    state
        .core
        .git()
        .set_token(&host, &Secret::new(token))
        .await?;
    state.core.git().token_hosts()
}

/// Forgets `host`'s token; returns the hosts.
#[tauri::command]
#[specta::specta]
pub async fn git_remove_token(
    state: State<'_, AppState>,
    host: String,
) -> Result<Vec<String>, SamError> {
    state.core.git().remove_token(&host).await?;
    state.core.git().token_hosts()
}
