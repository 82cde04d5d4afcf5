//! Delivering the app's own agent to a new server, for builds that publish none (a build from
//! source): the server's user_data pins the binary's SHA-256 and runs a first stage
//! (`receive-agent.py`) on the agent's port that keeps only that binary and runs nothing; the
//! app sends it as soon as the stage listens. `docs/security.md` has the threat model.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sam_protocol::enroll::sha256_hex as hex_sha256;

use crate::error::{ErrorCategory, SamError};

/// How long a new server may take to start listening for its agent.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long to wait between tries while the server boots.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The agent binary the app sends a new server, and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The binary.
    pub binary: PathBuf,
    /// Its SHA-256, as 64 lower-case hex digits (what user_data pins).
    pub sha256: String,
}

impl Delivery {
    /// Reads `binary` and computes its checksum.
    pub async fn of(binary: &Path) -> Result<Self, SamError> {
        let bytes = read(binary).await?;
        let sha256 = tokio::task::spawn_blocking(move || hex_sha256(&bytes))
            .await
            .map_err(|err| SamError::internal("Hashing the agent failed.", &err))?;
        Ok(Self {
            binary: binary.to_owned(),
            sha256,
        })
    }

    /// Sends the binary to the first stage at `ip`:`port` until it took it, retrying while the
    /// server boots, for at most `timeout`. (A connection can be accepted and then dropped while
    /// nothing listens behind a forward, so every failure short of an answer means "again".)
    pub async fn send(&self, ip: &str, port: u16, timeout: Duration) -> Result<(), SamError> {
        let bytes = read(&self.binary).await?;
        if hex_sha256(&bytes) != self.sha256 {
            return Err(SamError::new(
                ErrorCategory::Configuration,
                format!(
                    "The agent at {} changed since its checksum was sent to the server.",
                    self.binary.display()
                ),
                "Do not rebuild the agent while a workspace is being created; try again.",
            ));
        }
        let http = crate::http::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|err| SamError::internal("No HTTP client for the agent delivery.", &err))?;
        let url = format!("http://{ip}:{port}/sam-agent");
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let last = match http.put(&url).body(bytes.clone()).send().await {
                // 409: an earlier try got through.
                Ok(reply) if reply.status() == 200 || reply.status() == 409 => return Ok(()),
                Ok(reply) if reply.status() == 422 => {
                    let text = reply.text().await.unwrap_or_default();
                    return Err(SamError::new(
                        ErrorCategory::Provider,
                        format!("The new server refused SAM's agent: {}", text.trim()),
                        "Delete the workspace's server and try again.",
                    ));
                }
                Ok(reply) => format!("it answered {}", reply.status()),
                // Not listening yet (booting), slow, or gone: try again.
                Err(err) => err.to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(SamError::new(
                    ErrorCategory::Provider,
                    format!(
                        "The new server did not take SAM's agent within {} minutes ({last}).",
                        timeout.as_secs() / 60
                    ),
                    "Look at the workspace's log for the server's boot log, then delete the \
                     workspace's server and try again.",
                ));
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
    }
}

/// Whether the first stage at `ip`:`port` is waiting for its agent (one quick look): for a
/// server found running, whose agent may or may not have arrived.
pub async fn waiting(ip: &str, port: u16) -> bool {
    let Ok(http) = crate::http::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
    else {
        return false;
    };
    match http.get(format!("http://{ip}:{port}/")).send().await {
        Ok(reply) if reply.status() == 200 => reply
            .text()
            .await
            .is_ok_and(|text| text.starts_with(STAGE_GREETING)),
        _ => false,
    }
}

/// How the first stage answers `GET /`.
const STAGE_GREETING: &str = "SAM first stage";

async fn read(binary: &Path) -> Result<Vec<u8>, SamError> {
    let path = binary.to_owned();
    let read = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|err| SamError::internal("Reading the agent failed.", &err))?;
    read.map_err(|err| {
        SamError::new(
            ErrorCategory::Configuration,
            format!(
                "SAM cannot read its agent at {} to send it to the server: {err}.",
                binary.display()
            ),
            "Build the agent (cargo build -p sam-agent) or set SAM_AGENT_BIN to it.",
        )
    })
}
