//! The desktop's side of the agent protocol (`docs/agent-protocol.md`): enrollment with
//! certificate pinning, and [`AgentClient`], one multiplexed session per workspace with
//! reconnect and exact resume. Every later feature (terminals, jobs, files, idle) talks to an
//! agent through this module.

mod client;
pub mod dial;
mod enroll;
mod error;
pub mod tls;

pub use client::{
    AgentClient, AgentEndpoint, JobRun, LinkState, StreamEvent, StreamHandle, StreamInput,
};
pub use dial::{Caller, dial};
pub use enroll::{Enrolled, enroll, enroll_agent};
pub use error::AgentError;
pub use sam_protocol::message::request::{OpenAcp, TunnelTarget};
pub use sam_protocol::message::{
    BackstopAction, ErrorCode, ExitStatus, FsEntry, FsKind, IdlePolicy, ListeningPort, PtySize,
    StreamInfo, StreamKind,
};
