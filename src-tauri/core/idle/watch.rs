//! Applying the idle policy ([`crate::idle`]) to running workspaces: ask each one's agent about
//! activity, decide, remember the decision in SQLite, and warn or stop. "Keep running" moves
//! the deadline here and on the agent (so its backstop knows it).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::coding_agents::sessions::STALE;
use crate::context::Context;
use crate::error::SamError;
use crate::idle::{self, Activity, IdleAction};
use crate::lifecycle::Workspaces;
use crate::notice::Notice;
use crate::store::OperationKind;
use crate::workspace::{EventLevel, Workspace, WorkspaceId, WorkspaceStatus};

/// How often the app checks running workspaces for idleness: well inside the 5-minute warning.
pub const TICK: Duration = Duration::from_secs(30);

/// Where a workspace's idle policy stands, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IdleView {
    /// The idle timeout in seconds; `None` = never.
    pub timeout_secs: Option<u64>,
    /// When it stops if nothing happens (as of the last check), Unix milliseconds.
    pub deadline_ms: Option<i64>,
    /// Set once the user has been warned: when it stops, Unix milliseconds.
    pub stop_at_ms: Option<i64>,
    /// "Keep running" holds it until then, Unix milliseconds.
    pub kept_until_ms: Option<i64>,
}

/// The idle policy applied to the workspaces of one process.
#[derive(Debug, Clone)]
pub struct IdleWatch {
    ctx: Arc<Context>,
    workspaces: Workspaces,
}

impl IdleWatch {
    /// The policy over `ctx`, stopping idle workspaces through `workspaces`.
    pub fn new(ctx: Arc<Context>, workspaces: Workspaces) -> Self {
        Self { ctx, workspaces }
    }

    /// Where the workspace's idle policy stands.
    pub fn view(&self, id: &WorkspaceId, now_ms: i64) -> Result<IdleView, SamError> {
        let workspace = self.ctx.store().workspace(id)?;
        let running = workspace.status == WorkspaceStatus::Running;
        let state = self.ctx.store().idle_state(id)?;
        let timeout = workspace.idle_timeout_secs;
        Ok(IdleView {
            timeout_secs: timeout,
            deadline_ms: state.deadline_ms.filter(|_| running && timeout.is_some()),
            stop_at_ms: state
                .deadline_ms
                .zip(state.warned_ms)
                .filter(|_| running && timeout.is_some())
                .map(|(deadline, warned)| idle::stop_at(deadline, warned)),
            kept_until_ms: state.snoozed_until_ms.filter(|until| *until > now_ms),
        })
    }

    /// Changes the workspace's idle timeout (`None` = never). A running workspace's agent is
    /// told, so its backstop follows the new policy; when it cannot be reached the change still
    /// holds here and reaches the agent with the next start.
    pub async fn set_timeout(
        &self,
        id: &WorkspaceId,
        timeout_secs: Option<u64>,
    ) -> Result<(), SamError> {
        if timeout_secs.is_some_and(|secs| secs < 60) {
            return Err(SamError::invalid_input(
                "The shortest idle timeout is 1 minute.",
                "Pick a longer timeout, or never.",
            ));
        }
        self.ctx.store().set_idle_timeout(id, timeout_secs)?;
        let workspace = self.ctx.store().workspace(id)?;
        if workspace.status == WorkspaceStatus::Running {
            self.update_agent_policy(&workspace, |policy| policy.timeout_secs = timeout_secs)
                .await;
        }
        let text = match timeout_secs {
            Some(secs) => format!("idle timeout set to {} min", secs / 60),
            None => "idle timeout set to never".to_owned(),
        };
        self.ctx.log(id, "idle", EventLevel::Info, &text);
        Ok(())
    }

    /// Changes the idle policy the workspace's agent enforces; failures are logged (the app's
    /// own deadline holds regardless).
    async fn update_agent_policy(
        &self,
        workspace: &Workspace,
        change: impl FnOnce(&mut crate::agent_client::IdlePolicy),
    ) {
        let result = async {
            let client = self.ctx.connect(workspace).await?;
            let mut policy = client.status().await?.policy;
            change(&mut policy);
            client.set_idle_policy(policy).await?;
            Ok::<_, SamError>(())
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(workspace = %workspace.id, %err, "updating the agent's idle policy failed");
        }
    }

    /// One round of the idle policy at `now_ms` over every running workspace with an idle
    /// timeout. A workspace whose agent cannot be asked is left alone this round (its backstop
    /// still guards the bill). Returns what it warned about and stopped.
    pub async fn tick(&self, now_ms: i64) -> Result<Vec<Notice>, SamError> {
        let mut notices = Vec::new();
        for workspace in self.ctx.store().workspaces()? {
            if workspace.status != WorkspaceStatus::Running {
                continue;
            }
            let Some(timeout) = workspace.idle_timeout_secs.map(Duration::from_secs) else {
                continue;
            };
            let status = match self.ctx.connect(&workspace).await {
                Ok(client) => client.status().await,
                Err(err) => {
                    tracing::debug!(workspace = %workspace.id, error = %err, "idle: agent not reachable");
                    continue;
                }
            };
            let Ok(status) = status else {
                continue;
            };
            let store = self.ctx.store();
            let mut active_reasons = status.active_reasons;
            // A turn the desktop follows (its heartbeat is fresh, by the wall clock) is work,
            // even while the coding agent only thinks or streams its reply.
            let followed_since =
                crate::clock::now_ms() - i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
            let working = store.agents_in_state(
                workspace.id.as_str(),
                &["working", "cancelling"],
                Some(followed_since),
            )?;
            active_reasons.extend(
                working
                    .iter()
                    .map(|agent| format!("the coding agent {agent} is working")),
            );
            let activity = Activity {
                last_ms: status.last_activity_ms,
                active_reasons,
            };
            let state = self.ctx.store().idle_state(&workspace.id)?;
            let (action, next) = idle::decide(now_ms, Some(timeout), &activity, state);
            self.ctx.store().set_idle_state(&workspace.id, &next)?;
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
                    let waiting_agents =
                        store.agents_in_state(workspace.id.as_str(), &["waiting"], None)?;
                    let waits = if waiting_agents.is_empty() {
                        String::new()
                    } else {
                        format!("; waiting for your answer: {}", waiting_agents.join(", "))
                    };
                    self.ctx.log(
                        &workspace.id,
                        "idle",
                        EventLevel::Warn,
                        &format!(
                            "nothing has happened for {idle_minutes} min (no typing, no running command, no busy agent): stopping in {stop_in} min unless you keep it running{waits}"
                        ),
                    );
                    notices.push(Notice::IdleWarning {
                        workspace: workspace.id.clone(),
                        name: workspace.name.clone(),
                        stop_at_ms,
                        idle_minutes,
                        waiting_agents,
                    });
                }
                IdleAction::Stop { idle_for } => {
                    let idle_minutes = minutes(idle_for);
                    let Ok(operation) = self.workspaces.begin(&workspace.id, OperationKind::Stop)
                    else {
                        continue;
                    };
                    self.ctx.log(
                        &workspace.id,
                        "idle",
                        EventLevel::Info,
                        &format!("stopping: nothing has happened for {idle_minutes} min"),
                    );
                    // Its failure is recorded on the workspace like any stop's.
                    let _ = self.workspaces.run(operation).await;
                    self.ctx
                        .store()
                        .set_idle_state(&workspace.id, &idle::IdleState::default())?;
                    notices.push(Notice::IdleStopped {
                        workspace: workspace.id.clone(),
                        name: workspace.name.clone(),
                        idle_minutes,
                    });
                }
            }
        }
        for notice in &notices {
            self.ctx.notices().publish(notice.clone());
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
        let workspace = self.ctx.store().workspace(id)?;
        let state = idle::snooze(now_ms, for_, self.ctx.store().idle_state(id)?);
        self.ctx.store().set_idle_state(id, &state)?;
        let until_ms = state.snoozed_until_ms.unwrap_or(now_ms);
        self.update_agent_policy(&workspace, |policy| {
            policy.extend_until = Some(until_ms / 1000);
        })
        .await;
        self.ctx.log(
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
