//! Which provider runs a workspace; getting a machine's agent enrolled (a freshly booted
//! agent is enrolled as soon as it answers: a cloud server takes a minute or two to download
//! and start it), connecting to it, and removing the machine.

use std::sync::Arc;
use std::time::Duration;

use super::{CreateRequest, Workspaces, agent_error};
use crate::agent_client::{AgentError, Caller, StreamEvent, enroll_agent};
use crate::clock::now_ms;
use crate::error::{ErrorCategory, SamError};
use crate::installation::{hex, random};
use crate::provider::{Machine, MachineDetails, MachineSpec, Placement, Provider};
use crate::redact::Secret;
use crate::store::Operation;
use crate::workspace::{EventLevel, ProviderKind, Workspace, WorkspaceId};

/// How long a new machine's agent may take to answer (a server boots, downloads and verifies
/// the agent, then starts it).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How often a booting agent is tried.
const BOOT_POLL: Duration = Duration::from_millis(500);

/// What [`Workspaces::remove`] takes away.
#[derive(Debug, Clone, Copy)]
pub(super) enum Removal {
    /// The server; the disk stays.
    Compute,
    /// Server, disk and firewall.
    Everything,
}

impl Workspaces {
    /// The provider of `kind`.
    pub(super) async fn provider(&self, kind: ProviderKind) -> Result<Arc<dyn Provider>, SamError> {
        self.providers.get(kind).await
    }

    /// Provisions with a fresh enrollment secret and pins the agent — or, when the agent was
    /// already enrolled by this process's predecessor, keeps the pin it recorded.
    pub(super) async fn provision_and_enroll(
        &self,
        operation: &Operation,
        workspace: &Workspace,
        provider: &Arc<dyn Provider>,
    ) -> Result<(), SamError> {
        let id = &workspace.id;
        if let (_, Some(pin)) = self.ctx.store().agent(id)? {
            // Enrolled by an earlier attempt: bring the same agent back (or adopt it).
            self.step(
                operation,
                "provision",
                "starting the machine (enrolled earlier)",
            )
            .await;
            let machine = provider
                .provision(&self.spec(workspace, None).await?)
                .await
                .map_err(|err| err.with_step("provision"))?;
            self.ctx
                .store()
                .set_agent(id, Some(&machine.agent_addr), Some(&pin))?;
            return Ok(());
        }
        // A secret only lives in memory, so an agent started by a process that died before
        // pinning it cannot be enrolled any more: start over from a clean machine.
        self.step(operation, "provision", "starting the machine")
            .await;
        self.remove(provider.as_ref(), id, Removal::Everything, "provision")
            .await?;
        let secret = Self::enrollment_secret()?;
        let machine = provider
            .provision(&self.spec(workspace, Some(secret.clone())).await?)
            .await
            .map_err(|err| err.with_step("provision"))?;
        self.enroll_machine(operation, workspace, &machine, &secret)
            .await?;
        if provider.has_boot_log() {
            self.follow_boot(operation, workspace).await?;
        }
        Ok(())
    }

    pub(super) async fn spec<'a>(
        &self,
        workspace: &'a Workspace,
        secret: Option<Secret>,
    ) -> Result<MachineSpec<'a>, SamError> {
        Ok(MachineSpec {
            workspace: &workspace.id,
            public_key: self.ctx.installation_async().await?.public_key(),
            enrollment_secret: secret,
            idle_timeout_secs: workspace.idle_timeout_secs,
            placements: self.placements(workspace)?,
        })
    }

    /// A fresh one-time enrollment secret.
    pub(super) fn enrollment_secret() -> Result<Secret, SamError> {
        Ok(Secret::new(hex(&random::<32>()?)))
    }

    /// Enrolls the agent of a machine made with `secret` (waiting, bounded, for it to answer)
    /// and records its address and pin.
    pub(super) async fn enroll_machine(
        &self,
        operation: &Operation,
        workspace: &Workspace,
        machine: &Machine,
        secret: &Secret,
    ) -> Result<(), SamError> {
        let id = &workspace.id;
        self.ctx
            .store()
            .set_agent(id, Some(&machine.agent_addr), None)?;
        self.step(
            operation,
            "enroll",
            "waiting for the agent, then verifying it and pinning its certificate",
        )
        .await;
        let installation = self.ctx.installation_async().await?;
        let caller = Caller {
            key: installation.signing_key(),
            workspace: id.as_str(),
        };
        let deadline = tokio::time::Instant::now() + self.timing().boot_timeout;
        let enrolled = loop {
            match enroll_agent(&machine.agent_addr, &caller, secret.expose()).await {
                Ok(enrolled) => break enrolled,
                // Still booting: nothing listens yet, or the connection broke off mid-start.
                Err(
                    AgentError::Unreachable { .. }
                    | AgentError::ConnectionLost
                    | AgentError::Timeout(_),
                ) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(BOOT_POLL).await;
                }
                Err(err) => return Err(agent_error(err, "enroll")),
            }
        };
        let store = self.ctx.store();
        store.set_agent(id, Some(&machine.agent_addr), Some(&enrolled.pin))?;
        store.set_ssh_host_key(id, enrolled.ssh_host_key.as_deref())?;
        Ok(())
    }

    /// Shows the new machine's boot log in the workspace's log (`boot` step), as the agent
    /// follows it, until the boot script's last line: `done` goes on, a `FAILED` phase is the
    /// operation's error. A log that does not finish in time is noted and the work goes on.
    pub(super) async fn follow_boot(
        &self,
        operation: &Operation,
        workspace: &Workspace,
    ) -> Result<(), SamError> {
        let id = &workspace.id;
        self.step(operation, "boot", "reading the server's boot log")
            .await;
        let client = self.connect(workspace).await?;
        let (mut events, _) = client
            .attach(0, 0)
            .await
            .map_err(|err| agent_error(err, "boot"))?;
        let deadline = tokio::time::Instant::now() + self.timing().boot_timeout;
        let mut pending = Vec::new();
        loop {
            let event = match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(event) => event,
                Err(_) => {
                    self.log(
                        id,
                        "boot",
                        EventLevel::Warn,
                        "the server's boot log did not finish in time; going on",
                    );
                    return Ok(());
                }
            };
            let bytes = match event {
                Some(StreamEvent::Output { bytes, .. }) => bytes,
                Some(StreamEvent::Gap { .. } | StreamEvent::Exit(_)) => continue,
                Some(StreamEvent::Reset) | None => {
                    return Err(SamError::new(
                        ErrorCategory::Agent,
                        "The workspace's agent restarted while the server was booting.",
                        "Retry the workspace.",
                    )
                    .with_step("boot"));
                }
            };
            pending.extend_from_slice(&bytes);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                // Event lines are `<date> <message>`; the boot's are `<date> boot: <line>`.
                let Some((_, boot)) = line.trim_end().split_once(" boot: ") else {
                    continue;
                };
                let failed = boot.contains(": FAILED");
                let level = if failed {
                    EventLevel::Error
                } else {
                    EventLevel::Info
                };
                self.log(id, "boot", level, boot);
                if failed {
                    return Err(SamError::new(
                        ErrorCategory::Provider,
                        format!("The server's boot failed: {boot}"),
                        "Retry the workspace. If it fails the same way, the boot log above says where; report it with that line.",
                    )
                    .with_step("boot"));
                }
                if boot.starts_with("sam-boot: done:") {
                    return Ok(());
                }
            }
        }
    }

    /// Releases the workspace's compute (the disk stays) or removes everything; the billing of
    /// what was removed ends here.
    pub(super) async fn remove(
        &self,
        provider: &dyn Provider,
        id: &WorkspaceId,
        what: Removal,
        step: &str,
    ) -> Result<(), SamError> {
        let removed = match what {
            Removal::Compute => provider.release(id).await,
            Removal::Everything => provider.destroy(id).await,
        };
        removed.map_err(|err| err.with_step(step))?;
        let kind = matches!(what, Removal::Compute).then_some("server");
        self.ctx.store().end_billing(id, kind, now_ms())?;
        Ok(())
    }

    /// Checks a create request's placement against its provider's catalogue before anything
    /// is recorded.
    pub async fn check_placement(&self, request: &CreateRequest) -> Result<(), SamError> {
        if let (Some(placements), Some(placement)) = (
            self.providers.placements(request.provider),
            &request.placement,
        ) {
            placements.check(placement).await?;
        }
        Ok(())
    }

    /// The placements a workspace's machine is tried in: its own choice first, then the
    /// preferences. Empty where the provider offers no choice.
    pub(super) fn placements(&self, workspace: &Workspace) -> Result<Vec<Placement>, SamError> {
        let Some(offered) = self.providers.placements(workspace.provider) else {
            return Ok(Vec::new());
        };
        let mut placements: Vec<Placement> = workspace.placement.iter().cloned().collect();
        for placement in offered.preferred()? {
            if !placements.contains(&placement) {
                placements.push(placement);
            }
        }
        Ok(placements)
    }

    /// What a workspace's machine is now, as its provider describes it (on Hetzner: server,
    /// location, address and cost); `None` when the provider has nothing to add to the record.
    pub async fn machine_details(
        &self,
        id: &WorkspaceId,
    ) -> Result<Option<MachineDetails>, SamError> {
        let workspace = self.ctx.store().workspace(id)?;
        self.provider(workspace.provider)
            .await?
            .details(&workspace.id)
            .await
    }
}
