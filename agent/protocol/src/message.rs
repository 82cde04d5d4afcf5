//! Control messages: JSON objects in WebSocket text frames, tagged by `"type"`.
//!
//! Every message is one flat object. Whether it belongs to a request is carried by the
//! envelope, not by each message type: a **request** (client → agent) and its **reply**
//! (agent → client) carry a `req` number next to `type`, chosen by the client and echoed by the
//! agent; everything else — the client's **notices** (`hello`, `ack`) and the agent's
//! **events** (`welcome`, `gap`, `input_ack`, `exit`, and errors that answer no request) —
//! has no `req`. So a reader tells a reply from an event by the presence of `req` alone, and
//! matches a reply to its request by that number, without knowing which types are replies.
//!
//! In Rust the split is in the types: [`ClientMessage`] is a [`Request`] in an [`Envelope`] or a
//! [`Notice`]; [`AgentMessage`] is a [`Reply`] in an [`Envelope`] or an [`Event`]. The bodies
//! themselves never carry `req`.
//!
//! Unknown fields are ignored by both sides so either can grow; a text that is not a message
//! decodes to a [`DecodeError`] that still holds its `req` when that much was readable, so the
//! agent can answer the failed request with an `error` of code `bad_message` and keep the
//! connection usable.

use serde::de::{DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use thiserror::Error;

mod agent;
pub mod request;
mod state;

pub use agent::{ErrorCode, Event, Limits, Reply};
pub use request::Request;
pub use state::{
    AgentStatus, BackstopAction, ExitStatus, FsEntry, FsKind, IdlePolicy, ListeningPort, PtySize,
    SELF_DELETE_SECRET, StreamInfo, StreamKind,
};

#[cfg(test)]
mod tests;

/// A request number, chosen by the client and echoed by the agent.
pub type Req = u64;

/// A request or a reply together with its request number. On the wire the number sits next to
/// the body's `type` and fields: `{"req":3,"type":"attach","stream":1,"from":0}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope<T> {
    /// The request number.
    pub req: Req,
    /// The request or reply itself.
    #[serde(flatten)]
    pub body: T,
}

/// A text frame from the client to the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ClientMessage {
    /// Something the agent answers with a [`Reply`] of the same `req`.
    Request(Envelope<Request>),
    /// Something the agent answers, if at all, with an [`Event`].
    Notice(Notice),
}

/// A message from the client that is not a request: it has no `req` and gets no reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// The first message of every session; the agent answers with the event `welcome` (or an
    /// `error` event and a close when it speaks another protocol version).
    Hello {
        /// The protocol version the client speaks.
        protocol: u32,
        /// The client's name and version, for the agent's log.
        client: String,
    },
    /// The client has applied output up to (not including) `applied`; opens the credit window.
    Ack {
        /// The stream.
        stream: u32,
        /// The offset applied so far.
        applied: u64,
    },
}

/// A text frame from the agent to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AgentMessage {
    /// The answer to the client's request number `req`.
    Reply(Envelope<Reply>),
    /// Something the agent says on its own (or in answer to a notice).
    Event(Event),
}

/// Why a text frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{kind}")]
pub struct DecodeError {
    /// The text's `req`, when it had a readable one: the error then answers that request.
    pub req: Option<Req>,
    /// What was wrong.
    pub kind: DecodeErrorKind,
}

/// What was wrong with a text frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeErrorKind {
    /// Not JSON, or JSON that is not an object.
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// A `req` that is not an unsigned 64-bit integer.
    #[error("\"req\" is not a request number: {0}")]
    BadReq(String),
    /// An unknown `type`, or fields that do not fit it.
    #[error("not a valid {expected}: {detail}")]
    BadBody {
        /// What the text had to be, given whether it had a `req`.
        expected: &'static str,
        /// Why it was not.
        detail: String,
    },
}

/// One side's text frames: a numbered message (with `req`) or a plain one (without). Both sides
/// decode the same way; this trait says what each side's two kinds are.
trait Framed: Sized + Serialize {
    /// What a message with `req` carries.
    type Numbered: DeserializeOwned;
    /// What a message without `req` is.
    type Plain: DeserializeOwned;
    /// The names of the two, for error messages.
    const NUMBERED: &'static str;
    const PLAIN: &'static str;

    fn numbered(envelope: Envelope<Self::Numbered>) -> Self;
    fn plain(plain: Self::Plain) -> Self;

    fn from_object(object: Map<String, Value>) -> Result<Self, DecodeError> {
        match split_req(object)? {
            (Some(req), body) => Ok(Self::numbered(Envelope {
                req,
                body: parse_body(Some(req), body, Self::NUMBERED)?,
            })),
            (None, body) => Ok(Self::plain(parse_body(None, body, Self::PLAIN)?)),
        }
    }
}

impl Framed for ClientMessage {
    type Numbered = Request;
    type Plain = Notice;
    const NUMBERED: &'static str = "request";
    const PLAIN: &'static str = "notice (a message without \"req\")";

    fn numbered(envelope: Envelope<Request>) -> Self {
        Self::Request(envelope)
    }

    fn plain(notice: Notice) -> Self {
        Self::Notice(notice)
    }
}

impl Framed for AgentMessage {
    type Numbered = Reply;
    type Plain = Event;
    const NUMBERED: &'static str = "reply";
    const PLAIN: &'static str = "event (a message without \"req\")";

    fn numbered(envelope: Envelope<Reply>) -> Self {
        Self::Reply(envelope)
    }

    fn plain(event: Event) -> Self {
        Self::Event(event)
    }
}

impl ClientMessage {
    /// A request numbered `req`.
    pub fn request(req: Req, body: Request) -> Self {
        Self::Request(Envelope { req, body })
    }

    /// Parses a text frame: with a `req` it must be a request, without one a notice.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        Self::from_object(parse_object(text)?)
    }

    /// The text frame for this message.
    pub fn encode(&self) -> String {
        to_json(self)
    }
}

impl From<Notice> for ClientMessage {
    fn from(notice: Notice) -> Self {
        Self::Notice(notice)
    }
}

impl AgentMessage {
    /// The reply to request `req`.
    pub fn reply(req: Req, body: Reply) -> Self {
        Self::Reply(Envelope { req, body })
    }

    /// Parses a text frame: with a `req` it must be a reply, without one an event.
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        Self::from_object(parse_object(text)?)
    }

    /// The text frame for this message.
    pub fn encode(&self) -> String {
        to_json(self)
    }
}

impl From<Event> for AgentMessage {
    fn from(event: Event) -> Self {
        Self::Event(event)
    }
}

impl<'de> Deserialize<'de> for ClientMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_framed(deserializer)
    }
}

impl<'de> Deserialize<'de> for AgentMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_framed(deserializer)
    }
}

fn deserialize_framed<'de, T: Framed, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    let object = Map::deserialize(deserializer)?;
    T::from_object(object).map_err(serde::de::Error::custom)
}

fn to_json<T: Serialize>(message: &T) -> String {
    // Serializing fails only for maps with non-string keys or for a flattened body that is not
    // a map; no message has either, which the round-trip tests check for every type.
    serde_json::to_string(message).unwrap_or_default()
}

fn parse_object(text: &str) -> Result<Map<String, Value>, DecodeError> {
    serde_json::from_str(text).map_err(|err| DecodeError {
        req: None,
        kind: DecodeErrorKind::NotAnObject(err.to_string()),
    })
}

/// Takes `req` out of a message object; `null` counts as absent.
fn split_req(
    mut object: Map<String, Value>,
) -> Result<(Option<Req>, Map<String, Value>), DecodeError> {
    let req = match object.remove("req") {
        None | Some(Value::Null) => None,
        Some(value) => Some(Req::deserialize(value).map_err(|err| DecodeError {
            req: None,
            kind: DecodeErrorKind::BadReq(err.to_string()),
        })?),
    };
    Ok((req, object))
}

fn parse_body<T: DeserializeOwned>(
    req: Option<Req>,
    body: Map<String, Value>,
    expected: &'static str,
) -> Result<T, DecodeError> {
    T::deserialize(Value::Object(body)).map_err(|err| DecodeError {
        req,
        kind: DecodeErrorKind::BadBody {
            expected,
            detail: err.to_string(),
        },
    })
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
        /// The public half of the agent's SSH host key, as one OpenSSH `authorized_keys`-style
        /// line (`ssh-ed25519 AAAA…`); absent from an agent without an SSH server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ssh_host_key: Option<String>,
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
