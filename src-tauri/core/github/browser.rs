//! Signing in in the browser: the authorization code with PKCE (S256) and a random `state`.
//! SAM opens GitHub's authorize page; GitHub sends the browser to `sam://oauth/callback?code=…
//! &state=…`, which the desktop hands to the running app (`core::deep_link`). A callback is
//! accepted only for a sign-in this process started less than [`PENDING_FOR`] seconds ago, and
//! each `state` once; the code is worthless without the PKCE verifier, which never leaves this
//! process, and the app's client secret.

use std::collections::VecDeque;

use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};

use super::tokens::{Session, SignInMethod, StoredTokens};
use super::{GitHubApp, caller, http, token_error};
use crate::error::{ErrorCategory, SamError};

/// Where GitHub sends the browser back to.
pub const CALLBACK_URL: &str = "sam://oauth/callback";
/// How long a started sign-in waits for its callback, in seconds.
pub const PENDING_FOR: i64 = 600;
/// How many used `state`s are remembered, to tell a replay from a stranger.
const REMEMBERED: usize = 16;

/// Sign-ins started in the browser and waiting for their callback.
#[derive(Debug, Default)]
pub struct PendingSignIns {
    waiting: Vec<Pending>,
    used: VecDeque<String>,
}

#[derive(Debug)]
struct Pending {
    state: String,
    verifier: PkceCodeVerifier,
    started_at: i64,
}

/// A callback that matched a started sign-in: what to trade for tokens.
#[derive(Debug)]
pub struct Matched {
    verifier: PkceCodeVerifier,
}

fn link_error(message: &str) -> SamError {
    SamError::new(
        ErrorCategory::Credentials,
        message,
        "Start the sign-in again from Settings → Credentials.",
    )
}

impl PendingSignIns {
    /// The started sign-in `state` belongs to, taken so it cannot be used again.
    pub fn take(&mut self, state: &str, now: i64) -> Result<Matched, SamError> {
        let Some(index) = self.waiting.iter().position(|p| p.state == state) else {
            return Err(if self.used.iter().any(|used| used == state) {
                link_error("This GitHub sign-in link was already used.")
            } else {
                link_error(
                    "This GitHub sign-in link is not from a sign-in SAM started (or SAM was \
                     restarted since), so it was ignored.",
                )
            });
        };
        let pending = self.waiting.swap_remove(index);
        self.remember(pending.state);
        if now - pending.started_at > PENDING_FOR {
            return Err(link_error(
                "This GitHub sign-in took longer than 10 minutes, so it was not accepted.",
            ));
        }
        Ok(Matched {
            verifier: pending.verifier,
        })
    }

    fn remember(&mut self, state: String) {
        if self.used.len() == REMEMBERED {
            self.used.pop_front();
        }
        self.used.push_back(state);
    }

    fn start(&mut self, state: String, verifier: PkceCodeVerifier, now: i64) {
        self.waiting.retain(|p| now - p.started_at <= PENDING_FOR);
        self.waiting.push(Pending {
            state,
            verifier,
            started_at: now,
        });
    }
}

fn redirect() -> RedirectUrl {
    // A constant that parses.
    RedirectUrl::new(CALLBACK_URL.to_owned()).unwrap_or_else(|_| unreachable!())
}

impl GitHubApp {
    /// Starts a browser sign-in at `now`: remembers its `state` and PKCE verifier in `pending`
    /// and returns GitHub's authorize address to open.
    pub fn start_browser_sign_in(
        &self,
        pending: &mut PendingSignIns,
        now: i64,
    ) -> Result<String, SamError> {
        self.secret_for("Signing in in the browser")?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth()?
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("repo".to_owned()))
            .add_scope(Scope::new("read:user".to_owned()))
            .set_pkce_challenge(challenge)
            .set_redirect_uri(std::borrow::Cow::Owned(redirect()))
            .url();
        pending.start(state.secret().clone(), verifier, now);
        Ok(url.to_string())
    }

    /// Trades the callback's `code` for tokens, at `now` (Unix seconds).
    pub async fn finish_browser_sign_in(
        &self,
        matched: Matched,
        code: &str,
        now: i64,
    ) -> Result<(StoredTokens, Session), SamError> {
        let call = caller(http()?);
        let response = self
            .oauth()?
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(matched.verifier)
            .set_redirect_uri(std::borrow::Cow::Owned(redirect()))
            .request_async(&call)
            .await
            .map_err(|err| token_error("Signing in with GitHub", &err))?;
        Ok(StoredTokens::from_response(
            &response,
            SignInMethod::Browser,
            now,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> PkceCodeVerifier {
        PkceCodeChallenge::new_random_sha256().1
    }

    #[test]
    fn a_state_is_accepted_once_then_named_as_used() {
        let mut pending = PendingSignIns::default();
        pending.start("s1".into(), verifier(), 100);
        assert!(pending.take("s1", 200).is_ok());
        let err = pending.take("s1", 201).expect_err("replayed");
        assert!(err.message.contains("already used"), "{}", err.message);
        let err = pending.take("stranger", 201).expect_err("unknown");
        assert!(
            err.message.contains("not from a sign-in SAM started"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_late_callback_is_refused_and_old_sign_ins_are_dropped() {
        let mut pending = PendingSignIns::default();
        pending.start("old".into(), verifier(), 0);
        let err = pending.take("old", PENDING_FOR + 1).expect_err("too late");
        assert!(err.message.contains("10 minutes"), "{}", err.message);
        pending.start("a".into(), verifier(), 0);
        pending.start("b".into(), verifier(), PENDING_FOR + 1);
        assert_eq!(pending.waiting.len(), 1);
    }
}
