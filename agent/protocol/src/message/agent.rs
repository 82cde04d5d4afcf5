//! What the agent sends: replies to requests, events of its own, and the error codes both use.

use serde::{Deserialize, Serialize};

use super::{AgentStatus, ExitStatus, FsEntry, ListeningPort, StreamInfo};

/// Agent → client, the answer to one request; the [`Envelope`](super::Envelope) around it
/// carries the request's `req`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// A PTY or job started (`open_pty`, `run_job`).
    Opened {
        /// The new stream.
        stream: StreamInfo,
    },
    /// Output of the stream follows, from the offset requested (or from `out_base` after a
    /// `gap`); the answer to `attach`.
    Attached {
        /// The stream, as it is now.
        stream: StreamInfo,
    },
    /// A request succeeded and has nothing else to say.
    Ok,
    /// The answer to `list_ports`.
    Ports {
        /// Listening sockets, by port.
        ports: Vec<ListeningPort>,
    },
    /// The answer to `list`.
    Streams {
        /// Every stream.
        streams: Vec<StreamInfo>,
    },
    /// The answer to `status`.
    Status {
        /// Activity and idle state.
        status: AgentStatus,
    },
    /// The answer to `prepare_stop`.
    StopPrepared {
        /// How many streams were ended.
        closed_streams: u32,
    },
    /// The answer to `fs_list`.
    FsEntries {
        /// The folder's entries, sorted by name.
        entries: Vec<FsEntry>,
    },
    /// The answer to `fs_stat`.
    FsStat {
        /// The path's description.
        entry: FsEntry,
    },
    /// The answer to `fs_read`.
    FsData {
        /// Offset of the first byte.
        offset: u64,
        /// The bytes, base64 (standard alphabet, padded).
        data: String,
        /// Whether the file ends after these bytes.
        eof: bool,
    },
    /// The answer to `fs_write`.
    FsWritten {
        /// Bytes written so far; the file's size once the last chunk is in place.
        size: u64,
        /// Whether the file is in place.
        done: bool,
    },
    /// The request failed (or its text was not a valid request).
    Error {
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
}

/// Agent → client, said without being asked (or in answer to a notice): it has no `req`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
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
    /// Something the client sent without a readable `req` was refused: a notice, an input
    /// frame, or a text that could not be read that far.
    Error {
        /// What went wrong, for programs.
        code: ErrorCode,
        /// What went wrong, for people.
        message: String,
    },
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
    /// The most bytes one `fs_write` chunk carries (0 from an agent that cannot write files).
    #[serde(default)]
    pub max_write: u64,
    /// How many tunnels may be open at once (0 from an agent without tunnels).
    #[serde(default)]
    pub max_tunnels: u32,
    /// Unacknowledged input bytes a client may send ahead per tunnel.
    #[serde(default)]
    pub tunnel_window: u64,
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
