//! Streams: the agent's log, PTYs, jobs and coding agents (ACP), each an output ring with a
//! process behind it.
//!
//! A stream's reader task drains the process into the ring as fast as the process writes — it
//! never waits for a client or the network — and announces the new head on a `watch` channel.
//! Clients read from the ring by offset (see `session::forward`), so attaching is atomic by
//! construction: there is no hand-over moment in which bytes could be lost or doubled.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sam_protocol::message::{ExitStatus, PtySize, StreamInfo, StreamKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::config::RunAs;
use crate::journal::Writer;
use crate::ring::{Read, Ring};

mod tunnel;
pub use tunnel::{Attached, MAX_TUNNELS, ORPHAN_AFTER, TUNNEL_WINDOW};

/// How long a closed process gets between the polite signal and SIGKILL.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

const READ_CHUNK: usize = 64 * 1024;

/// The longest line of an ACP agent's stderr kept in the agent's log, in characters.
const MAX_STDERR_LINE: usize = 1000;

/// How long output may keep arriving after the process exited before the exit is reported.
const EXIT_DRAIN: Duration = Duration::from_secs(1);

/// What goes to a process's writer task (a PTY's, or an ACP agent's stdin).
enum PtyCommand {
    Write(Vec<u8>),
    Resize(PtySize),
}

/// One stream.
#[derive(Debug)]
pub struct Stream {
    /// Its id.
    pub id: u32,
    /// Its kind.
    pub kind: StreamKind,
    /// The program and arguments.
    pub command: Vec<String>,
    state: Mutex<State>,
    /// The output head, updated after every append (and once more at exit).
    head: watch::Sender<u64>,
    input: Option<mpsc::Sender<PtyCommand>>,
    /// The process group to signal, once started.
    pgid: Option<i32>,
    /// The folder the process started in.
    cwd: Option<String>,
    /// A coding agent's journal on disk (see [`crate::journal`]).
    journal: Mutex<Option<Writer>>,
    /// A tunnel's pipe (see [`tunnel`]).
    tunnel: Option<tunnel::Tunnel>,
}

#[derive(Debug)]
struct State {
    ring: Ring,
    in_acked: u64,
    size: Option<PtySize>,
    exit: Option<ExitStatus>,
}

impl std::fmt::Debug for PtyCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Write(bytes) => write!(f, "Write({} bytes)", bytes.len()),
            Self::Resize(size) => write!(f, "Resize({size:?})"),
        }
    }
}

/// Why input was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum InputError {
    /// The stream takes no input (log, job), or no resize (anything but a PTY).
    NotATerminal,
    /// The frame starts past `in_acked`: bytes in between were never received.
    Hole {
        /// Input accepted so far.
        acked: u64,
    },
    /// The process has ended.
    Ended,
    /// Tunnel input ran more than the window ahead of what was written.
    Overrun {
        /// The window, in bytes.
        window: u64,
    },
    /// Half-closing is for tunnels only.
    NotATunnel,
}

/// How to start a process.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working folder (already confined to the workspace).
    pub cwd: &'a Path,
    /// Extra environment.
    pub env: &'a BTreeMap<String, String>,
    /// Who to run as.
    pub run_as: Option<&'a RunAs>,
}

impl Stream {
    /// The agent's log stream.
    pub fn log(ring_bytes: usize) -> Arc<Self> {
        Arc::new(Self::new(
            sam_protocol::LOG_STREAM,
            StreamKind::Log,
            None,
            ring_bytes,
            None,
            None,
            None,
        ))
    }

    /// A stream of `kind`; `launch` is the process behind it (none for the log).
    fn new(
        id: u32,
        kind: StreamKind,
        launch: Option<&Launch<'_>>,
        ring_bytes: usize,
        size: Option<PtySize>,
        input: Option<mpsc::Sender<PtyCommand>>,
        pgid: Option<i32>,
    ) -> Self {
        Self {
            id,
            kind,
            command: launch.map(|l| l.command.clone()).unwrap_or_default(),
            state: Mutex::new(State {
                ring: Ring::new(ring_bytes),
                in_acked: 0,
                size,
                exit: None,
            }),
            head: watch::channel(0).0,
            input,
            pgid,
            cwd: launch.map(|l| l.cwd.display().to_string()),
            journal: Mutex::new(None),
            tunnel: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `launch` on a new PTY of `size`.
    pub fn spawn_pty(
        id: u32,
        launch: Launch<'_>,
        size: PtySize,
        ring_bytes: usize,
    ) -> std::io::Result<Arc<Self>> {
        let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
        pty.resize(pty_process::Size::new(size.rows, size.cols))
            .map_err(std::io::Error::other)?;
        let child = pty_command(&launch)?
            .spawn(pts)
            .map_err(std::io::Error::other)?;
        let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
        let (reader, mut writer) = pty.into_split();
        let (input_tx, mut input_rx) = mpsc::channel::<PtyCommand>(64);
        let stream = Arc::new(Self::new(
            id,
            StreamKind::Pty,
            Some(&launch),
            ring_bytes,
            Some(size),
            Some(input_tx),
            pid,
        ));

        tokio::spawn(async move {
            while let Some(command) = input_rx.recv().await {
                let result = match command {
                    PtyCommand::Write(bytes) => writer.write_all(&bytes).await,
                    PtyCommand::Resize(size) => writer
                        .resize(pty_process::Size::new(size.rows, size.cols))
                        .map_err(std::io::Error::other),
                };
                if let Err(err) = result {
                    tracing::debug!(%err, "PTY write ended");
                    break;
                }
            }
        });
        tokio::spawn(Arc::clone(&stream).pump(vec![Box::new(reader)], child));
        Ok(stream)
    }

    /// Starts `launch` as a job: no terminal, stdout and stderr both feed the output.
    pub fn spawn_job(id: u32, launch: Launch<'_>, ring_bytes: usize) -> std::io::Result<Arc<Self>> {
        let mut child = piped_command(&launch)?.spawn()?;
        let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
        let mut readers: Vec<Box<dyn AsyncRead + Send + Unpin>> = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(Box::new(stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(Box::new(stderr));
        }
        let stream = Arc::new(Self::new(
            id,
            StreamKind::Job,
            Some(&launch),
            ring_bytes,
            None,
            None,
            pid,
        ));
        tokio::spawn(Arc::clone(&stream).pump(readers, child));
        Ok(stream)
    }

    /// Starts `launch` as a coding agent speaking ACP: stdout is the output (kept in `journal`
    /// too, when given), input goes to stdin, and each line of stderr goes to `stderr_line`
    /// (the agent's log).
    pub fn spawn_acp(
        id: u32,
        launch: Launch<'_>,
        ring_bytes: usize,
        journal: Option<Writer>,
        stderr_line: impl Fn(&str) + Send + 'static,
    ) -> std::io::Result<Arc<Self>> {
        let mut command = piped_command(&launch)?;
        command.stdin(Stdio::piped());
        let mut child = command.spawn()?;
        let pid = child.id().and_then(|pid| i32::try_from(pid).ok());
        let (input_tx, mut input_rx) = mpsc::channel::<PtyCommand>(64);
        let stream = Arc::new(Self::new(
            id,
            StreamKind::Acp,
            Some(&launch),
            ring_bytes,
            None,
            Some(input_tx),
            pid,
        ));
        *stream.journal_lock() = journal;
        if let Some(mut stdin) = child.stdin.take() {
            tokio::spawn(async move {
                while let Some(command) = input_rx.recv().await {
                    let PtyCommand::Write(bytes) = command else {
                        continue;
                    };
                    if let Err(err) = stdin.write_all(&bytes).await {
                        tracing::debug!(%err, "ACP agent's stdin closed");
                        break;
                    }
                }
            });
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(stderr).split(b'\n');
                while let Ok(Some(line)) = lines.next_segment().await {
                    let line = String::from_utf8_lossy(&line);
                    let line: String = line.trim_end().chars().take(MAX_STDERR_LINE).collect();
                    stderr_line(&line);
                }
            });
        }
        let mut readers: Vec<Box<dyn AsyncRead + Send + Unpin>> = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(Box::new(stdout));
        }
        tokio::spawn(Arc::clone(&stream).pump(readers, child));
        Ok(stream)
    }

    /// Drains every reader into the ring, then records the exit status.
    async fn pump(
        self: Arc<Self>,
        readers: Vec<Box<dyn AsyncRead + Send + Unpin>>,
        mut child: tokio::process::Child,
    ) {
        let drains = readers.into_iter().map(|mut reader| {
            let stream = Arc::clone(&self);
            async move {
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    match reader.read(&mut buf).await {
                        // EIO is how a PTY says its last writer closed.
                        Ok(0) | Err(_) => break,
                        Ok(n) => stream.append(&buf[..n]),
                    }
                }
            }
        });
        let mut drained = tokio::spawn(futures_util::future::join_all(drains));
        let waited = child.wait().await;
        // Output written just before the exit is still in flight; wait for it, but not forever:
        // a background process that inherited the terminal may keep it open indefinitely.
        let _ = tokio::time::timeout(EXIT_DRAIN, &mut drained).await;
        let status = match waited {
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                ExitStatus {
                    code: status.code(),
                    signal: status.signal(),
                }
            }
            Err(err) => {
                tracing::warn!(stream = self.id, %err, "waiting for the process failed");
                ExitStatus {
                    code: None,
                    signal: None,
                }
            }
        };
        if let Some(journal) = self.journal_lock().as_mut() {
            journal.finish();
        }
        let head = {
            let mut state = self.lock();
            state.exit = Some(status);
            state.ring.head()
        };
        self.head.send_replace(head);
    }

    fn journal_lock(&self) -> MutexGuard<'_, Option<Writer>> {
        self.journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends output (to the journal first, if there is one) and announces the new head.
    pub fn append(&self, bytes: &[u8]) {
        if let Some(journal) = self.journal_lock().as_mut() {
            journal.append(bytes);
        }
        let head = {
            let mut state = self.lock();
            state.ring.push(bytes);
            state.ring.head()
        };
        self.head.send_replace(head);
    }

    /// Up to `max` bytes of output from `from`.
    pub fn read(&self, from: u64, max: usize) -> Read {
        self.lock().ring.read(from, max)
    }

    /// A receiver that changes whenever output is appended or the process exits.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// How the process ended, if it has.
    pub fn exit(&self) -> Option<ExitStatus> {
        self.lock().exit
    }

    /// The stream as the protocol describes it.
    pub fn info(&self) -> StreamInfo {
        let state = self.lock();
        StreamInfo {
            stream: self.id,
            kind: self.kind,
            command: self.command.clone(),
            out_base: state.ring.base(),
            out_head: state.ring.head(),
            in_acked: match self.written() {
                Some(written) => *written.borrow(),
                None => state.in_acked,
            },
            size: state.size,
            exit: state.exit,
            cwd: self.cwd.clone(),
        }
    }

    /// Accepts input that starts at `offset`; bytes already accepted are skipped, so a client
    /// that resends after a reconnect never types anything twice. Returns the new `in_acked`.
    pub async fn input(&self, offset: u64, bytes: &[u8]) -> Result<u64, InputError> {
        if let Some(tunnel) = &self.tunnel {
            return self.tunnel_input(tunnel, offset, bytes);
        }
        let sender = self.input.as_ref().ok_or(InputError::NotATerminal)?;
        let (fresh, acked) = {
            let mut state = self.lock();
            if state.exit.is_some() {
                return Err(InputError::Ended);
            }
            if offset > state.in_acked {
                return Err(InputError::Hole {
                    acked: state.in_acked,
                });
            }
            let skip = usize::try_from(state.in_acked - offset).unwrap_or(usize::MAX);
            let fresh = bytes.get(skip..).unwrap_or_default().to_vec();
            state.in_acked += fresh.len() as u64;
            (fresh, state.in_acked)
        };
        if !fresh.is_empty() {
            sender
                .send(PtyCommand::Write(fresh))
                .await
                .map_err(|_| InputError::Ended)?;
        }
        Ok(acked)
    }

    /// Resizes a PTY.
    pub async fn resize(&self, size: PtySize) -> Result<(), InputError> {
        if self.kind != StreamKind::Pty {
            return Err(InputError::NotATerminal);
        }
        let sender = self.input.as_ref().ok_or(InputError::NotATerminal)?;
        self.lock().size = Some(size);
        sender
            .send(PtyCommand::Resize(size))
            .await
            .map_err(|_| InputError::Ended)
    }

    /// Whether a program other than the shell holds the terminal's foreground (a build, an
    /// editor): that is activity even when nobody types.
    pub fn has_foreground_job(&self) -> bool {
        if self.kind != StreamKind::Pty || self.exit().is_some() {
            return false;
        }
        let Some(pid) = self.pgid else { return false };
        // Field 8 of /proc/<pid>/stat is the terminal's foreground process group.
        matches!(stat_field(pid, 8), Some(group) if group > 0 && group != pid)
    }

    /// Whether a coding agent is running a command: another process in its process group (a
    /// tool it started). Its own process alone — thinking, or waiting for a person — is not.
    pub fn has_running_command(&self) -> bool {
        if self.kind != StreamKind::Acp || self.exit().is_some() {
            return false;
        }
        let Some(group) = self.pgid else { return false };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != group)
            // Field 5 of /proc/<pid>/stat is the process group.
            .any(|pid| stat_field(pid, 5) == Some(group))
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        self.kind != StreamKind::Log && self.exit().is_none()
    }

    /// Ends the process: SIGHUP for a terminal, SIGTERM for a job, SIGKILL after
    /// [`CLOSE_GRACE`]. Returns once it has exited (or immediately if it had).
    pub async fn terminate(&self) {
        if let Some(tunnel) = &self.tunnel {
            return self.end_tunnel(tunnel).await;
        }
        let Some(pgid) = self.pgid else { return };
        if !self.is_running() {
            return;
        }
        let polite = if self.kind == StreamKind::Pty {
            Signal::SIGHUP
        } else {
            Signal::SIGTERM
        };
        let _ = killpg(Pid::from_raw(pgid), polite);
        let mut head = self.subscribe();
        let exited = tokio::time::timeout(CLOSE_GRACE, async {
            while self.exit().is_none() {
                if head.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        if exited.is_err() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            while self.exit().is_none() {
                if head.changed().await.is_err() {
                    break;
                }
            }
        }
    }
}

/// The agent's own configuration variables, removed from every process it starts.
fn agent_variables() -> Vec<std::ffi::OsString> {
    std::env::vars_os()
        .map(|(name, _)| name)
        .filter(|name| name.to_string_lossy().starts_with("SAM_AGENT_"))
        .collect()
}

/// Numeric field `n` (1-based, as `proc(5)` numbers them) of `/proc/<pid>/stat`, counted after
/// the command name, which may itself hold spaces and parentheses.
fn stat_field(pid: i32, n: usize) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    // Fields 1 and 2 (pid and name) end at the closing parenthesis; field 3 comes first after it.
    after_name
        .split_whitespace()
        .nth(n.checked_sub(3)?)?
        .parse()
        .ok()
}

/// A process for a terminal (the caller spawns it on the PTY's other end), as the configured
/// user, without the agent's own settings; `launch.env` may override `TERM`.
pub(crate) fn pty_command(launch: &Launch<'_>) -> std::io::Result<pty_process::Command> {
    let (program, args) = split(&launch.command)?;
    let mut command = pty_process::Command::new(program)
        .args(args)
        .current_dir(launch.cwd);
    // The agent's own settings are not the workspace's business.
    for name in agent_variables() {
        command = command.env_remove(name);
    }
    let mut command = command
        .env("TERM", "xterm-256color")
        .env("COLORTERM", "truecolor")
        .envs(launch.env);
    if let Some(user) = launch.run_as {
        command = command
            .uid(user.uid)
            .gid(user.gid)
            .env("HOME", &user.home)
            .env("USER", &user.name)
            .env("LOGNAME", &user.name)
            .env("SHELL", &user.shell);
    }
    Ok(command)
}

/// A process without a terminal: stdout and stderr piped, stdin closed (callers may pipe it),
/// in its own process group, as the configured user, without the agent's own settings.
pub(crate) fn piped_command(launch: &Launch<'_>) -> std::io::Result<tokio::process::Command> {
    let (program, args) = split(&launch.command)?;
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(launch.cwd)
        .envs(launch.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for name in agent_variables() {
        command.env_remove(name);
    }
    if let Some(user) = launch.run_as {
        command
            .uid(user.uid)
            .gid(user.gid)
            .env("HOME", &user.home)
            .env("USER", &user.name);
    }
    Ok(command)
}

fn split(command: &[String]) -> std::io::Result<(&String, &[String])> {
    command
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))
}
