//! The agent's state, shared by every connection: streams, activity, secrets, files.
//!
//! Connections come and go; everything here outlives them. Operations return the protocol's
//! replies or a [`Failure`] with an error code, so the session layer only translates.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sam_protocol::message::request::TunnelTarget;
use sam_protocol::message::{ErrorCode, ListeningPort, PtySize, StreamInfo, StreamKind};
use tokio_util::sync::CancellationToken;

use crate::activity::Activity;
use crate::config::Config;
use crate::files::{Files, FsError};
use crate::identity::Identity;
use crate::journal::Journals;
use crate::stream::{Launch, MAX_TUNNELS, ORPHAN_AFTER, Stream};

/// A failed request: its code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// For programs.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

impl Failure {
    /// A failure with `code`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<FsError> for Failure {
    fn from(err: FsError) -> Self {
        Self {
            code: err.code,
            message: err.message,
        }
    }
}

/// A secret held in memory only.
#[derive(Clone)]
struct HeldSecret {
    value: String,
    expires_at: Option<i64>,
}

impl std::fmt::Debug for HeldSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldSecret")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The agent.
#[derive(Debug)]
pub struct Agent {
    /// Its configuration.
    pub config: Config,
    /// Its TLS identity and enrollment state.
    pub identity: Identity,
    /// Changes at every start; offsets are only meaningful within one epoch.
    pub epoch: String,
    /// The activity ledger.
    pub activity: Activity,
    /// The workspace's files.
    pub files: Files,
    /// Coding agents' journals.
    pub journals: Journals,
    /// Cancelled on shutdown.
    pub shutdown: CancellationToken,
    log: Arc<Stream>,
    streams: Mutex<BTreeMap<u32, Arc<Stream>>>,
    next_id: AtomicU32,
    secrets: Mutex<HashMap<String, HeldSecret>>,
}

impl Agent {
    /// The agent for `config`, with its identity loaded.
    pub fn new(config: Config, identity: Identity) -> std::io::Result<Arc<Self>> {
        let mut files = Files::open(&config.workspace_root)?;
        if let Some(user) = &config.run_as {
            files = files.owned_by(user.uid, user.gid);
        }
        let log = Stream::log(config.ring_bytes);
        let mut epoch = [0u8; 8];
        getrandom::fill(&mut epoch).map_err(std::io::Error::other)?;
        let agent = Arc::new(Self {
            activity: Activity::new(config.idle),
            epoch: epoch.iter().map(|b| format!("{b:02x}")).collect(),
            files,
            journals: Journals::new(&config.workspace_root, config.run_as.as_ref()),
            shutdown: CancellationToken::new(),
            streams: Mutex::new(BTreeMap::from([(log.id, Arc::clone(&log))])),
            log,
            next_id: AtomicU32::new(1),
            secrets: Mutex::new(HashMap::new()),
            identity,
            config,
        });
        agent.event(&format!(
            "agent {} started (epoch {})",
            env!("CARGO_PKG_VERSION"),
            agent.epoch
        ));
        Ok(agent)
    }

    fn streams_lock(&self) -> MutexGuard<'_, BTreeMap<u32, Arc<Stream>>> {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a line to the agent's event log (stream 0) and to its process log.
    pub fn event(&self, message: &str) {
        tracing::info!("{message}");
        log_line(&self.log, message);
    }

    /// Every stream.
    pub fn list(&self) -> Vec<StreamInfo> {
        self.streams_lock()
            .values()
            .map(|stream| stream.info())
            .collect()
    }

    /// One stream.
    pub fn stream(&self, id: u32) -> Result<Arc<Stream>, Failure> {
        self.streams_lock()
            .get(&id)
            .cloned()
            .ok_or_else(|| Failure::new(ErrorCode::UnknownStream, format!("no stream {id}")))
    }

    fn reserve_id(&self) -> Result<u32, Failure> {
        let open = self
            .streams_lock()
            .values()
            .filter(|s| !matches!(s.kind, StreamKind::Log | StreamKind::Tunnel))
            .count();
        if open >= self.config.max_streams as usize {
            return Err(Failure::new(
                ErrorCode::TooManyStreams,
                format!(
                    "{open} streams are open, the limit is {}; close one first",
                    self.config.max_streams
                ),
            ));
        }
        Ok(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Opens a tunnel to the SSH server or to `127.0.0.1:<port>` in the workspace. A tunnel no
    /// connection attaches for [`ORPHAN_AFTER`] is closed: its client is gone.
    pub async fn open_tunnel(
        self: &Arc<Self>,
        target: TunnelTarget,
        port: Option<u16>,
    ) -> Result<StreamInfo, Failure> {
        let tunnels = self
            .streams_lock()
            .values()
            .filter(|s| s.kind == StreamKind::Tunnel)
            .count();
        if tunnels >= MAX_TUNNELS as usize {
            return Err(Failure::new(
                ErrorCode::TooManyStreams,
                format!("{tunnels} tunnels are open, the limit is {MAX_TUNNELS}; close one first"),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let stream = match (target, port) {
            (TunnelTarget::Ssh, None) => {
                let (near, far) = tokio::io::duplex(crate::ssh::PIPE_BYTES);
                crate::ssh::serve(Arc::clone(self), far);
                Stream::spawn_tunnel(id, vec!["ssh".to_owned()], near)
            }
            (TunnelTarget::Tcp, Some(port)) if port != 0 => {
                let (addr, socket) = connect_loopback(port).await?;
                Stream::spawn_tunnel(id, vec!["tcp".to_owned(), addr], socket)
            }
            (TunnelTarget::Ssh, Some(_)) => {
                return Err(Failure::new(
                    ErrorCode::InvalidArgument,
                    "an ssh tunnel takes no port",
                ));
            }
            (TunnelTarget::Tcp, _) => {
                return Err(Failure::new(
                    ErrorCode::InvalidArgument,
                    "a tcp tunnel needs a port from 1 to 65535",
                ));
            }
        };
        self.streams_lock().insert(id, Arc::clone(&stream));
        tracing::debug!(stream = id, command = ?stream.command, "tunnel opened");
        let agent = Arc::downgrade(self);
        let watched = Arc::clone(&stream);
        tokio::spawn(async move {
            watched.orphaned(ORPHAN_AFTER).await;
            drop(watched);
            if let Some(agent) = agent.upgrade() {
                // Already closed by its client, if it is unknown by now.
                let _ = agent.close(id).await;
            }
        });
        Ok(stream.info())
    }

    /// The TCP ports that programs of the workspace's user listen on, but for the agent's own.
    pub fn listening_ports(&self) -> Vec<ListeningPort> {
        let uid = self
            .config
            .run_as
            .as_ref()
            .map_or_else(|| nix::unistd::getuid().as_raw(), |user| user.uid);
        let own = self.config.listen.port();
        let mut ports: Vec<ListeningPort> = crate::ports::listening(Path::new("/proc"), Some(uid))
            .into_iter()
            .filter(|listener| listener.port != own)
            .map(|listener| ListeningPort {
                port: listener.port,
                address: listener.addr.to_string(),
            })
            .collect();
        ports.dedup();
        ports
    }

    /// Opens a PTY running `command` (the login shell by default).
    pub fn open_pty(
        &self,
        command: Option<Vec<String>>,
        cwd: Option<&str>,
        env: &BTreeMap<String, String>,
        size: PtySize,
    ) -> Result<StreamInfo, Failure> {
        if size.cols == 0 || size.rows == 0 {
            return Err(Failure::new(
                ErrorCode::InvalidArgument,
                "a terminal needs at least one row and column",
            ));
        }
        let command = match command {
            Some(command) if command.is_empty() => {
                return Err(Failure::new(ErrorCode::InvalidArgument, "empty command"));
            }
            Some(command) => command,
            None => vec![self.login_shell(), "-l".to_owned()],
        };
        self.start("terminal", command, cwd, env, |id, launch| {
            Stream::spawn_pty(id, launch, size, self.config.ring_bytes)
        })
    }

    /// Starts a job.
    pub fn run_job(
        &self,
        command: Vec<String>,
        cwd: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<StreamInfo, Failure> {
        if command.is_empty() {
            return Err(Failure::new(ErrorCode::InvalidArgument, "empty command"));
        }
        self.start("job", command, cwd, env, |id, launch| {
            Stream::spawn_job(id, launch, self.config.ring_bytes)
        })
    }

    /// Starts a coding agent that speaks ACP on stdin and stdout. `secret_env` names held
    /// secrets to put in its environment (variable → secret); its stderr goes to the log.
    pub fn open_acp(
        &self,
        command: Vec<String>,
        cwd: Option<&str>,
        env: &BTreeMap<String, String>,
        secret_env: &BTreeMap<String, String>,
    ) -> Result<StreamInfo, Failure> {
        if command.is_empty() {
            return Err(Failure::new(ErrorCode::InvalidArgument, "empty command"));
        }
        let now = crate::activity::now_ms() / 1000;
        let mut env = env.clone();
        let mut secrets = Vec::new();
        for (variable, secret) in secret_env {
            let value = self.secret(secret, now).ok_or_else(|| {
                Failure::new(
                    ErrorCode::InvalidArgument,
                    format!("secret {secret:?} for {variable} is not held; push it first"),
                )
            })?;
            secrets.push(value.clone());
            env.insert(variable.clone(), value);
        }
        let log = Arc::clone(&self.log);
        self.start("coding agent", command, cwd, &env, |id, launch| {
            let stderr = move |line: &str| log_line(&log, &format!("coding agent {id}: {line}"));
            let journal = self.journals.create(&self.epoch, id, secrets);
            Stream::spawn_acp(id, launch, self.config.ring_bytes, journal, stderr)
        })
    }

    /// Resolves the working folder, reserves an id, spawns, logs and registers a stream.
    fn start(
        &self,
        what: &str,
        command: Vec<String>,
        cwd: Option<&str>,
        env: &BTreeMap<String, String>,
        spawn: impl FnOnce(u32, Launch<'_>) -> std::io::Result<Arc<Stream>>,
    ) -> Result<StreamInfo, Failure> {
        let cwd = self.files.working_dir(cwd)?;
        let id = self.reserve_id()?;
        // git in every terminal and job asks the credential broker; the caller's own settings
        // come after and win.
        let mut env_with_git = crate::credentials::git_environment(&self.config);
        env_with_git.extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let launch = Launch {
            command,
            cwd: &cwd,
            env: &env_with_git,
            run_as: self.config.run_as.as_ref(),
        };
        let stream = spawn(id, launch).map_err(|err| {
            Failure::new(
                ErrorCode::SpawnFailed,
                format!("cannot start the {what}: {err}"),
            )
        })?;
        self.event(&format!(
            "{what} {id} started: {}",
            stream.command.join(" ")
        ));
        self.streams_lock().insert(id, Arc::clone(&stream));
        Ok(stream.info())
    }

    /// The workspace user's login shell.
    pub(crate) fn login_shell(&self) -> String {
        self.config
            .run_as
            .as_ref()
            .map(|user| user.shell.display().to_string())
            .or_else(|| std::env::var("SHELL").ok())
            .filter(|shell| !shell.is_empty())
            .unwrap_or_else(|| "/bin/sh".to_owned())
    }

    /// Ends a stream's process and forgets the stream.
    pub async fn close(&self, id: u32) -> Result<(), Failure> {
        let stream = self.stream(id)?;
        if stream.kind == StreamKind::Log {
            return Err(Failure::new(
                ErrorCode::InvalidArgument,
                "the agent's log cannot be closed",
            ));
        }
        stream.terminate().await;
        self.streams_lock().remove(&id);
        if stream.kind == StreamKind::Acp {
            // Closed on purpose: nobody will ask for what it said again.
            let _ = self.journals.remove(&self.epoch, id);
        }
        // A forwarded port opens a tunnel per connection: too many to log.
        if stream.kind != StreamKind::Tunnel {
            self.event(&format!("stream {id} closed"));
        }
        Ok(())
    }

    /// Ends every PTY and job and flushes the disks, ready for the machine to stop.
    pub async fn prepare_stop(&self) -> u32 {
        let running: Vec<Arc<Stream>> = self
            .streams_lock()
            .values()
            .filter(|s| s.is_running())
            .cloned()
            .collect();
        futures_util::future::join_all(running.iter().map(|stream| stream.terminate())).await;
        // Dirty pages reach the disk before the volume is detached.
        tokio::task::spawn_blocking(nix::unistd::sync).await.ok();
        self.event(&format!(
            "prepared to stop: ended {} processes, synced disks",
            running.len()
        ));
        u32::try_from(running.len()).unwrap_or(u32::MAX)
    }

    /// Why the workspace counts as active because of its streams.
    pub fn stream_activity(&self) -> Vec<String> {
        self.streams_lock()
            .values()
            .filter_map(|stream| match stream.kind {
                StreamKind::Pty if stream.has_foreground_job() => {
                    Some(format!("terminal {}: a program is running", stream.id))
                }
                StreamKind::Job if stream.is_running() => {
                    Some(format!("job {} is running", stream.id))
                }
                StreamKind::Acp if stream.has_running_command() => {
                    Some(format!("coding agent {} is running a command", stream.id))
                }
                _ => None,
            })
            .collect()
    }

    /// Holds a secret in memory.
    pub fn push_secret(&self, name: String, value: String, expires_at: Option<i64>) {
        let mut secrets = self
            .secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.event(&format!("secret {name:?} received"));
        secrets.insert(name, HeldSecret { value, expires_at });
    }

    /// Forgets a secret; whether it was held.
    pub fn revoke_secret(&self, name: &str) -> bool {
        let mut secrets = self
            .secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let held = secrets.remove(name).is_some();
        self.event(&format!("secret {name:?} revoked"));
        held
    }

    /// Whether a secret of that name is held, expired or not.
    pub fn has_secret(&self, name: &str) -> bool {
        self.secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains_key(name)
    }

    /// A held, unexpired secret (for the credential broker).
    pub fn secret(&self, name: &str, now_secs: i64) -> Option<String> {
        let secrets = self
            .secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        secrets
            .get(name)
            .filter(|held| held.expires_at.is_none_or(|at| at > now_secs))
            .map(|held| held.value.clone())
    }
}

/// Appends a time-stamped line to the agent's log stream.
fn log_line(log: &Stream, message: &str) {
    let stamp = httpdate::fmt_http_date(std::time::SystemTime::now());
    log.append(format!("{stamp} {message}\n").as_bytes());
}

/// Connects to `port` on the workspace's loopback, IPv4 first; returns the address reached.
async fn connect_loopback(port: u16) -> Result<(String, tokio::net::TcpStream), Failure> {
    let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let first = match tokio::net::TcpStream::connect(v4).await {
        Ok(socket) => return Ok((v4.to_string(), socket)),
        Err(err) => err,
    };
    match tokio::net::TcpStream::connect(v6).await {
        Ok(socket) => Ok((v6.to_string(), socket)),
        Err(_) => Err(Failure::new(
            ErrorCode::Io,
            format!("nothing answers on port {port} in the workspace ({v4}: {first})"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn agent(dir: &Path) -> Arc<Agent> {
        let flags = crate::config::tests::flags(dir);
        let config = Config::load(flags).expect("config");
        let identity = Identity::load_or_create(&config.state_dir).expect("identity");
        Agent::new(config, identity).expect("agent")
    }

    #[test]
    fn secrets_expire_and_are_revoked() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path());
        agent.push_secret("a".into(), "value-a".into(), Some(100));
        agent.push_secret("b".into(), "value-b".into(), None);
        assert_eq!(agent.secret("a", 99).as_deref(), Some("value-a"));
        assert_eq!(agent.secret("a", 100), None, "expired");
        assert!(agent.revoke_secret("b"));
        assert_eq!(agent.secret("b", 0), None);
        assert!(
            !format!("{agent:?}").contains("value-"),
            "Debug never shows secret values"
        );
    }
}
