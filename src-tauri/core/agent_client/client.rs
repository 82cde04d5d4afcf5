//! `AgentClient`: one multiplexed, self-healing session with a workspace's agent.
//!
//! A driver task owns the socket. When the connection drops it reconnects with jittered
//! backoff, says `hello`, and re-attaches every open [`StreamHandle`] from the exact offset it
//! had received — so output continues with no byte lost or doubled — then resends any input the
//! agent had not acknowledged. Requests in flight when a connection drops fail with
//! [`AgentError::ConnectionLost`]; they are not replayed, because they are not idempotent.
//! If the agent restarted (a new epoch), its streams are gone and every handle gets
//! [`StreamEvent::Reset`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use sam_protocol::frame::DataFrame;
use sam_protocol::message::request::{
    Attach, Busy, Close, EndInput, FsList, FsRead, FsStat, FsWrite, OpenAcp, OpenPty, OpenTunnel,
    PushSecret, Resize, RevokeSecret, RunJob, SetIdlePolicy, TunnelTarget,
};
use sam_protocol::message::{
    AgentStatus, ClientMessage, ErrorCode, ExitStatus, FsEntry, IdlePolicy, ListeningPort, PtySize,
    Reply, Req, Request, StreamInfo,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

mod driver;
mod job;
mod journal;
mod stream;

use super::error::AgentError;
pub use job::JobRun;
pub use stream::{StreamHandle, StreamInput};
use stream::{Sub, SubState};

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
    /// Who waits for the reply to each request in flight, by request number.
    pending: Mutex<HashMap<Req, Waiter>>,
    subs: Mutex<HashMap<u32, Arc<Sub>>>,
    outbox: mpsc::UnboundedSender<Message>,
    state: watch::Sender<LinkState>,
    welcome: Mutex<Option<Welcome>>,
    reconnect: tokio::sync::Notify,
    shutdown: CancellationToken,
}

/// Who waits for the reply to one request. The driver hands a reply to its waiter by the
/// envelope's request number alone; what the reply means is the waiter's business.
#[derive(Debug)]
enum Waiter {
    /// A caller of a request method, which reads the reply (or why there is none).
    Caller(oneshot::Sender<Result<Reply, AgentError>>),
    /// The driver's own `attach` that resumes this stream after a reconnect.
    Resume(u32),
}

#[derive(Debug, Clone)]
struct Welcome {
    epoch: String,
    streams: Vec<StreamInfo>,
    /// Tunnel input the agent takes ahead of its acknowledgements (0: no tunnels).
    tunnel_window: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn text(message: ClientMessage) -> Message {
    Message::Text(message.encode().into())
}

impl AgentClient {
    /// Starts a client for `endpoint`, signing its tokens with `key`. It connects in the
    /// background; requests wait for the connection.
    pub fn connect(endpoint: AgentEndpoint, key: SigningKey) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(endpoint, key, outbox));
        tokio::spawn(driver::drive(Arc::clone(&shared), outbox_rx));
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

    /// How much tunnel input the agent takes ahead of its acknowledgements, once connected to an
    /// agent that has tunnels.
    pub fn tunnel_window(&self) -> Option<u64> {
        lock(&self.shared.welcome)
            .as_ref()
            .map(|w| w.tunnel_window)
            .filter(|window| *window > 0)
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
    async fn idempotent(&self, body: Request) -> Result<Reply, AgentError> {
        let mut tries = 0;
        loop {
            match self.request(body.clone()).await {
                Err(AgentError::ConnectionLost) if tries < IDEMPOTENT_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// Sends `body` under a fresh request number and waits for the reply with that number.
    async fn request(&self, body: Request) -> Result<Reply, AgentError> {
        self.wait_connected(REQUEST_TIMEOUT).await?;
        let req = self.shared.next_req();
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(req, Waiter::Caller(tx));
        if self
            .shared
            .outbox
            .send(text(ClientMessage::request(req, body)))
            .is_err()
        {
            lock(&self.shared.pending).remove(&req);
            return Err(AgentError::Closed);
        }
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Ok(Ok(Ok(Reply::Error { code, message }))) => Err(AgentError::Remote { code, message }),
            Ok(Ok(reply)) => reply,
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
        let open = OpenPty {
            command,
            cwd,
            env,
            cols: size.cols,
            rows: size.rows,
        };
        match self.request(Request::OpenPty(open)).await? {
            Reply::Opened { stream } => Ok(stream),
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
        let job = RunJob { command, cwd, env };
        match self.request(Request::RunJob(job)).await? {
            Reply::Opened { stream } => Ok(stream),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a coding agent speaking ACP on its stdin and stdout (see `OpenAcp`); the stream's
    /// output is the agent's messages, its input the client's.
    pub async fn open_acp(&self, open: OpenAcp) -> Result<StreamInfo, AgentError> {
        match self.request(Request::OpenAcp(open)).await? {
            Reply::Opened { stream } => Ok(stream),
            other => Err(unexpected(&other)),
        }
    }

    /// Opens a tunnel to the agent's SSH server (`port` none) or to a TCP port on the
    /// workspace's loopback; attach it from 0 to use it (see [`crate::tunnel`]).
    pub async fn open_tunnel(
        &self,
        target: TunnelTarget,
        port: Option<u16>,
    ) -> Result<StreamInfo, AgentError> {
        match self
            .request(Request::OpenTunnel(OpenTunnel { target, port }))
            .await?
        {
            Reply::Opened { stream } => Ok(stream),
            other => Err(unexpected(&other)),
        }
    }

    /// The TCP ports programs of the workspace's user listen on.
    pub async fn list_ports(&self) -> Result<Vec<ListeningPort>, AgentError> {
        match self.idempotent(Request::ListPorts).await? {
            Reply::Ports { ports } => Ok(ports),
            other => Err(unexpected(&other)),
        }
    }

    /// Half-closes a tunnel once the agent has written the input sent before.
    pub async fn end_input(&self, stream: u32) -> Result<(), AgentError> {
        self.expect_ok(Request::EndInput(EndInput { stream })).await
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
            input_acked: tokio::sync::Notify::new(),
        });
        if let Some(previous) = lock(&self.shared.subs).insert(stream, Arc::clone(&sub)) {
            let _ = previous.events.send(StreamEvent::Reset);
        }
        let reply = self.request(Request::Attach(Attach { stream, from })).await;
        match reply {
            Ok(Reply::Attached { stream: info }) => {
                // Input continues where the agent's count is (another client, or an earlier run
                // of the app, may have typed into this stream).
                sub.on_attached(&info, &self.shared);
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
        self.expect_ok(Request::Resize(Resize {
            stream,
            cols: size.cols,
            rows: size.rows,
        }))
        .await
    }

    /// Ends a stream's process and forgets the stream. A stream that is already gone counts as
    /// closed (a retry after a dropped connection may find the first attempt succeeded).
    pub async fn close_stream(&self, stream: u32) -> Result<(), AgentError> {
        match self.expect_ok(Request::Close(Close { stream })).await {
            Err(AgentError::Remote {
                code: ErrorCode::UnknownStream,
                ..
            }) => Ok(()),
            other => other,
        }
    }

    /// Every stream.
    pub async fn list(&self) -> Result<Vec<StreamInfo>, AgentError> {
        match self.idempotent(Request::List).await? {
            Reply::Streams { streams } => Ok(streams),
            other => Err(unexpected(&other)),
        }
    }

    /// Explicit activity.
    pub async fn keep_alive(&self) -> Result<(), AgentError> {
        self.expect_ok(Request::KeepAlive).await
    }

    /// Marks a named activity source busy or idle.
    pub async fn set_busy(&self, source: &str, busy: bool) -> Result<(), AgentError> {
        self.expect_ok(Request::Busy(Busy {
            source: source.to_owned(),
            busy,
        }))
        .await
    }

    /// Sets the idle policy the agent enforces.
    pub async fn set_idle_policy(&self, policy: IdlePolicy) -> Result<(), AgentError> {
        self.expect_ok(Request::SetIdlePolicy(SetIdlePolicy { policy }))
            .await
    }

    /// Activity and idle state.
    pub async fn status(&self) -> Result<AgentStatus, AgentError> {
        match self.idempotent(Request::Status).await? {
            Reply::Status { status } => Ok(status),
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
        self.expect_ok(Request::PushSecret(PushSecret {
            name: name.to_owned(),
            value: value.to_owned(),
            expires_at,
        }))
        .await
    }

    /// Makes the agent forget a secret.
    pub async fn revoke_secret(&self, name: &str) -> Result<(), AgentError> {
        self.expect_ok(Request::RevokeSecret(RevokeSecret {
            name: name.to_owned(),
        }))
        .await
    }

    /// Ends every process and syncs disks; returns how many processes were ended.
    pub async fn prepare_stop(&self) -> Result<u32, AgentError> {
        match self.idempotent(Request::PrepareStop).await? {
            Reply::StopPrepared { closed_streams } => Ok(closed_streams),
            other => Err(unexpected(&other)),
        }
    }

    /// A folder's entries.
    pub async fn fs_list(&self, path: &str) -> Result<Vec<FsEntry>, AgentError> {
        let list = FsList {
            path: path.to_owned(),
        };
        match self.idempotent(Request::FsList(list)).await? {
            Reply::FsEntries { entries } => Ok(entries),
            other => Err(unexpected(&other)),
        }
    }

    /// One path's description.
    pub async fn fs_stat(&self, path: &str) -> Result<FsEntry, AgentError> {
        let stat = FsStat {
            path: path.to_owned(),
        };
        match self.idempotent(Request::FsStat(stat)).await? {
            Reply::FsStat { entry } => Ok(entry),
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
        let read = FsRead {
            path: path.to_owned(),
            offset,
            length,
        };
        match self.idempotent(Request::FsRead(read)).await? {
            Reply::FsData { data, eof, .. } => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map(|bytes| (bytes, eof))
                .map_err(|err| AgentError::Protocol(format!("fs_data is not base64: {err}"))),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes a whole file, replacing it in one step once every byte has arrived (the agent
    /// stages the chunks beside it); answers its size. A connection lost on the way drops
    /// what was staged, so the write starts over, and the file is never half written.
    pub async fn fs_write(&self, path: &str, bytes: &[u8]) -> Result<u64, AgentError> {
        let mut tries = 0;
        loop {
            match self.fs_write_once(path, bytes).await {
                Err(AgentError::ConnectionLost) if tries < IDEMPOTENT_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    async fn fs_write_once(&self, path: &str, bytes: &[u8]) -> Result<u64, AgentError> {
        use base64::Engine;
        let chunk = usize::try_from(sam_protocol::MAX_WRITE).unwrap_or(usize::MAX);
        let mut offset = 0;
        loop {
            let end = bytes.len().min(offset + chunk);
            let write = FsWrite {
                path: path.to_owned(),
                offset: offset as u64,
                data: base64::engine::general_purpose::STANDARD.encode(&bytes[offset..end]),
                last: end == bytes.len(),
            };
            match self.request(Request::FsWrite(write)).await? {
                Reply::FsWritten { size, done: true } if end == bytes.len() => return Ok(size),
                Reply::FsWritten { done: false, .. } if end < bytes.len() => offset = end,
                other => return Err(unexpected(&other)),
            }
        }
    }

    /// Requests answered by `ok` are all idempotent (setting state, not creating it).
    async fn expect_ok(&self, body: Request) -> Result<(), AgentError> {
        match self.idempotent(body).await? {
            Reply::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

impl Shared {
    fn new(
        endpoint: AgentEndpoint,
        key: SigningKey,
        outbox: mpsc::UnboundedSender<Message>,
    ) -> Self {
        Self {
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
        }
    }

    /// Sends a data frame if connected; otherwise the resume logic delivers it later.
    fn send_frame(&self, frame: &DataFrame) {
        if matches!(*self.state.borrow(), LinkState::Connected { .. }) {
            let _ = self.outbox.send(Message::Binary(frame.encode().into()));
        }
    }

    /// A request number not used before on this client.
    fn next_req(&self) -> Req {
        self.next_req.fetch_add(1, Ordering::Relaxed)
    }
}

fn unexpected(reply: &Reply) -> AgentError {
    AgentError::Protocol(format!("unexpected answer {reply:?}"))
}
