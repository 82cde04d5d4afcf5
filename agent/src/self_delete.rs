//! The opt-in alternative to powering off: the backstop deletes its own server through the
//! cloud's API, so an idle workspace stops costing more than its disk even while the app is
//! away. The credential arrives as a pushed secret (memory only, never on disk) named
//! [`SELF_DELETE_SECRET`]; see `docs/agent-protocol.md` §6.

use std::time::Duration;

use sam_protocol::message::SELF_DELETE_SECRET;
use serde::Deserialize;

use crate::activity::now_ms;
use crate::agent::Agent;

/// The longest the deletion request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// What the pushed secret holds.
#[derive(Deserialize)]
struct SelfDelete {
    endpoint: String,
    server_id: u64,
    token: String,
}

impl std::fmt::Debug for SelfDelete {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfDelete")
            .field("endpoint", &self.endpoint)
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

/// Why the server could not delete itself (never containing the token).
#[derive(Debug, thiserror::Error)]
pub enum SelfDeleteError {
    /// No credential was pushed, or it expired.
    #[error("no deletion credential is held")]
    NoCredential,
    /// The secret is not the expected JSON object.
    #[error("the deletion credential is malformed: {0}")]
    Malformed(String),
    /// The request failed or was refused.
    #[error("the cloud refused or did not answer: {0}")]
    Request(String),
}

/// Deletes this server with the held credential. A server already gone counts as deleted.
pub async fn delete_own_server(agent: &Agent) -> Result<(), SelfDeleteError> {
    let held = agent
        .secret(SELF_DELETE_SECRET, now_ms() / 1000)
        .ok_or(SelfDeleteError::NoCredential)?;
    let request = parse(&held)?;
    tokio::task::spawn_blocking(move || send(&request))
        .await
        .map_err(|err| SelfDeleteError::Request(err.to_string()))?
}

fn parse(held: &str) -> Result<SelfDelete, SelfDeleteError> {
    let request: SelfDelete = serde_json::from_str(held)
        // serde's message names the field, never the value.
        .map_err(|err| SelfDeleteError::Malformed(format!("{err}")))?;
    if !(request.endpoint.starts_with("https://") || request.endpoint.starts_with("http://")) {
        return Err(SelfDeleteError::Malformed(format!(
            "the endpoint {:?} is not an http(s) address",
            request.endpoint
        )));
    }
    if request.token.is_empty() {
        return Err(SelfDeleteError::Malformed("the token is empty".to_owned()));
    }
    Ok(request)
}

fn send(request: &SelfDelete) -> Result<(), SelfDeleteError> {
    let url = format!(
        "{}/servers/{}",
        request.endpoint.trim_end_matches('/'),
        request.server_id
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .delete(&url)
        .header("Authorization", &format!("Bearer {}", request.token))
        .call()
        .map_err(|err| SelfDeleteError::Request(err.to_string()))?;
    match response.status().as_u16() {
        200..=299 | 404 => Ok(()),
        status => Err(SelfDeleteError::Request(format!(
            "HTTP {status} from {url}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_is_checked_and_never_printed() {
        let ok =
            parse(r#"{"endpoint":"https://api.hetzner.cloud/v1","server_id":42,"token":"s3cret"}"#)
                .expect("valid");
        assert_eq!(ok.server_id, 42);
        assert!(!format!("{ok:?}").contains("s3cret"));
        for bad in [
            "",
            "{}",
            r#"{"endpoint":"ftp://x","server_id":1,"token":"t"}"#,
            r#"{"endpoint":"https://x","server_id":-1,"token":"t"}"#,
            r#"{"endpoint":"https://x","server_id":1,"token":""}"#,
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
    }
}
