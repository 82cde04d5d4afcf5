//! `sam`, the command-line tool over the same core as the app.
//!
//! Every command prints for people by default and one JSON object with `--json`. Exit codes:
//! 0 success · 1 the operation failed (the workspace is in `error`) · 2 invalid input ·
//! 3 credentials or configuration · 4 transient (retry later) · 5 internal.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use sam_core::Core;
use sam_core::config::Config;
use sam_core::error::{ErrorCategory, SamError};
use sam_core::idle::IdleChoice;
use sam_core::installation::OsKeyring;
use sam_core::lifecycle::CreateRequest;
use sam_core::logging;
use sam_core::paths::AppPaths;
use sam_core::provider::Placement;
use sam_core::provider::hetzner::account::HetznerAccount;
use sam_core::store::OperationKind;
use sam_core::workspace::{ProviderKind, Workspace, WorkspaceEvent, WorkspaceId};

mod agent;
mod agent_rules;
mod agent_sessions;
mod devcontainer;
mod git;
mod github;
mod hetzner;
mod idle;
mod open;
mod output;
mod ports;
mod ssh;
mod terminal;
use agent::AgentCommand;
use git::GitCommand;
use github::GitHubCommand;
use hetzner::HetznerCommand;
use idle::{IdleCommand, IdleTimeout, parse_idle};
use output::{print_json, print_note, print_partial, print_text};
use terminal::TerminalCommand;

#[derive(Debug, Parser)]
#[command(
    name = "sam",
    version,
    about = "SAM: development workspaces on your own machines, from the command line.",
    after_help = "Data lives in the platform's data folder, or in SAM_DATA_DIR when set.\n\
                  Exit codes: 0 success, 1 operation failed, 2 invalid input, 3 credentials or \
                  configuration, 4 transient (retry later), 5 internal error."
)]
struct Cli {
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The lease owner a detached worker continues its parent's operation as (internal).
    #[arg(long, global = true, hide = true)]
    operation_owner: Option<String>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Create and manage workspaces.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Terminal tools.
    #[command(subcommand)]
    Terminal(TerminalCommand),
    /// The Hetzner account SAM uses.
    #[command(subcommand)]
    Hetzner(HetznerCommand),
    /// A workspace's idle policy: show it, change it, keep a workspace running.
    #[command(subcommand)]
    Idle(IdleCommand),
    /// What each workspace has cost so far and this month, and the month's total.
    Spend,
    /// Tokens for private git repositories, per host.
    #[command(subcommand)]
    Git(GitCommand),
    /// Signing in with GitHub.
    #[command(subcommand)]
    Github(GitHubCommand),
    /// The coding agents SAM knows how to start.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Open a shell (or run a command) in a workspace over SSH, through its agent; with
    /// --stdio, carry an SSH connection (the ProxyCommand of SAM's SSH config).
    Ssh(ssh::SshArgs),
    /// Add SAM's block to ~/.ssh/config (or take it out with --remove), so that `ssh
    /// sam-<name>` and editors reach workspaces.
    SshConfig(ssh::SshConfigArgs),
    /// Open a workspace's repository in an editor over SSH (after `sam ssh-config`).
    Open(open::OpenArgs),
    /// The TCP ports programs listen on in a workspace.
    Ports(ports::PortsArgs),
    /// Forward ports of a workspace to this computer's loopback until interrupted.
    PortForward(ports::PortForwardArgs),
    /// Dev container configurations (`devcontainer.json`) as SAM reads them.
    #[command(subcommand)]
    Devcontainer(devcontainer::DevcontainerCommand),
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace from a git repository.
    Create(CreateArgs),
    /// List workspaces.
    List,
    /// Show one workspace and its current operation.
    Show(Target),
    /// Stop a workspace: end its sessions and release compute; files stay.
    Stop(WaitTarget),
    /// Start a stopped workspace.
    Start(WaitTarget),
    /// Delete a workspace and everything in it.
    Delete(DeleteArgs),
    /// Retry the failed operation of a workspace in error.
    Retry(WaitTarget),
    /// Print a workspace's step log.
    Logs(Target),
    /// Finish a workspace's pending operation (the detached worker; also useful after a crash).
    #[command(hide = true)]
    Resume(Target),
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The repository: an https URL or file:///path.
    #[arg(long)]
    repo: String,
    /// Where it runs: local (this computer) or hetzner.
    #[arg(long, default_value = "local", value_parser = ["local", "hetzner"])]
    provider: String,
    /// A name (default: the repository's name).
    #[arg(long)]
    name: Option<String>,
    /// A branch (default: the repository's default branch).
    #[arg(long)]
    branch: Option<String>,
    /// Hetzner location (with the Hetzner provider).
    #[arg(long)]
    location: Option<String>,
    /// Hetzner server type (with the Hetzner provider).
    #[arg(long)]
    server_type: Option<String>,
    /// Stop after this long idle: 90s, 30m, 2h, or never (default: 30m on Hetzner, never on
    /// this computer).
    #[arg(long, value_parser = parse_idle)]
    idle_timeout: Option<IdleTimeout>,
    /// Wait until the workspace is running (or failed) instead of returning at once.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct Target {
    /// The workspace's id or name.
    workspace: String,
}

#[derive(Debug, Args)]
struct WaitTarget {
    /// The workspace's id or name.
    workspace: String,
    /// Wait until the operation ends instead of returning at once.
    #[arg(long)]
    wait: bool,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    /// The workspace's id or name.
    workspace: String,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Wait until it is gone.
    #[arg(long)]
    wait: bool,
}

/// The JSON shape of a workspace.
#[derive(Debug, Serialize)]
struct WorkspaceJson<'a> {
    id: &'a WorkspaceId,
    name: &'a str,
    status: &'a str,
    provider: &'a str,
    repo: &'a str,
    branch: Option<&'a str>,
    retry_count: u32,
    idle_timeout_secs: Option<u64>,
    error: Option<&'a SamError>,
    created_at_ms: i64,
}

impl<'a> From<&'a Workspace> for WorkspaceJson<'a> {
    fn from(w: &'a Workspace) -> Self {
        Self {
            id: &w.id,
            name: &w.name,
            status: w.status.as_str(),
            provider: w.provider.as_str(),
            repo: &w.repo_url,
            branch: w.branch.as_deref(),
            retry_count: w.retry_count,
            idle_timeout_secs: w.idle_timeout_secs,
            error: w.error.as_ref(),
            created_at_ms: w.created_at_ms,
        }
    }
}

/// Runs the CLI with the process's arguments.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match Config::from_env().and_then(|config| run(cli, &config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err, json);
            ExitCode::from(exit_code(&err))
        }
    }
}

fn exit_code(err: &SamError) -> u8 {
    match err.category {
        ErrorCategory::InvalidInput => 2,
        ErrorCategory::Credentials | ErrorCategory::Configuration => 3,
        ErrorCategory::Transient => 4,
        ErrorCategory::Internal => 5,
        _ => 1,
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn report(err: &SamError, json: bool) {
    if json {
        println!("{}", serde_json::to_string(err).unwrap_or_default());
    } else {
        eprintln!("error: {}\n{}", err.message, err.next_step);
        if let Some(log_ref) = &err.log_ref {
            eprintln!("(log reference {log_ref})");
        }
    }
}

fn run(cli: Cli, config: &Config) -> Result<(), SamError> {
    let owner = cli.operation_owner;
    let open_core = || open_core(config, owner.clone());
    let command = match cli.command {
        Top::Terminal(command) => return terminal::run(command, cli.json),
        Top::Devcontainer(command) => return devcontainer::run(command, cli.json),
        Top::Hetzner(command) => return hetzner::run(command, cli.json, config, open_core),
        Top::Spend => return idle::spend(&open_core()?, cli.json),
        command => command,
    };
    let paths = AppPaths::for_config(config)?;
    let _log = logging::init(&paths.log_dir, "sam", false, config.log_filter.as_deref()).ok();
    let core = open_core()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| SamError::internal("The CLI could not start its runtime.", &err))?;
    runtime.block_on(async {
        match command {
            Top::Idle(command) => idle::run(&core, command, cli.json).await,
            Top::Git(command) => git::run(&core, command, cli.json).await,
            Top::Github(command) => github::run(&core, command, cli.json).await,
            Top::Agent(command) => agent::run(&core, command, cli.json).await,
            Top::Workspace(command) => workspace(&core, command, cli.json).await,
            Top::Ssh(args) => ssh::ssh(&core, args).await,
            Top::SshConfig(args) => ssh::ssh_config(&core, &args, cli.json),
            Top::Ports(args) => ports::ports(&core, &args, cli.json).await,
            Top::Open(args) => open::open(&core, &args, cli.json),
            Top::PortForward(args) => ports::port_forward(&core, args, cli.json).await,
            // Answered above.
            Top::Terminal(_) | Top::Hetzner(_) | Top::Spend | Top::Devcontainer(_) => Ok(()),
        }
    })
}

/// The core on this user's data (`SAM_DATA_DIR` or the platform's folder) and keyring; a
/// detached worker continues its parent's operation as the `owner` it was given.
fn open_core(config: &Config, owner: Option<String>) -> Result<Core, SamError> {
    Core::open_with(
        AppPaths::for_config(config)?,
        config.clone(),
        Arc::new(OsKeyring),
        owner,
    )
}

/// The placement asked for on the command line; a missing half comes from the preferences.
fn placement(
    hetzner: &HetznerAccount,
    location: Option<String>,
    server_type: Option<String>,
) -> Result<Option<Placement>, SamError> {
    if location.is_none() && server_type.is_none() {
        return Ok(None);
    }
    let preferred = hetzner.preferences()?;
    let first = |list: Vec<String>| list.into_iter().next().unwrap_or_default();
    Ok(Some(Placement {
        location: location.unwrap_or_else(|| first(preferred.locations)),
        server_type: server_type.unwrap_or_else(|| first(preferred.server_types)),
    }))
}

async fn workspace(core: &Core, command: WorkspaceCommand, json: bool) -> Result<(), SamError> {
    let lifecycle = core.workspaces();
    match command {
        WorkspaceCommand::Create(args) => {
            // clap allows only the stored names.
            let provider: ProviderKind = args.provider.parse().map_err(|err: String| {
                SamError::invalid_input(err, "Use --provider local or --provider hetzner.")
            })?;
            let request = CreateRequest {
                repo: args.repo,
                name: args.name,
                branch: args.branch,
                provider,
                idle: args.idle_timeout.map_or(IdleChoice::Default, |idle| idle.0),
                placement: placement(core.hetzner(), args.location, args.server_type)?,
            };
            lifecycle.check_placement(&request).await?;
            let (workspace, operation) = lifecycle.begin_create(&request)?;
            finish(core, &workspace.id, operation, args.wait, json).await
        }
        WorkspaceCommand::List => {
            let workspaces = core.list_workspaces()?;
            if json {
                let list: Vec<WorkspaceJson<'_>> =
                    workspaces.iter().map(WorkspaceJson::from).collect();
                print_json(&serde_json::json!({ "workspaces": list }));
            } else if workspaces.is_empty() {
                print_text("No workspaces yet. Create one with: sam workspace create --repo URL");
            } else {
                for w in &workspaces {
                    print_text(&format!(
                        "{}  {:<10} {:<8} {}  {}",
                        w.id,
                        w.status.as_str(),
                        w.provider.as_str(),
                        w.name,
                        w.repo_url
                    ));
                }
            }
            Ok(())
        }
        WorkspaceCommand::Show(target) => {
            let workspace = find(core, &target.workspace)?;
            show(core, &workspace, json)
        }
        WorkspaceCommand::Stop(target) => {
            operate(
                core,
                &target.workspace,
                OperationKind::Stop,
                target.wait,
                json,
            )
            .await
        }
        WorkspaceCommand::Start(target) => {
            operate(
                core,
                &target.workspace,
                OperationKind::Start,
                target.wait,
                json,
            )
            .await
        }
        WorkspaceCommand::Delete(args) => {
            let workspace = find(core, &args.workspace)?;
            if !args.yes
                && !confirm(&format!(
                    "Delete workspace {} ({}) and all its files?",
                    workspace.name, workspace.id
                ))?
            {
                return Err(SamError::invalid_input(
                    "Not deleted.",
                    "Pass --yes to delete without asking.",
                ));
            }
            operate(
                core,
                &args.workspace,
                OperationKind::Delete,
                args.wait,
                json,
            )
            .await
        }
        WorkspaceCommand::Retry(target) => {
            let workspace = find(core, &target.workspace)?;
            let operation = lifecycle.begin_retry(&workspace.id)?;
            finish(core, &workspace.id, operation, target.wait, json).await
        }
        WorkspaceCommand::Logs(target) => {
            let workspace = find(core, &target.workspace)?;
            let events = core.store().events(&workspace.id, 0, u32::MAX)?;
            if json {
                print_json(&serde_json::json!({ "events": events }));
            } else {
                for event in &events {
                    print_text(&event_line(event));
                }
            }
            Ok(())
        }
        WorkspaceCommand::Resume(target) => {
            let workspace = find(core, &target.workspace)?;
            lifecycle.resume(&workspace.id).await.map(|_| ())
        }
    }
}

async fn operate(
    core: &Core,
    target: &str,
    kind: OperationKind,
    wait: bool,
    json: bool,
) -> Result<(), SamError> {
    let workspace = find(core, target)?;
    let operation = core.workspaces().begin(&workspace.id, kind)?;
    finish(core, &workspace.id, operation, wait, json).await
}

/// Runs the operation here (`--wait`) or hands it to a detached worker, then reports.
async fn finish(
    core: &Core,
    id: &WorkspaceId,
    operation: sam_core::store::Operation,
    wait: bool,
    json: bool,
) -> Result<(), SamError> {
    if wait {
        let progress =
            (!json).then(|| tokio::spawn(print_progress(Arc::clone(core.store()), id.clone())));
        let outcome = core.workspaces().run(operation).await;
        if let Some(progress) = progress {
            progress.abort();
        }
        return match outcome? {
            Some(workspace) => show(core, &workspace, json),
            None => {
                if json {
                    print_json(&serde_json::json!({ "deleted": id }));
                } else {
                    print_text(&format!("Deleted {id}."));
                }
                Ok(())
            }
        };
    }
    spawn_worker(id, core.workspaces().owner())?;
    let workspace = core.store().workspace(id)?;
    if !json {
        print_text(&format!(
            "{} started; follow it with: sam workspace show {}",
            operation.kind.as_str(),
            id
        ));
    }
    show(core, &workspace, json)
}

/// Starts `sam workspace resume ID` detached from this terminal, as the lease's owner.
fn spawn_worker(id: &WorkspaceId, owner: &str) -> Result<(), SamError> {
    let exe = std::env::current_exe()
        .map_err(|err| SamError::internal("Cannot find the sam executable.", &err))?;
    let mut worker = std::process::Command::new(exe);
    sam_core::platform::detach(&mut worker);
    worker
        .args([
            "--operation-owner",
            owner,
            "workspace",
            "resume",
            id.as_str(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|err| SamError::internal("The background worker could not be started.", &err))?;
    Ok(())
}

fn show(core: &Core, workspace: &Workspace, json: bool) -> Result<(), SamError> {
    let operation = core.store().running_operation(&workspace.id)?;
    if json {
        let mut value = serde_json::to_value(WorkspaceJson::from(workspace)).unwrap_or_default();
        value["operation"] = serde_json::json!(operation.as_ref().map(|op| serde_json::json!({
            "kind": op.kind, "step": op.step,
        })));
        print_json(&value);
        return Ok(());
    }
    print_text(&format!(
        "{} ({})\n  status:   {}\n  where:    {}\n  repo:     {}",
        workspace.name,
        workspace.id,
        workspace.status.as_str(),
        workspace.provider.as_str(),
        workspace.repo_url
    ));
    if let Some(op) = operation {
        print_text(&format!(
            "  doing:    {} (step {})",
            op.kind.as_str(),
            op.step.as_deref().unwrap_or("starting")
        ));
    }
    if let Some(err) = &workspace.error {
        print_text(&format!(
            "  error:    [{}] {}\n  next:     {}",
            err.category, err.message, err.next_step
        ));
    }
    Ok(())
}

fn find(core: &Core, target: &str) -> Result<Workspace, SamError> {
    if let Ok(workspace) = target
        .parse::<WorkspaceId>()
        .and_then(|id| Ok(core.store().workspace(&id)?))
    {
        return Ok(workspace);
    }
    let matches: Vec<Workspace> = core
        .list_workspaces()?
        .into_iter()
        .filter(|w| w.name == target)
        .collect();
    match matches.len() {
        1 => Ok(matches.into_iter().next().unwrap_or_else(|| unreachable!())),
        0 => Err(SamError::invalid_input(
            format!("There is no workspace {target:?}."),
            "See `sam workspace list` for ids and names.",
        )),
        n => Err(SamError::invalid_input(
            format!("{n} workspaces are named {target:?}."),
            "Use the workspace's id instead.",
        )),
    }
}

fn confirm(question: &str) -> Result<bool, SamError> {
    #[allow(clippy::print_stderr)]
    {
        eprint!("{question} [y/N] ");
    }
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| {
            SamError::invalid_input(format!("No answer could be read: {err}."), "Pass --yes.")
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

async fn print_progress(store: Arc<sam_core::store::Store>, id: WorkspaceId) {
    let mut after = 0;
    loop {
        if let Ok(events) = store.events(&id, after, 100) {
            for event in &events {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{}", event_line(event));
                }
                after = event.seq;
            }
        }
        // A terminal display, not synchronisation: a few refreshes a second are plenty.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn event_line(event: &WorkspaceEvent) -> String {
    let secs = event.at_ms / 1000;
    let time = format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    );
    format!(
        "{time} {:<9} {:<5} {}",
        event.step,
        event.level.as_str(),
        event.message
    )
}
