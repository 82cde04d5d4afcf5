//! GitHub from the window: signing in (in the browser, ended by the `sam://` link, or with a
//! code) and out, the user's own app, and the repository picker; and the events `sam://` links
//! become.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, State};

use super::AppState;
use sam_core::account::github::{GitHubStatus, RepoList, SignOutReport};
use sam_core::error::SamError;
use sam_core::github::GitHubAccount;
use sam_core::redact::Secret;

/// The code to enter at GitHub while a sign-in waits (shown by the window).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct GitHubSignInCode {
    /// What to type.
    pub user_code: String,
    /// Where.
    pub verification_uri: String,
}

/// A browser sign-in ended (its `sam://` link arrived): the account, or why not.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct GitHubSignInEnded {
    /// Who signed in.
    pub account: Option<GitHubAccount>,
    /// Why the sign-in failed.
    pub error: Option<SamError>,
}

/// A `sam://open` link: the window opens the create dialog with these.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct OpenRepoLink {
    /// The repository's https address.
    pub repo: String,
    /// The branch, if the link named one.
    pub branch: Option<String>,
}

/// A `sam://` link SAM could not follow: the window says why.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, tauri_specta::Event)]
pub struct LinkProblem {
    /// What went wrong and what to do.
    pub error: SamError,
}

/// Signs in with a code: the window hears the code as a [`GitHubSignInCode`] event and the
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
        .github()
        .sign_in(|code, page| {
            let shown = GitHubSignInCode {
                user_code: code.to_owned(),
                verification_uri: page.to_owned(),
            };
            if let Err(err) = shown.emit(&app) {
                tracing::warn!(%err, "showing the GitHub code failed");
            }
            if let Err(err) = state.core.open_url(page) {
                tracing::debug!(%err, "no browser for GitHub's page");
            }
        })
        .await
}

/// Starts a sign-in in the browser; it ends with a [`GitHubSignInEnded`] event. Returns the
/// address opened, for the window to offer if no browser appeared.
#[tauri::command]
#[specta::specta]
pub async fn github_sign_in_browser(state: State<'_, AppState>) -> Result<String, SamError> {
    let url = state.core.github().start_browser_sign_in().await?;
    if let Err(err) = state.core.open_url(&url) {
        tracing::warn!(%err, "no browser for GitHub's sign-in page");
    }
    Ok(url)
}

/// The account, how it signed in and until when, and the app SAM signs in as.
#[tauri::command]
#[specta::specta]
pub async fn github_status(state: State<'_, AppState>) -> Result<GitHubStatus, SamError> {
    state.core.github().status().await
}

/// Signs out: revokes at GitHub, forgets the token here and takes it back from workspaces.
#[tauri::command]
#[specta::specta]
pub async fn github_sign_out(state: State<'_, AppState>) -> Result<SignOutReport, SamError> {
    state.core.github().sign_out().await
}

/// Signs in as the user's own GitHub app from now on.
#[tauri::command]
#[specta::specta]
pub async fn github_set_app(
    state: State<'_, AppState>,
    client_id: String,
    client_secret: String,
) -> Result<GitHubStatus, SamError> {
    state
        .core
        .github()
        .set_app(&client_id, Secret::new(client_secret))
        .await?;
    state.core.github().status().await
}

/// Stops using the user's own GitHub app.
#[tauri::command]
#[specta::specta]
pub async fn github_forget_app(state: State<'_, AppState>) -> Result<GitHubStatus, SamError> {
    state.core.github().forget_app().await?;
    state.core.github().status().await
}

/// The signed-in user's repositories matching `query` (`reload`: ask GitHub again).
#[tauri::command]
#[specta::specta]
pub async fn github_repos(
    state: State<'_, AppState>,
    query: String,
    reload: bool,
) -> Result<RepoList, SamError> {
    state.core.github().repos(&query, reload).await
}

/// The branches of `full_name` (`owner/repository`).
#[tauri::command]
#[specta::specta]
pub async fn github_branches(
    state: State<'_, AppState>,
    full_name: String,
) -> Result<Vec<String>, SamError> {
    state.core.github().branches(&full_name).await
}

/// A link that arrived with the app's own start, kept until the window asks for it (its
/// listeners may not be up yet when the link is read).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StartupLink {
    /// A `sam://open` link.
    Open(OpenRepoLink),
    /// A link SAM could not follow.
    Problem(LinkProblem),
}

/// The link the app was started with, until the window takes it.
#[derive(Debug, Default)]
pub struct StartupLinks(pub Mutex<Option<StartupLink>>);

/// The link the app was started with, once (`None` afterwards, or when there was none).
#[tauri::command]
#[specta::specta]
pub async fn take_startup_link(
    links: State<'_, StartupLinks>,
) -> Result<Option<StartupLink>, SamError> {
    Ok(links.0.lock().unwrap_or_else(|p| p.into_inner()).take())
}
