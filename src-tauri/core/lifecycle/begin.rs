//! Beginning operations: a create request validated and recorded with its workspace, a stop,
//! start or delete checked against the workspace's state, a retry of a failed operation. Each
//! returns the operation to run with [`Workspaces::run`].

use super::{CreateRequest, MAX_RETRIES, Workspaces};
use crate::error::SamError;
use crate::repo::RepoUrl;
use crate::store::{Operation, OperationKind};
use crate::workspace::{EventLevel, NewWorkspace, Workspace, WorkspaceId, WorkspaceStatus};

impl Workspaces {
    /// Validates a request, records the workspace and its `create` operation, and returns both.
    /// Nothing is started yet: run the operation with [`Workspaces::run`].
    pub fn begin_create(
        &self,
        request: &CreateRequest,
    ) -> Result<(Workspace, Operation), SamError> {
        let repo = RepoUrl::parse(&request.repo)?;
        let name = match request.name.as_deref().map(str::trim) {
            Some("") => {
                return Err(SamError::invalid_input(
                    "The name is empty.",
                    "Give a name, or leave it out to use the repository's.",
                ));
            }
            Some(name) if name.chars().count() > 100 => {
                return Err(SamError::invalid_input(
                    "The name is longer than 100 characters.",
                    "Choose a shorter name.",
                ));
            }
            Some(name) => name.to_owned(),
            None => repo.name().to_owned(),
        };
        if let Some(branch) = request.branch.as_ref().filter(|branch| {
            branch.is_empty()
                || branch.starts_with('-')
                || branch.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            return Err(SamError::invalid_input(
                format!("{branch:?} is not a branch name."),
                "Check the branch's spelling.",
            ));
        }
        // Keys first: a locked keyring or a missing token should fail the request, not the
        // background job.
        self.ctx.installation()?;
        self.providers.require_ready(request.provider)?;
        if request.placement.is_some() && self.providers.placements(request.provider).is_none() {
            return Err(SamError::invalid_input(
                "A location and server type can only be chosen for Hetzner workspaces.",
                "Leave them out for a workspace on this computer.",
            ));
        }
        let id = WorkspaceId::generate()?;
        let new = NewWorkspace {
            name,
            repo_url: repo.as_str().to_owned(),
            branch: request.branch.clone(),
            provider: request.provider,
            idle_timeout_secs: request
                .idle
                .timeout_secs(self.providers.default_idle(request.provider)),
            placement: request.placement.clone(),
        };
        let workspace = self.ctx.store().insert_workspace(&id, &new)?;
        let operation = self.ctx.store().begin_operation(
            &id,
            OperationKind::Create,
            &self.owner,
            self.lease_ms(),
        )?;
        self.log(
            &id,
            "create",
            EventLevel::Info,
            &format!(
                "workspace {} requested from {}",
                workspace.name, workspace.repo_url
            ),
        );
        Ok((workspace, operation))
    }

    /// Records a stop, start or delete of `id` and returns the operation to run.
    pub fn begin(&self, id: &WorkspaceId, kind: OperationKind) -> Result<Operation, SamError> {
        let workspace = self.ctx.store().workspace(id)?;
        let allowed = match kind {
            OperationKind::Stop => matches!(
                workspace.status,
                WorkspaceStatus::Running | WorkspaceStatus::Recovery
            ),
            OperationKind::Start => workspace.status == WorkspaceStatus::Stopped,
            OperationKind::Delete => true,
            OperationKind::Create => false,
        };
        if !allowed {
            return Err(SamError::invalid_input(
                format!(
                    "Workspace {} is {}; it cannot {} now.",
                    workspace.name,
                    workspace.status.as_str(),
                    kind.as_str()
                ),
                match workspace.status {
                    WorkspaceStatus::Error => "Retry it, or delete it.",
                    _ => "Wait until the current operation ends.",
                },
            ));
        }
        Ok(self
            .store()
            .begin_operation(id, kind, &self.owner, self.lease_ms())?)
    }

    /// Re-runs the failed operation of a workspace in `error`, at most [`MAX_RETRIES`] times.
    pub fn begin_retry(&self, id: &WorkspaceId) -> Result<Operation, SamError> {
        let workspace = self.ctx.store().workspace(id)?;
        if workspace.status != WorkspaceStatus::Error {
            return Err(SamError::invalid_input(
                format!(
                    "Workspace {} is {}, not failed; there is nothing to retry.",
                    workspace.name,
                    workspace.status.as_str()
                ),
                "Retry applies to workspaces in error.",
            ));
        }
        if workspace.retry_count >= MAX_RETRIES {
            return Err(SamError::invalid_input(
                format!(
                    "Workspace {} was retried {MAX_RETRIES} times already.",
                    workspace.name
                ),
                "Delete it and create it again, after checking the error's next step.",
            ));
        }
        let kind = self
            .store()
            .last_failed_operation(id)?
            .map_or(OperationKind::Create, |op| op.kind);
        let operation = self
            .store()
            .begin_operation(id, kind, &self.owner, self.lease_ms())?;
        self.ctx
            .store()
            .set_retry_count(id, workspace.retry_count + 1)?;
        self.log(
            id,
            kind.as_str(),
            EventLevel::Info,
            &format!("retry {} of {MAX_RETRIES}", workspace.retry_count + 1),
        );
        Ok(operation)
    }
}
