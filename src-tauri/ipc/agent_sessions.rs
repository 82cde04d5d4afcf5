//! Coding agents' sessions in the window: starting one, prompting it, following its transcript
//! (pushed over a Tauri channel as it grows), answering its permission requests, cancelling.
//!
//! The app follows a turn it started until the coding agent ends it, and adopts any turn whose
//! follower went away (a `sam agent prompt` interrupted, the app closed mid-turn).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tauri::State;
use tauri::ipc::Channel;

use super::AppState;
use sam_core::Core;
use sam_core::coding_agents::images::PromptImage;
use sam_core::coding_agents::sessions::{self, AgentChoice, Turn};
use sam_core::error::SamError;
use sam_core::store::{AgentActivity, AgentEventRow, AgentSessionRow, PermissionRow};
use sam_core::workspace::WorkspaceId;

/// How often a followed transcript is looked at for entries another process wrote (this
/// process's wake the follower at once).
const FOLLOW_POLL: Duration = Duration::from_millis(50);
/// How often the app looks for turns nobody follows.
const ADOPT_POLL: Duration = Duration::from_secs(2);
/// The most entries one message of a followed transcript carries.
const PAGE: usize = 400;
/// The least time between two messages of one follow (a display frame).
const SEND_GAP: Duration = Duration::from_millis(16);

/// The transcripts the window follows, by follow id, to stop them.
#[derive(Debug, Default)]
pub struct Followers {
    next: AtomicU32,
    running: Mutex<HashMap<u32, tokio::task::AbortHandle>>,
}

/// A workspace's coding agent sessions, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn agent_sessions(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<AgentSessionRow>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    Ok(state.core.store().agent_sessions(&id)?)
}

/// What the coding agents of each workspace with a session in a turn are doing.
#[tauri::command]
#[specta::specta]
pub async fn agent_activity(state: State<'_, AppState>) -> Result<Vec<AgentActivity>, SamError> {
    Ok(state.core.store().agent_activity()?)
}

/// Starts a catalogue agent in a running workspace (which can take minutes the first time an
/// agent is fetched) and returns its session.
#[tauri::command]
#[specta::specta]
pub async fn agent_start(
    state: State<'_, AppState>,
    workspace: String,
    agent: String,
) -> Result<AgentSessionRow, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let core = &state.core;
    let workspace = core.store().workspace(&id)?;
    // Install steps are in the workspace's log, which its page shows.
    let mut progress = |_: &str| {};
    sessions::start(
        core,
        &workspace,
        &AgentChoice::Catalogue(agent),
        None,
        &mut progress,
    )
    .await
}

/// Sets a session's mode to one the coding agent offered.
#[tauri::command]
#[specta::specta]
pub async fn agent_set_mode(
    state: State<'_, AppState>,
    session: String,
    mode: String,
) -> Result<(), SamError> {
    sessions::set_mode(&state.core, &session, &mode, "app").await
}

/// The files of a workspace's repository, for the prompt box's `@` picker.
#[tauri::command]
#[specta::specta]
pub async fn agent_files(
    state: State<'_, AppState>,
    workspace: String,
) -> Result<Vec<String>, SamError> {
    let id: WorkspaceId = workspace.parse()?;
    let workspace = state.core.store().workspace(&id)?;
    sam_core::coding_agents::mentions::files(&state.core, &workspace).await
}

/// Sets one of a session's other configuration options to one of its values, between turns.
#[tauri::command]
#[specta::specta]
pub async fn agent_set_config(
    state: State<'_, AppState>,
    session: String,
    option: String,
    value: String,
) -> Result<(), SamError> {
    sessions::set_config(&state.core, &session, &option, &value, "app").await
}

/// Sends a prompt; the app follows the turn in the background (its progress is in the
/// transcript). Fails at once when the session cannot take a prompt.
#[tauri::command]
#[specta::specta]
pub async fn agent_prompt(
    state: State<'_, AppState>,
    session: String,
    text: String,
    images: Vec<PromptImage>,
) -> Result<(), SamError> {
    if text.trim().is_empty() {
        return Err(SamError::invalid_input(
            "The prompt is empty.",
            "Say what the coding agent should do.",
        ));
    }
    let core = Arc::clone(&state.core);
    let turn = sessions::begin_with_images(&core, &session, &text, images).await?;
    follow_turn(core, turn);
    Ok(())
}

/// Answers permission request `request` with one of the coding agent's options.
#[tauri::command]
#[specta::specta]
pub async fn agent_answer(
    state: State<'_, AppState>,
    request: i64,
    option: String,
) -> Result<PermissionRow, SamError> {
    sessions::answer(&state.core, request, &option, "app")
}

/// Takes up an ended session with a new process of its coding agent, which loads it (where
/// the agent can); the session is idle again.
#[tauri::command]
#[specta::specta]
pub async fn agent_resume(
    state: State<'_, AppState>,
    session: String,
) -> Result<AgentSessionRow, SamError> {
    // Install steps are in the workspace's log, which its page shows.
    let mut progress = |_: &str| {};
    sessions::resume(&state.core, &session, &mut progress).await
}

/// Stops a session's turn: waiting requests are answered `cancelled`.
#[tauri::command]
#[specta::specta]
pub async fn agent_cancel(state: State<'_, AppState>, session: String) -> Result<u32, SamError> {
    let answered = sessions::cancel(&state.core, &session)?;
    Ok(u32::try_from(answered).unwrap_or(u32::MAX))
}

/// Every permission request that waits for a person, oldest first.
#[tauri::command]
#[specta::specta]
pub async fn agent_pending(state: State<'_, AppState>) -> Result<Vec<PermissionRow>, SamError> {
    Ok(state.core.store().waiting_permissions()?)
}

/// Follows a session's transcript: every entry after `after`, then each new one as it is
/// recorded, in pages over `channel`. Returns the follow's id for [`agent_unfollow`].
#[tauri::command]
#[specta::specta]
pub async fn agent_follow(
    state: State<'_, AppState>,
    followers: State<'_, Followers>,
    session: String,
    after: i64,
    channel: Channel<Vec<AgentEventRow>>,
) -> Result<u32, SamError> {
    let core = Arc::clone(&state.core);
    // A session that does not exist is refused here, not in the task.
    core.store().agent_session(&session)?;
    let id = followers.next.fetch_add(1, Ordering::Relaxed);
    let task = tokio::spawn(async move {
        let mut seen = after;
        let mut tick = tokio::time::interval(FOLLOW_POLL);
        let mut sent: Option<tokio::time::Instant> = None;
        loop {
            // At most one message a frame: while an agent streams, what it says in between
            // goes along in the next one (each message costs the window a task of its own).
            if let Some(at) = sent {
                tokio::time::sleep_until(at + SEND_GAP).await;
            }
            // Armed before the read, so an append during it wakes the next wait.
            let appended = core.store().transcript_appended().notified();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let fresh = match core.store().transcript(&session, seen, PAGE) {
                Ok(fresh) => fresh,
                Err(err) => {
                    tracing::warn!(%err, "reading a transcript failed");
                    Vec::new()
                }
            };
            let full = fresh.len() == PAGE;
            if let Some(last) = fresh.last() {
                seen = last.seq;
                if channel.send(fresh).is_err() {
                    return;
                }
                sent = Some(tokio::time::Instant::now());
            }
            if full {
                // More is recorded already.
                continue;
            }
            // This process's entries wake it at once; another's (a `sam agent prompt`) are
            // found by the poll.
            tokio::select! {
                () = &mut appended => {}
                _ = tick.tick() => {}
            }
        }
    });
    lock(&followers.running).insert(id, task.abort_handle());
    Ok(id)
}

/// Stops following a transcript.
#[tauri::command]
#[specta::specta]
pub fn agent_unfollow(followers: State<'_, Followers>, follow: u32) {
    if let Some(task) = lock(&followers.running).remove(&follow) {
        task.abort();
    }
}

/// Follows `turn` to its end as one of the core's tasks (so it ends with the app; the next
/// start adopts it).
fn follow_turn(core: Arc<Core>, turn: Turn) {
    let tasks = core.tasks().clone();
    let session = turn.session().id.clone();
    tasks.spawn("coding agent turn", async move {
        match turn.run(&core, |_| {}).await {
            Ok(stop) => tracing::info!(%session, ?stop, "a coding agent's turn ended"),
            Err(err) => tracing::warn!(%session, %err, "a coding agent's turn failed"),
        }
    });
}

/// Adopts, every few seconds, the turns whose follower went away.
pub async fn adopt_orphans(core: Arc<Core>) {
    let mut tick = tokio::time::interval(ADOPT_POLL);
    loop {
        tick.tick().await;
        let orphans = match sessions::orphans(&core) {
            Ok(orphans) => orphans,
            Err(err) => {
                tracing::warn!(%err, "looking for coding agent turns to follow failed");
                continue;
            }
        };
        for orphan in orphans {
            match sessions::begin(&core, &orphan.id, None).await {
                Ok(turn) => {
                    tracing::info!(session = %orphan.id, "following a turn another process left");
                    follow_turn(Arc::clone(&core), turn);
                }
                Err(err) => tracing::info!(session = %orphan.id, %err, "not adopted"),
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
