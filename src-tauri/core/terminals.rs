//! The terminals of the workspaces, for the app: one agent connection per workspace shared by
//! its terminals, tabs whose names survive restarts, and live terminals whose events go to
//! whoever shows them (a window, a test).
//!
//! A terminal (a PTY on the agent) outlives its view: detaching, closing the window or quitting
//! the app leaves it running, and attaching again replays its output to rebuild the screen
//! without answering its old queries a second time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::task::JoinHandle;

use crate::agent_client::{AgentClient, AgentError, LinkState, PtySize, StreamKind};
use crate::error::{ErrorCategory, SamError};
use crate::lifecycle::Workspaces;
use crate::store::Store;
use crate::terminal::{Engine, Size, Terminal, TerminalEvent, TerminalOptions, Theme};
use crate::workspace::WorkspaceId;

/// A terminal tab as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct TerminalTab {
    /// The agent's stream id.
    pub stream: u32,
    /// The tab's name.
    pub name: String,
    /// Whether its program has ended (the tab shows its last screen).
    pub exited: bool,
    /// Whether it shows a command's output (a coding agent's command), which takes no typing.
    pub output_only: bool,
}

/// What a terminal view is told besides frames (which travel as bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum TerminalNotice {
    /// The program set the title.
    Title {
        /// The title (`""` = reset).
        title: String,
    },
    /// The bell rang.
    Bell,
    /// The program asked to put text on the clipboard; ask the user first.
    Clipboard {
        /// The text.
        text: String,
    },
    /// Output was lost (the agent's history moved on); the screen was reset.
    Gap,
    /// The program ended.
    Exited {
        /// Its exit code, when it exited normally.
        code: Option<i32>,
    },
    /// The terminal is gone (the agent restarted, or the workspace stopped).
    Closed,
    /// The connection to the agent dropped; it is being re-established.
    Reconnecting {
        /// Attempts so far.
        attempt: u32,
    },
    /// Connected (again).
    Connected,
    /// A web address on the workspace's own loopback was printed (`http://localhost:3000`):
    /// the view offers to forward its port.
    LocalUrl {
        /// The port.
        port: u16,
    },
}

/// What a view receives: an encoded frame, or a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalMessage {
    /// An encoded frame (`core::terminal::frame`).
    Frame(Vec<u8>),
    /// Anything else.
    Notice(TerminalNotice),
}

/// Where a view's messages go.
pub type Sink = Box<dyn FnMut(TerminalMessage) -> bool + Send>;

type Key = (WorkspaceId, u32);

struct Live {
    /// Shared so a call can use it after the registry's lock is released (across an await).
    terminal: Arc<Terminal>,
    forward: JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// Every workspace's terminals in this process.
#[derive(Default)]
pub struct Terminals {
    clients: Mutex<HashMap<WorkspaceId, AgentClient>>,
    /// Held while a workspace's tabs are listed and, if it has none, its first terminal is
    /// opened: views that load at once (a page refreshed twice, two windows) open one, not two.
    first: Mutex<HashMap<WorkspaceId, Arc<tokio::sync::Mutex<()>>>>,
    live: Mutex<HashMap<Key, Live>>,
    /// Streams opened by this process and not attached yet: their output has never been seen,
    /// so its queries are still unanswered.
    fresh: Mutex<HashSet<Key>>,
}

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminals")
            .field("live", &lock(&self.live).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_open(stream: u32) -> SamError {
    SamError::invalid_input(
        format!("Terminal {stream} is not open in this window."),
        "Open the terminal's tab again.",
    )
}

impl Terminals {
    /// The workspace's agent connection, made on first use and shared.
    async fn client(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
    ) -> Result<AgentClient, SamError> {
        if let Some(client) = lock(&self.clients).get(id)
            && *client.state().borrow() != LinkState::Closed
        {
            return Ok(client.clone());
        }
        let workspace = lifecycle.store().workspace(id)?;
        let client = lifecycle.connect(&workspace).await?;
        lock(&self.clients).insert(id.clone(), client.clone());
        Ok(client)
    }

    /// The workspace's tabs, oldest first; when it has none, a new terminal of `size` (the login
    /// shell) is opened and listed. One call at a time per workspace, so the check and the open
    /// cannot interleave with another view's.
    pub async fn list_or_open(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
        size: Size,
    ) -> Result<Vec<TerminalTab>, SamError> {
        let gate = Arc::clone(lock(&self.first).entry(id.clone()).or_default());
        let _one_at_a_time = gate.lock().await;
        let tabs = self.list(lifecycle, id).await?;
        if !tabs.is_empty() {
            return Ok(tabs);
        }
        Ok(vec![self.open(lifecycle, id, size, None).await?])
    }

    /// The workspace's terminal tabs, oldest first.
    pub async fn list(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
    ) -> Result<Vec<TerminalTab>, SamError> {
        let client = self.client(lifecycle, id).await?;
        let streams = client.list().await.map_err(|err| agent_failure(&err))?;
        let store = lifecycle.store();
        let live: Vec<u32> = streams
            .iter()
            .filter(|s| matches!(s.kind, StreamKind::Pty | StreamKind::Job))
            .map(|s| s.stream)
            .collect();
        store.retain_terminal_tabs(id, &live)?;
        let names: HashMap<u32, String> = store.terminal_tabs(id)?.into_iter().collect();
        // Every terminal, and the commands someone opened as a tab.
        let mut tabs: Vec<TerminalTab> = streams
            .iter()
            .filter(|s| {
                s.kind == StreamKind::Pty
                    || (s.kind == StreamKind::Job && names.contains_key(&s.stream))
            })
            .map(|s| TerminalTab {
                stream: s.stream,
                name: names
                    .get(&s.stream)
                    .cloned()
                    .unwrap_or_else(|| format!("Terminal {}", s.stream)),
                exited: s.exit.is_some(),
                output_only: s.kind == StreamKind::Job,
            })
            .collect();
        tabs.sort_by_key(|tab| tab.stream);
        Ok(tabs)
    }

    /// Opens a new terminal in the workspace's folder running `command` (the login shell when
    /// `None`).
    pub async fn open(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
        size: Size,
        command: Option<Vec<String>>,
    ) -> Result<TerminalTab, SamError> {
        let client = self.client(lifecycle, id).await?;
        let env = [
            ("TERM".to_owned(), "xterm-256color".to_owned()),
            ("COLORTERM".to_owned(), "truecolor".to_owned()),
        ]
        .into_iter()
        .collect();
        let info = client
            .open_pty(command, None, env, pty_size(size))
            .await
            .map_err(|err| agent_failure(&err))?;
        let count = lifecycle.store().terminal_tabs(id)?.len();
        let name = format!("Terminal {}", count + 1);
        lifecycle.store().set_terminal_tab(id, info.stream, &name)?;
        lock(&self.fresh).insert((id.clone(), info.stream));
        Ok(TerminalTab {
            stream: info.stream,
            name,
            exited: false,
            output_only: false,
        })
    }

    /// Opens a tab on a command the workspace's agent runs without a terminal — one a coding
    /// agent started (ACP's `terminal/create`) — to watch its output as it comes. The tab is
    /// read-only and lasts as long as the command's stream (the coding agent releases it).
    pub async fn show_command(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
        stream: u32,
    ) -> Result<TerminalTab, SamError> {
        let client = self.client(lifecycle, id).await?;
        let streams = client.list().await.map_err(|err| agent_failure(&err))?;
        let Some(info) = streams.iter().find(|s| s.stream == stream) else {
            return Err(SamError::invalid_input(
                format!("Command {stream} is no longer running in the workspace."),
                "Its output is in the coding agent's session.",
            ));
        };
        if info.kind != StreamKind::Job {
            return Err(SamError::invalid_input(
                format!("Stream {stream} is not a command of the workspace."),
                "Open the command from its tool call in the coding agent's session.",
            ));
        }
        let store = lifecycle.store();
        let name = match store
            .terminal_tabs(id)?
            .into_iter()
            .find(|(s, _)| *s == stream)
        {
            Some((_, name)) => name,
            None => {
                let name = command_name(&info.command);
                store.set_terminal_tab(id, stream, &name)?;
                name
            }
        };
        Ok(TerminalTab {
            stream,
            name,
            exited: info.exit.is_some(),
            output_only: true,
        })
    }

    /// Shows a terminal: its screen is rebuilt and every change goes to `sink` until it
    /// returns `false`, the terminal is detached, or another view attaches it.
    pub async fn attach(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
        stream: u32,
        size: Size,
        theme: Theme,
        mut sink: Sink,
    ) -> Result<(), SamError> {
        let client = self.client(lifecycle, id).await?;
        let key = (id.clone(), stream);
        lock(&self.live).remove(&key);
        // Attaching again is harmless, so a connection that drops mid-request is retried (the
        // client reconnects by itself).
        let mut tries = 0;
        let (handle, info) = loop {
            match client.attach(stream, 0).await {
                Ok(attached) => break attached,
                Err(AgentError::ConnectionLost) if tries < 3 => {
                    tries += 1;
                    tracing::info!(%id, stream, tries, "attach interrupted; retrying");
                }
                Err(err) => return Err(agent_failure(&err)),
            }
        };
        let fresh = lock(&self.fresh).remove(&key);
        let output_only = info.kind == StreamKind::Job;
        let options = TerminalOptions {
            size,
            theme,
            replay_until: if fresh { 0 } else { info.out_head },
            output_only,
            ..TerminalOptions::default()
        };
        if !output_only && info.size != Some(pty_size(size)) && info.exit.is_none() {
            client
                .resize(stream, pty_size(size))
                .await
                .map_err(|err| agent_failure(&err))?;
        }
        let (terminal, mut events) = Terminal::start(&client, handle, 0, options);
        let mut link = client.state();
        let forward = tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    event = events.recv() => match event {
                        Some(event) => message(event),
                        None => return,
                    },
                    changed = link.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let state = link.borrow_and_update().clone();
                        match state {
                            LinkState::Connected { .. } => TerminalMessage::Notice(TerminalNotice::Connected),
                            LinkState::Reconnecting { attempt, .. } => {
                                TerminalMessage::Notice(TerminalNotice::Reconnecting { attempt })
                            }
                            LinkState::Connecting | LinkState::Closed => continue,
                        }
                    }
                };
                if !sink(message) {
                    return;
                }
            }
        });
        lock(&self.live).insert(
            key,
            Live {
                terminal: Arc::new(terminal),
                forward,
            },
        );
        Ok(())
    }

    /// The attached terminal `stream` of the workspace.
    fn live(&self, id: &WorkspaceId, stream: u32) -> Result<Arc<Terminal>, SamError> {
        lock(&self.live)
            .get(&(id.clone(), stream))
            .map(|entry| Arc::clone(&entry.terminal))
            .ok_or_else(|| not_open(stream))
    }

    /// Types into an attached terminal (keys, pastes).
    pub fn input(&self, id: &WorkspaceId, stream: u32, bytes: &[u8]) -> Result<(), SamError> {
        self.live(id, stream)?.input(bytes).map_err(|_| {
            SamError::invalid_input(
                "This tab shows a command's output; it takes no typing.",
                "Open a terminal (+) to run commands yourself.",
            )
        })
    }

    /// Works on an attached terminal's engine: selection, search, scrolling, links.
    pub fn view<R>(
        &self,
        id: &WorkspaceId,
        stream: u32,
        work: impl FnOnce(&mut Engine) -> R,
    ) -> Result<R, SamError> {
        Ok(self.live(id, stream)?.with_engine(work))
    }

    /// Resizes an attached terminal and its PTY.
    pub async fn resize(&self, id: &WorkspaceId, stream: u32, size: Size) -> Result<(), SamError> {
        self.live(id, stream)?
            .resize(size)
            .await
            .map_err(|err| agent_failure(&err))
    }

    /// Stops showing a terminal; it keeps running.
    pub fn detach(&self, id: &WorkspaceId, stream: u32) {
        lock(&self.live).remove(&(id.clone(), stream));
    }

    /// Ends a terminal's program and forgets its tab. A command's tab is only forgotten: the
    /// command is the coding agent's, which goes on with it.
    pub async fn close(
        &self,
        lifecycle: &Workspaces,
        id: &WorkspaceId,
        stream: u32,
    ) -> Result<(), SamError> {
        self.detach(id, stream);
        let client = self.client(lifecycle, id).await?;
        let streams = client.list().await.map_err(|err| agent_failure(&err))?;
        let command = streams
            .iter()
            .any(|s| s.stream == stream && s.kind == StreamKind::Job);
        if !command {
            client
                .close_stream(stream)
                .await
                .map_err(|err| agent_failure(&err))?;
        }
        let live: Vec<u32> = lifecycle
            .store()
            .terminal_tabs(id)?
            .into_iter()
            .map(|(s, _)| s)
            .filter(|&s| s != stream)
            .collect();
        lifecycle.store().retain_terminal_tabs(id, &live)?;
        Ok(())
    }

    /// Renames a tab.
    pub fn rename(
        &self,
        store: &Store,
        id: &WorkspaceId,
        stream: u32,
        name: &str,
    ) -> Result<(), SamError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            return Err(SamError::invalid_input(
                "A tab's name must be 1 to 60 characters, without control characters.",
                "Choose a shorter name.",
            ));
        }
        store.set_terminal_tab(id, stream, name)?;
        Ok(())
    }

    /// Drops the workspace's agent connection so it is made again (after the laptop wakes or
    /// the network changes); attached terminals resume from where they were.
    pub fn reconnect(&self, id: &WorkspaceId) {
        if let Some(client) = lock(&self.clients).get(id) {
            client.reconnect();
        }
    }

    /// Drops everything about a workspace (it stopped or was deleted).
    pub fn forget(&self, id: &WorkspaceId) {
        lock(&self.live).retain(|(workspace, _), _| workspace != id);
        lock(&self.first).remove(id);
        if let Some(client) = lock(&self.clients).remove(id) {
            client.close();
        }
    }
}

fn message(event: TerminalEvent) -> TerminalMessage {
    TerminalMessage::Notice(match event {
        TerminalEvent::Frame(bytes) => return TerminalMessage::Frame(bytes),
        TerminalEvent::Title(title) => TerminalNotice::Title { title },
        TerminalEvent::Bell => TerminalNotice::Bell,
        TerminalEvent::Clipboard(write) => TerminalNotice::Clipboard { text: write.text },
        TerminalEvent::Gap { .. } => TerminalNotice::Gap,
        TerminalEvent::Exited(status) => TerminalNotice::Exited { code: status.code },
        TerminalEvent::Closed => TerminalNotice::Closed,
        TerminalEvent::LocalUrl { port } => TerminalNotice::LocalUrl { port },
    })
}

/// A tab's name for a command: `▶ ` and the command line, cut to fit a tab (60 characters).
fn command_name(command: &[String]) -> String {
    let line = match command {
        // `sh -c SCRIPT` shows the script.
        [shell, flag, script, ..] if shell.ends_with("sh") && flag == "-c" => script.clone(),
        _ => shell_words::join(command),
    };
    let line: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut name: String = format!("▶ {line}").chars().take(60).collect();
    if name.chars().count() < line.chars().count() + 2 {
        name.pop();
        name.push('…');
    }
    name
}

fn pty_size(size: Size) -> PtySize {
    PtySize {
        cols: size.cols,
        rows: size.rows,
    }
}

fn agent_failure(err: &AgentError) -> SamError {
    SamError::new(
        ErrorCategory::Agent,
        format!("The workspace's agent did not answer: {err}."),
        "Check that the workspace is running, then try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::command_name;

    #[test]
    fn a_commands_tab_is_named_by_its_command_line_cut_to_fit() {
        let words = |line: &str| line.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(command_name(&words("cargo test")), "▶ cargo test");
        let script = [
            "sh".to_owned(),
            "-c".to_owned(),
            "make  &&\n make check".to_owned(),
        ];
        assert_eq!(command_name(&script), "▶ make && make check");
        let long = command_name(&words(&"x ".repeat(80)));
        assert_eq!(long.chars().count(), 60);
        assert!(long.ends_with('…'));
        assert_eq!(
            command_name(&["echo".to_owned(), "a b".to_owned()]),
            "▶ echo 'a b'"
        );
    }
}
