//! The one error shape that crosses every boundary: core → IPC → UI, and the CLI's `--json`.
//!
//! Errors are products (DESIGN §9). A user who meets one needs to know what went wrong, what to
//! do next, and whether trying again may help. Internal detail (SQL text, OS error chains) goes to
//! the log under a short reference that the error carries, so the UI can say "details in the log,
//! ref 3f9a2c" without showing a stack of jargon — and without leaking anything sensitive.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure this is. The UI and the CLI branch on it; never on message text.
///
/// The set is closed on purpose: adding a category is a deliberate change to every consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCategory {
    /// The network, a 5xx, or a rate limit: trying again later should work.
    Transient,
    /// The cloud has no stock of this server type in this location right now.
    Capacity,
    /// An account limit (servers, volumes, cores) was reached.
    Quota,
    /// A token is missing, wrong, expired, or lacks a permission; or the keyring is locked.
    Credentials,
    /// Settings, a config file, or this machine's set-up is wrong.
    Configuration,
    /// The cloud provider refused the request for a reason not covered above.
    Provider,
    /// The repository could not be cloned or its dev container could not be built.
    WorkspaceBuild,
    /// The workspace's agent misbehaved, could not be reached, or could not be trusted.
    Agent,
    /// The request itself was malformed (bad IPC argument, unknown workspace id, invalid URL).
    InvalidInput,
    /// A fault inside SAM itself or on this computer (database, disk): a bug or a local problem.
    Internal,
}

impl ErrorCategory {
    /// Every category, in declaration order. Used by tests and by the UI's exhaustive rendering.
    pub const ALL: [ErrorCategory; 10] = [
        Self::Transient,
        Self::Capacity,
        Self::Quota,
        Self::Credentials,
        Self::Configuration,
        Self::Provider,
        Self::WorkspaceBuild,
        Self::Agent,
        Self::InvalidInput,
        Self::Internal,
    ];

    /// Whether an automatic or one-click retry of the same request can be expected to help.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, Self::Transient | Self::Capacity | Self::Agent)
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name is the stable, user-visible spelling.
        let name = match self {
            Self::Transient => "transient",
            Self::Capacity => "capacity",
            Self::Quota => "quota",
            Self::Credentials => "credentials",
            Self::Configuration => "configuration",
            Self::Provider => "provider",
            Self::WorkspaceBuild => "workspace-build",
            Self::Agent => "agent",
            Self::InvalidInput => "invalid-input",
            Self::Internal => "internal",
        };
        f.write_str(name)
    }
}

/// A failure as the user sees it.
///
/// Field names are snake_case on the wire because the same JSON is printed by `sam --json`,
/// where shell users expect them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[error("{message}")]
pub struct SamError {
    /// What kind of failure this is.
    pub category: ErrorCategory,
    /// One or two sentences saying what went wrong, in the user's terms.
    pub message: String,
    /// What the user can do about it.
    pub next_step: String,
    /// Whether trying the same thing again may succeed.
    pub retryable: bool,
    /// For rate limits and capacity: seconds to wait before retrying, when known.
    pub retry_after_secs: Option<u32>,
    /// The step of a longer operation that failed (for example `clone`), when there is one.
    pub step: Option<String>,
    /// A reference that appears in the log next to the full technical detail.
    pub log_ref: Option<String>,
}

impl SamError {
    /// An error of `category`; `retryable` follows the category's default.
    pub fn new(
        category: ErrorCategory,
        message: impl Into<String>,
        next_step: impl Into<String>,
    ) -> Self {
        Self {
            category,
            message: message.into(),
            next_step: next_step.into(),
            retryable: category.retryable_by_default(),
            retry_after_secs: None,
            step: None,
            log_ref: None,
        }
    }

    /// Shorthand for a malformed request.
    pub fn invalid_input(message: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self::new(ErrorCategory::InvalidInput, message, next_step)
    }

    /// Shorthand for a configuration problem.
    pub fn configuration(message: impl Into<String>, next_step: impl Into<String>) -> Self {
        Self::new(ErrorCategory::Configuration, message, next_step)
    }

    /// An internal failure. The technical `detail` is logged under a fresh reference and never
    /// shown; the user gets `message` and the reference.
    pub fn internal(message: impl Into<String>, detail: &dyn fmt::Display) -> Self {
        let log_ref = new_log_ref();
        tracing::error!(log_ref = %log_ref, detail = %detail, "internal error");
        Self {
            log_ref: Some(log_ref),
            ..Self::new(
                ErrorCategory::Internal,
                message,
                "Try again. If it keeps happening, report it with the log reference.",
            )
        }
    }

    /// Names the step of a longer operation that failed.
    #[must_use]
    pub fn with_step(mut self, step: impl Into<String>) -> Self {
        self.step = Some(step.into());
        self
    }

    /// Overrides whether a retry may help.
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// Says how long to wait before a retry; implies `retryable`.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self.retryable = true;
        self
    }
}

/// A short, random reference that ties a user-visible error to a log line.
fn new_log_ref() -> String {
    let mut bytes = [0u8; 4];
    // A failing OS random source only costs us uniqueness of a log reference.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_the_documented_field_names() {
        let err = SamError::new(
            ErrorCategory::WorkspaceBuild,
            "The repository could not be cloned.",
            "Check the URL.",
        )
        .with_step("clone");
        let json = serde_json::to_value(&err).expect("serializes");
        assert_eq!(json["category"], "workspace-build");
        assert_eq!(json["message"], "The repository could not be cloned.");
        assert_eq!(json["next_step"], "Check the URL.");
        assert_eq!(json["retryable"], false);
        assert_eq!(json["step"], "clone");
        assert!(json["log_ref"].is_null());
    }

    #[test]
    fn display_matches_the_wire_name_for_every_category() {
        for category in ErrorCategory::ALL {
            let wire = serde_json::to_value(category).expect("serializes");
            assert_eq!(wire, category.to_string(), "{category:?}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let err = SamError::new(ErrorCategory::Transient, "Hetzner is busy.", "Wait.")
            .with_retry_after(30);
        let back: SamError =
            serde_json::from_str(&serde_json::to_string(&err).expect("serializes"))
                .expect("parses");
        assert_eq!(back, err);
        assert!(back.retryable);
    }

    #[test]
    fn internal_errors_carry_a_log_reference_not_the_detail() {
        let err = SamError::internal("Saving failed.", &"disk I/O error at page 7");
        let log_ref = err.log_ref.clone().expect("has a reference");
        assert_eq!(log_ref.len(), 8);
        assert!(!err.message.contains("page 7"));
        assert!(!err.next_step.contains("page 7"));
    }
}
