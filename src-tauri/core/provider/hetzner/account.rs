//! The user's Hetzner token: checked with real API calls before it is kept, and kept only in
//! the OS keyring.
//!
//! A token is project-scoped and either *Read* or *Read & Write*; SAM needs the latter. The
//! check makes two calls and creates nothing: a list (does the token authenticate?) and a
//! create with an empty body (a read-only token is refused with `token_readonly` before the
//! body is looked at; a Read & Write token gets `invalid_input` for the missing name).

use super::client::{ClientOptions, HetznerClient, TOKEN_ENTRY};
use super::error::HetznerError;
use crate::error::{ErrorCategory, SamError};
use crate::installation::KeyStore;
use crate::redact::Secret;

fn refused(message: &str, next_step: &str) -> SamError {
    SamError::new(ErrorCategory::Credentials, message, next_step)
}

/// Checks `token` against the API at `options.endpoint`: it must authenticate and may write.
pub async fn check_token(token: &Secret, options: ClientOptions) -> Result<(), SamError> {
    let trimmed = token.expose().trim();
    if trimmed.is_empty() || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SamError::invalid_input(
            "That is not a Hetzner API token (it is empty or has spaces in it).",
            "Copy the whole token from Hetzner Console → your project → Security → API tokens.",
        ));
    }
    let client = HetznerClient::new(Secret::new(trimmed), options)?;
    match client.locations().await {
        Ok(_) => {}
        Err(HetznerError::Api { status: 401, .. }) => {
            return Err(refused(
                "Hetzner refused this token.",
                "Check that you copied the whole token and that it was not deleted; create a new Read & Write token if in doubt.",
            ));
        }
        Err(err) => return Err(err.into()),
    }
    match client.post("/firewalls", &serde_json::json!({})).await {
        Err(HetznerError::Api { code, .. }) if code == "token_readonly" => Err(refused(
            "This Hetzner token is read-only; SAM needs to create and delete servers.",
            "Create a Read & Write token for the project and enter that one.",
        )),
        Err(HetznerError::Api {
            status: 422 | 400, ..
        }) => Ok(()),
        Err(err) => Err(err.into()),
        Ok(_) => Err(SamError::new(
            ErrorCategory::Provider,
            "Hetzner accepted an empty firewall, which it should not.",
            "Check your Hetzner project for a firewall without a name and delete it.",
        )),
    }
}

/// Checks `token` and keeps it in the keyring.
pub async fn save_token(
    keys: &dyn KeyStore,
    token: &Secret,
    options: ClientOptions,
) -> Result<(), SamError> {
    check_token(token, options).await?;
    keys.set(TOKEN_ENTRY, token.expose().trim())
}
