//! Taking a session up again after its coding agent's process went away — it crashed, or the
//! workspace stopped and started — with ACP's `session/load`, where the agent offers it: a new
//! process of the same agent loads the session by its id and carries on with its history.
//!
//! The transcript already holds everything SAM read of the session, so the history the agent
//! replays while it loads is not recorded again: the transcript gains one `resumed` entry, and
//! the session moves to the new process's stream.

use serde_json::{Value, json};

use super::{AgentChoice, Handshake, Launched, Opening, handshake, launch};
use crate::Core;
use crate::acp::schema::SessionId;
use crate::error::SamError;
use crate::store::{AgentSessionRow, TranscriptEntry};

/// Whether the coding agent of `session` said, when it started, that it can load sessions.
pub fn can_load(core: &Core, session: &AgentSessionRow) -> Result<bool, SamError> {
    let started = super::started(core.store(), &session.id)?;
    Ok(started["initialize"]["agentCapabilities"]["loadSession"] == Value::Bool(true))
}

/// Starts the session's coding agent again and has it load the session. Refused while its
/// process still runs, and for an agent that cannot load sessions.
pub async fn resume(
    core: &Core,
    session_id: &str,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<AgentSessionRow, SamError> {
    let store = core.store();
    let session = store.agent_session(session_id)?;
    let workspace = store.workspace(&session.workspace_id.parse()?)?;
    if !can_load(core, &session)? {
        return Err(SamError::invalid_input(
            format!(
                "The coding agent {} cannot take up session {} again: it does not offer to load \
                 sessions (ACP's session/load).",
                session.agent, session.id
            ),
            "Start a new session: sam agent start",
        ));
    }
    if still_running(core, &session).await? {
        return Err(SamError::invalid_input(
            format!(
                "The coding agent of session {} is still running; there is nothing to resume.",
                session.id
            ),
            "Prompt it: sam agent prompt",
        ));
    }
    let choice = if session.agent == "custom" {
        AgentChoice::Command(shell_words::join(&session.command))
    } else {
        AgentChoice::Catalogue(session.agent.clone())
    };
    let (launched, _) = launch(core, &workspace, &choice, progress).await?;
    let Launched {
        agent,
        client,
        stream,
        cwd,
        ..
    } = launched;
    let acp_session = SessionId::new(session.acp_session.clone());
    let loaded = handshake(&client, &agent, stream, &cwd, Opening::Load(acp_session)).await;
    let Handshake {
        started,
        events,
        position,
        ..
    } = match loaded {
        Ok(done) => done,
        Err(err) => {
            let _ = client.close_stream(stream).await;
            return Err(err);
        }
    };
    // What the old process said while nobody read it goes in first.
    super::journal::recover(core, &session, &client).await?;
    let epoch = client.epoch().unwrap_or_default();
    if epoch == session.epoch {
        // The crashed process's stream, ended: it holds nothing the transcript lacks.
        let _ = client.close_stream(session.stream).await;
    }
    // Requests of the process that went away can never be answered to it: those that waited
    // are answered `cancelled` (and join the audit log); answers it never received are settled.
    store.cancel_waiting_permissions(&session.id)?;
    for row in store.undelivered_answers(&session.id)? {
        store.mark_permission_delivered(row.id)?;
    }
    let mut body = started;
    body["replayed"] = json!(events.len());
    store.append_transcript(
        &session.id,
        &[TranscriptEntry::Event {
            kind: "resumed",
            body,
        }],
        None,
    )?;
    store.rebind_agent_session(&session.id, stream, &epoch, position)?;
    // A process that was following the old process's turn (a `sam agent prompt` that was
    // interrupted) holds nothing any more: the next prompt need not wait for its heartbeat to
    // go stale.
    store.release_agent_session(&session.id)?;
    Ok(store.agent_session(&session.id)?)
}

/// Whether the session's process still runs on the workspace's agent.
async fn still_running(core: &Core, session: &AgentSessionRow) -> Result<bool, SamError> {
    if session.state != "ended" {
        let workspace = core.store().workspace(&session.workspace_id.parse()?)?;
        let client = core.workspaces().connect(&workspace).await?;
        if client.epoch().unwrap_or_default() == session.epoch {
            let streams = client.list().await.map_err(SamError::from)?;
            return Ok(streams
                .iter()
                .any(|s| s.stream == session.stream && s.exit.is_none()));
        }
    }
    Ok(false)
}
