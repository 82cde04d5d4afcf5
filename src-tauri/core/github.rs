//! GitHub: signing in (in the browser with the authorization code, PKCE and `state` through the
//! `sam://` deep link, or with the device flow where deep links do not work), keeping the tokens
//! fresh, signing out (revoking at GitHub), and listing repositories and branches for the
//! picker. Everything goes through SAM's reqwest client; OAuth through `oauth2`.
//!
//! Secrets (the tokens, and the user's own app's client secret) live in the OS keyring only.
//! SQLite holds what is not secret: the account (login, id, name), the session facts shown in
//! Settings (how it signed in, scope, expiry) and the user's own app's client id.
//!
//! GitHub answers OAuth errors (`authorization_pending`, `bad_verification_code`, …) with HTTP
//! 200, where OAuth and the `oauth2` crate expect 400; the HTTP adapter here turns a 200 carrying
//! `error` into a 400 so the crate's rules apply.

mod browser;
mod device;
pub mod repos;
mod tokens;

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, DeviceAuthorizationUrl, EndpointNotSet, EndpointSet,
    HttpRequest, HttpResponse, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

pub use browser::{CALLBACK_URL, PendingSignIns};
pub use device::DeviceSignIn;
pub use tokens::{Session, SignInMethod, StoredTokens, session};

use crate::config::GitHubConfig;
use crate::error::{ErrorCategory, SamError};
use crate::installation::KeyStore;
use crate::redact::Secret;
use crate::store::{Setting, Store};

/// The keyring entry of the GitHub tokens (access, refresh, and their expiry, as JSON).
pub const TOKEN_ENTRY: &str = "github/access-token";
/// The keyring entry of the user's own GitHub app's client secret.
pub const CLIENT_SECRET_ENTRY: &str = "github/client-secret";
/// The setting holding the signed-in account.
const ACCOUNT: Setting<GitHubAccount> = Setting::new("github.account");
/// The setting holding the user's own app's client id (not secret).
const OWN_APP: Setting<OwnApp> = Setting::new("github.app");
/// The app official builds sign in as; the environment or the user's own app override it.
const BUILD_CLIENT_ID: Option<&str> = option_env!("SAM_GITHUB_CLIENT_ID");
const BUILD_CLIENT_SECRET: Option<&str> = option_env!("SAM_GITHUB_CLIENT_SECRET");

/// Where the GitHub app SAM signs in as comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum AppSource {
    /// `SAM_GITHUB_CLIENT_ID` (tests, GitHub Enterprise).
    Environment,
    /// The user's own app, set in Settings → Credentials or `sam github use-app`.
    Own,
    /// The app this build was made with.
    Build,
}

/// Where GitHub is, and which app SAM signs in as.
#[derive(Debug, Clone)]
pub struct GitHubApp {
    /// The app's client id.
    pub client_id: String,
    /// The app's client secret: needed for the browser sign-in, refreshing and revoking; the
    /// device flow works without.
    pub client_secret: Option<Secret>,
    /// Where the app came from.
    pub source: AppSource,
    /// GitHub's web address (`https://github.com`).
    pub web: String,
    /// GitHub's API (`https://api.github.com`).
    pub api: String,
}

/// The host part of a web address (`https://github.com/` → `github.com`).
pub(crate) fn host_of(web: &str) -> String {
    web.split_once("://")
        .map_or(web, |(_, rest)| rest)
        .trim_end_matches('/')
        .to_ascii_lowercase()
}

/// The user's own app: its client id (the secret is in the keyring).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OwnApp {
    client_id: String,
}

fn no_app() -> SamError {
    SamError::new(
        ErrorCategory::Configuration,
        "This build of SAM has no GitHub app to sign in with.",
        "Register your own GitHub app (docs/github-app.md) and enter its client id and secret in \
         Settings → Credentials, or keep a token for github.com there.",
    )
}

impl GitHubApp {
    /// The app SAM signs in as: `SAM_GITHUB_CLIENT_ID` (and `SAM_GITHUB_CLIENT_SECRET`) from
    /// `config`, else the user's own app, else the build's. Blocking (the keyring).
    pub fn configured(
        store: &Store,
        keys: &dyn KeyStore,
        config: &GitHubConfig,
    ) -> Result<Self, SamError> {
        let (client_id, client_secret, source) = if let Some(id) = &config.client_id {
            (
                id.clone(),
                config.client_secret.clone(),
                AppSource::Environment,
            )
        } else if let Some(own) = own_app(store)? {
            (
                own.client_id,
                keys.get(CLIENT_SECRET_ENTRY)?,
                AppSource::Own,
            )
        } else {
            let id = BUILD_CLIENT_ID.ok_or_else(no_app)?;
            (
                id.to_owned(),
                BUILD_CLIENT_SECRET.map(Secret::new),
                AppSource::Build,
            )
        };
        Ok(Self {
            client_id,
            client_secret,
            source,
            web: config.web(),
            api: config.api(),
        })
    }

    /// The host git tokens from this app are for (`github.com`).
    pub fn git_host(&self) -> String {
        host_of(&self.web)
    }

    /// The app for a GitHub at `web` (a test's fake, GitHub Enterprise), whose API is at `api`.
    pub fn at(web: &str, api: &str, client_id: &str, client_secret: Option<Secret>) -> Self {
        Self {
            client_id: client_id.to_owned(),
            client_secret,
            source: AppSource::Environment,
            web: web.to_owned(),
            api: api.to_owned(),
        }
    }

    /// The `oauth2` client for this app's endpoints.
    fn oauth(&self) -> Result<OAuthClient, SamError> {
        let url = |path: &str| format!("{}{path}", self.web.trim_end_matches('/'));
        let bad = |err: url::ParseError| {
            SamError::new(
                ErrorCategory::Configuration,
                format!("GitHub's address {:?} is not a URL: {err}", self.web),
                "Fix SAM_GITHUB_URL.",
            )
        };
        let client = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(url("/login/oauth/authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(url("/login/oauth/access_token")).map_err(bad)?)
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(url("/login/device/code")).map_err(bad)?,
            );
        Ok(match &self.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        })
    }

    /// The client secret, or why an operation needs one.
    fn secret_for(&self, what: &str) -> Result<&Secret, SamError> {
        self.client_secret.as_ref().ok_or_else(|| {
            SamError::new(
                ErrorCategory::Configuration,
                format!("{what} needs the GitHub app's client secret, and SAM has none."),
                "Enter your own GitHub app's client id and secret in Settings → Credentials \
                 (docs/github-app.md), or sign in with a code instead.",
            )
        })
    }

    /// Who `token` belongs to (`GET /user`).
    pub async fn account_of(&self, token: &Secret) -> Result<GitHubAccount, SamError> {
        let response = self.api_get(token, "/user").await?;
        response
            .json()
            .await
            .map_err(|err| failed("Reading GitHub's answer", err))
    }

    /// `GET` an API path (or a whole URL on the API's origin, from a `Link` header).
    async fn api_get(&self, token: &Secret, path: &str) -> Result<reqwest::Response, SamError> {
        let url = if path.starts_with('/') {
            format!("{}{path}", self.api.trim_end_matches('/'))
        } else {
            path.to_owned()
        };
        let response = http()?
            .get(url)
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", "sam-desktop")
            .send()
            .await
            .map_err(|err| failed("Asking GitHub", err))?;
        match response.status() {
            reqwest::StatusCode::UNAUTHORIZED => Err(SamError::new(
                ErrorCategory::Credentials,
                "GitHub no longer accepts SAM's token (it was revoked or expired).",
                "Sign in with GitHub again.",
            )),
            reqwest::StatusCode::NOT_FOUND => Err(SamError::new(
                ErrorCategory::InvalidInput,
                "GitHub has no such repository, or your sign-in cannot see it.",
                "Check the name; for a GitHub app, install it on that repository.",
            )),
            status if !status.is_success() => Err(failed("Asking GitHub", status)),
            _ => Ok(response),
        }
    }
}

/// The user's own app, if set.
fn own_app(store: &Store) -> Result<Option<OwnApp>, SamError> {
    Ok(store.get(&OWN_APP)?)
}

/// Uses the user's own GitHub app from now on: its client id in SQLite, its secret in the
/// keyring. Blocking.
pub fn set_own_app(
    store: &Store,
    keys: &dyn KeyStore,
    client_id: &str,
    secret: &Secret,
) -> Result<(), SamError> {
    let client_id = client_id.trim();
    let valid_id = !client_id.is_empty()
        && client_id.len() <= 64
        && client_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.');
    if !valid_id {
        return Err(SamError::invalid_input(
            format!("{client_id:?} is not a GitHub client id."),
            "Copy the client id from your app's page at GitHub (it looks like Iv23li… or Ov23li…).",
        ));
    }
    if !secret.is_one_word() {
        return Err(SamError::invalid_input(
            "That client secret is empty or contains spaces.",
            "Generate a client secret on your app's page at GitHub and paste it alone.",
        ));
    }
    keys.set(CLIENT_SECRET_ENTRY, secret.expose())?;
    let own = OwnApp {
        client_id: client_id.to_owned(),
    };
    Ok(store.put(&OWN_APP, &own)?)
}

/// Stops using the user's own GitHub app (its secret leaves the keyring). Blocking.
pub fn forget_own_app(store: &Store, keys: &dyn KeyStore) -> Result<(), SamError> {
    keys.delete(CLIENT_SECRET_ENTRY)?;
    Ok(store.clear(&OWN_APP)?)
}

/// The user's own app's client id, if set.
pub fn own_app_client_id(store: &Store) -> Result<Option<String>, SamError> {
    Ok(own_app(store)?.map(|own| own.client_id))
}

/// The signed-in GitHub account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GitHubAccount {
    /// The login (`octocat`).
    pub login: String,
    /// The numeric id (for the noreply commit address).
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub id: u64,
    /// The display name, if set.
    pub name: Option<String>,
}

impl GitHubAccount {
    /// The commit identity GitHub attributes to this account without exposing an address.
    pub fn commit_identity(&self) -> (String, String) {
        (
            self.name.clone().unwrap_or_else(|| self.login.clone()),
            format!("{}+{}@users.noreply.github.com", self.id, self.login),
        )
    }
}

/// The signed-in account, if any.
pub fn account(store: &Store) -> Result<Option<GitHubAccount>, SamError> {
    Ok(store.get(&ACCOUNT)?)
}

/// Keeps a sign-in: the tokens in the keyring, the account and the session facts in SQLite.
/// Blocking.
pub fn keep_sign_in(
    keys: &dyn KeyStore,
    store: &Store,
    tokens: &StoredTokens,
    account: &GitHubAccount,
    session: &Session,
) -> Result<(), SamError> {
    store.put(&ACCOUNT, account)?;
    keep_tokens(keys, store, tokens, session)
}

/// Keeps renewed tokens (keyring) and their session facts (SQLite). Blocking.
pub fn keep_tokens(
    keys: &dyn KeyStore,
    store: &Store,
    tokens: &StoredTokens,
    session: &Session,
) -> Result<(), SamError> {
    keys.set(TOKEN_ENTRY, &tokens.to_json())?;
    tokens::save_session(store, session)
}

/// Forgets the GitHub sign-in here (keyring and SQLite). Blocking.
pub fn sign_out(keys: &dyn KeyStore, store: &Store) -> Result<(), SamError> {
    keys.delete(TOKEN_ENTRY)?;
    store.clear(&ACCOUNT)?;
    tokens::clear_session(store)
}

/// GitHub's token answer: the standard fields and the refresh token's lifetime.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GitHubTokenFields {
    /// Seconds the refresh token lives (GitHub apps with expiring tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_expires_in: Option<u64>,
}

impl oauth2::ExtraTokenFields for GitHubTokenFields {}

type GitHubTokenResponse = StandardTokenResponse<GitHubTokenFields, BasicTokenType>;

/// The `oauth2` client with every endpoint SAM uses set.
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    GitHubTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn failed(what: &str, detail: impl std::fmt::Display) -> SamError {
    SamError::new(
        ErrorCategory::Transient,
        format!("{what} failed: {detail}"),
        "Check the network, then try again.",
    )
    .with_retryable(true)
}

fn http() -> Result<reqwest::Client, SamError> {
    crate::http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| SamError::internal("The HTTP client could not start.", &err))
}

/// What `oauth2` calls to send a request: an owned, `Send` future per call, so a sign-in can run
/// on any task.
type Sent = std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send>>;

fn caller(client: reqwest::Client) -> impl Fn(HttpRequest) -> Sent {
    move |request| {
        let client = client.clone();
        Box::pin(async move { send(&client, request).await })
    }
}

/// Sends one OAuth request; a 200 that carries `error` becomes a 400 (GitHub's quirk).
async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    if status == reqwest::StatusCode::OK
        && serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|value| value.get("error").is_some())
    {
        status = reqwest::StatusCode::BAD_REQUEST;
    }
    let mut answer = HttpResponse::new(body);
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// GitHub's answer to a token request, as a typed error with the next step.
fn token_error(
    what: &str,
    err: &oauth2::RequestTokenError<reqwest::Error, BasicErrorResponse>,
) -> SamError {
    let oauth2::RequestTokenError::ServerResponse(response) = err else {
        return failed(what, error_text(err));
    };
    let code = response.error().as_ref();
    let (category, message, next) = match code {
        "bad_verification_code" => (
            ErrorCategory::Credentials,
            "GitHub's sign-in code expired or was already used.",
            "Sign in with GitHub again.",
        ),
        "bad_refresh_token" | "invalid_grant" => (
            ErrorCategory::Credentials,
            "GitHub no longer accepts SAM's sign-in (it expired or was revoked).",
            "Sign in with GitHub again.",
        ),
        "incorrect_client_credentials" | "invalid_client" => (
            ErrorCategory::Configuration,
            "GitHub refused SAM's app: the client id or secret is wrong.",
            "Check your GitHub app's client id and secret in Settings → Credentials.",
        ),
        "redirect_uri_mismatch" => (
            ErrorCategory::Configuration,
            "GitHub refused the sign-in: the app's callback URL is not sam://oauth/callback.",
            "Set the callback URL of your GitHub app to sam://oauth/callback (docs/github-app.md).",
        ),
        _ => (
            ErrorCategory::Credentials,
            "GitHub refused the sign-in.",
            "Sign in with GitHub again.",
        ),
    };
    let detail = response
        .error_description()
        .map(|text| format!(" (GitHub: {text})"))
        .unwrap_or_default();
    SamError::new(category, format!("{message}{detail}"), next)
}

fn error_text<E: std::error::Error>(err: &E) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
