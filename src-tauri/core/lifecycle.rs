//! The workspace lifecycle: create, stop, start, delete and retry as durable operations.
//!
//! Each operation is a row in the store with a lease (see `store::operations`), and a sequence
//! of idempotent steps; every step's start, outcome and log lines go to the workspace's event log.
//! A process that dies mid-operation leaves the row behind; the next process that calls
//! [`Lifecycle::resume_orphans`] (the app at start, or a CLI worker) takes over the expired lease
//! and runs the operation again from the top — the steps skip what is already done. See
//! `docs/lifecycle.md` for the state machine.

mod begin;
mod clone;
mod git;
pub mod github;
mod hetzner;
pub mod idle;
mod machines;
mod self_delete;

use machines::Removal;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::agent_client::AgentError;
use crate::config::Config;
use crate::error::SamError;
use crate::idle::IdleChoice;
use crate::installation::{Installation, KeyStore, hex, random};
use crate::notice::{Notice, Notices};
use crate::provider::hetzner::provider::HetznerProvider;
use crate::provider::hetzner::reconcile::Report;
use crate::provider::{Placement, Provider};
use crate::store::{Operation, OperationKind, Store, StoreError};
use crate::workspace::{EventLevel, ProviderKind, Workspace, WorkspaceId, WorkspaceStatus};

/// How long an operation's lease lasts without renewal (the `SAM_LEASE_SECS` test hook
/// overrides it, for tests that kill a process and want the next one to take over quickly).
pub const LEASE: Duration = Duration::from_secs(30);
/// How many times a failed workspace may be retried.
pub const MAX_RETRIES: u32 = 3;
/// How long to wait for a freshly started agent to accept a session.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

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

/// The lifecycle engine of one process.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    store: Arc<Store>,
    local: Arc<dyn Provider>,
    keys: Arc<dyn KeyStore>,
    owner: String,
    /// What the environment said at start-up.
    config: Arc<Config>,
    /// How long leases last and how long a new machine may take to boot.
    timing: Arc<std::sync::Mutex<Timing>>,
    /// Loaded once: every keyring access is a blocking D-Bus round trip.
    installation: Arc<std::sync::Mutex<Option<Arc<Installation>>>>,
    /// Made on first use (see `machines.rs`).
    hetzner: Arc<std::sync::Mutex<Option<Arc<HetznerProvider>>>>,
    /// The reconciler's latest report: what may be deleted from it.
    reconciled: Arc<std::sync::Mutex<Option<Report>>>,
    /// Bumped whenever `reconciled` changes.
    report_generation: Arc<std::sync::atomic::AtomicU64>,
    /// What the user hears about outside the window.
    notices: Notices,
    /// Sign-ins waiting for their callback, the repository list, token renewal.
    github: Arc<github::GitHubShared>,
}

impl Lifecycle {
    /// An engine over `store` with the Local provider `local` and secrets in `keys`, configured
    /// by `config`. Leases are taken as `owner`, or as a fresh owner for this process.
    pub fn new(
        store: Arc<Store>,
        local: Arc<dyn Provider>,
        keys: Arc<dyn KeyStore>,
        owner: Option<String>,
        config: Arc<Config>,
    ) -> Self {
        let owner = owner.unwrap_or_else(new_owner);
        let lease = config.hooks.lease.unwrap_or(LEASE);
        Self {
            store,
            local,
            keys,
            owner,
            config,
            timing: Arc::new(std::sync::Mutex::new(Timing {
                lease,
                boot_timeout: machines::BOOT_TIMEOUT,
            })),
            installation: Arc::default(),
            hetzner: Arc::default(),
            reconciled: Arc::default(),
            report_generation: Arc::default(),
            notices: Notices::default(),
            github: Arc::default(),
        }
    }

    /// Where this engine publishes what the user should hear about (desktop notifications).
    pub fn notices(&self) -> &Notices {
        &self.notices
    }

    /// The lease owner this engine works as.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The installation identity, from the cache or the keyring. Blocking: call it from a
    /// blocking context (or through [`Lifecycle::installation_async`]).
    fn installation(&self) -> Result<Arc<Installation>, SamError> {
        let mut cached = self
            .installation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(installation) = cached.as_ref() {
            return Ok(Arc::clone(installation));
        }
        let loaded = Arc::new(Installation::load_or_create(
            &self.store,
            self.keys.as_ref(),
        )?);
        *cached = Some(Arc::clone(&loaded));
        Ok(loaded)
    }

    /// [`Lifecycle::installation`] off the async threads: the keyring's D-Bus client blocks, and
    /// blocking a runtime worker on it can starve the very tasks it waits for.
    async fn installation_async(&self) -> Result<Arc<Installation>, SamError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.installation())
            .await
            .map_err(|err| SamError::internal("Loading the installation key failed.", &err))?
    }

    /// Runs an operation this process holds the lease of, renewing it while working, and
    /// records the outcome. Returns the workspace afterwards (`None` once deleted).
    pub async fn run(&self, operation: Operation) -> Result<Option<Workspace>, SamError> {
        let renewing = CancellationToken::new();
        let renewer = tokio::spawn(renew_lease(
            Arc::clone(&self.store),
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
                self.store.finish_operation(operation.id, true)?;
                if operation.kind == OperationKind::Delete {
                    self.store.delete_workspace(id)?;
                    return Ok(None);
                }
                let workspace = self.store.workspace(id)?;
                if operation.kind == OperationKind::Create {
                    self.notices.publish(Notice::Created {
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
                self.store.finish_operation(operation.id, false)?;
                self.store
                    .set_workspace_status(id, WorkspaceStatus::Error, Some(&err))?;
                if operation.kind == OperationKind::Create {
                    self.notices.publish(Notice::CreateFailed {
                        workspace: id.clone(),
                        name: self.store.workspace(id)?.name,
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
        for operation in self.store.orphaned_operations()? {
            if !self
                .store
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
        match self.store.running_operation(id)? {
            Some(operation)
                if self
                    .store
                    .claim_operation(operation.id, &self.owner, self.lease_ms())? =>
            {
                self.run(operation).await
            }
            _ => Ok(Some(self.store.workspace(id)?)),
        }
    }

    async fn execute(&self, operation: &Operation) -> Result<(), SamError> {
        let id = &operation.workspace;
        let workspace = self.store.workspace(id)?;
        let provider = self.provider(workspace.provider).await?;
        match operation.kind {
            OperationKind::Create => {
                self.store
                    .set_workspace_status(id, WorkspaceStatus::Creating, None)?;
                self.provision_and_enroll(operation, &workspace, &provider)
                    .await?;
                self.step(operation, "clone", "cloning the repository")
                    .await;
                let client = self.connect(&workspace).await?;
                self.push_git_credential(&client, &workspace).await?;
                clone::run(self, &client, &workspace).await?;
            }
            OperationKind::Stop => {
                self.store
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
                self.store
                    .set_workspace_status(id, WorkspaceStatus::Stopped, None)?;
                self.log(id, "stop", EventLevel::Info, "stopped");
                return Ok(());
            }
            OperationKind::Start => {
                self.store
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
                        let (_, pin) = self.store.agent(id)?;
                        self.store
                            .set_agent(id, Some(&machine.agent_addr), pin.as_deref())?;
                    }
                }
                self.step(operation, "connect", "connecting to the agent")
                    .await;
                let client = self.connect(&workspace).await?;
                self.push_git_credential(&client, &workspace).await?;
            }
            OperationKind::Delete => {
                self.store
                    .set_workspace_status(id, WorkspaceStatus::Deleting, None)?;
                self.step(operation, "destroy", "removing the machine and its disk")
                    .await;
                self.remove(provider.as_ref(), id, Removal::Everything, "destroy")
                    .await?;
                return Ok(());
            }
        }
        self.store
            .set_workspace_status(id, WorkspaceStatus::Running, None)?;
        self.log(id, operation.kind.as_str(), EventLevel::Info, "running");
        self.arm_backstop(&workspace).await;
        Ok(())
    }

    /// Enters a step: records it, and — for fault-injection tests only — holds here forever when
    /// the `SAM_FAULT_HOLD_BEFORE_STEP` hook names it, so a test can kill the process mid-way.
    async fn step(&self, operation: &Operation, step: &str, what: &str) {
        if self.config.hooks.fault_hold_before_step.as_deref() == Some(step) {
            self.log(
                &operation.workspace,
                step,
                EventLevel::Warn,
                "held before this step (fault injection)",
            );
            std::future::pending::<()>().await;
        }
        if let Err(err) = self.store.set_operation_step(operation.id, step) {
            tracing::warn!(%err, "recording a step failed");
        }
        self.log(&operation.workspace, step, EventLevel::Info, what);
    }

    fn log(&self, id: &WorkspaceId, step: &str, level: EventLevel, message: &str) {
        tracing::info!(workspace = %id, step, "{message}");
        match self.store.append_event(id, step, level, message) {
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(err) => tracing::warn!(%err, "recording an event failed"),
        }
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
        &self.store
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
