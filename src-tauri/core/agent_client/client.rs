//! `AgentClient`: one multiplexed, self-healing session with a workspace's agent.
//!
//! A driver task owns the socket. When the connection drops it reconnects with jittered
//! backoff, says `hello`, and re-attaches every open [`StreamHandle`] from the exact offset it
//! had received — so output continues with no byte lost or doubled — then resends any input the
//! agent had not acknowledged. Requests in flight when a connection drops fail with
//! [`AgentError::ConnectionLost`]; they are not replayed, because they are not idempotent.
//! If the agent restarted (a new epoch), its streams are gone and every handle gets
//! [`StreamEvent::Reset`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use futures_util::{SinkExt, StreamExt};
use sam_protocol::frame::{DataFrame, FrameKind, MAX_PAYLOAD};
use sam_protocol::message::{
    AgentMessage, AgentStatus, ClientMessage, ExitStatus, FsEntry, IdlePolicy, PtySize, Req,
    StreamInfo,
};
use sam_protocol::token::Audience;
use sam_protocol::{PROTOCOL_VERSION, SESSION_PATH};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::dial::{AgentSocket, Caller, dial};
use super::error::AgentError;
use super::tls::PinVerifier;

/// How long a request waits for its answer (and for a connection, first).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection silent for this long is presumed dead (the agent pings every 20 s).
pub const SILENCE_TIMEOUT: Duration = Duration::from_secs(60);
/// The client acknowledges consumed output at least this often.
pub const ACK_EVERY: u64 = 64 * 1024;
/// How often an idempotent request is retried after a dropped connection.
const IDEMPOTENT_RETRIES: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Where an agent is and how to recognise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEndpoint {
    /// `host:port`.
    pub addr: String,
    /// The workspace id.
    pub workspace: String,
    /// The certificate fingerprint pinned at enrollment.
    pub pin: String,
}

/// The link's state, for the UI ("reconnecting…").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected to the agent of this epoch.
    Connected {
        /// The agent's epoch.
        epoch: String,
    },
    /// The connection failed or dropped; retrying.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
        /// Why the last attempt failed.
        error: AgentError,
    },
    /// The client was shut down.
    Closed,
}

/// What a [`StreamHandle`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Output bytes; `offset` is where they start (always where the previous ones ended).
    Output {
        /// Absolute offset of `bytes[0]`.
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Output between `from` and `base` is lost (the agent's ring moved on); output continues at
    /// `base`. A terminal should reset.
    Gap {
        /// Where the client was.
        from: u64,
        /// Where output resumes.
        base: u64,
    },
    /// The process ended; no more output follows.
    Exit(ExitStatus),
    /// The agent restarted or forgot the stream; it no longer exists.
    Reset,
}

/// A cheap handle to one agent session. Clones share the connection; when the last clone (and
/// the last [`StreamHandle`]) is dropped, the connection closes.
#[derive(Debug, Clone)]
pub struct AgentClient {
    shared: Arc<Shared>,
    _life: Arc<Lifetime>,
}

/// Cancels the driver when the last client handle goes away.
#[derive(Debug)]
struct Lifetime(CancellationToken);

impl Drop for Lifetime {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

#[derive(Debug)]
struct Shared {
    endpoint: AgentEndpoint,
    key: SigningKey,
    next_req: AtomicU64,
    pending: Mutex<HashMap<Req, oneshot::Sender<AgentMessage>>>,
    subs: Mutex<HashMap<u32, Arc<Sub>>>,
    outbox: mpsc::UnboundedSender<Message>,
    state: watch::Sender<LinkState>,
    welcome: Mutex<Option<Welcome>>,
    reconnect: tokio::sync::Notify,
    shutdown: CancellationToken,
    /// Attach requests the driver sent itself to resume streams, by request number.
    resuming: Mutex<HashMap<Req, u32>>,
}

#[derive(Debug, Clone)]
struct Welcome {
    epoch: String,
    streams: Vec<StreamInfo>,
}

/// Client-side state of one attached stream.
#[derive(Debug)]
struct Sub {
    id: u32,
    events: mpsc::UnboundedSender<StreamEvent>,
    state: Mutex<SubState>,
}

#[derive(Debug, Default)]
struct SubState {
    /// Next output offset expected from the agent (everything before is in the channel or consumed).
    received: u64,
    /// Output the consumer has taken.
    consumed: u64,
    /// The last `ack` sent.
    acked: u64,
    /// Next input offset to assign.
    in_sent: u64,
    /// Input not yet acknowledged: (offset, bytes, user_typed).
    unacked: VecDeque<(u64, Vec<u8>, bool)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text(message: &ClientMessage) -> Message {
    // Our own message types always serialize.
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

impl AgentClient {
    /// Starts a client for `endpoint`, signing its tokens with `key`. It connects in the
    /// background; requests wait for the connection.
    pub fn connect(endpoint: AgentEndpoint, key: SigningKey) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            endpoint,
            key,
            next_req: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            subs: Mutex::new(HashMap::new()),
            outbox,
            state: watch::channel(LinkState::Connecting).0,
            welcome: Mutex::new(None),
            reconnect: tokio::sync::Notify::new(),
            shutdown: CancellationToken::new(),
            resuming: Mutex::new(HashMap::new()),
        });
        tokio::spawn(drive(Arc::clone(&shared), outbox_rx));
        let life = Arc::new(Lifetime(shared.shutdown.clone()));
        Self {
            shared,
            _life: life,
        }
    }

    /// The link's state, live.
    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.shared.state.subscribe()
    }

    /// The agent's epoch, once connected.
    pub fn epoch(&self) -> Option<String> {
        lock(&self.shared.welcome).as_ref().map(|w| w.epoch.clone())
    }

    /// The streams the agent listed when this connection was made.
    pub fn welcome_streams(&self) -> Vec<StreamInfo> {
        lock(&self.shared.welcome)
            .as_ref()
            .map(|w| w.streams.clone())
            .unwrap_or_default()
    }

    /// Waits until connected (at most `timeout`).
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), AgentError> {
        let mut state = self.state();
        let connected = tokio::time::timeout(timeout, async {
            loop {
                match &*state.borrow_and_update() {
                    LinkState::Connected { .. } => return Ok(()),
                    LinkState::Closed => return Err(AgentError::Closed),
                    _ => {}
                }
                if state.changed().await.is_err() {
                    return Err(AgentError::Closed);
                }
            }
        });
        match connected.await {
            Ok(result) => result,
            Err(_) => Err(match &*state.borrow() {
                LinkState::Reconnecting { error, .. } => error.clone(),
                _ => AgentError::Timeout(timeout),
            }),
        }
    }

    /// Drops the current connection (the driver reconnects and resumes). For a laptop that
    /// just woke up, and for tests that simulate a network blip.
    pub fn reconnect(&self) {
        // Only a live connection is dropped; a reconnect already under way is not repeated.
        self.shared.reconnect.notify_waiters();
    }

    /// Stops the client; handles end and requests fail with [`AgentError::Closed`].
    pub fn close(&self) {
        self.shared.shutdown.cancel();
    }

    /// A request that may safely run twice: retried when the connection drops before the answer.
    async fn idempotent(
        &self,
        build: impl Fn(Req) -> ClientMessage,
    ) -> Result<AgentMessage, AgentError> {
        let mut tries = 0;
        loop {
            match self.request(&build).await {
                Err(AgentError::ConnectionLost) if tries < IDEMPOTENT_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    async fn request(
        &self,
        build: impl FnOnce(Req) -> ClientMessage,
    ) -> Result<AgentMessage, AgentError> {
        self.wait_connected(REQUEST_TIMEOUT).await?;
        let req = self.shared.next_req.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(req, tx);
        if self.shared.outbox.send(text(&build(req))).is_err() {
            lock(&self.shared.pending).remove(&req);
            return Err(AgentError::Closed);
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(AgentMessage::Error { code, message, .. })) => {
                Err(AgentError::Remote { code, message })
            }
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(AgentError::ConnectionLost),
            Err(_) => {
                lock(&self.shared.pending).remove(&req);
                Err(AgentError::Timeout(REQUEST_TIMEOUT))
            }
        }
    }

    /// Opens a PTY (the login shell unless `command` is given).
    pub async fn open_pty(
        &self,
        command: Option<Vec<String>>,
        cwd: Option<String>,
        env: std::collections::BTreeMap<String, String>,
        size: PtySize,
    ) -> Result<StreamInfo, AgentError> {
        let reply = self
            .request(|req| ClientMessage::OpenPty {
                req,
                command,
                cwd,
                env,
                cols: size.cols,
                rows: size.rows,
            })
            .await?;
        match reply {
            AgentMessage::Opened { stream, .. } => Ok(stream),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a job (a command without a terminal).
    pub async fn run_job(
        &self,
        command: Vec<String>,
        cwd: Option<String>,
        env: std::collections::BTreeMap<String, String>,
    ) -> Result<StreamInfo, AgentError> {
        match self
            .request(|req| ClientMessage::RunJob {
                req,
                command,
                cwd,
                env,
            })
            .await?
        {
            AgentMessage::Opened { stream, .. } => Ok(stream),
            other => Err(unexpected(&other)),
        }
    }

    /// Attaches to a stream from output offset `from`. The handle yields its events and takes
    /// input; dropping it detaches.
    pub async fn attach(
        &self,
        stream: u32,
        from: u64,
    ) -> Result<(StreamHandle, StreamInfo), AgentError> {
        let (events, rx) = mpsc::unbounded_channel();
        let sub = Arc::new(Sub {
            id: stream,
            events,
            state: Mutex::new(SubState {
                received: from,
                consumed: from,
                acked: from,
                ..SubState::default()
            }),
        });
        if let Some(previous) = lock(&self.shared.subs).insert(stream, Arc::clone(&sub)) {
            let _ = previous.events.send(StreamEvent::Reset);
        }
        let reply = self
            .request(|req| ClientMessage::Attach { req, stream, from })
            .await;
        match reply {
            Ok(AgentMessage::Attached { stream: info, .. }) => {
                let handle = StreamHandle {
                    sub,
                    events: rx,
                    client: self.clone(),
                };
                Ok((handle, info))
            }
            Ok(other) => {
                lock(&self.shared.subs).remove(&stream);
                Err(unexpected(&other))
            }
            Err(err) => {
                lock(&self.shared.subs).remove(&stream);
                Err(err)
            }
        }
    }

    /// Resizes a PTY.
    pub async fn resize(&self, stream: u32, size: PtySize) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::Resize {
            req,
            stream,
            cols: size.cols,
            rows: size.rows,
        })
        .await
    }

    /// Ends a stream's process and forgets the stream. A stream that is already gone counts as
    /// closed (a retry after a dropped connection may find the first attempt succeeded).
    pub async fn close_stream(&self, stream: u32) -> Result<(), AgentError> {
        match self
            .expect_ok(|req| ClientMessage::Close { req, stream })
            .await
        {
            Err(AgentError::Remote {
                code: sam_protocol::message::ErrorCode::UnknownStream,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// Every stream.
    pub async fn list(&self) -> Result<Vec<StreamInfo>, AgentError> {
        match self.idempotent(|req| ClientMessage::List { req }).await? {
            AgentMessage::Streams { streams, .. } => Ok(streams),
            other => Err(unexpected(&other)),
        }
    }

    /// Explicit activity.
    pub async fn keep_alive(&self) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::KeepAlive { req }).await
    }

    /// Marks a named activity source busy or idle.
    pub async fn set_busy(&self, source: &str, busy: bool) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::Busy {
            req,
            source: source.to_owned(),
            busy,
        })
        .await
    }

    /// Sets the idle policy the agent enforces.
    pub async fn set_idle_policy(&self, policy: IdlePolicy) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::SetIdlePolicy { req, policy })
            .await
    }

    /// Activity and idle state.
    pub async fn status(&self) -> Result<AgentStatus, AgentError> {
        match self.idempotent(|req| ClientMessage::Status { req }).await? {
            AgentMessage::Status { status, .. } => Ok(status),
            other => Err(unexpected(&other)),
        }
    }

    /// Hands the agent a secret to hold in memory.
    pub async fn push_secret(
        &self,
        name: &str,
        value: &str,
        expires_at: Option<i64>,
    ) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::PushSecret {
            req,
            name: name.to_owned(),
            value: value.to_owned(),
            expires_at,
        })
        .await
    }

    /// Makes the agent forget a secret.
    pub async fn revoke_secret(&self, name: &str) -> Result<(), AgentError> {
        self.expect_ok(|req| ClientMessage::RevokeSecret {
            req,
            name: name.to_owned(),
        })
        .await
    }

    /// Ends every process and syncs disks; returns how many processes were ended.
    pub async fn prepare_stop(&self) -> Result<u32, AgentError> {
        match self
            .idempotent(|req| ClientMessage::PrepareStop { req })
            .await?
        {
            AgentMessage::StopPrepared { closed_streams, .. } => Ok(closed_streams),
            other => Err(unexpected(&other)),
        }
    }

    /// A folder's entries.
    pub async fn fs_list(&self, path: &str) -> Result<Vec<FsEntry>, AgentError> {
        match self
            .idempotent(|req| ClientMessage::FsList {
                req,
                path: path.to_owned(),
            })
            .await?
        {
            AgentMessage::FsEntries { entries, .. } => Ok(entries),
            other => Err(unexpected(&other)),
        }
    }

    /// One path's description.
    pub async fn fs_stat(&self, path: &str) -> Result<FsEntry, AgentError> {
        match self
            .idempotent(|req| ClientMessage::FsStat {
                req,
                path: path.to_owned(),
            })
            .await?
        {
            AgentMessage::FsStat { entry, .. } => Ok(entry),
            other => Err(unexpected(&other)),
        }
    }

    /// Part of a file, and whether the file ends there.
    pub async fn fs_read(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<(Vec<u8>, bool), AgentError> {
        use base64::Engine;
        match self
            .idempotent(|req| ClientMessage::FsRead {
                req,
                path: path.to_owned(),
                offset,
                length,
            })
            .await?
        {
            AgentMessage::FsData { data, eof, .. } => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map(|bytes| (bytes, eof))
                .map_err(|err| AgentError::Protocol(format!("fs_data is not base64: {err}"))),
            other => Err(unexpected(&other)),
        }
    }

    /// Requests answered by `ok` are all idempotent (setting state, not creating it).
    async fn expect_ok(&self, build: impl Fn(Req) -> ClientMessage) -> Result<(), AgentError> {
        match self.idempotent(build).await? {
            AgentMessage::Ok { .. } => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Shared {
    /// Sends a data frame if connected; otherwise the resume logic delivers it later.
    fn send_frame(&self, frame: &DataFrame) {
        if matches!(*self.state.borrow(), LinkState::Connected { .. }) {
            let _ = self.outbox.send(Message::Binary(frame.encode().into()));
        }
    }
}

fn unexpected(message: &AgentMessage) -> AgentError {
    AgentError::Protocol(format!("unexpected answer {message:?}"))
}

/// One attached stream: its events, and its input.
#[derive(Debug)]
pub struct StreamHandle {
    sub: Arc<Sub>,
    events: mpsc::UnboundedReceiver<StreamEvent>,
    client: AgentClient,
}

impl StreamHandle {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.sub.id
    }

    /// The next event; `None` once the client is closed. Consuming output acknowledges it, which
    /// lets the agent send more.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        let event = self.events.recv().await?;
        if let StreamEvent::Output { bytes, .. } = &event {
            let ack = {
                let mut state = lock(&self.sub.state);
                state.consumed += bytes.len() as u64;
                let due = state.consumed - state.acked >= ACK_EVERY || self.events.is_empty();
                (due && state.consumed > state.acked).then(|| {
                    state.acked = state.consumed;
                    state.consumed
                })
            };
            if let Some(applied) = ack {
                let _ = self.client.shared.outbox.send(text(&ClientMessage::Ack {
                    stream: self.sub.id,
                    applied,
                }));
            }
        }
        Some(event)
    }

    /// Sends input to the PTY. `user_typed` marks keystrokes and pastes (activity), as opposed to
    /// terminal replies. Input is kept until the agent acknowledges it, and resent after a
    /// reconnect; the agent drops anything it already has, so nothing is typed twice.
    pub fn write(&self, bytes: &[u8], user_typed: bool) {
        for chunk in bytes.chunks(MAX_PAYLOAD) {
            let frame = {
                let mut state = lock(&self.sub.state);
                let offset = state.in_sent;
                state.in_sent += chunk.len() as u64;
                state
                    .unacked
                    .push_back((offset, chunk.to_vec(), user_typed));
                DataFrame::input(self.sub.id, offset, chunk.to_vec(), user_typed)
            };
            self.client.shared.send_frame(&frame);
        }
    }

    /// Input the agent has not acknowledged yet, in bytes.
    pub fn unacked_input(&self) -> u64 {
        lock(&self.sub.state)
            .unacked
            .iter()
            .map(|(_, bytes, _)| bytes.len() as u64)
            .sum()
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let mut subs = lock(&self.client.shared.subs);
        if subs
            .get(&self.sub.id)
            .is_some_and(|current| Arc::ptr_eq(current, &self.sub))
        {
            subs.remove(&self.sub.id);
            let req = self.client.shared.next_req.fetch_add(1, Ordering::Relaxed);
            let _ = self.client.shared.outbox.send(text(&ClientMessage::Detach {
                req,
                stream: self.sub.id,
            }));
        }
    }
}

impl Sub {
    /// A fresh `attached`: drop input the agent already has and resend the rest.
    fn on_attached(&self, info: &StreamInfo, shared: &Shared) {
        let resend: Vec<DataFrame> = {
            let mut state = lock(&self.state);
            state
                .unacked
                .retain(|(offset, bytes, _)| offset + bytes.len() as u64 > info.in_acked);
            state.in_sent = state.in_sent.max(info.in_acked);
            state
                .unacked
                .iter()
                .map(|(offset, bytes, typed)| {
                    DataFrame::input(self.id, *offset, bytes.clone(), *typed)
                })
                .collect()
        };
        for frame in &resend {
            shared.send_frame(frame);
        }
    }

    fn on_input_ack(&self, acked: u64) {
        lock(&self.state)
            .unacked
            .retain(|(offset, bytes, _)| offset + bytes.len() as u64 > acked);
    }

    /// Output from the agent: deliver exactly the bytes not seen yet.
    fn on_output(&self, offset: u64, bytes: Vec<u8>) -> Result<(), AgentError> {
        let mut state = lock(&self.state);
        if offset > state.received {
            return Err(AgentError::Protocol(format!(
                "stream {} output jumped from {} to {offset}",
                self.id, state.received
            )));
        }
        // Bytes before `received` are a duplicate from an earlier attachment still in flight.
        let skip = usize::try_from(state.received - offset).unwrap_or(usize::MAX);
        if skip >= bytes.len() {
            return Ok(());
        }
        let fresh = bytes[skip..].to_vec();
        let start = state.received;
        state.received += fresh.len() as u64;
        let _ = self.events.send(StreamEvent::Output {
            offset: start,
            bytes: fresh,
        });
        Ok(())
    }

    fn on_gap(&self, from: u64, base: u64) {
        let mut state = lock(&self.state);
        state.received = state.received.max(base);
        state.consumed = state.consumed.max(base);
        state.acked = state.acked.max(base);
        let _ = self.events.send(StreamEvent::Gap { from, base });
    }
}

/// The driver: connect, serve, reconnect — until shutdown.
async fn drive(shared: Arc<Shared>, mut outbox: mpsc::UnboundedReceiver<Message>) {
    let mut attempt = 0u32;
    loop {
        if shared.shutdown.is_cancelled() {
            break;
        }
        let connected = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            connected = open_session(&shared) => connected,
        };
        match connected {
            Ok((socket, welcome)) => {
                attempt = 0;
                start_connection(&shared, &welcome);
                let outcome = serve(&shared, socket, &mut outbox).await;
                tracing::info!(workspace = %shared.endpoint.workspace, ?outcome, "agent connection ended");
                // Anything queued for the old connection is void; requests sent on it fail.
                while outbox.try_recv().is_ok() {}
                lock(&shared.pending).clear();
                lock(&shared.resuming).clear();
                if shared.shutdown.is_cancelled() {
                    break;
                }
                shared.state.send_replace(LinkState::Reconnecting {
                    attempt: 0,
                    error: AgentError::ConnectionLost,
                });
            }
            Err(error) => {
                attempt += 1;
                tracing::debug!(workspace = %shared.endpoint.workspace, %error, attempt, "agent connection failed");
                shared
                    .state
                    .send_replace(LinkState::Reconnecting { attempt, error });
                tokio::select! {
                    () = shared.shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff(attempt)) => {}
                    () = shared.reconnect.notified() => {}
                }
            }
        }
    }
    shared.state.send_replace(LinkState::Closed);
    lock(&shared.pending).clear();
    lock(&shared.subs).clear();
}

/// Connects, says hello, and waits for `welcome`.
async fn open_session(shared: &Shared) -> Result<(AgentSocket, Welcome), AgentError> {
    let verifier = PinVerifier::new(Some(shared.endpoint.pin.clone()));
    let caller = Caller {
        key: &shared.key,
        workspace: &shared.endpoint.workspace,
    };
    let (mut socket, _) = dial(
        &shared.endpoint.addr,
        &verifier,
        SESSION_PATH,
        &caller.token(Audience::Session),
    )
    .await?;
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: format!("sam-desktop/{}", env!("CARGO_PKG_VERSION")),
    };
    socket
        .send(text(&hello))
        .await
        .map_err(|_| AgentError::ConnectionLost)?;
    let welcome = tokio::time::timeout(super::dial::CONNECT_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(body))) => {
                    return match serde_json::from_str::<AgentMessage>(body.as_str()) {
                        Ok(AgentMessage::Welcome {
                            epoch,
                            streams,
                            protocol,
                            ..
                        }) if protocol == PROTOCOL_VERSION => Ok(Welcome { epoch, streams }),
                        Ok(AgentMessage::Error { message, .. }) => {
                            Err(AgentError::Protocol(message))
                        }
                        _ => Err(AgentError::Protocol("expected welcome".into())),
                    };
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return Err(AgentError::ConnectionLost),
            }
        }
    })
    .await
    .map_err(|_| AgentError::Timeout(super::dial::CONNECT_TIMEOUT))??;
    Ok((socket, welcome))
}

/// After `welcome`: notice an agent restart, then re-attach every open handle where it left off.
fn start_connection(shared: &Shared, welcome: &Welcome) {
    let previous = lock(&shared.welcome).replace(welcome.clone());
    if previous.is_some_and(|p| p.epoch != welcome.epoch) {
        for (_, sub) in lock(&shared.subs).drain() {
            let _ = sub.events.send(StreamEvent::Reset);
        }
    }
    shared.state.send_replace(LinkState::Connected {
        epoch: welcome.epoch.clone(),
    });
    let subs: Vec<Arc<Sub>> = lock(&shared.subs).values().cloned().collect();
    for sub in subs {
        let from = lock(&sub.state).received;
        let req = shared.next_req.fetch_add(1, Ordering::Relaxed);
        lock(&shared.resuming).insert(req, sub.id);
        let _ = shared.outbox.send(text(&ClientMessage::Attach {
            req,
            stream: sub.id,
            from,
        }));
    }
}

/// Pumps one connection until it ends.
async fn serve(
    shared: &Shared,
    mut socket: AgentSocket,
    outbox: &mut mpsc::UnboundedReceiver<Message>,
) -> Result<(), AgentError> {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => {
                // A graceful close delivers what was already queued (typed input, detaches).
                while let Ok(message) = outbox.try_recv() {
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
                let _ = socket.close(None).await;
                return Ok(());
            }
            () = shared.reconnect.notified() => {
                let _ = socket.close(None).await;
                return Err(AgentError::ConnectionLost);
            }
            out = outbox.recv() => {
                let Some(message) = out else { return Err(AgentError::Closed) };
                socket.send(message).await.map_err(|_| AgentError::ConnectionLost)?;
            }
            incoming = tokio::time::timeout(SILENCE_TIMEOUT, socket.next()) => {
                let message = match incoming {
                    Err(_) => return Err(AgentError::Timeout(SILENCE_TIMEOUT)),
                    Ok(None) | Ok(Some(Err(_))) => return Err(AgentError::ConnectionLost),
                    Ok(Some(Ok(message))) => message,
                };
                match message {
                    Message::Text(body) => on_message(shared, body.as_str())?,
                    Message::Binary(bytes) => on_frame(shared, &bytes)?,
                    Message::Close(_) => return Err(AgentError::ConnectionLost),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
        }
    }
}

fn on_frame(shared: &Shared, bytes: &[u8]) -> Result<(), AgentError> {
    let frame = DataFrame::decode(bytes).map_err(|err| AgentError::Protocol(err.to_string()))?;
    if frame.kind != FrameKind::Output {
        return Err(AgentError::Protocol("the agent sent an input frame".into()));
    }
    let sub = lock(&shared.subs).get(&frame.stream).cloned();
    match sub {
        Some(sub) => sub.on_output(frame.offset, frame.payload),
        // A detached stream's last frames may still arrive.
        None => Ok(()),
    }
}

fn on_message(shared: &Shared, body: &str) -> Result<(), AgentError> {
    let message: AgentMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(err) => {
            tracing::warn!(%err, "unreadable message from the agent");
            return Ok(());
        }
    };
    let sub_of = |id: u32| lock(&shared.subs).get(&id).cloned();
    let req = match &message {
        AgentMessage::Attached { req, stream } => {
            if let Some(sub) = sub_of(stream.stream) {
                sub.on_attached(stream, shared);
            }
            Some(*req)
        }
        AgentMessage::Gap { stream, from, base } => {
            if let Some(sub) = sub_of(*stream) {
                sub.on_gap(*from, *base);
            }
            None
        }
        AgentMessage::InputAck { stream, acked } => {
            if let Some(sub) = sub_of(*stream) {
                sub.on_input_ack(*acked);
            }
            None
        }
        AgentMessage::Exit { stream, status } => {
            if let Some(sub) = sub_of(*stream) {
                let _ = sub.events.send(StreamEvent::Exit(*status));
            }
            None
        }
        AgentMessage::Error { req, code, message } => {
            if req.is_none() {
                tracing::debug!(?code, %message, "agent reported an error");
            }
            *req
        }
        AgentMessage::Welcome { .. } => {
            return Err(AgentError::Protocol("a second welcome".into()));
        }
        AgentMessage::Opened { req, .. }
        | AgentMessage::Ok { req }
        | AgentMessage::Streams { req, .. }
        | AgentMessage::Status { req, .. }
        | AgentMessage::StopPrepared { req, .. }
        | AgentMessage::FsEntries { req, .. }
        | AgentMessage::FsStat { req, .. }
        | AgentMessage::FsData { req, .. } => Some(*req),
    };
    if let Some(req) = req {
        let waiter = lock(&shared.pending).remove(&req);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(message);
            }
            None => {
                // A resumed attach the driver sent itself: a stream that vanished is reset.
                let resumed = lock(&shared.resuming).remove(&req);
                if let (Some(id), AgentMessage::Error { code, message, .. }) = (resumed, &message) {
                    tracing::info!(stream = id, ?code, %message, "a stream could not be resumed");
                    if let Some(sub) = lock(&shared.subs).remove(&id) {
                        let _ = sub.events.send(StreamEvent::Reset);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Exponential backoff with ±20 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1u32 << attempt.min(10))
        .min(BACKOFF_MAX);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let jitter = 0.8 + 0.4 * f64::from(byte[0]) / 255.0;
    base.mul_f64(jitter)
}
