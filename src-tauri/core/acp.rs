//! The desktop's side of a coding agent's conversation: ACP (the Agent Client Protocol,
//! newline-delimited JSON-RPC) over an `acp` stream of the workspace's agent.
//!
//! [`AcpConnection`] sends requests and matches their answers, turns what the coding agent sends
//! into typed [`AcpEvent`]s, and never decides anything itself: a permission request is an event
//! that waits until someone calls [`AcpConnection::answer`] (or [`AcpConnection::cancel`], which
//! answers every waiting request of the session `cancelled`, as ACP requires). The stream gives
//! the bytes their guarantees (offsets, exact resume); this module gives them meaning.

mod files;

pub use files::inside;
mod terminals;
mod wire;

/// ACP's types, for the clients of this module.
pub use agent_client_protocol_schema::v1 as schema;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use agent_client_protocol_schema::ProtocolVersion;
use agent_client_protocol_schema::v1::{
    AGENT_METHOD_NAMES, CancelNotification, ClientCapabilities, ContentBlock,
    FileSystemCapabilities, ImageContent, InitializeRequest, InitializeResponse,
    LoadSessionRequest, LoadSessionResponse, NewSessionRequest, NewSessionResponse, PromptRequest,
    PromptResponse, RequestPermissionOutcome, RequestPermissionRequest, ResourceLink,
    SessionConfigOptionValue, SessionId, SessionNotification, SetSessionConfigOptionRequest,
    SetSessionModeRequest, SetSessionModeResponse, TextContent,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::agent_client::{AgentClient, AgentError, ExitStatus, StreamInput};

/// What the coding agent sent that the desktop must see.
#[derive(Debug, Clone, PartialEq)]
pub enum AcpEvent {
    /// A `session/update`: message chunks, thoughts, tool calls, plans, modes…
    Update(Box<SessionNotification>),
    /// A `session/request_permission`, waiting for [`AcpConnection::answer`].
    Permission(Box<PermissionAsk>),
    /// A line that is not JSON-RPC, a known message of the wrong shape, or output lost to a
    /// gap: skipped, and said.
    Malformed(String),
    /// An answer to no request of this connection: one an earlier connection sent (the
    /// `session/prompt` of a turn a closed desktop started, say), or noise. The whole message.
    StrayAnswer(Value),
    /// The coding agent's process ended.
    Exited(ExitStatus),
}

/// A permission request and the JSON-RPC id to answer it by.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionAsk {
    /// The request's id, as the coding agent sent it.
    pub id: Value,
    /// What it asks.
    pub request: RequestPermissionRequest,
}

/// Why an ACP call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AcpError {
    /// The coding agent answered with a JSON-RPC error.
    #[error("the coding agent refused {method}: {message} ({code})")]
    Rpc {
        /// The method called.
        method: String,
        /// JSON-RPC's error code.
        code: i64,
        /// The coding agent's message.
        message: String,
    },
    /// The coding agent's answer did not have the shape ACP gives it.
    #[error("the coding agent's answer to {method} is not valid ACP: {detail}")]
    BadAnswer {
        /// The method called.
        method: String,
        /// What did not fit.
        detail: String,
    },
    /// The coding agent speaks another ACP version.
    #[error("the coding agent speaks ACP version {0}; SAM speaks version 1")]
    Version(u16),
    /// The process ended, or the stream is gone, before the answer came.
    #[error("the coding agent ended before it answered {0}")]
    Gone(String),
    /// The workspace's agent refused or lost the stream.
    #[error(transparent)]
    Link(#[from] AgentError),
}

/// One coding agent's conversation; clones share it (a prompt can run on one task while
/// another answers permission requests).
#[derive(Debug, Clone)]
pub struct AcpConnection {
    input: StreamInput,
    shared: Arc<Shared>,
}

/// The events of one [`AcpConnection`], in the order the coding agent sent them. The connection
/// reads the coding agent's output while this lives: dropping it detaches from the stream, and
/// requests still waiting fail.
#[derive(Debug)]
pub struct AcpEvents {
    queue: mpsc::UnboundedReceiver<(u64, Option<AcpEvent>)>,
    position: u64,
}

impl AcpEvents {
    /// The next event; `None` once the stream is gone and every event was taken.
    pub async fn next(&mut self) -> Option<AcpEvent> {
        loop {
            let (position, event) = self.queue.recv().await?;
            self.position = self.position.max(position);
            if event.is_some() {
                return event;
            }
        }
    }

    /// The next event if one is queued already.
    pub fn try_next(&mut self) -> Option<AcpEvent> {
        loop {
            let (position, event) = self.queue.try_recv().ok()?;
            self.position = self.position.max(position);
            if event.is_some() {
                return event;
            }
        }
    }

    /// The stream offset just past the last line taken: a reader that attaches there later
    /// sees nothing twice.
    pub fn position(&self) -> u64 {
        self.position
    }
}

#[derive(Debug, Default)]
struct Shared {
    next_id: AtomicU64,
    /// Our requests awaiting their answers, by id.
    pending: Mutex<HashMap<u64, Pending>>,
    /// Permission requests awaiting the user, by their id's JSON text, with their session.
    asks: Mutex<HashMap<String, (Value, SessionId)>>,
    /// Where `fs/read_text_file` and `fs/write_text_file` go, when the stream says its folder.
    files: Option<files::Files>,
    /// Where `terminal/*` go, when the stream says its folder.
    terminals: Option<terminals::Terminals>,
}

#[derive(Debug)]
pub(crate) struct Pending {
    method: String,
    reply: oneshot::Sender<Result<Value, AcpError>>,
}

impl AcpConnection {
    /// Attaches to the `acp` stream `stream` from output offset `from` and starts reading.
    pub async fn attach(
        client: &AgentClient,
        stream: u32,
        from: u64,
    ) -> Result<(Self, AcpEvents), AcpError> {
        let (handle, info) = client.attach(stream, from).await?;
        let input = handle.input();
        // Ids unique across processes: a request of an earlier process that died unanswered
        // must not match one of ours when its answer finally comes.
        let first_id = u64::try_from(crate::clock::now_ms()).unwrap_or(1) * 1000;
        let terminals = info
            .cwd
            .clone()
            .map(|root| terminals::Terminals::new(client.clone(), root));
        let files = info.cwd.map(|root| files::Files {
            client: client.clone(),
            root,
        });
        let shared = Arc::new(Shared {
            next_id: AtomicU64::new(first_id),
            files,
            terminals,
            ..Shared::default()
        });
        let (events, rx) = mpsc::unbounded_channel();
        tokio::spawn(wire::read(
            handle,
            Arc::clone(&shared),
            input.clone(),
            events,
        ));
        let events = AcpEvents {
            queue: rx,
            position: from,
        };
        Ok((Self { input, shared }, events))
    }

    /// The events in output of a coding agent whose process is gone (its journal), each with
    /// the stream offset just past it; `start` is the offset of `bytes[0]`. Nothing is carried
    /// out or answered, and a last line without its end is left out.
    pub fn replay(bytes: &[u8], start: u64) -> Vec<(u64, AcpEvent)> {
        wire::replay(bytes, start)
    }

    /// The ports of loopback addresses (`http://localhost:3000`) that the coding agent's
    /// commands printed since the last call, as read for it by `terminal/output`.
    pub fn take_printed_ports(&self) -> std::collections::BTreeSet<u16> {
        self.shared
            .terminals
            .as_ref()
            .map(terminals::Terminals::take_printed)
            .unwrap_or_default()
    }

    /// `initialize`, offering to read and write text files of the workspace and to run commands
    /// in it as terminals (when the stream says its folder).
    pub async fn initialize(&self) -> Result<InitializeResponse, AcpError> {
        let method = AGENT_METHOD_NAMES.initialize;
        let files = FileSystemCapabilities::new()
            .read_text_file(self.shared.files.is_some())
            .write_text_file(self.shared.files.is_some());
        let capabilities = ClientCapabilities::new()
            .fs(files)
            .terminal(self.shared.terminals.is_some());
        let request = InitializeRequest::new(ProtocolVersion::V1).client_capabilities(capabilities);
        let response: InitializeResponse = self.request(method, request).await?;
        if response.protocol_version != ProtocolVersion::V1 {
            return Err(AcpError::Version(response.protocol_version.as_u16()));
        }
        Ok(response)
    }

    /// `session/new` in `cwd` (a path on the workspace's machine).
    pub async fn new_session(&self, cwd: &str) -> Result<NewSessionResponse, AcpError> {
        self.request(AGENT_METHOD_NAMES.session_new, NewSessionRequest::new(cwd))
            .await
    }

    /// `session/load`: the coding agent takes up an earlier session of its own (one it started
    /// in an earlier process) in `cwd`, replaying its history as updates before it answers.
    pub async fn load_session(
        &self,
        session: &SessionId,
        cwd: &str,
    ) -> Result<LoadSessionResponse, AcpError> {
        self.request(
            AGENT_METHOD_NAMES.session_load,
            LoadSessionRequest::new(session.clone(), cwd),
        )
        .await
    }

    /// `session/set_config_option`: one of the session's configuration options (a select) to
    /// one of its values; answers the agent's reply (its options as they now are) as it sent it.
    pub async fn set_config_option(
        &self,
        session: &SessionId,
        config: &str,
        value: &str,
    ) -> Result<Value, AcpError> {
        self.request(
            AGENT_METHOD_NAMES.session_set_config_option,
            SetSessionConfigOptionRequest::new(
                session.clone(),
                config.to_owned(),
                SessionConfigOptionValue::value_id(value.to_owned()),
            ),
        )
        .await
    }

    /// `session/set_mode`: the session's mode, one of those `session/new` offered.
    pub async fn set_mode(&self, session: &SessionId, mode: &str) -> Result<(), AcpError> {
        let _: SetSessionModeResponse = self
            .request(
                AGENT_METHOD_NAMES.session_set_mode,
                SetSessionModeRequest::new(session.clone(), mode.to_owned()),
            )
            .await?;
        Ok(())
    }

    /// `session/prompt` with `text`; updates arrive as events while it runs.
    pub async fn prompt(
        &self,
        session: &SessionId,
        text: &str,
    ) -> Result<PromptResponse, AcpError> {
        self.prompt_with(session, text, &[], &[]).await
    }

    /// `session/prompt` with `text`, links to files (`(uri, name)`, ACP's `resource_link`) and
    /// images (`(base64, mime type)`).
    pub async fn prompt_with(
        &self,
        session: &SessionId,
        text: &str,
        links: &[(String, String)],
        images: &[(String, String)],
    ) -> Result<PromptResponse, AcpError> {
        let mut prompt = vec![ContentBlock::Text(TextContent::new(text))];
        prompt.extend(images.iter().map(|(data, mime)| {
            ContentBlock::Image(ImageContent::new(data.clone(), mime.clone()))
        }));
        prompt.extend(links.iter().map(|(uri, name)| {
            ContentBlock::ResourceLink(ResourceLink::new(name.clone(), uri.clone()))
        }));
        self.request(
            AGENT_METHOD_NAMES.session_prompt,
            PromptRequest::new(session.clone(), prompt),
        )
        .await
    }

    /// Answers a waiting permission request. Answering one that is not waiting (answered
    /// already, or cancelled) does nothing and says so.
    pub fn answer(&self, id: &Value, outcome: RequestPermissionOutcome) -> bool {
        if lock(&self.shared.asks).remove(&id.to_string()).is_none() {
            return false;
        }
        wire::respond(&self.input, id, &serde_json::json!({"outcome": outcome}));
        true
    }

    /// Answers permission request `id` whether or not this connection saw it (one asked of an
    /// earlier process, answered since): the caller vouches that it is answered once.
    pub fn deliver(&self, id: &Value, outcome: RequestPermissionOutcome) {
        lock(&self.shared.asks).remove(&id.to_string());
        wire::respond(&self.input, id, &serde_json::json!({"outcome": outcome}));
    }

    /// `session/cancel` alone, for a caller that answers the waiting requests itself.
    pub fn send_cancel(&self, session: &SessionId) {
        let method = AGENT_METHOD_NAMES.session_cancel;
        wire::notify(
            &self.input,
            method,
            &CancelNotification::new(session.clone()),
        );
    }

    /// `session/cancel`, then `cancelled` for every permission request of the session that
    /// still waits.
    pub fn cancel(&self, session: &SessionId) {
        self.send_cancel(session);
        let waiting: Vec<Value> = lock(&self.shared.asks)
            .values()
            .filter(|(_, of)| of == session)
            .map(|(id, _)| id.clone())
            .collect();
        for id in waiting {
            self.answer(&id, RequestPermissionOutcome::Cancelled);
        }
    }

    async fn request<R: DeserializeOwned>(
        &self,
        method: &str,
        params: impl Serialize,
    ) -> Result<R, AcpError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        lock(&self.shared.pending).insert(
            id,
            Pending {
                method: method.to_owned(),
                reply,
            },
        );
        wire::call(&self.input, id, method, &params);
        let result = answer
            .await
            .unwrap_or_else(|_| Err(AcpError::Gone(method.to_owned())))?;
        serde_json::from_value(result).map_err(|err| AcpError::BadAnswer {
            method: method.to_owned(),
            detail: err.to_string(),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
