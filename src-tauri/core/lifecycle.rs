//! The workspace lifecycle: create, stop, start, delete and retry as durable operations.
//!
//! Each operation is a row in the store with a lease (see `store::operations`), and a sequence
//! of idempotent steps; every step's start, outcome and log lines go to the workspace's event log.
//! A process that dies mid-operation leaves the row behind; the next process that calls
//! [`Workspaces::resume_orphans`] (the app at start, or a CLI worker) takes over the expired lease
//! and runs the operation again from the top — the steps skip what is already done. See
//! `docs/lifecycle.md` for the state machine.

mod begin;
mod clone;
mod machines;
mod sweep;

use machines::Removal;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::account::git::GitCredentials;
use crate::agent_client::{AgentClient, AgentError};
use crate::context::Context;
use crate::error::SamError;
use crate::idle::IdleChoice;
use crate::installation::{hex, random};
use crate::notice::{Notice, Notices};
use crate::provider::Placement;
use crate::provider::registry::Providers;
use crate::store::{Operation, OperationKind, Store};
use crate::workspace::{EventLevel, ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

/// How long an operation's lease lasts without renewal (the `SAM_LEASE_SECS` test hook
/// overrides it, for tests that kill a process and want the next one to take over quickly).
pub const LEASE: Duration = Duration::from_secs(30);
/// How many times a failed workspace may be retried.
pub const MAX_RETRIES: u32 = 3;

/// What the user asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// The repository URL, as typed.
    pub repo: String,
    /// A name; the repository's name when absent.
    pub name: Option<String>,
    /// A branch; the default branch when absent.
    pub branch: Option<String>,
    /// Where it runs.
    pub provider: ProviderKind,
    /// Idle timeout (30 min on Hetzner and never on this computer unless chosen).
    pub idle: IdleChoice,
    /// Server type and location to try first (Hetzner only); `None` follows the preferences.
    pub placement: Option<Placement>,
}

/// How long leases last and how long a new machine may take to answer.
#[derive(Debug, Clone, Copy)]
struct Timing {
    lease: Duration,
    boot_timeout: Duration,
}

/// The workspaces of one process: their operations (create, stop, start, delete, retry) run as
/// durable jobs, the machines they run on, and the sweep that brings their records in line with
/// the cloud.
#[derive(Debug, Clone)]
pub struct Workspaces {
    ctx: Arc<Context>,
    providers: Providers,
    git: GitCredentials,
    owner: String,
    /// How long leases last and how long a new machine may take to boot.
    timing: Arc<std::sync::Mutex<Timing>>,
}

impl Workspaces {
    /// The workspaces over `ctx`, run by the registered `providers`, handed credentials by
    /// `git`. Leases are taken as `owner`, or as a fresh owner for this process.
    pub fn new(
        ctx: Arc<Context>,
        providers: Providers,
        git: GitCredentials,
        owner: Option<String>,
    ) -> Self {
        let owner = owner.unwrap_or_else(new_owner);
        let lease = ctx.config().hooks.lease.unwrap_or(LEASE);
        Self {
            ctx,
            providers,
            git,
            owner,
            timing: Arc::new(std::sync::Mutex::new(Timing {
                lease,
                boot_timeout: machines::BOOT_TIMEOUT,
            })),
        }
    }

    /// Where the core publishes what the user should hear about (desktop notifications).
    pub fn notices(&self) -> &Notices {
        self.ctx.notices()
    }

    /// The lease owner this process works as.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A connected client for the workspace's agent.
    pub async fn connect(&self, workspace: &Workspace) -> Result<AgentClient, SamError> {
        self.ctx.connect(workspace).await
    }

    /// Runs an operation this process holds the lease of, renewing it while working, and
    /// records the outcome. Returns the workspace afterwards (`None` once deleted).
    pub async fn run(&self, operation: Operation) -> Result<Option<Workspace>, SamError> {
        let renewing = CancellationToken::new();
        let renewer = tokio::spawn(renew_lease(
            Arc::clone(self.ctx.store()),
            operation.id,
            self.owner.clone(),
            self.timing().lease,
            renewing.clone(),
        ));
        // Renewal stops however this ends — also when the caller drops the work half-way, so
        // that another process can take the operation over once the lease runs out.
        let stop_renewing = renewing.drop_guard();
        let outcome = self.execute(&operation).await;
        drop(stop_renewing);
        let _ = renewer.await;
        let id = &operation.workspace;
        match outcome {
            Ok(()) => {
                self.ctx.store().finish_operation(operation.id, true)?;
                if operation.kind == OperationKind::Delete {
                    self.ctx.store().delete_workspace(id)?;
                    crate::ssh_hosts::refresh(self.ctx.store(), self.ctx.paths());
                    return Ok(None);
                }
                let workspace = self.ctx.store().workspace(id)?;
                if operation.kind == OperationKind::Create {
                    crate::ssh_hosts::refresh(self.ctx.store(), self.ctx.paths());
                    self.ctx.notices().publish(Notice::Created {
                        workspace: id.clone(),
                        name: workspace.name.clone(),
                    });
                }
                Ok(Some(workspace))
            }
            Err(err) => {
                let step = err
                    .step
                    .clone()
                    .unwrap_or_else(|| operation.kind.as_str().to_owned());
                self.log(
                    id,
                    &step,
                    EventLevel::Error,
                    &format!("{} {}", err.message, err.next_step),
                );
                self.ctx.store().finish_operation(operation.id, false)?;
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Error, Some(&err))?;
                if operation.kind == OperationKind::Create {
                    self.ctx.notices().publish(Notice::CreateFailed {
                        workspace: id.clone(),
                        name: self.ctx.store().workspace(id)?.name,
                        category: err.category,
                        message: err.message.clone(),
                    });
                }
                Err(err)
            }
        }
    }

    /// Takes over operations whose owner died and runs them to the end. Returns how many.
    pub async fn resume_orphans(&self) -> Result<usize, SamError> {
        let mut resumed = 0;
        for operation in self.ctx.store().orphaned_operations()? {
            if !self
                .store()
                .claim_operation(operation.id, &self.owner, self.lease_ms())?
            {
                continue;
            }
            self.log(
                &operation.workspace,
                operation.kind.as_str(),
                EventLevel::Warn,
                "resuming an operation an earlier process left unfinished",
            );
            // Its failure is recorded on the workspace; carry on with the others.
            let _ = self.run(operation).await;
            resumed += 1;
        }
        Ok(resumed)
    }

    /// Runs the operation `id` is in the middle of, if this process can take it over.
    pub async fn resume(&self, id: &WorkspaceId) -> Result<Option<Workspace>, SamError> {
        match self.ctx.store().running_operation(id)? {
            Some(operation)
                if self
                    .store()
                    .claim_operation(operation.id, &self.owner, self.lease_ms())? =>
            {
                self.run(operation).await
            }
            _ => Ok(Some(self.ctx.store().workspace(id)?)),
        }
    }

    async fn execute(&self, operation: &Operation) -> Result<(), SamError> {
        let id = &operation.workspace;
        let workspace = self.ctx.store().workspace(id)?;
        let provider = self.provider(workspace.provider).await?;
        match operation.kind {
            OperationKind::Create => {
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Creating, None)?;
                self.provision_and_enroll(operation, &workspace, &provider)
                    .await?;
                self.step(operation, "clone", "cloning the repository")
                    .await;
                let client = self.connect(&workspace).await?;
                self.git.push_to(&client, &workspace).await?;
                clone::run(self, &client, &workspace).await?;
            }
            OperationKind::Stop => {
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Stopping, None)?;
                self.step(operation, "prepare", "ending sessions and syncing the disk")
                    .await;
                match self.connect(&workspace).await {
                    Ok(client) => match client.prepare_stop().await {
                        Ok(ended) => self.log(
                            id,
                            "prepare",
                            EventLevel::Info,
                            &format!("ended {ended} processes"),
                        ),
                        Err(err) => self.log(
                            id,
                            "prepare",
                            EventLevel::Warn,
                            &format!("the agent did not prepare: {err}"),
                        ),
                    },
                    Err(err) => self.log(
                        id,
                        "prepare",
                        EventLevel::Warn,
                        &format!(
                            "the agent is not reachable ({}); stopping anyway",
                            err.message
                        ),
                    ),
                }
                self.step(operation, "release", "releasing compute").await;
                self.remove(provider.as_ref(), id, Removal::Compute, "release")
                    .await?;
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Stopped, None)?;
                self.log(id, "stop", EventLevel::Info, "stopped");
                return Ok(());
            }
            OperationKind::Start => {
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Starting, None)?;
                self.step(operation, "provision", "starting the machine")
                    .await;
                // A provider that makes a new machine each time (Hetzner) gets a new secret,
                // and its agent is enrolled anew; one it adopted keeps the pin it had. A machine
                // left by an interrupted start (its secret died with that attempt) goes first:
                // the work is on the disk, which stays.
                let secret = provider
                    .new_machine_each_start()
                    .then(Self::enrollment_secret)
                    .transpose()?;
                if secret.is_some() {
                    self.remove(provider.as_ref(), id, Removal::Compute, "provision")
                        .await?;
                }
                let machine = provider
                    .provision(&self.spec(&workspace, secret.clone()).await?)
                    .await
                    .map_err(|err| err.with_step("provision"))?;
                match secret.filter(|_| machine.fresh) {
                    Some(secret) => {
                        self.enroll_machine(operation, &workspace, &machine, &secret)
                            .await?;
                        if provider.has_boot_log() {
                            self.follow_boot(operation, &workspace).await?;
                        }
                    }
                    None => {
                        let (_, pin) = self.ctx.store().agent(id)?;
                        self.ctx.store().set_agent(
                            id,
                            Some(&machine.agent_addr),
                            pin.as_deref(),
                        )?;
                    }
                }
                self.step(operation, "connect", "connecting to the agent")
                    .await;
                let client = self.connect(&workspace).await?;
                self.git.push_to(&client, &workspace).await?;
            }
            OperationKind::Delete => {
                self.ctx
                    .store()
                    .set_workspace_status(id, WorkspaceStatus::Deleting, None)?;
                self.step(operation, "destroy", "removing the machine and its disk")
                    .await;
                self.remove(provider.as_ref(), id, Removal::Everything, "destroy")
                    .await?;
                return Ok(());
            }
        }
        self.ctx
            .store()
            .set_workspace_status(id, WorkspaceStatus::Running, None)?;
        self.log(id, operation.kind.as_str(), EventLevel::Info, "running");
        if let Some(self_delete) = self.providers.self_delete(workspace.provider) {
            self_delete.arm(&workspace).await;
        }
        Ok(())
    }

    /// Enters a step: records it, and — for fault-injection tests only — holds here forever when
    /// the `SAM_FAULT_HOLD_BEFORE_STEP` hook names it, so a test can kill the process mid-way.
    async fn step(&self, operation: &Operation, step: &str, what: &str) {
        if self.ctx.config().hooks.fault_hold_before_step.as_deref() == Some(step) {
            self.log(
                &operation.workspace,
                step,
                EventLevel::Warn,
                "held before this step (fault injection)",
            );
            std::future::pending::<()>().await;
        }
        if let Err(err) = self.ctx.store().set_operation_step(operation.id, step) {
            tracing::warn!(%err, "recording a step failed");
        }
        self.log(&operation.workspace, step, EventLevel::Info, what);
    }

    pub(crate) fn log(&self, id: &WorkspaceId, step: &str, level: EventLevel, message: &str) {
        self.ctx.log(id, step, level, message);
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timing().lease.as_millis()).unwrap_or(i64::MAX)
    }

    fn timing(&self) -> Timing {
        *self
            .timing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Shortens the lease and the boot timeout (tests that kill work half-way, or whose
    /// servers never boot).
    pub fn set_timing(&self, lease: Duration, boot_timeout: Duration) {
        *self
            .timing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Timing {
            lease,
            boot_timeout,
        };
    }

    /// The store this engine records into.
    pub fn store(&self) -> &Arc<Store> {
        self.ctx.store()
    }
}

/// A fresh lease owner: the process id and a random tag.
pub fn new_owner() -> String {
    format!(
        "{}:{}",
        std::process::id(),
        random::<4>().map(|r| hex(&r)).unwrap_or_default()
    )
}

fn agent_error(err: AgentError, step: &str) -> SamError {
    SamError::from(err).with_step(step)
}

/// Renews an operation's lease every third of its length until cancelled.
async fn renew_lease(
    store: Arc<Store>,
    operation: i64,
    owner: String,
    lease: Duration,
    stop: CancellationToken,
) {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(lease / 3);
    tick.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = store.claim_operation(operation, &owner, lease_ms) {
                    tracing::warn!(%err, "renewing an operation's lease failed");
                }
            }
        }
    }
}
