//! Applying the idle policy (`core::idle`) to running workspaces: ask each one's agent about
//! activity, decide, remember the decision in SQLite, and warn or stop. "Keep running" moves
//! the deadline here and on the agent (so its backstop knows it).

use std::time::Duration;

use serde::Serialize;

use super::Lifecycle;
use crate::core::error::SamError;
use crate::core::idle::{self, Activity, IdleAction};
use crate::core::store::OperationKind;
use crate::core::workspace::{EventLevel, WorkspaceId, WorkspaceStatus};

/// What the idle policy did, for notifications and the tray.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum IdleNotice {
    /// The workspace will stop at `stop_at_ms` unless something happens.
    Warned {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// When it stops, Unix milliseconds.
        #[specta(type = f64)]
        stop_at_ms: i64,
        /// How long nothing has happened in it, in minutes.
        idle_minutes: u32,
    },
    /// The workspace was stopped by the idle policy.
    Stopped {
        /// The workspace.
        workspace: WorkspaceId,
        /// Its name.
        name: String,
        /// How long nothing had happened in it, in minutes.
        idle_minutes: u32,
    },
}

impl Lifecycle {
    /// One round of the idle policy at `now_ms` over every running workspace with an idle
    /// timeout. A workspace whose agent cannot be asked is left alone this round (its backstop
    /// still guards the bill). Returns what it warned about and stopped.
    pub async fn idle_tick(&self, now_ms: i64) -> Result<Vec<IdleNotice>, SamError> {
        let mut notices = Vec::new();
        for workspace in self.store.workspaces()? {
            if workspace.status != WorkspaceStatus::Running {
                continue;
            }
            let Some(timeout) = workspace.idle_timeout_secs.map(Duration::from_secs) else {
                continue;
            };
            let status = match self.connect(&workspace).await {
                Ok(client) => client.status().await,
                Err(err) => {
                    tracing::debug!(workspace = %workspace.id, error = %err, "idle: agent not reachable");
                    continue;
                }
            };
            let Ok(status) = status else {
                continue;
            };
            let activity = Activity {
                last_ms: status.last_activity_ms,
                active_reasons: status.active_reasons,
            };
            let state = self.store.idle_state(&workspace.id)?;
            let (action, next) = idle::decide(now_ms, Some(timeout), &activity, state);
            self.store.set_idle_state(&workspace.id, &next)?;
            match action {
                IdleAction::Wait { .. } => {}
                IdleAction::Warn {
                    stop_at_ms,
                    idle_for,
                } => {
                    let idle_minutes = minutes(idle_for);
                    let stop_in = minutes(Duration::from_millis(
                        u64::try_from(stop_at_ms - now_ms).unwrap_or(0),
                    ));
                    self.log(
                        &workspace.id,
                        "idle",
                        EventLevel::Warn,
                        &format!(
                            "nothing has happened for {idle_minutes} min (no typing, no running command, no busy agent): stopping in {stop_in} min unless you keep it running"
                        ),
                    );
                    notices.push(IdleNotice::Warned {
                        workspace: workspace.id.clone(),
                        name: workspace.name.clone(),
                        stop_at_ms,
                        idle_minutes,
                    });
                }
                IdleAction::Stop { idle_for } => {
                    let idle_minutes = minutes(idle_for);
                    let Ok(operation) = self.begin(&workspace.id, OperationKind::Stop) else {
                        continue;
                    };
                    self.log(
                        &workspace.id,
                        "idle",
                        EventLevel::Info,
                        &format!("stopping: nothing has happened for {idle_minutes} min"),
                    );
                    // Its failure is recorded on the workspace like any stop's.
                    let _ = self.run(operation).await;
                    self.store
                        .set_idle_state(&workspace.id, &idle::IdleState::default())?;
                    notices.push(IdleNotice::Stopped {
                        workspace: workspace.id.clone(),
                        name: workspace.name.clone(),
                        idle_minutes,
                    });
                }
            }
        }
        Ok(notices)
    }

    /// "Keep running": the workspace is not stopped for idleness before `now_ms + for_`. The
    /// agent's backstop is told too; when the agent cannot be reached, the app's deadline still
    /// moves. Returns the new deadline floor.
    pub async fn keep_running(
        &self,
        id: &WorkspaceId,
        for_: Duration,
        now_ms: i64,
    ) -> Result<i64, SamError> {
        let workspace = self.store.workspace(id)?;
        let state = idle::snooze(now_ms, for_, self.store.idle_state(id)?);
        self.store.set_idle_state(id, &state)?;
        let until_ms = state.snoozed_until_ms.unwrap_or(now_ms);
        if let Ok(client) = self.connect(&workspace).await
            && let Ok(status) = client.status().await
        {
            let mut policy = status.policy;
            policy.extend_until = Some(until_ms / 1000);
            if let Err(err) = client.set_idle_policy(policy).await {
                tracing::warn!(workspace = %id, %err, "telling the agent to keep running failed");
            }
        }
        self.log(
            id,
            "idle",
            EventLevel::Info,
            &format!("kept running for {} min on request", minutes(for_)),
        );
        Ok(until_ms)
    }
}

fn minutes(duration: Duration) -> u32 {
    u32::try_from(duration.as_secs() / 60).unwrap_or(u32::MAX)
}
