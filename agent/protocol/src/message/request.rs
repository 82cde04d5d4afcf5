//! Requests: what the client asks of the agent, one type per request.
//!
//! Each request with arguments is a struct of its own, so the agent can hand it whole to the
//! code that handles it (one handler per request, grouped by area) and the client builds it by
//! name. The request number is not part of any of them: it travels in the [`Envelope`].
//!
//! [`Envelope`]: super::Envelope

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::IdlePolicy;

/// Client → agent, answered by a [`Reply`](super::Reply) with the same `req`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// Answered by `opened`.
    OpenPty(OpenPty),
    /// Answered by `opened`.
    RunJob(RunJob),
    /// Answered by `opened`.
    OpenAcp(OpenAcp),
    /// Answered by `attached`, then output.
    Attach(Attach),
    /// Answered by `ok`.
    Detach(Detach),
    /// Answered by `ok`.
    Resize(Resize),
    /// Answered by `ok` once the process has ended.
    Close(Close),
    /// List every stream; answered by `streams`.
    List,
    /// Explicit activity: the user asked to keep the workspace alive. Answered by `ok`.
    KeepAlive,
    /// Answered by `ok`.
    Busy(Busy),
    /// Answered by `ok`.
    SetIdlePolicy(SetIdlePolicy),
    /// Report activity and the idle deadline; answered by `status`.
    Status,
    /// Answered by `ok`.
    PushSecret(PushSecret),
    /// Answered by `ok`.
    RevokeSecret(RevokeSecret),
    /// Get ready for the machine to stop: end every PTY and job and flush disks. Answered by
    /// `stop_prepared`.
    PrepareStop,
    /// Answered by `fs_entries`.
    FsList(FsList),
    /// Answered by `fs_stat`.
    FsStat(FsStat),
    /// Answered by `fs_data`.
    FsRead(FsRead),
    /// Answered by `fs_written`.
    FsWrite(FsWrite),
    /// Answered by `fs_data`.
    JournalRead(JournalRead),
    /// Answered by `ok`.
    JournalDrop(JournalDrop),
    /// Answered by `opened`.
    OpenTunnel(OpenTunnel),
    /// Answered by `ok` once the input before it is written.
    EndInput(EndInput),
    /// The TCP ports programs of the workspace's user listen on; answered by `ports`.
    ListPorts,
}

/// Start a shell (or `command`) on a new PTY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPty {
    /// Program and arguments; the user's login shell when absent.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    /// Working folder relative to the workspace root; the root when absent.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// Run a command without a terminal; its stdout and stderr form the stream's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJob {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working folder relative to the workspace root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Start a coding agent that speaks the Agent Client Protocol (newline-delimited JSON-RPC) on
/// its standard input and output: the stream's output is its stdout, the stream's input goes to
/// its stdin, and its stderr goes to the agent's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenAcp {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working folder relative to the workspace root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are secrets the agent holds (`push_secret`): variable
    /// name → secret name. They exist only in this process's environment.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
}

/// Open a byte pipe: to the agent's SSH server, or to a TCP port on the workspace's loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTunnel {
    /// Where the pipe leads.
    pub target: TunnelTarget,
    /// The TCP port (with `tcp` only).
    #[serde(default)]
    pub port: Option<u16>,
}

/// Where a tunnel leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelTarget {
    /// The agent's SSH server, speaking the SSH protocol on the pipe.
    Ssh,
    /// `127.0.0.1:<port>` in the workspace (`[::1]:<port>` when nothing listens on IPv4).
    Tcp,
}

/// The client sends no more input to a tunnel: the agent shuts the far end's write side once
/// everything before it is written (a TCP half-close).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndInput {
    /// The stream.
    pub stream: u32,
}

/// Start receiving a stream's output from byte offset `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attach {
    /// The stream.
    pub stream: u32,
    /// The first offset the client has not applied yet.
    pub from: u64,
}

/// Stop receiving a stream's output on this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detach {
    /// The stream.
    pub stream: u32,
}

/// Change a PTY's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resize {
    /// The stream.
    pub stream: u32,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// End a PTY or job: SIGHUP (PTY) or SIGTERM (job), then SIGKILL after a grace period; then
/// forget the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    /// The stream.
    pub stream: u32,
}

/// A named activity source (for example a coding agent's turn) is busy or idle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Busy {
    /// The source's name.
    pub source: String,
    /// Whether it is busy now.
    pub busy: bool,
}

/// Set the idle policy the agent enforces as a backstop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetIdlePolicy {
    /// The policy.
    pub policy: IdlePolicy,
}

/// Hold a secret in memory (never on disk) under `name`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSecret {
    /// Its name (for example `git:github.com/owner/repo`).
    pub name: String,
    /// The value.
    pub value: String,
    /// When it stops being valid, Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

/// Printing a request with `{:?}` (in a log line or a failed test) must not reveal the secret.
impl std::fmt::Debug for PushSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSecret")
            .field("name", &self.name)
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Forget a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokeSecret {
    /// Its name.
    pub name: String,
}

/// List a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsList {
    /// Path relative to the workspace root (`""` or `"."` is the root).
    pub path: String,
}

/// Describe one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsStat {
    /// Path relative to the workspace root.
    pub path: String,
}

/// Read part of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsRead {
    /// Path relative to the workspace root.
    pub path: String,
    /// First byte to read.
    #[serde(default)]
    pub offset: u64,
    /// Bytes to read, at most the agent's `max_read` limit.
    pub length: u64,
}

/// Write a file, in chunks of at most the agent's `max_write` bytes. The chunk at offset 0
/// starts the write (dropping an unfinished one of the same path on this connection); each
/// next chunk starts where the last ended; the one marked `last` puts the file in place in one
/// step. Until then the target is untouched, and a connection that ends drops what it staged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsWrite {
    /// Path relative to the workspace root; missing folders are created.
    pub path: String,
    /// Where this chunk starts: 0, or the bytes sent so far.
    #[serde(default)]
    pub offset: u64,
    /// The bytes, base64 (standard alphabet, padded).
    pub data: String,
    /// Whether this chunk ends the file (the default: a write of one chunk).
    #[serde(default = "yes")]
    pub last: bool,
}

fn yes() -> bool {
    true
}

/// Read part of a coding agent's journal: the output of an `acp` stream, kept on the
/// workspace's disk, of this epoch or an earlier one (an agent that restarted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRead {
    /// The epoch the stream belonged to (16 hexadecimal digits, as `welcome` said it).
    pub epoch: String,
    /// The stream.
    pub stream: u32,
    /// First byte to read: a stream offset.
    #[serde(default)]
    pub offset: u64,
    /// Bytes to read, at most the agent's `max_read` limit.
    pub length: u64,
}

/// Remove a coding agent's journal: the client has what it needs of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalDrop {
    /// The epoch the stream belonged to.
    pub epoch: String,
    /// The stream.
    pub stream: u32,
}
