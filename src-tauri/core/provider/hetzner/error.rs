//! What can go wrong talking to Hetzner, and what it means for the user: every error becomes a
//! [`SamError`] of the right category (credentials, capacity, quota, transient, provider).

use std::time::Duration;

use crate::error::{ErrorCategory, SamError};

/// A failed Hetzner call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HetznerError {
    /// Hetzner answered with an error body.
    #[error("Hetzner answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Hetzner's error code, e.g. `resource_unavailable`.
        code: String,
        /// Hetzner's message.
        message: String,
        /// Hetzner's `details` (fields at fault, limits).
        details: Box<serde_json::Value>,
        /// When the request budget refills, in seconds from the answer (a `429`'s
        /// `Retry-After`, or its `RateLimit-Reset`).
        retry_after_secs: Option<u32>,
    },
    /// No answer: DNS, connection, TLS, timeout.
    #[error("Hetzner could not be reached: {0}")]
    Network(String),
    /// An answer that is not what the API documents.
    #[error("Hetzner's answer could not be read: {0}")]
    Decode(String),
    /// An action ended in `error`.
    #[error("Hetzner's {command} failed: {message} ({code})")]
    ActionFailed {
        /// The action's command.
        command: String,
        /// Its error code.
        code: String,
        /// Its error message.
        message: String,
    },
    /// An action did not finish in time.
    #[error("Hetzner's {command} did not finish within {waited:?}")]
    ActionTimeout {
        /// The action's command.
        command: String,
        /// How long SAM waited.
        waited: Duration,
    },
}

impl HetznerError {
    /// Hetzner's error code, for API errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying the same request again later can be expected to work.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network(_) | Self::ActionTimeout { .. } => true,
            Self::Api { status, code, .. } => {
                matches!(*status, 429 | 502 | 503 | 504)
                    || matches!(
                        code.as_str(),
                        "conflict"
                            | "rate_limit_exceeded"
                            | "timeout"
                            | "unavailable"
                            | "locked"
                            | "bad_gateway"
                            | "robot_unavailable"
                            | "resource_locked"
                    )
            }
            Self::Decode(_) | Self::ActionFailed { .. } => false,
        }
    }

    /// The user-facing error, in the category that tells them what to do.
    pub fn to_sam_error(&self) -> SamError {
        let (category, next_step) = match self {
            Self::Api { code, .. } if matches!(code.as_str(), "unauthorized") => (
                ErrorCategory::Credentials,
                "Check the Hetzner API token in Settings (Hetzner Console → Security → API tokens).",
            ),
            Self::Api { code, .. } if code == "token_readonly" => (
                ErrorCategory::Credentials,
                "The Hetzner token is read-only: create a Read & Write token and enter it in Settings.",
            ),
            Self::Api { code, .. }
                if matches!(code.as_str(), "resource_unavailable" | "placement_error") =>
            {
                (
                    ErrorCategory::Capacity,
                    "Hetzner has no capacity for this server type here right now: try another location or server type.",
                )
            }
            Self::Api { code, .. } if code == "resource_limit_exceeded" => (
                ErrorCategory::Quota,
                "Your Hetzner project reached a limit: delete unused resources or ask Hetzner to raise it.",
            ),
            Self::Api { code, .. } if code == "rate_limit_exceeded" => (
                ErrorCategory::Transient,
                "Hetzner's request budget (3600 an hour) is used up: SAM retries once it refills.",
            ),
            Self::Api { code, .. } if code == "forbidden" || code == "maintenance" => (
                ErrorCategory::Provider,
                "Hetzner refused the request; check the Hetzner status page and your project.",
            ),
            other if other.is_transient() => (
                ErrorCategory::Transient,
                "Try again in a minute; if it keeps failing, check your network and status.hetzner.com.",
            ),
            _ => (
                ErrorCategory::Provider,
                "See the details in the log; try again, and report it if it keeps happening.",
            ),
        };
        let err = SamError::new(category, self.to_string(), next_step);
        match self {
            Self::Api {
                retry_after_secs: Some(secs),
                ..
            } => err.with_retry_after(*secs),
            _ => err,
        }
    }
}

impl From<HetznerError> for SamError {
    fn from(err: HetznerError) -> Self {
        err.to_sam_error()
    }
}
