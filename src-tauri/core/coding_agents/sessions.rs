//! Coding agents' sessions: started on a workspace's agent, prompted, and asked for permission.
//! Every permission request waits for a person: it is recorded in the store (with its exact
//! input), answered from wherever the person is (`sam agent answer`, later the app), and the
//! answer reaches the coding agent through the process running the turn — or the next one.

mod config;
mod journal;
mod mode;
mod resume;
mod turn;

pub use config::set_config;
pub use mode::set_mode;
pub use resume::{can_load, resume};
pub use turn::{STALE, Turn, begin, begin_with_images};

use std::collections::BTreeMap;
use std::time::Duration;

use crate::acp::schema::{SessionId, SessionNotification, StopReason};
use serde_json::{Value, json};

use super::{Distribution, catalogue};
use crate::Core;
use crate::acp::{AcpConnection, AcpError, AcpEvent};
use crate::agent_client::{AgentClient, OpenAcp};
use crate::error::{ErrorCategory, SamError};
use crate::store::{AgentSessionRow, PermissionRow};
use crate::store::{Store, TranscriptEntry};
use crate::workspace::{Workspace, WorkspaceId, WorkspaceStatus};

/// How long a coding agent may take to answer `initialize` and `session/new` (a first start
/// loads a lot of code from disk).
const HANDSHAKE: Duration = Duration::from_secs(300);

/// Which coding agent to start.
#[derive(Debug, Clone)]
pub enum AgentChoice {
    /// A catalogue entry, by id.
    Catalogue(String),
    /// A command line, for a one-off agent not in the catalogue.
    Command(String),
}

/// What happens during a turn, in order.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// A `session/update` from the coding agent.
    Update(Box<SessionNotification>),
    /// The coding agent asks for permission; it waits until someone answers request `number`.
    Permission(PermissionRow),
    /// An answer reached the coding agent.
    Answered(PermissionRow),
    /// Something the coding agent sent that is not ACP.
    Malformed(String),
}

/// Starts a coding agent in a running workspace and opens an ACP session in its repository.
/// The session's mode is `mode` when given (it must be one the agent offers), else the
/// catalogue's mode for the agent when it offers that one. An agent distributed on npm is
/// installed first when it is not yet (see [`super::install`]), each step told to `progress`.
pub async fn start(
    core: &Core,
    workspace: &Workspace,
    choice: &AgentChoice,
    mode: Option<&str>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<AgentSessionRow, SamError> {
    let (launched, usual_mode) = launch(core, workspace, choice, progress).await?;
    let wanted = match mode {
        Some(mode) => Some(Wanted::Asked(mode.to_owned())),
        None => usual_mode.map(Wanted::Usual),
    };
    let Launched {
        agent,
        command,
        client,
        stream,
        cwd,
    } = launched;
    let begun = handshake(&client, &agent, stream, &cwd, Opening::New(wanted.as_ref())).await;
    let Handshake {
        session: acp_session,
        started,
        events,
        position,
        mode,
    } = match begun {
        Ok(done) => done,
        Err(err) => {
            let _ = client.close_stream(stream).await;
            return Err(err);
        }
    };
    let row = AgentSessionRow {
        // `ag` and a random id of the workspaces' kind (12 lowercase letters and digits).
        id: format!("ag{}", WorkspaceId::generate()?.as_str()),
        workspace_id: workspace.id.to_string(),
        agent,
        command,
        stream,
        epoch: client.epoch().unwrap_or_default(),
        acp_session: acp_session.0.to_string(),
        state: "idle".to_owned(),
        created_at_ms: crate::clock::now_ms(),
        read_offset: 0,
    };
    let store = core.store();
    store.insert_agent_session(&row)?;
    // What the coding agent said of itself (capabilities, modes, commands) opens the transcript.
    let mut entries = vec![TranscriptEntry::Event {
        kind: "started",
        body: started,
    }];
    entries.extend(mode.map(|body| TranscriptEntry::Event { kind: "mode", body }));
    entries.extend(events.into_iter().filter_map(|event| match event {
        AcpEvent::Update(update) => Some(TranscriptEntry::Event {
            kind: "update",
            body: serde_json::to_value(&update).unwrap_or(Value::Null),
        }),
        _ => None,
    }));
    store.append_transcript(&row.id, &entries, Some(position))?;
    Ok(store.agent_session(&row.id)?)
}

/// A coding agent's process, started on a workspace's agent as an `acp` stream.
struct Launched {
    /// Its catalogue id (or `custom`).
    agent: String,
    /// The command line it runs.
    command: Vec<String>,
    client: AgentClient,
    stream: u32,
    /// The repository's folder on the workspace's machine.
    cwd: String,
}

/// Installs the agent where needed and starts its process, its key (if it has one) in its
/// environment only; also answers the catalogue's mode for it.
async fn launch(
    core: &Core,
    workspace: &Workspace,
    choice: &AgentChoice,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<(Launched, Option<String>), SamError> {
    if workspace.status != WorkspaceStatus::Running {
        return Err(SamError::invalid_input(
            format!("The workspace {} is not running.", workspace.name),
            "Start it first: sam workspace start",
        ));
    }
    let Resolved {
        agent,
        mut open,
        key_env,
        mode: usual_mode,
        npm,
    } = resolve(core, choice)?;
    let client = core.workspaces().connect(workspace).await?;
    if let Some((package, node_min)) = &npm {
        let installed = super::install::ensure(
            core, workspace, &client, &agent, package, *node_min, progress,
        )
        .await?;
        open.command.insert(0, installed.program);
        open.env.extend(installed.env);
    }
    // The key goes to the workspace's agent only for as long as it takes to start the process
    // that reads it, and into that process's environment only.
    let key = if key_env.is_empty() {
        None
    } else {
        super::keys::key(core, &agent).await?
    };
    let secret = super::keys::entry(&agent);
    if let Some(key) = &key {
        client
            .push_secret(&secret, key.expose(), None)
            .await
            .map_err(SamError::from)?;
        open.secret_env = key_env
            .iter()
            .map(|var| (var.clone(), secret.clone()))
            .collect();
    }
    let opened = client.open_acp(open.clone()).await;
    if key.is_some() {
        let _ = client.revoke_secret(&secret).await;
    }
    let info = opened.map_err(SamError::from)?;
    let launched = Launched {
        agent,
        command: open.command,
        client,
        stream: info.stream,
        cwd: info.cwd.unwrap_or_else(|| "/".to_owned()),
    };
    Ok((launched, usual_mode))
}

/// What `initialize` and `session/new` (or `session/load`) gave.
struct Handshake {
    session: SessionId,
    /// `{"initialize": …, "session": …}`: the two answers, as the coding agent gave them.
    started: Value,
    /// Updates that came with them (the agent's commands, say; a loaded session's history).
    events: Vec<AcpEvent>,
    /// How far into the stream they were read.
    position: u64,
    /// The mode SAM set, as a transcript body, or why it set none.
    mode: Option<Value>,
}

/// A new session, in the mode wanted; or an earlier one the coding agent takes up again.
enum Opening<'a> {
    New(Option<&'a Wanted>),
    Load(SessionId),
}

/// The mode a session should start in.
enum Wanted {
    /// The person asked for it: refused when the agent does not offer it.
    Asked(String),
    /// The catalogue's: set when the agent offers it, said when it does not.
    Usual(String),
}

async fn handshake(
    client: &AgentClient,
    agent: &str,
    stream: u32,
    cwd: &str,
    opening: Opening<'_>,
) -> Result<Handshake, SamError> {
    let failed = |err: AcpError| coding_agent_error(agent, &err);
    let (acp, mut events) = AcpConnection::attach(client, stream, 0)
        .await
        .map_err(failed)?;
    let wanted = match opening {
        Opening::New(wanted) => wanted,
        Opening::Load(session) => {
            let steps = async {
                let initialize = acp.initialize().await?;
                let loaded = acp.load_session(&session, cwd).await?;
                Ok((initialize, loaded))
            };
            let (initialize, loaded) = tokio::time::timeout(HANDSHAKE, steps)
                .await
                .unwrap_or_else(|_| {
                    Err(AcpError::Gone(
                        "session/load (no answer in time)".to_owned(),
                    ))
                })
                .map_err(failed)?;
            let mut seen = Vec::new();
            while let Some(event) = events.try_next() {
                seen.push(event);
            }
            return Ok(Handshake {
                session,
                started: json!({ "initialize": initialize, "session": loaded }),
                events: seen,
                position: events.position(),
                mode: None,
            });
        }
    };
    let steps = async {
        let initialize = acp.initialize().await?;
        let session = acp.new_session(cwd).await?;
        Ok((initialize, session))
    };
    let (initialize, session) = tokio::time::timeout(HANDSHAKE, steps)
        .await
        .unwrap_or_else(|_| Err(AcpError::Gone("initialize (no answer in time)".to_owned())))
        .map_err(failed)?;
    let offered: Vec<String> = session
        .modes
        .as_ref()
        .map(|modes| {
            modes
                .available_modes
                .iter()
                .map(|m| m.id.to_string())
                .collect()
        })
        .unwrap_or_default();
    let mode = match wanted {
        Some(Wanted::Asked(mode) | Wanted::Usual(mode)) if offered.contains(mode) => {
            acp.set_mode(&session.session_id, mode)
                .await
                .map_err(failed)?;
            Some(json!({ "currentModeId": mode, "by": "sam" }))
        }
        Some(Wanted::Asked(mode)) => return Err(mode::no_such_mode(agent, mode, &offered)),
        Some(Wanted::Usual(mode)) => Some(json!({
            "note": format!(
                "SAM starts {agent} in its mode {mode:?}, in which it asks before it acts, but \
                 this version does not offer it: check what its current mode decides on its own."
            )
        })),
        None => None,
    };
    let mut seen = Vec::new();
    while let Some(event) = events.try_next() {
        seen.push(event);
    }
    Ok(Handshake {
        session: session.session_id.clone(),
        started: json!({ "initialize": initialize, "session": session }),
        events: seen,
        position: events.position(),
        mode,
    })
}

/// What starting a coding agent takes.
struct Resolved {
    /// Its catalogue id (or `custom`).
    agent: String,
    /// How to start it.
    open: OpenAcp,
    /// The variables it reads its key from.
    key_env: Vec<String>,
    /// The catalogue's mode for it.
    mode: Option<String>,
    /// The npm package to install before it starts (its command then comes from the install),
    /// and the Node.js version it needs.
    npm: Option<(String, Option<u32>)>,
}

fn resolve(core: &Core, choice: &AgentChoice) -> Result<Resolved, SamError> {
    let open = |command: Vec<String>, env: BTreeMap<String, String>| OpenAcp {
        command,
        cwd: None,
        env,
        secret_env: BTreeMap::new(),
    };
    match choice {
        AgentChoice::Command(line) => {
            let spec = super::from_command_line("custom", None, line, &[], Vec::new())?;
            let Distribution::Command { command, args, env } = spec.distribution else {
                unreachable!("a command line makes a command");
            };
            Ok(Resolved {
                agent: "custom".to_owned(),
                open: open([vec![command], args].concat(), env),
                key_env: Vec::new(),
                mode: None,
                npm: None,
            })
        }
        AgentChoice::Catalogue(id) => {
            let entries = catalogue(core.store())?;
            let Some(entry) = entries.into_iter().find(|entry| entry.spec.id == *id) else {
                return Err(SamError::invalid_input(
                    format!("There is no coding agent {id:?}."),
                    "See the catalogue with: sam agent catalog",
                ));
            };
            let (key_env, mode) = (entry.spec.key_env, entry.spec.mode);
            // An npm agent's program comes from its install; its arguments follow.
            let (command, env, npm) = match entry.spec.distribution {
                Distribution::Npx {
                    package,
                    args,
                    node_min,
                } => (args, BTreeMap::new(), Some((package, node_min))),
                Distribution::Command { command, args, env } => {
                    ([vec![command], args].concat(), env, None)
                }
            };
            Ok(Resolved {
                agent: id.clone(),
                open: open(command, env),
                key_env,
                mode,
                npm,
            })
        }
    }
}

/// Runs one prompt turn, reporting what happens to `on` in order, until the coding agent ends
/// the turn. Permission requests wait for an answer recorded in the store.
pub async fn prompt(
    core: &Core,
    session_id: &str,
    text: &str,
    on: impl FnMut(TurnEvent),
) -> Result<StopReason, SamError> {
    begin(core, session_id, Some(text))
        .await?
        .run(core, on)
        .await
}

/// Sessions whose turn nobody follows any more (the process that did went away: an app closed
/// mid-turn, a `sam agent prompt` interrupted), for [`begin`] without a prompt to adopt.
pub fn orphans(core: &Core) -> Result<Vec<AgentSessionRow>, SamError> {
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    Ok(core.store().unfollowed_agent_sessions(stale)?)
}

/// Asks the coding agent to stop the session's turn: every permission request that waits is
/// answered `cancelled`, and the process running the turn sends `session/cancel`. Returns how
/// many requests were answered.
pub fn cancel(core: &Core, session_id: &str) -> Result<usize, SamError> {
    let store = core.store();
    let session = store.agent_session(session_id)?;
    if session.state == "ended" {
        return Err(ended(&session, "there is nothing to cancel"));
    }
    let answered = store.cancel_waiting_permissions(&session.id)?;
    store.set_agent_session_state(&session.id, "cancelling")?;
    Ok(answered)
}

/// Records a person's answer to permission request `number`: one of the options the coding
/// agent offered, once. The turn's process hands it over.
pub fn answer(core: &Core, number: i64, option: &str, by: &str) -> Result<PermissionRow, SamError> {
    let store = core.store();
    let row = store.permission(number)?;
    if let Some(given) = &row.answer {
        return Err(SamError::invalid_input(
            format!(
                "Permission request {number} was answered already: {given} (by {}).",
                row.answered_by.as_deref().unwrap_or("someone")
            ),
            "See what still waits with: sam agent pending",
        ));
    }
    let options: Vec<&str> = row.request["options"]
        .as_array()
        .map(|options| {
            options
                .iter()
                .filter_map(|o| o["optionId"].as_str())
                .collect()
        })
        .unwrap_or_default();
    if !options.contains(&option) {
        return Err(SamError::invalid_input(
            format!("{option:?} is not one of the coding agent's options for request {number}."),
            format!("Answer with one of: {}", options.join(", ")),
        ));
    }
    if !store.answer_permission(number, option, by)? {
        return Err(SamError::invalid_input(
            format!("Permission request {number} was answered a moment ago."),
            "See what still waits with: sam agent pending",
        ));
    }
    Ok(store.permission(number)?)
}

/// What the coding agent said of itself when the session started (`{"initialize": …,
/// "session": …}`: its capabilities, modes and options); `Null` when the transcript does not
/// open with it.
fn started(store: &Store, session: &str) -> Result<Value, SamError> {
    let first = store.transcript(session, 0, 1)?;
    Ok(first
        .into_iter()
        .next()
        .filter(|row| row.kind == "started")
        .map_or(Value::Null, |row| row.body))
}

fn ended(session: &AgentSessionRow, why: &str) -> SamError {
    SamError::new(
        ErrorCategory::InvalidInput,
        format!("The coding agent session {} has ended: {why}.", session.id),
        format!(
            "Take it up again where the coding agent can load its sessions (sam agent resume {}), \
             or start a new one: sam agent start",
            session.id
        ),
    )
}

fn coding_agent_error(agent: &str, err: &AcpError) -> SamError {
    // ACP's "authentication required".
    if let AcpError::Rpc { code: -32000, .. } = err {
        return SamError::new(
            ErrorCategory::Agent,
            format!("The coding agent {agent} is not logged in: {err}."),
            format!(
                "Give SAM its API key (Settings → Coding agents, or: sam agent set-key {agent}), \
                 or log in from a terminal of the workspace as Settings → Coding agents shows, \
                 then start it again."
            ),
        );
    }
    SamError::new(
        ErrorCategory::Agent,
        format!("The coding agent {agent} failed: {err}."),
        "Its messages are in the workspace's agent log (what it wrote to stderr).",
    )
}
