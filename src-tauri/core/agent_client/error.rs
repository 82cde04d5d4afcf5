//! What can go wrong talking to an agent, and how it reads for the user.

use std::time::Duration;

use sam_protocol::message::ErrorCode;

use crate::error::{ErrorCategory, SamError};

/// A failure of the agent client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No TCP or TLS connection could be made.
    #[error("cannot reach the agent at {addr}: {detail}")]
    Unreachable {
        /// Where.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The agent refused the token (401). `clock_skew_secs` is the agent's clock minus ours,
    /// when the agent said what time it is.
    #[error("the agent refused this installation's token")]
    Unauthorized {
        /// Agent clock minus local clock, in seconds.
        clock_skew_secs: Option<i64>,
    },
    /// The agent presented a certificate other than the pinned one.
    #[error("the agent's certificate does not match the one pinned at enrollment")]
    PinMismatch,
    /// A session was attempted before enrollment.
    #[error("the agent has not been enrolled yet")]
    NotEnrolled,
    /// Enrollment was attempted twice.
    #[error("the agent was already enrolled")]
    AlreadyEnrolled,
    /// The agent could not prove it knows the enrollment secret.
    #[error("the agent could not prove it knows this workspace's enrollment secret")]
    BadProof,
    /// Another HTTP refusal.
    #[error("the agent refused the connection (HTTP {0})")]
    Refused(u16),
    /// The agent broke the protocol.
    #[error("the agent broke the protocol: {0}")]
    Protocol(String),
    /// The agent answered a request with an error.
    #[error("{message}")]
    Remote {
        /// The protocol's code.
        code: ErrorCode,
        /// The agent's message.
        message: String,
    },
    /// The connection dropped before the answer came.
    #[error("the connection to the agent was lost")]
    ConnectionLost,
    /// No answer in time.
    #[error("the agent did not answer within {0:?}")]
    Timeout(Duration),
    /// The client was shut down.
    #[error("the agent client is closed")]
    Closed,
}

/// Clock differences below this are tolerated by the agent and not worth mentioning.
const SKEW_WORTH_MENTIONING_SECS: i64 = 30;

impl From<AgentError> for SamError {
    fn from(err: AgentError) -> Self {
        let agent = |next: &str| SamError::new(ErrorCategory::Agent, err.to_string(), next);
        match &err {
            AgentError::Unauthorized { clock_skew_secs: Some(skew) } if skew.abs() > SKEW_WORTH_MENTIONING_SECS => {
                let direction = if *skew > 0 { "behind" } else { "ahead of" };
                SamError::configuration(
                    format!("This computer's clock is {} s {direction} the workspace's, so the workspace refuses SAM's short-lived tokens.", skew.abs()),
                    "Turn on automatic time synchronisation (NTP) on this computer, then try again.",
                )
            }
            AgentError::Unauthorized { .. } => SamError::new(
                ErrorCategory::Credentials,
                err.to_string(),
                "The workspace was created by another SAM installation or its key changed; recreate the workspace.",
            ),
            AgentError::PinMismatch => SamError::new(
                ErrorCategory::Agent,
                "The machine at this workspace's address is not the one SAM enrolled, so SAM will not talk to it.",
                "If the workspace was recreated outside SAM, delete it in SAM and create it again.",
            )
            .with_retryable(false),
            AgentError::BadProof => agent("Do not use this workspace; delete it and create it again.").with_retryable(false),
            AgentError::Unreachable { .. } | AgentError::ConnectionLost | AgentError::Timeout(_) => {
                SamError::new(ErrorCategory::Transient, err.to_string(), "Check the network; SAM keeps retrying.")
            }
            AgentError::Remote { code: ErrorCode::PathOutsideWorkspace | ErrorCode::NotFound | ErrorCode::InvalidArgument | ErrorCode::TooLarge, .. } => {
                SamError::invalid_input(err.to_string(), "Check the path or arguments and try again.")
            }
            _ => agent("Try again; if it keeps happening, restart the workspace."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_token_with_a_skewed_clock_names_the_clock() {
        let err: SamError = AgentError::Unauthorized {
            clock_skew_secs: Some(-125),
        }
        .into();
        assert_eq!(err.category, ErrorCategory::Configuration);
        assert!(err.message.contains("125 s ahead of"), "{}", err.message);
        let err: SamError = AgentError::Unauthorized {
            clock_skew_secs: Some(3),
        }
        .into();
        assert_eq!(err.category, ErrorCategory::Credentials);
    }

    #[test]
    fn network_trouble_is_transient_and_a_wrong_certificate_is_not() {
        let err: SamError = AgentError::ConnectionLost.into();
        assert_eq!(err.category, ErrorCategory::Transient);
        assert!(err.retryable);
        let err: SamError = AgentError::PinMismatch.into();
        assert!(!err.retryable);
    }
}
