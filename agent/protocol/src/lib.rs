//! The wire protocol between SAM Desktop and `sam-agent`, shared by both sides.
//!
//! `docs/agent-protocol.md` is the normative description; this crate is its implementation:
//! - [`frame`]: the binary data frames that carry PTY and job bytes with absolute offsets;
//! - [`message`]: the JSON control messages in text frames;
//! - [`token`]: the EdDSA JWTs that authenticate every connection;
//! - [`enroll`]: the proof that binds the agent's enrollment secret to one TLS session.
//!
//! It has no networking or server dependencies, so the desktop can use it freely.

#![deny(missing_docs)]

pub mod enroll;
pub mod frame;
pub mod message;
pub mod token;

/// The protocol version this crate speaks, sent in `hello` and `welcome`. Version 2 moved the
/// request number out of the message bodies into the envelope ([`message::Envelope`]).
pub const PROTOCOL_VERSION: u32 = 2;

/// The WebSocket path for enrollment.
pub const ENROLL_PATH: &str = "/v1/enroll";

/// The WebSocket path for a session.
pub const SESSION_PATH: &str = "/v1/session";

/// The response header (besides `Date`) in which every refusal carries the agent's clock, in Unix
/// seconds, so a client can report clock skew precisely.
pub const AGENT_TIME_HEADER: &str = "x-sam-agent-time";

/// How many connections that proved a token (sessions and enrollments) an agent holds at once;
/// one more gets 503.
pub const MAX_SESSIONS: usize = 32;

/// How many connections one source (an IPv4 address or an IPv6 /64) may have waiting for their
/// handshake; a newer one pushes out that source's oldest.
pub const PENDING_PER_SOURCE: usize = 16;

/// The largest text (control) frame the agent accepts from a client, in bytes.
pub const MAX_TEXT_FRAME: usize = 256 * 1024;

/// The most bytes one `fs_read` returns.
pub const MAX_READ: u64 = 1024 * 1024;

/// The most bytes one `fs_write` chunk carries: in base64 with its JSON, it fits a text frame.
pub const MAX_WRITE: u64 = 128 * 1024;

const _: () = assert!((MAX_WRITE as usize).div_ceil(3) * 4 + 4096 <= MAX_TEXT_FRAME);

/// The largest text frame a client must accept from the agent: an `fs_data` reply carries up to
/// [`MAX_READ`] bytes in base64 (4 characters for every 3 bytes), beside a little JSON.
pub const MAX_AGENT_TEXT_FRAME: usize = 2 * 1024 * 1024;

// An `fs_data` reply of the largest read fits what a client accepts, with room for its JSON.
const _: () = assert!((MAX_READ as usize).div_ceil(3) * 4 + 4096 <= MAX_AGENT_TEXT_FRAME);

/// The stream that carries the agent's own event log.
pub const LOG_STREAM: u32 = 0;
