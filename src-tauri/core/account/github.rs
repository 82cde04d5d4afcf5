//! The GitHub account: signing in (browser or code) and out (revoking at GitHub and in every
//! agent), keeping the token fresh and handing the fresh one to running workspaces before the
//! old one expires, and the repository picker's lists.
//!
//! [`GitHubTokens`] is the part [`GitCredentials`] needs too (which app, which host, a token
//! renewed when due), so both hold it and neither holds the other's state.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::git::GitCredentials;
use crate::clock::now_ms;
use crate::context::Context;
use crate::error::{ErrorCategory, SamError};
use crate::github::repos::{self, GitHubRepo};
use crate::github::{
    self, AppSource, GitHubAccount, GitHubApp, PendingSignIns, Session, StoredTokens,
};
use crate::redact::Secret;

/// A token is renewed (and handed to running workspaces) this many seconds before it expires.
pub const REFRESH_AHEAD: i64 = 600;
/// How long the repository list is reused, in seconds.
const REPOS_FRESH_FOR: i64 = 300;
/// The most repositories one picker answer carries.
const REPOS_SHOWN: usize = 50;

/// Which app SAM signs in as, which host its tokens are for, and the tokens renewed when due.
#[derive(Debug)]
pub struct GitHubTokens {
    ctx: Arc<Context>,
    /// The app to use instead of the configured one ([`GitHubTokens::use_app`]).
    app: std::sync::Mutex<Option<GitHubApp>>,
    /// One renewal at a time: GitHub's refresh tokens work once.
    renewing: tokio::sync::Mutex<()>,
}

/// The GitHub account of one process.
#[derive(Debug, Clone)]
pub struct GitHub {
    ctx: Arc<Context>,
    tokens: Arc<GitHubTokens>,
    git: GitCredentials,
    state: Arc<std::sync::Mutex<GitHubState>>,
}

#[derive(Debug, Default)]
struct GitHubState {
    pending: PendingSignIns,
    /// The repositories, when they were read (Unix seconds), and whether GitHub had more.
    repos: Option<(i64, Arc<Vec<GitHubRepo>>, bool)>,
    /// The expiry of the token running workspaces were last handed (`None`: not yet).
    handed: Option<Option<i64>>,
    /// Why GitHub refused to renew the token; renewal is not tried again until the user signs
    /// in again.
    broken: Option<String>,
}

/// What Settings → Credentials shows about GitHub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GitHubStatus {
    /// Who is signed in.
    pub account: Option<GitHubAccount>,
    /// How, with what scope, until when.
    pub session: Option<Session>,
    /// The keyring entry the tokens are in.
    pub token_entry: String,
    /// The app SAM signs in as, if any.
    pub app: Option<GitHubAppInfo>,
    /// Why the sign-in no longer works (GitHub refused to renew the token), if it does not.
    pub problem: Option<String>,
}

/// The app SAM signs in as (nothing secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GitHubAppInfo {
    /// Its client id.
    pub client_id: String,
    /// Where it was configured.
    pub source: AppSource,
    /// Whether SAM has its secret: the browser sign-in and revoking need it.
    pub has_secret: bool,
    /// The keyring entry of the user's own app's secret.
    pub secret_entry: String,
}

/// How signing out went at GitHub.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SignOutReport {
    /// Whether GitHub revoked the token.
    pub revoked_at_github: bool,
    /// What the user should know (why it was not revoked, and what to do).
    pub note: Option<String>,
}

/// A page of the repository picker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RepoList {
    /// The matching repositories, most recently pushed first (at most 50).
    pub repos: Vec<GitHubRepo>,
    /// How many matched.
    pub matched: u32,
    /// How many SAM read from GitHub.
    pub total: u32,
    /// Whether GitHub had more than SAM reads (1000).
    pub truncated: bool,
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

impl GitHubTokens {
    /// The tokens over `ctx`; nothing is read until they are asked for.
    pub fn new(ctx: Arc<Context>) -> Arc<Self> {
        Arc::new(Self {
            ctx,
            app: std::sync::Mutex::default(),
            renewing: tokio::sync::Mutex::default(),
        })
    }

    /// The app SAM signs in as: the one given with [`GitHubTokens::use_app`], else the
    /// configured one (the environment's, the user's own, or the build's).
    pub(crate) async fn app(&self) -> Result<GitHubApp, SamError> {
        let chosen = self
            .app
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match chosen {
            Some(app) => Ok(app),
            None => {
                let config = self.ctx.config().github.clone();
                self.ctx
                    .with_keys(move |keys, store| GitHubApp::configured(store, keys, &config))
                    .await
            }
        }
    }

    /// Signs in as `app` (a fake GitHub in tests, an embedder's app) instead of the configured
    /// one.
    pub fn use_app(&self, app: GitHubApp) {
        *self
            .app
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(app);
    }

    /// The git host GitHub's repositories are on (`github.com`, or the chosen app's).
    pub(crate) fn host(&self) -> String {
        self.app
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map_or_else(|| self.ctx.config().github.git_host(), GitHubApp::git_host)
    }

    /// The GitHub tokens, renewed first when they expire within [`REFRESH_AHEAD`] of `now`.
    pub(crate) async fn fresh(&self, now: i64) -> Result<Option<StoredTokens>, SamError> {
        let _one_at_a_time = self.renewing.lock().await;
        let Some(value) = self
            .ctx
            .with_keys(|keys, _| keys.get(github::TOKEN_ENTRY))
            .await?
        else {
            return Ok(None);
        };
        let tokens = StoredTokens::parse(&value);
        if !tokens.due(now, REFRESH_AHEAD) {
            return Ok(Some(tokens));
        }
        let method =
            github::session(self.ctx.store())?.map_or(github::SignInMethod::Device, |s| s.method);
        let app = self.app().await?;
        let (fresh, session) = app.refresh(&tokens, method, now).await?;
        let kept = fresh.clone();
        self.ctx
            .with_keys(move |keys, store| github::keep_tokens(keys, store, &kept, &session))
            .await?;
        tracing::info!("renewed the GitHub token");
        Ok(Some(fresh))
    }
}

impl GitHub {
    /// The account over `ctx`, signing in with `tokens`' app and handing credentials out
    /// through `git`.
    pub fn new(ctx: Arc<Context>, tokens: Arc<GitHubTokens>, git: GitCredentials) -> Self {
        Self {
            ctx,
            tokens,
            git,
            state: Arc::default(),
        }
    }

    /// Signs in as `app` (a fake GitHub in tests, an embedder's app) instead of the configured
    /// one.
    pub fn use_app(&self, app: GitHubApp) {
        self.tokens.use_app(app);
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, GitHubState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps a sign-in's tokens and session, with the account they belong to.
    async fn keep(
        &self,
        app: &GitHubApp,
        tokens: StoredTokens,
        session: Session,
    ) -> Result<GitHubAccount, SamError> {
        let account = app.account_of(&tokens.access()).await?;
        let kept = account.clone();
        self.ctx
            .with_keys(move |keys, store| {
                github::keep_sign_in(keys, store, &tokens, &kept, &session)
            })
            .await?;
        {
            let mut state = self.locked();
            state.repos = None;
            state.broken = None;
            state.handed = None;
        }
        Ok(account)
    }

    /// Signs in with a code (the device flow): `show` is given the code and the page to enter it
    /// at; returns once the user has (or refused, or the code expired).
    pub async fn sign_in(&self, show: impl FnOnce(&str, &str)) -> Result<GitHubAccount, SamError> {
        let app = self.tokens.app().await?;
        let sign_in = app.start_sign_in().await?;
        show(&sign_in.user_code, &sign_in.verification_uri);
        let (tokens, session) = app.finish_sign_in(sign_in, now_secs()).await?;
        self.keep(&app, tokens, session).await
    }

    /// Starts a sign-in in the browser: returns GitHub's authorize address to open. It ends when the `sam://` callback reaches
    /// [`GitHub::callback`].
    pub async fn start_browser_sign_in(&self) -> Result<String, SamError> {
        let app = self.tokens.app().await?;
        app.start_browser_sign_in(&mut self.locked().pending, now_secs())
    }

    /// Finishes a browser sign-in with GitHub's answer (from `sam://oauth/callback`).
    pub async fn callback(
        &self,
        state: &str,
        outcome: Result<String, (String, Option<String>)>,
    ) -> Result<GitHubAccount, SamError> {
        let now = now_secs();
        let matched = self.locked().pending.take(state, now)?;
        let code = outcome.map_err(|(error, description)| {
            let message = if error == "access_denied" {
                "GitHub sign-in was refused at GitHub.".to_owned()
            } else {
                format!("GitHub ended the sign-in: {}", description.unwrap_or(error))
            };
            SamError::new(
                ErrorCategory::Credentials,
                message,
                "Sign in again and choose Authorize.",
            )
        })?;
        let app = self.tokens.app().await?;
        let (tokens, session) = app.finish_browser_sign_in(matched, &code, now).await?;
        self.keep(&app, tokens, session).await
    }

    /// What Settings shows: the account, the session, the app.
    pub async fn status(&self) -> Result<GitHubStatus, SamError> {
        let app = match self.tokens.app().await {
            Ok(app) => Some(GitHubAppInfo {
                client_id: app.client_id,
                source: app.source,
                has_secret: app.client_secret.is_some(),
                secret_entry: github::CLIENT_SECRET_ENTRY.to_owned(),
            }),
            Err(err) if err.category == ErrorCategory::Configuration => None,
            Err(err) => return Err(err),
        };
        Ok(GitHubStatus {
            account: github::account(self.ctx.store())?,
            session: github::session(self.ctx.store())?,
            token_entry: github::TOKEN_ENTRY.to_owned(),
            app,
            problem: self.locked().broken.clone(),
        })
    }

    /// Uses the user's own GitHub app (client id in SQLite, secret in the keyring).
    pub async fn set_app(&self, client_id: &str, secret: Secret) -> Result<(), SamError> {
        let client_id = client_id.to_owned();
        self.ctx
            .with_keys(move |keys, store| github::set_own_app(store, keys, &client_id, &secret))
            .await
    }

    /// Stops using the user's own GitHub app.
    pub async fn forget_app(&self) -> Result<(), SamError> {
        self.ctx
            .with_keys(|keys, store| github::forget_own_app(store, keys))
            .await
    }

    /// Signs out of GitHub: revokes the token at GitHub (when SAM has the app's secret), forgets
    /// it here, and takes it back from every running workspace's agent that holds it.
    pub async fn sign_out(&self) -> Result<SignOutReport, SamError> {
        let stored = self
            .ctx
            .with_keys(|keys, _| keys.get(github::TOKEN_ENTRY))
            .await?;
        let report = match (stored, self.tokens.app().await) {
            (None, _) => SignOutReport {
                revoked_at_github: false,
                note: None,
            },
            (Some(value), Ok(app)) => match app.revoke(&StoredTokens::parse(&value).access()).await
            {
                Ok(()) => SignOutReport {
                    revoked_at_github: true,
                    note: None,
                },
                Err(err) => SignOutReport {
                    revoked_at_github: false,
                    note: Some(format!(
                        "{} GitHub still accepts the token until it expires, or until you revoke \
                         SAM at {}/settings/applications.",
                        err.message,
                        app.web.trim_end_matches('/')
                    )),
                },
            },
            (Some(_), Err(err)) => SignOutReport {
                revoked_at_github: false,
                note: Some(format!(
                    "{} GitHub still accepts the token until you revoke SAM at \
                     github.com/settings/applications.",
                    err.message
                )),
            },
        };
        self.ctx
            .with_keys(|keys, store| github::sign_out(keys, store))
            .await?;
        {
            let mut state = self.locked();
            state.repos = None;
            state.handed = None;
            state.broken = None;
        }
        self.git.take_back(&self.tokens.host()).await;
        Ok(report)
    }

    /// Renews the GitHub token when it is about to expire and hands running workspaces the
    /// current one whenever theirs differs (at the first call, and after every renewal).
    /// Returns how many workspaces were handed a token.
    pub async fn rotate_token(&self, now: i64) -> Result<usize, SamError> {
        // SQLite says whether anyone is signed in; the keyring (which may ask to be unlocked)
        // is read only then.
        if github::account(self.ctx.store())?.is_none() || self.locked().broken.is_some() {
            return Ok(0);
        }
        // SQLite's copy of the expiry answers the usual tick (nothing due, workspaces hold the
        // current token) without the keyring.
        let expires_at = github::session(self.ctx.store())?.and_then(|s| s.expires_at);
        let due = expires_at.is_some_and(|at| at - now <= REFRESH_AHEAD);
        if !due && self.locked().handed == Some(expires_at) {
            return Ok(0);
        }
        let tokens = match self.tokens.fresh(now).await {
            Ok(Some(tokens)) => tokens,
            Ok(None) => return Ok(0),
            Err(err) => {
                if err.category == ErrorCategory::Credentials {
                    // Asking again every 30 s would not help: the user has to sign in.
                    self.locked().broken = Some(format!("{} {}", err.message, err.next_step));
                }
                return Err(err);
            }
        };
        if self.locked().handed == Some(tokens.expires_at()) {
            return Ok(0);
        }
        let handed = self.git.hand_out(&self.tokens.host()).await;
        self.locked().handed = Some(tokens.expires_at());
        Ok(handed)
    }

    /// The signed-in user's repositories matching `query`; `reload` reads them from GitHub
    /// again instead of the list read in the last five minutes.
    pub async fn repos(&self, query: &str, reload: bool) -> Result<RepoList, SamError> {
        let now = now_secs();
        let cached = self
            .locked()
            .repos
            .clone()
            .filter(|(at, _, _)| !reload && now - at < REPOS_FRESH_FOR);
        let (all, truncated) = match cached {
            Some((_, all, truncated)) => (all, truncated),
            None => {
                let (app, token) = self.api().await?;
                let (all, truncated) = app.repositories(&token).await?;
                let all = Arc::new(all);
                self.locked().repos = Some((now, Arc::clone(&all), truncated));
                (all, truncated)
            }
        };
        let matched = repos::matching(&all, query);
        Ok(RepoList {
            matched: u32::try_from(matched.len()).unwrap_or(u32::MAX),
            repos: matched.into_iter().take(REPOS_SHOWN).cloned().collect(),
            total: u32::try_from(all.len()).unwrap_or(u32::MAX),
            truncated,
        })
    }

    /// The branches of `full_name` (`owner/repository`).
    pub async fn branches(&self, full_name: &str) -> Result<Vec<String>, SamError> {
        let (app, token) = self.api().await?;
        app.branches(&token, full_name).await
    }

    async fn api(&self) -> Result<(GitHubApp, Secret), SamError> {
        let tokens = self.tokens.fresh(now_secs()).await?.ok_or_else(|| {
            SamError::new(
                ErrorCategory::Credentials,
                "SAM is not signed in with GitHub.",
                "Sign in with GitHub in Settings → Credentials, or paste the repository's address.",
            )
        })?;
        Ok((self.tokens.app().await?, tokens.access()))
    }
}
