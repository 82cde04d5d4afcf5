//! One authenticated session: the control messages and data frames of `/v1/session`.
//!
//! This file holds the connection: its tasks, the `hello` handshake, decoding, and a dispatch
//! that hands each request to the code for its area — `streams` (PTYs, jobs, attachments and
//! input), `activity` (keep-alive, busy sources, the idle policy, status, stop), `secrets`, and
//! `files`. Each request arrives with an [`Answer`], the duty to send its one reply.
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
use sam_protocol::message::{
    AgentMessage, ClientMessage, Envelope, ErrorCode, Event, Limits, Notice, Reply, Req, Request,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use crate::agent::{Agent, Failure};
use crate::files::MAX_READ;

mod activity;
mod files;
mod forward;
mod secrets;
mod streams;

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
        writes: files::Writes::default(),
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
            Ok(None) => break,
            Ok(Some(Err(err))) => {
                if let Some((code, reason)) = violation(&err) {
                    tracing::info!(%err, "closing a connection that broke the WebSocket protocol");
                    session.close(code, reason).await;
                }
                break;
            }
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

/// The RFC 6455 close code for a read error the client caused; `None` when the connection is
/// simply gone and there is no one to tell.
fn violation(err: &WsError) -> Option<(CloseCode, &'static str)> {
    match err {
        WsError::Capacity(_) => Some((CloseCode::Size, "message too big")),
        WsError::Utf8(_) => Some((CloseCode::Invalid, "text is not UTF-8")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) => Some((CloseCode::Protocol, "WebSocket protocol violation")),
        _ => None,
    }
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
    /// Files being written on this connection, by path (`files.rs`).
    writes: files::Writes,
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

fn json(message: AgentMessage) -> Message {
    Message::Text(message.encode().into())
}

impl From<Failure> for Reply {
    fn from(failure: Failure) -> Self {
        Reply::Error {
            code: failure.code,
            message: failure.message,
        }
    }
}

impl From<Failure> for Event {
    fn from(failure: Failure) -> Self {
        Event::Error {
            code: failure.code,
            message: failure.message,
        }
    }
}

/// The duty to answer one request. It is consumed by sending the reply, so every request gets
/// exactly one; a handler that finishes later (closing a stream, reading a file) moves it into
/// the task that does the work.
struct Answer {
    req: Req,
    control: mpsc::Sender<Message>,
}

impl Answer {
    /// Sends `reply`, or the error a failure becomes.
    async fn send(self, reply: Result<Reply, Failure>) {
        let reply = reply.unwrap_or_else(Reply::from);
        let _ = self
            .control
            .send(json(AgentMessage::reply(self.req, reply)))
            .await;
    }

    /// Sends `ok`, or the error a failure becomes.
    async fn ok(self, done: Result<(), Failure>) {
        self.send(done.map(|()| Reply::Ok)).await;
    }
}

impl Session {
    /// Sends an event ahead of queued output.
    async fn send(&self, event: Event) {
        let _ = self.control.send(json(event.into())).await;
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

    /// Counts a malformed frame; after too many the peer is treated as hostile. The error
    /// answers request `req` when the frame was readable that far.
    async fn refuse(&mut self, req: Option<Req>, code: ErrorCode, message: String) -> bool {
        self.bad += 1;
        let failure = Failure::new(code, message);
        let message = match req {
            Some(req) => AgentMessage::reply(req, failure.into()),
            None => Event::from(failure).into(),
        };
        let _ = self.control.send(json(message)).await;
        if self.bad >= MAX_BAD_FRAMES {
            self.close(CloseCode::Policy, "too many malformed frames")
                .await;
            return false;
        }
        true
    }

    async fn on_text(&mut self, text: &str) -> bool {
        let message = match ClientMessage::decode(text) {
            Ok(message) => message,
            Err(err) => {
                // The error carries the request number when there was one, so the client can
                // fail that request.
                return self
                    .refuse(
                        err.req,
                        ErrorCode::BadMessage,
                        format!("not a valid message: {err}"),
                    )
                    .await;
            }
        };
        match (self.greeted, message) {
            (false, ClientMessage::Notice(Notice::Hello { protocol, client })) => {
                if protocol != PROTOCOL_VERSION {
                    self.send(Event::Error {
                        code: ErrorCode::UnsupportedProtocol,
                        message: format!(
                            "this agent speaks protocol {PROTOCOL_VERSION}, not {protocol}"
                        ),
                    })
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
            (false, _) | (true, ClientMessage::Notice(Notice::Hello { .. })) => {
                self.send(Event::Error {
                    code: ErrorCode::HelloExpected,
                    message: "send hello first, and only once".to_owned(),
                })
                .await;
                self.close(CloseCode::Library(4000), "hello expected").await;
                false
            }
            (true, ClientMessage::Notice(Notice::Ack { stream, applied })) => {
                self.on_ack(stream, applied);
                true
            }
            (true, ClientMessage::Request(Envelope { req, body })) => {
                self.on_request(req, body).await;
                true
            }
        }
    }

    fn welcome(&self) -> Event {
        let config = &self.agent.config;
        Event::Welcome {
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
                max_write: sam_protocol::MAX_WRITE,
                max_tunnels: crate::stream::MAX_TUNNELS,
                tunnel_window: crate::stream::TUNNEL_WINDOW,
            },
        }
    }

    /// Hands a request to the code for its area.
    async fn on_request(&mut self, req: Req, request: Request) {
        let answer = Answer {
            req,
            control: self.control.clone(),
        };
        match request {
            // Streams: `streams.rs`.
            Request::OpenPty(open) => self.open_pty(open, answer).await,
            Request::RunJob(job) => self.run_job(job, answer).await,
            Request::OpenAcp(open) => self.open_acp(open, answer).await,
            Request::Attach(attach) => self.attach(attach, answer).await,
            Request::Detach(detach) => self.detach(detach, answer).await,
            Request::Resize(resize) => self.resize(resize, answer).await,
            Request::Close(close) => self.close_stream(close, answer),
            Request::List => self.list(answer).await,
            Request::OpenTunnel(open) => self.open_tunnel(open, answer),
            Request::EndInput(end) => self.end_input(end, answer),
            Request::ListPorts => self.list_ports(answer).await,
            // Activity and stopping: `activity.rs`.
            Request::KeepAlive => self.keep_alive(answer).await,
            Request::Busy(busy) => self.busy(busy, answer).await,
            Request::SetIdlePolicy(set) => self.set_idle_policy(set, answer).await,
            Request::Status => self.status(answer).await,
            Request::PrepareStop => self.prepare_stop(answer),
            // Secrets: `secrets.rs`.
            Request::PushSecret(push) => self.push_secret(push, answer).await,
            Request::RevokeSecret(revoke) => self.revoke_secret(revoke, answer).await,
            // Files: `files.rs`.
            Request::FsList(list) => self.fs_list(list, answer),
            Request::FsStat(stat) => self.fs_stat(stat, answer),
            Request::FsRead(read) => self.fs_read(read, answer),
            Request::FsWrite(write) => self.fs_write(write, answer),
            Request::JournalRead(read) => self.journal_read(read, answer),
            Request::JournalDrop(drop) => self.journal_drop(drop, answer),
        }
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
            self.send(Event::Error {
                code: ErrorCode::HelloExpected,
                message: "send hello first".to_owned(),
            })
            .await;
            self.close(CloseCode::Library(4000), "hello expected").await;
            return false;
        }
        self.on_input(frame, user_typed).await;
        true
    }
}
