//! The device flow: SAM shows a code, the user enters it at GitHub, SAM polls until GitHub
//! answers. It needs no client secret and no deep link.

use oauth2::{Scope, StandardDeviceAuthorizationResponse};

use super::tokens::{Session, SignInMethod, StoredTokens};
use super::{GitHubApp, caller, error_text, failed, http};
use crate::error::{ErrorCategory, SamError};

/// A sign-in waiting for the user to enter the code at GitHub.
#[derive(Debug)]
pub struct DeviceSignIn {
    /// What the user types at GitHub.
    pub user_code: String,
    /// Where they type it.
    pub verification_uri: String,
    details: StandardDeviceAuthorizationResponse,
}

impl GitHubApp {
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

    /// Waits until the user entered the code (or refused, or it expired); returns the tokens
    /// and the session facts, `now` being Unix seconds.
    pub async fn finish_sign_in(
        &self,
        sign_in: DeviceSignIn,
        now: i64,
    ) -> Result<(StoredTokens, Session), SamError> {
        let call = caller(http()?);
        let response = self
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
        Ok(StoredTokens::from_response(
            &response,
            SignInMethod::Device,
            now,
        ))
    }
}
