//! Tokens for private git repositories, per host: which hosts have one (never the tokens),
//! keeping one in the keyring, forgetting one; and signing in with GitHub.

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};

use super::AppState;
use crate::core::error::SamError;
use crate::core::github::GitHubAccount;
use crate::core::opener;
use crate::core::redact::Secret;

/// The code to enter at GitHub while a sign-in waits (shown by the window).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct GitHubSignInCode {
    /// What to type.
    pub user_code: String,
    /// Where.
    pub verification_uri: String,
}

/// Signs in with GitHub: the window hears the code as a [`GitHubSignInCode`] event and the
/// browser opens GitHub's page; returns once the user entered it (or refused, or it expired).
#[tauri::command]
#[specta::specta]
pub async fn github_sign_in(
    app: AppHandle,
    state: State<'_, AppState>,
) -> Result<GitHubAccount, SamError> {
    use tauri_specta::Event;
    state
        .core
        .lifecycle()
        .github_sign_in(|code, page| {
            let shown = GitHubSignInCode {
                user_code: code.to_owned(),
                verification_uri: page.to_owned(),
            };
            if let Err(err) = shown.emit(&app) {
                tracing::warn!(%err, "showing the GitHub code failed");
            }
            if let Err(err) = opener::open_url(page) {
                tracing::debug!(%err, "no browser for GitHub's page");
            }
        })
        .await
}

/// The GitHub account signed in here, if any.
#[tauri::command]
#[specta::specta]
pub async fn github_account(state: State<'_, AppState>) -> Result<Option<GitHubAccount>, SamError> {
    state.core.lifecycle().github_account()
}

/// Signs out of GitHub here and takes the token back from running workspaces.
#[tauri::command]
#[specta::specta]
pub async fn github_sign_out(state: State<'_, AppState>) -> Result<(), SamError> {
    state.core.lifecycle().github_sign_out().await
}

/// The git hosts SAM keeps a token for.
#[tauri::command]
#[specta::specta]
pub async fn git_token_hosts(state: State<'_, AppState>) -> Result<Vec<String>, SamError> {
    state.core.lifecycle().git_token_hosts()
}

/// Keeps `token` for `host` in the keyring; returns the hosts.
#[tauri::command]
#[specta::specta]
pub async fn git_set_token(
    state: State<'_, AppState>,
    host: String,
    token: String,
) -> Result<Vec<String>, SamError> {
    let lifecycle = state.core.lifecycle();
    lifecycle.set_git_token(&host, &Secret::new(token)).await?;
    lifecycle.git_token_hosts()
}

/// Forgets `host`'s token; returns the hosts.
#[tauri::command]
#[specta::specta]
pub async fn git_remove_token(
    state: State<'_, AppState>,
    host: String,
) -> Result<Vec<String>, SamError> {
    let lifecycle = state.core.lifecycle();
    lifecycle.remove_git_token(&host).await?;
    lifecycle.git_token_hosts()
}
