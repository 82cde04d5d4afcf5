//! The state that messages describe: streams, the idle policy and activity, files.

use serde::{Deserialize, Serialize};

/// What kind of stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// The agent's event log (stream 0), UTF-8 lines.
    Log,
    /// A terminal.
    Pty,
    /// A command without a terminal.
    Job,
    /// A coding agent speaking ACP: output is its stdout, input its stdin.
    Acp,
    /// A byte pipe to the agent's SSH server or to a TCP port in the workspace: output is what
    /// the far end sends, input goes to it.
    Tunnel,
}

/// A stream's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Its id.
    pub stream: u32,
    /// Its kind.
    pub kind: StreamKind,
    /// The program and arguments (empty for the log).
    #[serde(default)]
    pub command: Vec<String>,
    /// The oldest output offset still in the ring.
    pub out_base: u64,
    /// The offset just past the newest output.
    pub out_head: u64,
    /// Input written so far (PTYs; 0 otherwise).
    #[serde(default)]
    pub in_acked: u64,
    /// Terminal size (PTYs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<PtySize>,
    /// How the process ended, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    /// The folder its process started in: an absolute path on the workspace's machine (absent
    /// for the log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// A TCP socket listening in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListeningPort {
    /// The port.
    pub port: u16,
    /// The address it listens on: `127.0.0.1`, `::1`, or `0.0.0.0` / `::` for every address.
    pub address: String,
}

/// A terminal's size in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PtySize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, when it exited normally.
    #[serde(default)]
    pub code: Option<i32>,
    /// The signal number, when a signal ended it.
    #[serde(default)]
    pub signal: Option<i32>,
}

/// What the agent does when the workspace has been idle past its deadline and grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackstopAction {
    /// Run the configured power-off command.
    Poweroff,
    /// Delete this server through the cloud's API with the credential held as the secret
    /// [`SELF_DELETE_SECRET`]; power off (as [`BackstopAction::Poweroff`]) when there is none or
    /// the deletion fails.
    DeleteServer,
    /// End the agent process.
    Exit,
    /// Nothing.
    None,
}

/// The name of the pushed secret that lets the backstop delete its own server: a JSON object
/// `{"endpoint": "https://api.hetzner.cloud/v1", "server_id": 42, "token": "…"}`.
pub const SELF_DELETE_SECRET: &str = "hetzner:self-delete";

/// The idle policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdlePolicy {
    /// Idle time after the last activity that makes the deadline; `None` = never idle out.
    pub timeout_secs: Option<u64>,
    /// The deadline is at least this Unix time (a "keep 1 h more").
    #[serde(default)]
    pub extend_until: Option<i64>,
    /// Extra time past the deadline before the backstop acts (the desktop stops the workspace
    /// itself at the deadline when it is running).
    pub grace_secs: u64,
    /// What the backstop does.
    pub action: BackstopAction,
}

/// Activity and idle state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The last activity, Unix milliseconds.
    pub last_activity_ms: i64,
    /// Why the workspace counts as active right now (empty when idle).
    pub active_reasons: Vec<String>,
    /// The idle policy in force.
    pub policy: IdlePolicy,
    /// When the backstop will act if nothing happens, Unix milliseconds; `None` = never.
    pub backstop_at_ms: Option<i64>,
}

/// One file-system entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsEntry {
    /// Its name (the last path component).
    pub name: String,
    /// What it is.
    pub kind: FsKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Last modification, Unix milliseconds, when known.
    #[serde(default)]
    pub modified_ms: Option<i64>,
}

/// The kind of a file-system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (socket, device, FIFO).
    Other,
}
