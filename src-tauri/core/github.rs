//! Signing in with GitHub through the OAuth device flow (`oauth2`), which needs no client secret
//! and no deep link: SAM shows a code, the user enters it at GitHub, SAM polls until GitHub
//! answers. The token goes to the OS keyring (`github/access-token`); the account (login, id,
//! name — not secret) to SQLite, for commit identity and Settings.
//!
//! GitHub answers the device-flow token endpoint's errors (`authorization_pending`, …) with HTTP
//! 200, where OAuth (RFC 8628) and the `oauth2` crate expect 400; the HTTP adapter here turns a
//! 200 carrying `error` into a 400 so the crate's polling rules apply.

use std::sync::Arc;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, ClientId, DeviceAuthorizationUrl, HttpRequest, HttpResponse, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::core::error::{ErrorCategory, SamError};
use crate::core::installation::KeyStore;
use crate::core::redact::Secret;
use crate::core::store::Store;

/// The keyring entry of the GitHub token.
pub const TOKEN_ENTRY: &str = "github/access-token";
/// The setting holding the signed-in account.
const ACCOUNT_KEY: &str = "github.account";
/// The OAuth app official builds use; `SAM_GITHUB_CLIENT_ID` overrides it.
const DEFAULT_CLIENT_ID: Option<&str> = option_env!("SAM_GITHUB_CLIENT_ID");

/// Where GitHub is, and which OAuth app SAM signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubApp {
    /// The OAuth app's client id.
    pub client_id: String,
    /// GitHub's web address (`https://github.com`).
    pub web: String,
    /// GitHub's API (`https://api.github.com`).
    pub api: String,
}

impl GitHubApp {
    /// From the environment (`SAM_GITHUB_CLIENT_ID`, `SAM_GITHUB_URL`, `SAM_GITHUB_API_URL`,
    /// for tests and GitHub Enterprise) or the build's defaults.
    pub fn from_env() -> Result<Self, SamError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let client_id = var("SAM_GITHUB_CLIENT_ID")
            .or_else(|| DEFAULT_CLIENT_ID.map(str::to_owned))
            .ok_or_else(|| {
                SamError::new(
                    ErrorCategory::Configuration,
                    "This build of SAM has no GitHub app to sign in with.",
                    "Set SAM_GITHUB_CLIENT_ID to your own GitHub OAuth app's client id (docs/security.md), or use a token per host in Settings → Credentials.",
                )
            })?;
        Ok(Self {
            client_id,
            web: var("SAM_GITHUB_URL").unwrap_or_else(|| "https://github.com".to_owned()),
            api: var("SAM_GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_owned()),
        })
    }

    /// The host git tokens are for (`github.com`).
    pub fn git_host(&self) -> String {
        self.web
            .split_once("://")
            .map_or(self.web.as_str(), |(_, rest)| rest)
            .trim_end_matches('/')
            .to_ascii_lowercase()
    }
}

/// The signed-in GitHub account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct GitHubAccount {
    /// The login (`octocat`).
    pub login: String,
    /// The numeric id (for the noreply commit address).
    #[specta(type = f64)]
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

/// A sign-in waiting for the user to enter the code at GitHub.
#[derive(Debug)]
pub struct DeviceSignIn {
    /// What the user types at GitHub.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    details: StandardDeviceAuthorizationResponse,
}

fn failed(what: &str, detail: impl std::fmt::Display) -> SamError {
    SamError::new(
        ErrorCategory::Transient,
        format!("{what} failed: {detail}"),
        "Check the network, then sign in again.",
    )
    .with_retryable(true)
}

fn http() -> Result<reqwest::Client, SamError> {
    crate::core::http::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| SamError::internal("The HTTP client could not start.", &err))
}

/// What `oauth2` calls to send a request: an owned, `Send` future per call, so the sign-in can
/// run on any task.
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

/// The `oauth2` client with the endpoints the device flow uses.
type DeviceClient = oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    oauth2::StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

impl GitHubApp {
    fn oauth(&self) -> Result<DeviceClient, SamError> {
        let url = |path: &str| format!("{}{path}", self.web.trim_end_matches('/'));
        let bad = |err: oauth2::url::ParseError| {
            SamError::new(
                ErrorCategory::Configuration,
                format!("GitHub's address {:?} is not a URL: {err}", self.web),
                "Fix SAM_GITHUB_URL.",
            )
        };
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_uri(AuthUrl::new(url("/login/oauth/authorize")).map_err(bad)?)
            .set_token_uri(TokenUrl::new(url("/login/oauth/access_token")).map_err(bad)?)
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(url("/login/device/code")).map_err(bad)?,
            ))
    }

    /// Asks GitHub for a code for the user to enter.
    pub async fn start_sign_in(&self) -> Result<DeviceSignIn, SamError> {
        let call = caller(http()?);
        let details: StandardDeviceAuthorizationResponse = self
            .oauth()?
            .exchange_device_code()
            .add_scope(Scope::new("repo".to_owned()))
            .add_scope(Scope::new("read:user".to_owned()))
            .request_async(&call)
            .await
            .map_err(|err| failed("Asking GitHub for a sign-in code", error_text(&err)))?;
        Ok(DeviceSignIn {
            user_code: details.user_code().secret().clone(),
            verification_uri: details.verification_uri().to_string(),
            details,
        })
    }

    /// Waits until the user entered the code (or refused, or it expired), keeps the token in the
    /// keyring and the account in `store`, and returns the account.
    pub async fn finish_sign_in(
        &self,
        sign_in: DeviceSignIn,
        keys: Arc<dyn KeyStore>,
        store: &Store,
    ) -> Result<GitHubAccount, SamError> {
        let call = caller(http()?);
        let token = self
            .oauth()?
            .exchange_device_access_token(&sign_in.details)
            .request_async(&call, tokio::time::sleep, None)
            .await
            .map_err(|err| match &err {
                oauth2::RequestTokenError::ServerResponse(response) => {
                    let (message, next) = match response.error() {
                        oauth2::DeviceCodeErrorResponseType::AccessDenied => (
                            "GitHub sign-in was refused at GitHub.",
                            "Sign in again and choose Authorize.",
                        ),
                        oauth2::DeviceCodeErrorResponseType::ExpiredToken => (
                            "The GitHub sign-in code expired before it was entered.",
                            "Sign in again and enter the new code within a few minutes.",
                        ),
                        _ => ("GitHub refused the sign-in.", "Sign in again."),
                    };
                    SamError::new(ErrorCategory::Credentials, message, next)
                }
                _ => failed("Signing in with GitHub", error_text(&err)),
            })?;
        let token = Secret::new(token.access_token().secret().clone());
        let account = self.account_of(&token).await?;
        let value = token.expose().to_owned();
        tokio::task::spawn_blocking(move || keys.set(TOKEN_ENTRY, &value))
            .await
            .map_err(|err| SamError::internal("Writing the keyring failed.", &err))??;
        let json = serde_json::to_string(&account)
            .map_err(|err| SamError::internal("Saving the GitHub account failed.", &err))?;
        store.set_setting(ACCOUNT_KEY, &json)?;
        Ok(account)
    }

    /// Who `token` belongs to (`GET /user`).
    pub async fn account_of(&self, token: &Secret) -> Result<GitHubAccount, SamError> {
        let response = http()?
            .get(format!("{}/user", self.api.trim_end_matches('/')))
            .header("Authorization", format!("Bearer {}", token.expose()))
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|err| failed("Asking GitHub who you are", err))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(SamError::new(
                ErrorCategory::Credentials,
                "GitHub no longer accepts SAM's token (it was revoked or expired).",
                "Sign in with GitHub again.",
            ));
        }
        let response = response
            .error_for_status()
            .map_err(|err| failed("Asking GitHub who you are", err))?;
        response
            .json()
            .await
            .map_err(|err| failed("Reading GitHub's answer", err))
    }
}

/// The signed-in account, if any.
pub fn account(store: &Store) -> Result<Option<GitHubAccount>, SamError> {
    Ok(store
        .setting(ACCOUNT_KEY)?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

/// Forgets the GitHub account here (keyring and SQLite).
pub fn sign_out(keys: &dyn KeyStore, store: &Store) -> Result<(), SamError> {
    keys.delete(TOKEN_ENTRY)?;
    store.set_setting(ACCOUNT_KEY, "null")?;
    Ok(())
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
