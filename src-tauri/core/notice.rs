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
        /// Coding agents in it that wait for an answer (their catalogue ids).
        waiting_agents: Vec<String>,
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
    /// A coding agent asks for permission and waits for the person.
    AgentWaiting {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// The coding agent (its catalogue id).
        agent: String,
        /// The permission request's number.
        request: i64,
        /// What it asks to do.
        title: String,
        /// The agent's option that allows (once), if it offers one: its id and words.
        allow: Option<(String, String)>,
        /// The agent's option that refuses (once), if it offers one.
        deny: Option<(String, String)>,
    },
    /// A coding agent ended its turn.
    AgentDone {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// The coding agent (its catalogue id).
        agent: String,
        /// The session.
        session: String,
        /// Why the turn ended, in words ("done", "cancelled", …).
        outcome: String,
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
    /// The coding agent's own "allow" option.
    Allow,
    /// The coding agent's own "deny" option.
    Deny,
}

impl NoticeAction {
    /// The identifier sent to the notification server, and back.
    pub fn key(self) -> &'static str {
        match self {
            Self::Open => "default",
            Self::KeepRunning => "keep-running",
            Self::StopNow => "stop-now",
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::KeepRunning => "Keep running 1 h",
            Self::StopNow => "Stop now",
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }

    /// The action named `key`, if it is one of ours.
    pub fn from_key(key: &str) -> Option<Self> {
        [
            Self::Open,
            Self::KeepRunning,
            Self::StopNow,
            Self::Allow,
            Self::Deny,
        ]
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
            | Self::BackstopStopped { workspace, .. }
            | Self::AgentWaiting { workspace, .. }
            | Self::AgentDone { workspace, .. } => workspace,
        }
    }

    /// Which notification on screen this one replaces: the latest news of a workspace replaces
    /// the one before, while each permission request and each session has its own.
    pub fn slot(&self) -> String {
        match self {
            Self::AgentWaiting {
                workspace, request, ..
            } => format!("{workspace}/request/{request}"),
            Self::AgentDone {
                workspace, session, ..
            } => format!("{workspace}/session/{session}"),
            other => other.workspace().to_string(),
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
            Self::AgentWaiting { agent, name, .. } => {
                format!("{agent} in {name} waits for your answer")
            }
            Self::AgentDone {
                agent,
                name,
                outcome,
                ..
            } => format!("{agent} in {name} finished its turn ({outcome})"),
        }
    }

    /// The explanation, with `stop_at` rendering a wall-clock time for the reader.
    pub fn body(&self, now_ms: i64) -> String {
        match self {
            Self::IdleWarning {
                stop_at_ms,
                idle_minutes,
                waiting_agents,
                ..
            } => {
                let minutes = (stop_at_ms - now_ms).max(0) / 60_000;
                let waiting = match waiting_agents.as_slice() {
                    [] => String::new(),
                    [one] => format!(" The coding agent {one} waits for your answer."),
                    many => format!(
                        " The coding agents {} wait for your answers.",
                        many.join(", ")
                    ),
                };
                format!(
                    "Nothing has happened for {idle_minutes} min: no typing, no running command, \
                     no busy agent. It stops in {minutes} min (its disk is kept) unless you keep \
                     it running.{waiting}"
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
            Self::AgentWaiting { title, .. } => {
                format!("It asks: {title}. Answer here, in the window, or with sam agent answer.")
            }
            Self::AgentDone { .. } => "Open the workspace to see what it did.".to_owned(),
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

    /// The words on `action`'s button: the coding agent's own for its options.
    pub fn action_label(&self, action: NoticeAction) -> String {
        match (self, action) {
            (Self::AgentWaiting { allow: Some(o), .. }, NoticeAction::Allow)
            | (Self::AgentWaiting { deny: Some(o), .. }, NoticeAction::Deny) => o.1.clone(),
            _ => action.label().to_owned(),
        }
    }

    /// The buttons it offers, besides clicking it (which opens the workspace).
    pub fn actions(&self) -> &'static [NoticeAction] {
        match self {
            Self::IdleWarning { .. } => &[NoticeAction::KeepRunning, NoticeAction::StopNow],
            Self::AgentWaiting {
                allow: Some(_),
                deny: Some(_),
                ..
            } => &[NoticeAction::Allow, NoticeAction::Deny],
            Self::AgentWaiting { allow: Some(_), .. } => &[NoticeAction::Allow],
            Self::AgentWaiting { deny: Some(_), .. } => &[NoticeAction::Deny],
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
