//! Control messages: JSON objects in WebSocket text frames, tagged by `"type"`.
//!
//! Requests from the client carry a `req` number of the client's choosing; the agent echoes it in
//! the reply (or in an `error`). Events the agent sends on its own (`exit`, `gap`, `input_ack`)
//! carry no `req`. Unknown fields are ignored by both sides so either can grow; an unknown
//! `type` is answered with an `error` of code `bad_message` and the connection stays usable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A request number, chosen by the client and echoed by the agent.
pub type Req = u64;

/// Client → agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message of every session.
    Hello {
        /// The protocol version the client speaks.
        protocol: u32,
        /// The client's name and version, for the agent's log.
        client: String,
    },
    /// Start a shell (or `command`) on a new PTY.
    OpenPty {
        /// Request number.
        req: Req,
        /// Program and arguments; the user's login shell when absent.
        #[serde(default)]
        command: Option<Vec<String>>,
        /// Working folder relative to the workspace root; the root when absent.
        #[serde(default)]
        cwd: Option<String>,
        /// Extra environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// Run a command without a terminal; its stdout and stderr form the stream's output.
    RunJob {
        /// Request number.
        req: Req,
        /// Program and arguments.
        command: Vec<String>,
        /// Working folder relative to the workspace root.
        #[serde(default)]
        cwd: Option<String>,
        /// Extra environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
    },
    /// Start receiving a stream's output from byte offset `from`.
    Attach {
        /// Request number.
        req: Req,
        /// The stream.
        stream: u32,
        /// The first offset the client has not applied yet.
        from: u64,
    },
    /// Stop receiving a stream's output on this connection.
    Detach {
        /// Request number.
        req: Req,
        /// The stream.
        stream: u32,
    },
    /// The client has applied output up to (not including) `applied`; opens the credit window.
    Ack {
        /// The stream.
        stream: u32,
        /// The offset applied so far.
        applied: u64,
    },
    /// Change a PTY's size.
    Resize {
        /// Request number.
        req: Req,
        /// The stream.
        stream: u32,
        /// Columns.
        cols: u16,
        /// Rows.
        rows: u16,
    },
    /// End a PTY or job: SIGHUP (PTY) or SIGTERM (job), then SIGKILL after a grace period.
    Close {
        /// Request number.
        req: Req,
        /// The stream.
        stream: u32,
    },
    /// List every stream.
    List {
        /// Request number.
        req: Req,
    },
    /// Explicit activity: the user asked to keep the workspace alive.
    KeepAlive {
        /// Request number.
        req: Req,
    },
    /// A named activity source (for example a coding agent's turn) is busy or idle.
    Busy {
        /// Request number.
        req: Req,
        /// The source's name.
        source: String,
        /// Whether it is busy now.
        busy: bool,
    },
    /// Set the idle policy the agent enforces as a backstop.
    SetIdlePolicy {
        /// Request number.
        req: Req,
        /// The policy.
        policy: IdlePolicy,
    },
    /// Report activity and the idle deadline.
    Status {
        /// Request number.
        req: Req,
    },
    /// Hold a secret in memory (never on disk) under `name`.
    PushSecret {
        /// Request number.
        req: Req,
        /// Its name (for example `git:github.com/owner/repo`).
        name: String,
        /// The value.
        value: String,
        /// When it stops being valid, Unix seconds.
        #[serde(default)]
        expires_at: Option<i64>,
    },
    /// Forget a secret.
    RevokeSecret {
        /// Request number.
        req: Req,
        /// Its name.
        name: String,
    },
    /// Get ready for the machine to stop: end sessions cleanly and flush disks.
    PrepareStop {
        /// Request number.
        req: Req,
    },
    /// List a folder.
    FsList {
        /// Request number.
        req: Req,
        /// Path relative to the workspace root (`""` or `"."` is the root).
        path: String,
    },
    /// Describe one path.
    FsStat {
        /// Request number.
        req: Req,
        /// Path relative to the workspace root.
        path: String,
    },
    /// Read part of a file.
    FsRead {
        /// Request number.
        req: Req,
        /// Path relative to the workspace root.
        path: String,
        /// First byte to read.
        #[serde(default)]
        offset: u64,
        /// Bytes to read, at most the agent's `max_read` limit.
        length: u64,
    },
}

/// Agent → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    /// The answer to `hello`.
    Welcome {
        /// The protocol version the agent speaks.
        protocol: u32,
        /// The agent's version.
        agent_version: String,
        /// Changes whenever the agent restarts, and with it every stream and offset.
        epoch: String,
        /// The workspace this agent serves.
        workspace: String,
        /// Every stream.
        streams: Vec<StreamInfo>,
        /// Limits the client must respect.
        limits: Limits,
    },
    /// A PTY or job started.
    Opened {
        /// Request number.
        req: Req,
        /// The new stream.
        stream: StreamInfo,
    },
    /// Output of the stream follows, from the offset requested (or from `out_base` after a `gap`).
    Attached {
        /// Request number.
        req: Req,
        /// The stream, as it is now.
        stream: StreamInfo,
    },
    /// A request succeeded and has nothing else to say.
    Ok {
        /// Request number.
        req: Req,
    },
    /// The answer to `list`.
    Streams {
        /// Request number.
        req: Req,
        /// Every stream.
        streams: Vec<StreamInfo>,
    },
    /// The output the client asked for is gone from the ring; output resumes at `base`.
    Gap {
        /// The stream.
        stream: u32,
        /// What the client asked for.
        from: u64,
        /// Where output resumes.
        base: u64,
    },
    /// Input up to (not including) `acked` has been written to the PTY.
    InputAck {
        /// The stream.
        stream: u32,
        /// The input offset written so far.
        acked: u64,
    },
    /// A stream's process ended. All of its output is already in the ring (`out_head` is final).
    Exit {
        /// The stream.
        stream: u32,
        /// How it ended.
        status: ExitStatus,
    },
    /// The answer to `status`.
    Status {
        /// Request number.
        req: Req,
        /// Activity and idle state.
        status: AgentStatus,
    },
    /// The answer to `prepare_stop`.
    StopPrepared {
        /// Request number.
        req: Req,
        /// How many streams were ended.
        closed_streams: u32,
    },
    /// The answer to `fs_list`.
    FsEntries {
        /// Request number.
        req: Req,
        /// The folder's entries, sorted by name.
        entries: Vec<FsEntry>,
    },
    /// The answer to `fs_stat`.
    FsStat {
        /// Request number.
        req: Req,
        /// The path's description.
        entry: FsEntry,
    },
    /// The answer to `fs_read`.
    FsData {
        /// Request number.
        req: Req,
        /// Offset of the first byte.
        offset: u64,
        /// The bytes, base64 (standard alphabet, padded).
        data: String,
        /// Whether the file ends after these bytes.
        eof: bool,
    },
    /// A request failed, or a frame was refused.
    Error {
        /// The request it answers, when it answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<Req>,
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
}

/// The messages of `/v1/enroll`, in order: the agent's `enroll_proof`, the client's
/// `enroll_confirm` (only if the proof verified), the agent's `enrolled` (or `failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnrollMessage {
    /// The proof that the agent knows the enrollment secret, bound to this TLS session.
    EnrollProof {
        /// HMAC-SHA256 as described in [`crate::enroll`], base64url without padding.
        proof: String,
        /// The agent's workspace.
        workspace: String,
        /// The agent's version.
        agent_version: String,
    },
    /// The client verified the proof and pinned the certificate.
    EnrollConfirm,
    /// The secret is burnt; only the pinned certificate will do from now on.
    Enrolled,
    /// The agent could not complete enrollment.
    Failed {
        /// Why, for people.
        message: String,
    },
}

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

/// Limits the agent enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest binary frame accepted.
    pub max_frame: u64,
    /// The largest text frame accepted.
    pub max_text_frame: u64,
    /// How many PTYs and jobs may be open at once.
    pub max_streams: u32,
    /// Bytes of output kept per stream for resume.
    pub ring_bytes: u64,
    /// Unacknowledged output bytes the agent sends ahead per attached stream.
    pub window_bytes: u64,
    /// The largest `fs_read` length.
    pub max_read: u64,
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

/// Machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A binary frame did not parse.
    BadFrame,
    /// A text frame was not a known message.
    BadMessage,
    /// The first message was not `hello`, or came twice.
    HelloExpected,
    /// The protocol version is not supported.
    UnsupportedProtocol,
    /// No such stream.
    UnknownStream,
    /// An offset is beyond what exists (input with a hole, attach past the head).
    InvalidOffset,
    /// The stream is not attached on this connection.
    NotAttached,
    /// Too many streams are open.
    TooManyStreams,
    /// The process could not be started.
    SpawnFailed,
    /// No such file or folder.
    NotFound,
    /// The path leaves the workspace, or is absolute.
    PathOutsideWorkspace,
    /// A request exceeds a limit.
    TooLarge,
    /// A bad argument (an empty command, a zero-sized terminal, …).
    InvalidArgument,
    /// An I/O error on the agent.
    Io,
    /// A bug in the agent.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn messages_use_snake_case_tags() {
        let json = serde_json::to_value(ClientMessage::OpenPty {
            req: 1,
            command: None,
            cwd: None,
            env: BTreeMap::new(),
            cols: 80,
            rows: 24,
        })
        .expect("json");
        assert_eq!(json["type"], "open_pty");
        let json = serde_json::to_value(AgentMessage::Error {
            req: None,
            code: ErrorCode::PathOutsideWorkspace,
            message: "no".into(),
        })
        .expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type":"error","code":"path_outside_workspace","message":"no"})
        );
    }

    #[test]
    fn unknown_fields_are_ignored_and_optional_ones_default() {
        let message: ClientMessage = serde_json::from_str(
            r#"{"type":"open_pty","req":3,"cols":80,"rows":24,"future":true}"#,
        )
        .expect("parses");
        assert!(matches!(
            message,
            ClientMessage::OpenPty {
                req: 3,
                command: None,
                ..
            }
        ));
    }

    #[test]
    fn unknown_types_do_not_parse() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"format_disk"}"#).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = serde_json::from_str::<ClientMessage>(&text);
            let _ = serde_json::from_str::<AgentMessage>(&text);
        }

        #[test]
        fn attach_round_trips(req in any::<u64>(), stream in any::<u32>(), from in any::<u64>()) {
            let message = ClientMessage::Attach { req, stream, from };
            let text = serde_json::to_string(&message).expect("json");
            prop_assert_eq!(serde_json::from_str::<ClientMessage>(&text).expect("parses"), message);
        }
    }
}
