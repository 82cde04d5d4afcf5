//! GitHub's tokens: what the keyring holds (the access token, the refresh token, and when each
//! expires), the session facts SQLite may hold (how the user signed in, the scope, the expiry —
//! nothing secret), refreshing before expiry, and revoking at GitHub.

use oauth2::{RefreshToken, TokenResponse};
use serde::{Deserialize, Serialize};

use super::{GitHubApp, GitHubTokenResponse, caller, failed, http, token_error};
use crate::error::{ErrorCategory, SamError};
use crate::redact::Secret;
use crate::store::{Setting, Store};

/// The setting holding the session facts.
const SESSION: Setting<Session> = Setting::new("github.session");

/// How the user signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SignInMethod {
    /// In the browser, back through the `sam://` link.
    Browser,
    /// With a code entered at GitHub.
    Device,
}

/// What Settings shows of a sign-in; nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Session {
    /// How the user signed in.
    pub method: SignInMethod,
    /// What the token may do (GitHub's scopes; empty for a GitHub app, whose access is the
    /// repositories it is installed on).
    pub scope: String,
    /// When the access token expires, Unix seconds; `None` for tokens that do not.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub expires_at: Option<i64>,
    /// When the refresh token expires, Unix seconds.
    #[cfg_attr(feature = "specta", specta(type = Option<f64>))]
    pub refresh_expires_at: Option<i64>,
    /// When SAM last got a token, Unix seconds.
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub renewed_at: i64,
}

/// What the keyring entry holds. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_expires_at: Option<i64>,
}

impl std::fmt::Debug for StoredTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredTokens")
            .field("refreshable", &self.refresh_token.is_some())
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl StoredTokens {
    /// Reads the keyring entry: JSON, or a bare token (as SAM kept it before tokens expired).
    pub fn parse(value: &Secret) -> Self {
        serde_json::from_str::<Self>(value.expose())
            .ok()
            .filter(|tokens| !tokens.access_token.is_empty())
            .unwrap_or_else(|| Self {
                access_token: value.expose().to_owned(),
                refresh_token: None,
                expires_at: None,
                refresh_expires_at: None,
            })
    }

    /// The keyring entry's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The access token.
    pub fn access(&self) -> Secret {
        Secret::new(self.access_token.clone())
    }

    /// When the access token expires (Unix seconds), if it does.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// Whether the access token expires within `ahead` seconds of `now` and can be refreshed.
    pub fn due(&self, now: i64, ahead: i64) -> bool {
        self.refresh_token.is_some() && self.expires_at.is_some_and(|at| at - now <= ahead)
    }

    /// The tokens and session facts from GitHub's answer, received at `now`.
    pub(super) fn from_response(
        response: &GitHubTokenResponse,
        method: SignInMethod,
        now: i64,
    ) -> (Self, Session) {
        let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2);
        let tokens = Self {
            access_token: response.access_token().secret().clone(),
            refresh_token: response.refresh_token().map(|t| t.secret().clone()),
            expires_at: response.expires_in().map(|d| now + secs(d)),
            refresh_expires_at: response
                .extra_fields()
                .refresh_token_expires_in
                .map(|s| now + i64::try_from(s).unwrap_or(i64::MAX / 2)),
        };
        // Registered with the log redactor.
        let _ = tokens.access();
        if let Some(refresh) = &tokens.refresh_token {
            let _ = Secret::new(refresh.clone());
        }
        let scope = response
            .scopes()
            .map(|scopes| {
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let session = Session {
            method,
            scope,
            expires_at: tokens.expires_at,
            refresh_expires_at: tokens.refresh_expires_at,
            renewed_at: now,
        };
        (tokens, session)
    }
}

impl GitHubApp {
    /// Trades the refresh token for fresh tokens, at `now` (Unix seconds).
    pub async fn refresh(
        &self,
        tokens: &StoredTokens,
        method: SignInMethod,
        now: i64,
    ) -> Result<(StoredTokens, Session), SamError> {
        let Some(refresh) = &tokens.refresh_token else {
            return Err(SamError::new(
                ErrorCategory::Credentials,
                "SAM's GitHub token expired and cannot be renewed.",
                "Sign in with GitHub again.",
            ));
        };
        if tokens.refresh_expires_at.is_some_and(|at| at <= now) {
            return Err(SamError::new(
                ErrorCategory::Credentials,
                "SAM's GitHub sign-in has expired (GitHub ends it after six months).",
                "Sign in with GitHub again.",
            ));
        }
        let call = caller(http()?);
        let response = self
            .oauth()?
            .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
            .request_async(&call)
            .await
            .map_err(|err| token_error("Renewing the GitHub token", &err))?;
        let (mut fresh, session) = StoredTokens::from_response(&response, method, now);
        // GitHub may leave out what did not change.
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = tokens.refresh_token.clone();
            fresh.refresh_expires_at = tokens.refresh_expires_at;
        }
        Ok((fresh, session))
    }

    /// Revokes `token` at GitHub (`DELETE /applications/{client_id}/token`, which needs the
    /// app's secret). A token GitHub no longer knows counts as revoked.
    pub async fn revoke(&self, token: &Secret) -> Result<(), SamError> {
        let secret = self.secret_for("Revoking the token at GitHub")?;
        let response = http()?
            .delete(format!(
                "{}/applications/{}/token",
                self.api.trim_end_matches('/'),
                self.client_id
            ))
            .basic_auth(&self.client_id, Some(secret.expose()))
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "sam-desktop")
            .json(&serde_json::json!({ "access_token": token.expose() }))
            .send()
            .await
            .map_err(|err| failed("Revoking the token at GitHub", err))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::UNPROCESSABLE_ENTITY => Ok(()),
            reqwest::StatusCode::UNAUTHORIZED => Err(SamError::new(
                ErrorCategory::Configuration,
                "GitHub refused to revoke the token: the app's client secret is wrong.",
                "Revoke SAM at github.com/settings/applications, and check the app's secret.",
            )),
            status => Err(failed("Revoking the token at GitHub", status)),
        }
    }
}

/// The session facts, if signed in.
pub fn session(store: &Store) -> Result<Option<Session>, SamError> {
    Ok(store.get(&SESSION)?)
}

pub(super) fn save_session(store: &Store, session: &Session) -> Result<(), SamError> {
    Ok(store.put(&SESSION, session)?)
}

pub(super) fn clear_session(store: &Store) -> Result<(), SamError> {
    Ok(store.clear(&SESSION)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_token_from_before_expiry_reads_as_a_token_that_never_expires() {
        let tokens = StoredTokens::parse(&Secret::new("gho_plain"));
        assert_eq!(tokens.access().expose(), "gho_plain");
        assert_eq!(tokens.expires_at(), None);
        assert!(!tokens.due(0, 600));
    }

    #[test]
    fn tokens_round_trip_and_are_due_inside_the_margin_only_when_refreshable() {
        let tokens = StoredTokens {
            access_token: "ghu_a".into(),
            refresh_token: Some("ghr_b".into()),
            expires_at: Some(10_000),
            refresh_expires_at: Some(99_999),
        };
        assert_eq!(StoredTokens::parse(&Secret::new(tokens.to_json())), tokens);
        assert!(!tokens.due(9_000, 600));
        assert!(tokens.due(9_400, 600));
        let unrefreshable = StoredTokens {
            refresh_token: None,
            ..tokens.clone()
        };
        assert!(!unrefreshable.due(9_999, 600));
        assert!(!format!("{tokens:?}").contains("ghu_a"));
    }
}
