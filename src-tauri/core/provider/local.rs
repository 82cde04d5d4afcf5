//! "Run on this computer": the agent as a local process, the workspace a folder under SAM's
//! data folder.
//!
//! Layout per workspace: `<data>/workspaces/<id>/repo` (the workspace root) and
//! `<data>/workspaces/<id>/agent` (the agent's state, its log, and `agent.json` with its process
//! id and address). The agent runs detached from the app — in its own process group, with a
//! clean environment so none of the app's credentials leak into it — so it survives an app
//! restart and is adopted again from `agent.json`. Its backstop action is `exit`: idle, it ends
//! itself, which is "stopped" here.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::registry::Registration;
use super::{Machine, MachineSpec, MachineStatus, Provider, Source};
use crate::error::{ErrorCategory, SamError};
use crate::workspace::{ProviderKind, WorkspaceId};

/// How long the agent may take to start and announce its address.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stopping agent gets before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What `agent.json` records.
#[derive(Debug, Serialize, Deserialize)]
struct AgentRecord {
    pid: i32,
    addr: String,
}

/// The Local provider.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    root: PathBuf,
    agent_binary: PathBuf,
}

impl LocalProvider {
    /// Workspaces under `data_dir/workspaces`, agents started from `agent_binary`.
    pub fn new(data_dir: &Path, agent_binary: PathBuf) -> Self {
        Self {
            root: data_dir.join("workspaces"),
            agent_binary,
        }
    }

    /// The workspace's folder (the repository checkout).
    pub fn workspace_dir(&self, workspace: &WorkspaceId) -> PathBuf {
        self.root.join(workspace.as_str()).join("repo")
    }

    /// The folder of a Local workspace of the SAM whose data is in `data_dir`.
    pub fn folder_in(data_dir: &Path, workspace: &WorkspaceId) -> PathBuf {
        Self::new(data_dir, PathBuf::new()).workspace_dir(workspace)
    }

    fn agent_dir(&self, workspace: &WorkspaceId) -> PathBuf {
        self.root.join(workspace.as_str()).join("agent")
    }

    fn record(&self, workspace: &WorkspaceId) -> Option<AgentRecord> {
        let text = std::fs::read_to_string(self.agent_dir(workspace).join("agent.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// The recorded agent, if its process is alive.
    fn live_agent(&self, workspace: &WorkspaceId) -> Option<AgentRecord> {
        self.record(workspace)
            .filter(|record| is_agent_process(record.pid))
    }

    fn start_agent(&self, spec: &MachineSpec<'_>) -> Result<Machine, SamError> {
        let workspace_dir = self.workspace_dir(spec.workspace);
        let agent_dir = self.agent_dir(spec.workspace);
        for dir in [&workspace_dir, &agent_dir] {
            std::fs::create_dir_all(dir)
                .map_err(|err| local_error(&format!("cannot create {}", dir.display()), &err))?;
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(agent_dir.join("agent.log"))
            .map_err(|err| local_error("cannot open the agent's log", &err))?;
        let mut command = Command::new(&self.agent_binary);
        command
            .arg("--listen=127.0.0.1:0")
            .arg(format!("--public-key={}", spec.public_key))
            .arg(format!("--workspace-id={}", spec.workspace))
            .arg(format!("--workspace-root={}", workspace_dir.display()))
            .arg(format!("--state-dir={}", agent_dir.display()))
            .arg("--backstop=exit")
            .arg(format!(
                "--idle-timeout-secs={}",
                spec.idle_timeout_secs.unwrap_or(0)
            ))
            .env_clear()
            .envs(clean_environment())
            .current_dir(&workspace_dir)
            .stdin(if spec.enrollment_secret.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(log);
        // Its own process group: a Ctrl-C to the app or the CLI does not reach it.
        crate::platform::detach(&mut command);
        if spec.enrollment_secret.is_some() {
            // Through a pipe: never in a file, the command line or the environment.
            command.arg("--enrollment-secret-stdin");
        }
        let mut child = command.spawn().map_err(|err| {
            SamError::new(
                ErrorCategory::Configuration,
                format!(
                    "SAM's agent ({}) could not be started: {err}.",
                    self.agent_binary.display()
                ),
                format!(
                    "Reinstall SAM, or point {} at the sam-agent binary.",
                    crate::config::vars::AGENT_BIN
                ),
            )
            .with_step("provision")
        })?;
        if let (Some(secret), Some(mut stdin)) = (&spec.enrollment_secret, child.stdin.take()) {
            use std::io::Write;
            stdin
                .write_all(format!("{}\n", secret.expose()).as_bytes())
                .map_err(|err| local_error("cannot hand the agent its enrollment secret", &err))?;
        }
        let pid = i32::try_from(child.id())
            .map_err(|err| SamError::internal("Unexpected process id.", &err))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| SamError::internal("The agent has no output.", &"stdout"))?;
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        // The child is reaped by a thread so an agent that exits later never lingers as a zombie.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let announcement: serde_json::Value = match read {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .map_err(|err| local_error("the agent's announcement is unreadable", &err))?,
            _ => {
                let log = std::fs::read_to_string(agent_dir.join("agent.log")).unwrap_or_default();
                let last = log.lines().last().unwrap_or("no output").to_owned();
                return Err(SamError::new(
                    ErrorCategory::Agent,
                    format!("SAM's agent stopped right after starting: {last}"),
                    format!("See {} for details.", agent_dir.join("agent.log").display()),
                )
                .with_step("provision"));
            }
        };
        let addr = announcement["addr"].as_str().unwrap_or_default().to_owned();
        let record = AgentRecord {
            pid,
            addr: addr.clone(),
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        std::fs::write(agent_dir.join("agent.json"), json)
            .map_err(|err| local_error("cannot record the agent", &err))?;
        Ok(Machine {
            agent_addr: addr,
            fresh: true,
        })
    }
}

/// The environment a local agent (and so every shell in the workspace) starts with: enough to
/// work, nothing of the app's own (no tokens, no `SAM_*`).
fn clean_environment() -> Vec<(String, String)> {
    [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "SHELL", "TMPDIR", "TZ",
    ]
    .into_iter()
    .filter_map(|name| {
        std::env::var(name)
            .ok()
            .map(|value| (name.to_owned(), value))
    })
    .collect()
}

fn local_error(what: &str, err: &dyn std::fmt::Display) -> SamError {
    SamError::new(
        ErrorCategory::Configuration,
        format!("Running the workspace on this computer failed: {what}: {err}."),
        "Check free disk space and that SAM's data folder is writable.",
    )
}

/// Whether `pid` is alive and is a `sam-agent` (not a recycled pid).
fn is_agent_process(pid: i32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .and_then(|cmdline| cmdline.split(|b| *b == 0).next().map(<[u8]>::to_vec))
        .is_some_and(|argv0| String::from_utf8_lossy(&argv0).contains("sam-agent"))
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // A zombie (state Z) has exited already.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
}

/// Sends SIGTERM, waits (bounded), then SIGKILL.
async fn stop_process(pid: i32) {
    if !crate::platform::end_process(pid, false) {
        return;
    }
    let deadline = tokio::time::Instant::now() + STOP_TIMEOUT;
    while is_agent_process(pid) {
        if tokio::time::Instant::now() >= deadline {
            crate::platform::end_process(pid, true);
            break;
        }
        // Not our child after an app restart, so there is nothing to wait on but /proc.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[async_trait]
impl Provider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    async fn provision(&self, spec: &MachineSpec<'_>) -> Result<Machine, SamError> {
        if let Some(record) = self.live_agent(spec.workspace) {
            return Ok(Machine {
                agent_addr: record.addr,
                fresh: false,
            });
        }
        // Starting blocks on the agent's first line of output: do it off the async threads.
        let this = self.clone();
        let workspace = spec.workspace.clone();
        let (public_key, secret, idle) = (
            spec.public_key.clone(),
            spec.enrollment_secret.clone(),
            spec.idle_timeout_secs,
        );
        let started = tokio::time::timeout(
            START_TIMEOUT,
            tokio::task::spawn_blocking(move || {
                this.start_agent(&MachineSpec {
                    workspace: &workspace,
                    public_key,
                    enrollment_secret: secret,
                    idle_timeout_secs: idle,
                    placements: Vec::new(),
                })
            }),
        )
        .await;
        match started {
            Ok(Ok(result)) => result,
            Ok(Err(err)) => Err(SamError::internal("Starting the agent failed.", &err)),
            Err(_) => Err(SamError::new(
                ErrorCategory::Agent,
                format!(
                    "SAM's agent did not start within {} s.",
                    START_TIMEOUT.as_secs()
                ),
                "Try again; if it keeps happening, check the agent's log in the workspace folder.",
            )
            .with_step("provision")),
        }
    }

    async fn release(&self, workspace: &WorkspaceId) -> Result<(), SamError> {
        if let Some(record) = self.live_agent(workspace) {
            stop_process(record.pid).await;
        }
        let _ = std::fs::remove_file(self.agent_dir(workspace).join("agent.json"));
        Ok(())
    }

    async fn destroy(&self, workspace: &WorkspaceId) -> Result<(), SamError> {
        self.release(workspace).await?;
        let dir = self.root.join(workspace.as_str());
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(local_error(
                &format!("cannot remove {}", dir.display()),
                &err,
            )),
        }
    }

    async fn status(&self, workspace: &WorkspaceId) -> Result<MachineStatus, SamError> {
        Ok(if self.live_agent(workspace).is_some() {
            MachineStatus::Running
        } else if self.root.join(workspace.as_str()).exists() {
            MachineStatus::Stopped
        } else {
            MachineStatus::Missing
        })
    }

    async fn list_owned(&self) -> Result<Vec<WorkspaceId>, SamError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(local_error("cannot list workspaces", &err)),
        };
        Ok(entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.parse().ok())
            })
            .collect())
    }
}

impl LocalProvider {
    /// This computer as the provider registry knows it: ready at once, never stopped for
    /// idleness unless the user chooses, and with nothing to choose, reconcile or self-delete.
    pub fn registration(self) -> Registration {
        Registration::new(ProviderKind::Local, None, Arc::new(self))
    }
}

#[async_trait]
impl Source for LocalProvider {
    async fn provider(&self) -> Result<Arc<dyn Provider>, SamError> {
        Ok(Arc::new(self.clone()))
    }
}
