//! `sam ssh` and `sam ssh-config`: SSH into workspaces through their agents, with OpenSSH's
//! client and the editors built on it.
//!
//! `sam ssh --stdio WORKSPACE` is the ProxyCommand of SAM's SSH config: it carries the SSH
//! connection on its standard input and output through a tunnel of the workspace's agent, so
//! it prints nothing on standard output itself; what the user should read goes to standard
//! error, which OpenSSH shows.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use sam_core::Core;
use sam_core::agent_client::TunnelTarget;
use sam_core::error::SamError;
use sam_core::ssh_config::{self, Change};
use sam_core::ssh_hosts::{self, SshFiles};
use sam_core::store::OperationKind;
use sam_core::workspace::{Workspace, WorkspaceStatus};

use super::{confirm, print_json, print_text};

#[derive(Debug, Args)]
pub(super) struct SshArgs {
    /// Carry SSH on standard input and output (what SAM's SSH config runs as ProxyCommand).
    #[arg(long)]
    stdio: bool,
    /// Fail when the workspace is stopped instead of starting it.
    #[arg(long, env = "SAM_SSH_NO_START", value_parser = clap::builder::FalseyValueParser::new())]
    no_start: bool,
    /// The workspace: its name, its id, or its SSH host name (`sam-<name>`).
    workspace: String,
    /// A command to run instead of a login shell (after `--`).
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct SshConfigArgs {
    /// Take SAM's block out of the SSH config again.
    #[arg(long)]
    remove: bool,
    /// Change the file without asking (the change is still printed).
    #[arg(long, short)]
    yes: bool,
    /// The SSH config to edit (default: ~/.ssh/config).
    #[arg(long, value_name = "FILE")]
    ssh_config: Option<PathBuf>,
}

/// `sam ssh`.
pub(super) async fn ssh(core: &Core, args: SshArgs) -> Result<(), SamError> {
    let files = SshFiles::of(core.paths());
    if !args.stdio {
        // The ProxyCommand leaves the files alone: OpenSSH is reading them meanwhile.
        ssh_hosts::sync(core.store(), &files, &ssh_hosts::sam_command())?;
    }
    let (workspace, host) = ssh_hosts::require(core.store(), &args.workspace)?;
    if args.stdio {
        if !args.command.is_empty() {
            return Err(SamError::invalid_input(
                "`sam ssh --stdio` carries an SSH connection; it runs no command.",
                "Leave out --stdio to run a command: sam ssh WORKSPACE -- COMMAND.",
            ));
        }
        let workspace = running(core, workspace, args.no_start).await?;
        return stdio(core, &workspace).await;
    }
    let mut ssh = std::process::Command::new("ssh");
    ssh.arg("-F").arg(&files.config);
    if args.no_start {
        // The ProxyCommand inherits it.
        ssh.env("SAM_SSH_NO_START", "1");
    }
    ssh.arg(&host.alias);
    if !args.command.is_empty() {
        ssh.arg("--").args(&args.command);
    }
    #[cfg(unix)]
    let err = std::os::unix::process::CommandExt::exec(&mut ssh);
    // Elsewhere a process cannot become another: run ssh and end as it did.
    #[cfg(not(unix))]
    let err = match ssh.status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(255)),
        Err(err) => err,
    };
    Err(SamError::configuration(
        format!("SAM could not run OpenSSH's ssh: {err}."),
        "Install the OpenSSH client (Debian and Ubuntu: apt install openssh-client).",
    ))
}

/// The workspace once it runs: started first when stopped (unless `no_start`), waited for when
/// it is starting or being created.
pub(super) async fn running(
    core: &Core,
    workspace: Workspace,
    no_start: bool,
) -> Result<Workspace, SamError> {
    let mut workspace = workspace;
    if workspace.status == WorkspaceStatus::Stopped {
        if no_start {
            return Err(SamError::invalid_input(
                format!("Workspace {} is stopped.", workspace.name),
                format!(
                    "Start it with `sam workspace start {}`, or connect without --no-start.",
                    workspace.name
                ),
            ));
        }
        note(&format!(
            "SAM: starting workspace {} (this can take a minute)…",
            workspace.name
        ));
        let operation = core
            .workspaces()
            .begin(&workspace.id, OperationKind::Start)?;
        if let Some(started) = core.workspaces().run(operation).await? {
            workspace = started;
        }
    }
    let mut announced = false;
    loop {
        match workspace.status {
            WorkspaceStatus::Running | WorkspaceStatus::Recovery => return Ok(workspace),
            WorkspaceStatus::Starting | WorkspaceStatus::Creating => {
                if !announced {
                    note(&format!(
                        "SAM: waiting for workspace {} to start…",
                        workspace.name
                    ));
                    announced = true;
                }
                // Another process runs the operation; its progress reaches us through the
                // database, which a few looks a second follow closely enough.
                tokio::time::sleep(Duration::from_millis(500)).await;
                workspace = core.store().workspace(&workspace.id)?;
            }
            status => {
                return Err(SamError::invalid_input(
                    format!(
                        "Workspace {} is {}; SSH reaches running workspaces only.",
                        workspace.name,
                        status.as_str()
                    ),
                    format!("See `sam workspace show {}`.", workspace.name),
                ));
            }
        }
    }
}

/// Pipes standard input and output through a tunnel to the workspace's SSH server.
async fn stdio(core: &Core, workspace: &Workspace) -> Result<(), SamError> {
    let client = core.workspaces().connect(workspace).await?;
    sam_core::tunnel::pipe(
        &client,
        TunnelTarget::Ssh,
        None,
        tokio::io::stdin(),
        tokio::io::stdout(),
    )
    .await
    .map_err(|err| {
        SamError::new(
            sam_core::error::ErrorCategory::Transient,
            format!("The SSH connection to {} ended: {err}.", workspace.name),
            "Connect again.",
        )
    })
}

/// `sam ssh-config`: adds (or with `--remove` takes out) SAM's block in the SSH config, showing
/// the change first and asking before the first write.
pub(super) fn ssh_config(core: &Core, args: &SshConfigArgs, json: bool) -> Result<(), SamError> {
    let target = match &args.ssh_config {
        Some(path) => path.clone(),
        None => ssh_hosts::user_ssh_config()?,
    };
    let change = core.plan_ssh_config(&target, !args.remove)?;
    if change.is_noop() {
        let state = if args.remove { "has no" } else { "already has" };
        report(
            json,
            &target,
            &change,
            false,
            &format!("{} {state} SAM's block.", target.display()),
        );
        return Ok(());
    }
    if !json {
        print_text(&format!(
            "Changes to {}:\n{}",
            target.display(),
            change.diff()
        ));
    }
    if !args.yes && !confirm(&format!("Write {}?", target.display()))? {
        return Err(SamError::invalid_input(
            format!("{} was not changed.", target.display()),
            "Pass --yes to write without asking.",
        ));
    }
    ssh_config::apply(&target, &change)?;
    let done = if args.remove {
        format!("Removed SAM's block from {}.", target.display())
    } else {
        format!(
            "Added SAM's block to {}: `ssh sam-<name>` reaches a workspace.",
            target.display()
        )
    };
    report(json, &target, &change, true, &done);
    Ok(())
}

fn report(json: bool, target: &std::path::Path, change: &Change, changed: bool, text: &str) {
    if json {
        print_json(&serde_json::json!({
            "file": target,
            "changed": changed,
            "diff": change.diff(),
        }));
    } else {
        print_text(text);
    }
}

#[allow(clippy::print_stderr)]
fn note(text: &str) {
    eprintln!("{text}");
}
