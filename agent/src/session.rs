//! One authenticated session: the control messages and data frames of `/v1/session`.
//!
//! Tasks per connection: a writer that owns the socket's sending half (and pings), the reader
//! loop below, and one forwarder per attached stream. All share the connection's cancellation
//! token; the forwarders only read rings and push into the bounded output queue, so a slow
//! client slows only its own forwarders, never a PTY.
//!
//! Replies go through a separate control queue that the writer always serves first: while
//! output floods the link, an input acknowledgement or a request's answer never waits behind
//! it, and the reader loop (which also takes the client's input and output acks) never stalls
//! on a queue full of output.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sam_protocol::PROTOCOL_VERSION;
use sam_protocol::frame::{DataFrame, FrameKind, MAX_FRAME};
use sam_protocol::message::{AgentMessage, ClientMessage, ErrorCode, Limits, PtySize, Req};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, Failure};
use crate::files::MAX_READ;
use crate::stream::InputError;

mod forward;
use forward::forward;

/// Unacknowledged output the agent sends ahead, per attached stream.
pub const WINDOW_BYTES: u64 = 2 * 1024 * 1024;
/// How often the agent pings an idle client.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
/// How long a silent client is kept.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Malformed frames tolerated before the connection is closed as hostile.
pub const MAX_BAD_FRAMES: u32 = 16;

const OUT_QUEUE: usize = 64;
/// Replies waiting to be written; a client that sends requests but never reads blocks here.
const CONTROL_QUEUE: usize = 256;

struct Attachment {
    applied: watch::Sender<u64>,
    cancel: CancellationToken,
}

/// Runs a session until the client leaves, misbehaves, or the agent shuts down.
pub async fn run<S>(agent: Arc<Agent>, ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, mut source) = ws.split();
    let cancel = agent.shutdown.child_token();
    let (out, out_rx) = mpsc::channel::<Message>(OUT_QUEUE);
    let (control, control_rx) = mpsc::channel::<Message>(CONTROL_QUEUE);
    let writer = tokio::spawn(write_loop(sink, control_rx, out_rx, agent.shutdown.clone()));
    let mut session = Session {
        agent,
        out,
        control,
        cancel: cancel.clone(),
        attachments: HashMap::new(),
        greeted: false,
        bad: 0,
    };

    loop {
        let next = tokio::select! {
            () = cancel.cancelled() => break,
            next = tokio::time::timeout(READ_TIMEOUT, source.next()) => next,
        };
        let message = match next {
            Err(_) => {
                session.close(CloseCode::Away, "no traffic").await;
                break;
            }
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(message))) => message,
        };
        let keep_going = match message {
            Message::Text(text) => session.on_text(text.as_str()).await,
            Message::Binary(bytes) => session.on_binary(&bytes).await,
            Message::Close(_) => false,
            // tungstenite answers pings itself; any traffic resets the read timeout.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => true,
        };
        if !keep_going {
            break;
        }
    }
    // Stop the forwarders; the writer sends what is queued (a close frame, say) and ends when
    // the last sender is gone.
    cancel.cancel();
    drop(session);
    let _ = writer.await;
}

async fn write_loop<S>(
    mut sink: futures_util::stream::SplitSink<WebSocketStream<S>, Message>,
    mut control: mpsc::Receiver<Message>,
    mut out: mpsc::Receiver<Message>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let (mut control_open, mut out_open) = (true, true);
    while control_open || out_open {
        let message = tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame { code: CloseCode::Away, reason: "agent stopping".into() })))
                    .await;
                break;
            }
            message = control.recv(), if control_open => match message {
                Some(message) => message,
                None => {
                    control_open = false;
                    continue;
                }
            },
            _ = ping.tick() => Message::Ping(Vec::new().into()),
            message = out.recv(), if out_open => match message {
                Some(message) => message,
                None => {
                    out_open = false;
                    continue;
                }
            },
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    let _ = sink.close().await;
}

struct Session {
    agent: Arc<Agent>,
    /// Output frames and what must stay in order with them (gaps, exits).
    out: mpsc::Sender<Message>,
    /// Replies, served first.
    control: mpsc::Sender<Message>,
    cancel: CancellationToken,
    attachments: HashMap<u32, Attachment>,
    greeted: bool,
    bad: u32,
}

impl Drop for Session {
    fn drop(&mut self) {
        for attachment in self.attachments.values() {
            attachment.cancel.cancel();
        }
    }
}

fn json(message: &AgentMessage) -> Message {
    // Our own message types always serialize.
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

fn error(req: Option<Req>, code: ErrorCode, message: impl Into<String>) -> AgentMessage {
    AgentMessage::Error {
        req,
        code,
        message: message.into(),
    }
}

impl Session {
    async fn send(&self, message: AgentMessage) {
        let _ = self.control.send(json(&message)).await;
    }

    async fn close(&self, code: CloseCode, reason: &str) {
        let _ = self
            .control
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.to_owned().into(),
            })))
            .await;
    }

    /// Counts a malformed frame; after too many the peer is treated as hostile.
    async fn refuse(&mut self, req: Option<Req>, code: ErrorCode, message: String) -> bool {
        self.bad += 1;
        self.send(error(req, code, message)).await;
        if self.bad >= MAX_BAD_FRAMES {
            self.close(CloseCode::Policy, "too many malformed frames")
                .await;
            return false;
        }
        true
    }

    async fn on_text(&mut self, text: &str) -> bool {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(err) => {
                // Echo the request number when there is one, so the client can fail that request.
                let req = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|value| value.get("req").and_then(serde_json::Value::as_u64));
                return self
                    .refuse(
                        req,
                        ErrorCode::BadMessage,
                        format!("not a valid message: {err}"),
                    )
                    .await;
            }
        };
        match (self.greeted, message) {
            (false, ClientMessage::Hello { protocol, client }) => {
                if protocol != PROTOCOL_VERSION {
                    self.send(error(
                        None,
                        ErrorCode::UnsupportedProtocol,
                        format!("this agent speaks protocol {PROTOCOL_VERSION}, not {protocol}"),
                    ))
                    .await;
                    self.close(CloseCode::Library(4002), "unsupported protocol")
                        .await;
                    return false;
                }
                self.greeted = true;
                tracing::info!(%client, "session started");
                self.send(self.welcome()).await;
                true
            }
            (false, _) | (true, ClientMessage::Hello { .. }) => {
                self.send(error(
                    None,
                    ErrorCode::HelloExpected,
                    "send hello first, and only once",
                ))
                .await;
                self.close(CloseCode::Library(4000), "hello expected").await;
                false
            }
            (true, message) => {
                self.on_request(message).await;
                true
            }
        }
    }

    fn welcome(&self) -> AgentMessage {
        let config = &self.agent.config;
        AgentMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            epoch: self.agent.epoch.clone(),
            workspace: config.workspace_id.clone(),
            streams: self.agent.list(),
            limits: Limits {
                max_frame: MAX_FRAME as u64,
                max_text_frame: sam_protocol::MAX_TEXT_FRAME as u64,
                max_streams: config.max_streams,
                ring_bytes: config.ring_bytes as u64,
                window_bytes: WINDOW_BYTES,
                max_read: MAX_READ,
            },
        }
    }

    async fn on_request(&mut self, message: ClientMessage) {
        let agent = Arc::clone(&self.agent);
        let reply = match message {
            ClientMessage::Hello { .. } => return,
            ClientMessage::OpenPty {
                req,
                command,
                cwd,
                env,
                cols,
                rows,
            } => {
                let opened = agent.open_pty(command, cwd.as_deref(), &env, PtySize { cols, rows });
                answer(
                    req,
                    opened.map(|stream| AgentMessage::Opened { req, stream }),
                )
            }
            ClientMessage::RunJob {
                req,
                command,
                cwd,
                env,
            } => {
                let opened = agent.run_job(command, cwd.as_deref(), &env);
                answer(
                    req,
                    opened.map(|stream| AgentMessage::Opened { req, stream }),
                )
            }
            ClientMessage::Attach { req, stream, from } => match self.attach(stream, from) {
                Ok(info) => {
                    // `attached` goes out before the forwarder's first frame.
                    self.send(AgentMessage::Attached { req, stream: info })
                        .await;
                    self.start_forwarder(stream, from);
                    return;
                }
                Err(failure) => answer(req, Err(failure)),
            },
            ClientMessage::Detach { req, stream } => match self.attachments.remove(&stream) {
                Some(attachment) => {
                    attachment.cancel.cancel();
                    AgentMessage::Ok { req }
                }
                None => error(
                    Some(req),
                    ErrorCode::NotAttached,
                    format!("stream {stream} is not attached"),
                ),
            },
            ClientMessage::Ack { stream, applied } => {
                if let Some(attachment) = self.attachments.get(&stream) {
                    attachment.applied.send_if_modified(|current| {
                        let advanced = applied > *current;
                        *current = (*current).max(applied);
                        advanced
                    });
                }
                return;
            }
            ClientMessage::Resize {
                req,
                stream,
                cols,
                rows,
            } => {
                if cols == 0 || rows == 0 {
                    error(
                        Some(req),
                        ErrorCode::InvalidArgument,
                        "a terminal needs at least one row and column",
                    )
                } else {
                    match agent.stream(stream) {
                        Ok(target) => match target.resize(PtySize { cols, rows }).await {
                            Ok(()) => AgentMessage::Ok { req },
                            Err(err) => input_error(Some(req), stream, err),
                        },
                        Err(failure) => answer(req, Err(failure)),
                    }
                }
            }
            ClientMessage::Close { req, stream } => {
                if let Some(attachment) = self.attachments.remove(&stream) {
                    attachment.cancel.cancel();
                }
                let out = self.control.clone();
                tokio::spawn(async move {
                    let reply = answer(
                        req,
                        agent.close(stream).await.map(|()| AgentMessage::Ok { req }),
                    );
                    let _ = out.send(json(&reply)).await;
                });
                return;
            }
            ClientMessage::List { req } => AgentMessage::Streams {
                req,
                streams: agent.list(),
            },
            ClientMessage::KeepAlive { req } => {
                agent.activity.touch();
                AgentMessage::Ok { req }
            }
            ClientMessage::Busy { req, source, busy } => {
                agent.activity.set_busy(&source, busy);
                AgentMessage::Ok { req }
            }
            ClientMessage::SetIdlePolicy { req, policy } => {
                agent.activity.set_policy(policy);
                agent.event(&format!("idle policy set: {policy:?}"));
                AgentMessage::Ok { req }
            }
            ClientMessage::Status { req } => AgentMessage::Status {
                req,
                status: agent.activity.status(agent.stream_activity()),
            },
            ClientMessage::PushSecret {
                req,
                name,
                value,
                expires_at,
            } => {
                agent.push_secret(name, value, expires_at);
                AgentMessage::Ok { req }
            }
            ClientMessage::RevokeSecret { req, name } => {
                agent.revoke_secret(&name);
                AgentMessage::Ok { req }
            }
            ClientMessage::PrepareStop { req } => {
                let out = self.control.clone();
                tokio::spawn(async move {
                    let closed_streams = agent.prepare_stop().await;
                    let _ = out
                        .send(json(&AgentMessage::StopPrepared {
                            req,
                            closed_streams,
                        }))
                        .await;
                });
                return;
            }
            ClientMessage::FsList { req, path } => {
                self.blocking(req, move |agent| {
                    agent
                        .files
                        .list(&path)
                        .map(|entries| AgentMessage::FsEntries { req, entries })
                });
                return;
            }
            ClientMessage::FsStat { req, path } => {
                self.blocking(req, move |agent| {
                    agent
                        .files
                        .stat(&path)
                        .map(|entry| AgentMessage::FsStat { req, entry })
                });
                return;
            }
            ClientMessage::FsRead {
                req,
                path,
                offset,
                length,
            } => {
                self.blocking(req, move |agent| {
                    agent.files.read(&path, offset, length).map(|(data, eof)| {
                        use base64::Engine;
                        let data = base64::engine::general_purpose::STANDARD.encode(data);
                        AgentMessage::FsData {
                            req,
                            offset,
                            data,
                            eof,
                        }
                    })
                });
                return;
            }
        };
        self.send(reply).await;
    }

    /// Runs a file-system call off the async threads and sends its answer.
    fn blocking<F>(&self, req: Req, call: F)
    where
        F: FnOnce(&Agent) -> Result<AgentMessage, crate::files::FsError> + Send + 'static,
    {
        let agent = Arc::clone(&self.agent);
        let out = self.control.clone();
        tokio::spawn(async move {
            let reply = match tokio::task::spawn_blocking(move || call(&agent)).await {
                Ok(result) => answer(req, result.map_err(Failure::from)),
                Err(err) => error(
                    Some(req),
                    ErrorCode::Internal,
                    format!("file task failed: {err}"),
                ),
            };
            let _ = out.send(json(&reply)).await;
        });
    }

    fn attach(&mut self, id: u32, from: u64) -> Result<sam_protocol::message::StreamInfo, Failure> {
        let stream = self.agent.stream(id)?;
        let info = stream.info();
        if from > info.out_head {
            return Err(Failure::new(
                ErrorCode::InvalidOffset,
                format!(
                    "offset {from} is past the end of stream {id} ({})",
                    info.out_head
                ),
            ));
        }
        Ok(info)
    }

    fn start_forwarder(&mut self, id: u32, from: u64) {
        let Ok(stream) = self.agent.stream(id) else {
            return;
        };
        if let Some(previous) = self.attachments.remove(&id) {
            previous.cancel.cancel();
        }
        let (applied, applied_rx) = watch::channel(from);
        let cancel = self.cancel.child_token();
        tokio::spawn(forward(
            stream,
            from,
            applied_rx,
            self.out.clone(),
            cancel.clone(),
        ));
        self.attachments.insert(id, Attachment { applied, cancel });
    }

    async fn on_binary(&mut self, bytes: &[u8]) -> bool {
        let frame = match DataFrame::decode(bytes) {
            Ok(frame) => frame,
            Err(err) => {
                return self
                    .refuse(None, ErrorCode::BadFrame, err.to_string())
                    .await;
            }
        };
        let FrameKind::Input { user_typed } = frame.kind else {
            return self
                .refuse(
                    None,
                    ErrorCode::BadFrame,
                    "clients send input frames only".to_owned(),
                )
                .await;
        };
        if !self.greeted {
            self.send(error(None, ErrorCode::HelloExpected, "send hello first"))
                .await;
            self.close(CloseCode::Library(4000), "hello expected").await;
            return false;
        }
        let stream = match self.agent.stream(frame.stream) {
            Ok(stream) => stream,
            Err(failure) => {
                self.send(error(None, failure.code, failure.message)).await;
                return true;
            }
        };
        match stream.input(frame.offset, &frame.payload).await {
            Ok(acked) => {
                if user_typed {
                    self.agent.activity.touch();
                }
                self.send(AgentMessage::InputAck {
                    stream: frame.stream,
                    acked,
                })
                .await;
            }
            Err(err) => self.send(input_error(None, frame.stream, err)).await,
        }
        true
    }
}

fn answer(req: Req, result: Result<AgentMessage, Failure>) -> AgentMessage {
    result.unwrap_or_else(|failure| error(Some(req), failure.code, failure.message))
}

fn input_error(req: Option<Req>, stream: u32, err: InputError) -> AgentMessage {
    match err {
        InputError::NotATerminal => error(
            req,
            ErrorCode::InvalidArgument,
            format!("stream {stream} is not a terminal"),
        ),
        InputError::Hole { acked } => error(
            req,
            ErrorCode::InvalidOffset,
            format!("input for stream {stream} must continue at offset {acked}"),
        ),
        InputError::Ended => error(
            req,
            ErrorCode::InvalidArgument,
            format!("stream {stream} has ended"),
        ),
    }
}
