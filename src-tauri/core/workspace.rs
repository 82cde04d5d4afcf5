//! The workspace: a repository checked out on a machine with our agent serving it.
//!
//! These are the domain types the store persists and the UI shows; here are only the nouns.
//! What moves a workspace between states is [`crate::lifecycle`].
//!
//! Timestamps and sequence numbers are `i64` in Rust and `number` in TypeScript: they stay far
//! below 2^53, where a JavaScript number is exact.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SamError;
use crate::provider::Placement;

/// A workspace's identity: 12 lower-case letters and digits. Short enough for a Hetzner server
/// name (`sam-<id>`, a valid hostname label) and a folder name; random enough (62 bits) never to
/// collide within one installation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "specta", specta(transparent))]
pub struct WorkspaceId(String);

impl WorkspaceId {
    /// Length of every id.
    pub const LEN: usize = 12;
    const ALPHABET: &'static [u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

    /// A fresh random id.
    pub fn generate() -> Result<Self, SamError> {
        let mut bytes = [0u8; Self::LEN];
        getrandom::fill(&mut bytes).map_err(|err| {
            SamError::internal("This computer's random number source failed.", &err)
        })?;
        let id = bytes
            .iter()
            .map(|b| Self::ALPHABET[usize::from(b % 32)] as char)
            .collect();
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WorkspaceId {
    type Err = SamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = s.len() == Self::LEN && s.bytes().all(|b| Self::ALPHABET.contains(&b));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(SamError::invalid_input(
                format!("{s:?} is not a workspace id."),
                "Workspace ids are 12 lower-case letters and digits; copy one from `sam list`.",
            ))
        }
    }
}

impl TryFrom<String> for WorkspaceId {
    type Error = SamError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<WorkspaceId> for String {
    fn from(id: WorkspaceId) -> Self {
        id.0
    }
}

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a workspace's machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// The agent runs as a process on this computer.
    Local,
    /// A server on the user's Hetzner Cloud account.
    Hetzner,
}

/// Where a workspace is in its life. Transitions belong to the lifecycle, not to this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceStatus {
    /// Being provisioned and cloned.
    Creating,
    /// Up: the agent answers and the repository is checked out.
    Running,
    /// Compute is being released; the disk stays.
    Stopping,
    /// No compute is billed; the disk is kept.
    Stopped,
    /// Compute is coming back for a stopped workspace.
    Starting,
    /// Everything is being removed.
    Deleting,
    /// Gone; kept in the list only until the user dismisses it.
    Deleted,
    /// Running on a fallback image because the repository's dev container failed to build.
    Recovery,
    /// An operation failed; the workspace's `error` says how.
    Error,
}

/// Implements `ALL`, `as_str` and `FromStr` for a fieldless enum from one table of spellings, so
/// what the store writes and what it parses back can never disagree. The spellings match the
/// serde names (a test checks it for `WorkspaceStatus`).
macro_rules! stored_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable spelling stored in SQLite and sent over IPC.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| format!("unknown {} {s:?}", $what))
            }
        }
    };
}

stored_names!(ProviderKind, "provider", { Local => "local", Hetzner => "hetzner" });

stored_names!(WorkspaceStatus, "workspace status", {
    Creating => "creating",
    Running => "running",
    Stopping => "stopping",
    Stopped => "stopped",
    Starting => "starting",
    Deleting => "deleting",
    Deleted => "deleted",
    Recovery => "recovery",
    Error => "error",
});

stored_names!(EventLevel, "event level", { Info => "info", Warn => "warn", Error => "error" });

/// A workspace as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Workspace {
    /// Identity.
    pub id: WorkspaceId,
    /// The user's name for it (defaults to the repository's name).
    pub name: String,
    /// The git URL it was created from.
    pub repo_url: String,
    /// The branch checked out, when not the repository's default.
    pub branch: Option<String>,
    /// Where it runs.
    pub provider: ProviderKind,
    /// Where it is in its life.
    pub status: WorkspaceStatus,
    /// Why the last operation failed, when `status` is `error`.
    pub error: Option<SamError>,
    /// How many times a failed operation has been retried.
    pub retry_count: u32,
    /// Idle timeout in seconds; `None` = never.
    pub idle_timeout_secs: Option<u64>,
    /// The server type and location asked for at create (Hetzner); `None` follows the
    /// preferences in Settings.
    pub placement: Option<Placement>,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// Last change, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// What the user asks for when creating a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewWorkspace {
    /// The user's name for it.
    pub name: String,
    /// The git URL to clone.
    pub repo_url: String,
    /// The branch to check out, when not the default.
    pub branch: Option<String>,
    /// Where it runs.
    pub provider: ProviderKind,
    /// Idle timeout in seconds; `None` = never.
    pub idle_timeout_secs: Option<u64>,
    /// The server type and location asked for (Hetzner); `None` follows the preferences.
    pub placement: Option<Placement>,
}

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "kebab-case")]
pub enum EventLevel {
    /// Progress.
    Info,
    /// Something odd that did not stop the operation.
    Warn,
    /// A failure.
    Error,
}

/// One line of a workspace's step/event log. Kept past errors so the user can read what
/// happened in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct WorkspaceEvent {
    /// Increasing sequence number, unique across all workspaces.
    pub seq: i64,
    /// When it happened, Unix milliseconds.
    pub at_ms: i64,
    /// The step it belongs to (`clone`, `boot`, …).
    pub step: String,
    /// How much it matters.
    pub level: EventLevel,
    /// What happened.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..100 {
            let id = WorkspaceId::generate().expect("random source works");
            assert_eq!(id.as_str().parse::<WorkspaceId>().expect("valid"), id);
        }
    }

    #[test]
    fn malformed_ids_are_refused_with_guidance() {
        for bad in [
            "",
            "ABCDEFGHIJKL",
            "abc",
            "abcdefghijk1",
            "abcdefghijk/",
            "../etc/passwd",
        ] {
            let err = bad.parse::<WorkspaceId>().expect_err(bad);
            assert_eq!(err.category, crate::error::ErrorCategory::InvalidInput);
        }
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<WorkspaceId>("\"abcdefghijkm\"").is_ok());
        assert!(serde_json::from_str::<WorkspaceId>("\"nope\"").is_err());
    }

    #[test]
    fn stored_spellings_round_trip_and_match_the_wire_names() {
        for &status in WorkspaceStatus::ALL {
            assert_eq!(status.as_str().parse::<WorkspaceStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).expect("serializes"),
                status.as_str()
            );
        }
    }
}
