//! What the user is told outside the window — as desktop notifications and in the tray — and
//! the words for it. The lifecycle publishes notices on a broadcast channel; the desktop shell
//! decides how to show them (and whether: "do not disturb").

use serde::Serialize;
use tokio::sync::broadcast;

use crate::error::ErrorCategory;
use crate::workspace::WorkspaceId;

/// How many notices wait for a slow listener before the oldest are dropped.
const BACKLOG: usize = 64;

/// Something the user should hear about even with the window closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Notice {
    /// The workspace will be stopped at `stop_at_ms` unless something happens.
    IdleWarning {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// When it stops, Unix milliseconds.
        #[cfg_attr(feature = "specta", specta(type = f64))]
        stop_at_ms: i64,
        /// How long nothing has happened in it, in minutes.
        idle_minutes: u32,
    },
    /// The workspace was stopped by its idle policy.
    IdleStopped {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// How long nothing had happened in it, in minutes.
        idle_minutes: u32,
    },
    /// A new workspace is ready.
    Created {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
    },
    /// Creating a workspace failed.
    CreateFailed {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// What kind of failure.
        category: ErrorCategory,
        /// What went wrong.
        message: String,
    },
    /// The server's own backstop powered it off while the app was away; the app has finished
    /// the stop (the server is deleted, the disk kept).
    BackstopStopped {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// What the server cost from its creation to its deletion, as text ("€0.42").
        cost: Option<String>,
    },
}

/// What a notice offers to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeAction {
    /// Open the workspace in the window (clicking the notification).
    Open,
    /// "Keep running 1 h".
    KeepRunning,
    /// "Stop now".
    StopNow,
}

impl NoticeAction {
    /// The identifier sent to the notification server, and back.
    pub fn key(self) -> &'static str {
        match self {
            Self::Open => "default",
            Self::KeepRunning => "keep-running",
            Self::StopNow => "stop-now",
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::KeepRunning => "Keep running 1 h",
            Self::StopNow => "Stop now",
        }
    }

    /// The action named `key`, if it is one of ours.
    pub fn from_key(key: &str) -> Option<Self> {
        [Self::Open, Self::KeepRunning, Self::StopNow]
            .into_iter()
            .find(|action| action.key() == key)
    }
}

impl Notice {
    /// The workspace it is about.
    pub fn workspace(&self) -> &WorkspaceId {
        match self {
            Self::IdleWarning { workspace, .. }
            | Self::IdleStopped { workspace, .. }
            | Self::Created { workspace, .. }
            | Self::CreateFailed { workspace, .. }
            | Self::BackstopStopped { workspace, .. } => workspace,
        }
    }

    /// The headline.
    pub fn summary(&self) -> String {
        match self {
            Self::IdleWarning { name, .. } => format!("{name} is idle and will stop soon"),
            Self::IdleStopped { name, .. } => format!("{name} was stopped because it was idle"),
            Self::Created { name, .. } => format!("{name} is ready"),
            Self::CreateFailed { name, .. } => format!("Creating {name} failed"),
            Self::BackstopStopped { name, .. } => {
                format!("{name} was powered off while SAM was closed")
            }
        }
    }

    /// The explanation, with `stop_at` rendering a wall-clock time for the reader.
    pub fn body(&self, now_ms: i64) -> String {
        match self {
            Self::IdleWarning {
                stop_at_ms,
                idle_minutes,
                ..
            } => {
                let minutes = (stop_at_ms - now_ms).max(0) / 60_000;
                format!(
                    "Nothing has happened for {idle_minutes} min: no typing, no running command, \
                     no busy agent. It stops in {minutes} min (its disk is kept) unless you keep \
                     it running."
                )
            }
            Self::IdleStopped { idle_minutes, .. } => format!(
                "Nothing had happened for {idle_minutes} min. Its server is gone, so it costs no \
                 more than its disk; start it again whenever you need it."
            ),
            Self::Created { .. } => "Its terminal is ready.".to_owned(),
            Self::CreateFailed {
                category, message, ..
            } => format!("{category} error: {message}"),
            Self::BackstopStopped { cost, .. } => {
                let cost = cost
                    .as_deref()
                    .map(|cost| format!(" The server cost {cost} in all."))
                    .unwrap_or_default();
                format!(
                    "It was idle past its deadline, so its backstop powered the server off. SAM \
                     has deleted the server and kept its disk.{cost}"
                )
            }
        }
    }

    /// The buttons it offers, besides clicking it (which opens the workspace).
    pub fn actions(&self) -> &'static [NoticeAction] {
        match self {
            Self::IdleWarning { .. } => &[NoticeAction::KeepRunning, NoticeAction::StopNow],
            _ => &[],
        }
    }
}

/// Where notices are published.
#[derive(Debug, Clone)]
pub struct Notices {
    sender: broadcast::Sender<Notice>,
}

impl Default for Notices {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Notices {
    /// Publishes `notice` to whoever listens (nobody, in the CLI).
    pub fn publish(&self, notice: Notice) {
        tracing::info!(?notice, "notice");
        // No listener is fine: the CLI has no desktop to tell.
        let _ = self.sender.send(notice);
    }

    /// Listens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.sender.subscribe()
    }
}

/// The setting that silences desktop notifications ("do not disturb").
const DO_NOT_DISTURB: crate::store::Setting<bool> =
    crate::store::Setting::new("notifications.do_not_disturb");

impl crate::store::Store {
    /// Whether desktop notifications are silenced.
    pub fn do_not_disturb(&self) -> Result<bool, crate::store::StoreError> {
        Ok(self.get(&DO_NOT_DISTURB)?.unwrap_or(false))
    }

    /// Silences desktop notifications, or lets them through again.
    pub fn set_do_not_disturb(&self, on: bool) -> Result<(), crate::store::StoreError> {
        self.put(&DO_NOT_DISTURB, &on)
    }
}
