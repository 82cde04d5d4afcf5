//! Changing a session's mode. Only one process writes to a coding agent at a time — the one
//! holding the session's lease, which follows its turn — so the stream's input stays in order:
//! with nobody following, the asker takes the lease and sets the mode itself; while a turn is
//! followed, it records the change in the store and the follower hands it over (within a
//! quarter of a second) and records the outcome in the transcript.

use std::time::Duration;

use serde_json::json;

use super::{STALE, coding_agent_error, ended};
use crate::Core;
use crate::acp::schema::SessionId;
use crate::acp::{AcpConnection, AcpError, AcpEvents};
use crate::error::SamError;
use crate::store::{AgentSessionRow, Store, TranscriptEntry};

/// How long the coding agent may take to answer a mode change.
const ANSWER: Duration = Duration::from_secs(30);
/// How often an asker looks for the follower's outcome.
const OUTCOME_POLL: Duration = Duration::from_millis(100);

/// Sets a session's mode to one the coding agent offered, now (a turn may be running); `by`
/// says who asked, for the transcript.
pub async fn set_mode(core: &Core, session_id: &str, mode: &str, by: &str) -> Result<(), SamError> {
    let store = core.store();
    let session = store.agent_session(session_id)?;
    if session.state == "ended" {
        return Err(ended(&session, "its mode cannot change"));
    }
    let offered = offered_modes(store, &session)?;
    if !offered.iter().any(|m| m == mode) {
        return Err(no_such_mode(&session.agent, mode, &offered));
    }
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    if store.claim_agent_session(&session.id, stale)? {
        let set = set_directly(core, &session, mode).await;
        // Let go before the outcome is visible, so a prompt sent on seeing it is not refused.
        store.release_agent_session(&session.id)?;
        set?;
        record(store, &session.id, mode, by, None)?;
        return Ok(());
    }
    let mut seen = store.transcript_head(&session.id)?;
    store.request_agent_mode(&session.id, mode, by)?;
    let deadline = tokio::time::Instant::now() + ANSWER;
    loop {
        tokio::time::sleep(OUTCOME_POLL).await;
        if let Some(outcome) = outcome(store, &session.id, &mut seen, mode)? {
            return outcome.map_err(|why| {
                SamError::invalid_input(
                    format!(
                        "The coding agent {} did not change its mode: {why}",
                        session.agent
                    ),
                    "Its messages are in the workspace's agent log.",
                )
            });
        }
        if tokio::time::Instant::now() >= deadline
            && store.withdraw_agent_mode(&session.id, mode)?
        {
            return Err(SamError::invalid_input(
                format!(
                    "The process following session {} did not hand the mode change over.",
                    session.id
                ),
                "Try again once its turn has ended.",
            ));
        }
    }
}

/// Hands over a mode change asked for the session whose turn this process follows (through its
/// connection `acp`), recording the outcome when the coding agent answers. Returns at once.
pub(super) fn hand_over(
    core: &Core,
    session: &AgentSessionRow,
    acp: &AcpConnection,
) -> Result<(), SamError> {
    let store = core.store();
    let Some((mode, by)) = store.take_agent_mode(&session.id)? else {
        return Ok(());
    };
    let (store, acp) = (store.clone(), acp.clone());
    let (id, acp_session) = (
        session.id.clone(),
        SessionId::new(session.acp_session.clone()),
    );
    tokio::spawn(async move {
        let answered = answer_in_time("session/set_mode", acp.set_mode(&acp_session, &mode)).await;
        let refused = answered.err().map(|err| err.to_string());
        if let Err(err) = record(&store, &id, &mode, &by, refused.as_deref()) {
            tracing::warn!(session = %id, %err, "recording a mode change failed");
        }
    });
    Ok(())
}

/// The refusal of a mode the coding agent does not offer, naming those it does.
pub(super) fn no_such_mode(agent: &str, mode: &str, offered: &[String]) -> SamError {
    SamError::invalid_input(
        format!("The coding agent {agent} has no mode {mode:?}."),
        if offered.is_empty() {
            "It offers no modes.".to_owned()
        } else {
            format!("It offers: {}", offered.join(", "))
        },
    )
}

/// The modes the coding agent offered when the session started.
fn offered_modes(store: &Store, session: &AgentSessionRow) -> Result<Vec<String>, SamError> {
    Ok(
        super::started(store, &session.id)?["session"]["modes"]["availableModes"]
            .as_array()
            .map(|modes| {
                modes
                    .iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// Sets the mode over a connection of this process, which holds the session's lease.
async fn set_directly(core: &Core, session: &AgentSessionRow, mode: &str) -> Result<(), SamError> {
    let (acp, _events) = attach_at_end(core, session).await?;
    let acp_session = SessionId::new(session.acp_session.clone());
    answer_in_time("session/set_mode", acp.set_mode(&acp_session, mode))
        .await
        .map_err(|err| coding_agent_error(&session.agent, &err))
}

/// A connection to the session's coding agent, attached from the end of its stream: what came
/// before is the next follower's to read (the answer to a request sent on it is a stray one to
/// that follower). The events must live until the answer is in. For a process holding the
/// session's lease.
pub(super) async fn attach_at_end(
    core: &Core,
    session: &AgentSessionRow,
) -> Result<(AcpConnection, AcpEvents), SamError> {
    let workspace = core.store().workspace(&session.workspace_id.parse()?)?;
    let client = core.workspaces().connect(&workspace).await?;
    let streams = client.list().await.map_err(SamError::from)?;
    let Some(info) = streams.iter().find(|s| s.stream == session.stream) else {
        return Err(ended(session, "its process is gone"));
    };
    AcpConnection::attach(&client, session.stream, info.out_head)
        .await
        .map_err(|err| coding_agent_error(&session.agent, &err))
}

/// `call` (the request `method`), or the coding agent's silence as an error after [`ANSWER`].
pub(super) async fn answer_in_time<T>(
    method: &str,
    call: impl Future<Output = Result<T, AcpError>>,
) -> Result<T, AcpError> {
    tokio::time::timeout(ANSWER, call)
        .await
        .unwrap_or_else(|_| Err(AcpError::Gone(format!("{method} (no answer in time)"))))
}

/// Records a mode change in the transcript: made, or `refused` with the coding agent's reason.
fn record(
    store: &Store,
    session: &str,
    mode: &str,
    by: &str,
    refused: Option<&str>,
) -> Result<(), SamError> {
    let body = match refused {
        None => json!({ "currentModeId": mode, "by": by }),
        Some(why) => json!({
            "refused": mode,
            "by": by,
            "note": format!("The mode did not change to {mode:?}: {why}"),
        }),
    };
    store.append_transcript(
        session,
        &[TranscriptEntry::Event { kind: "mode", body }],
        None,
    )?;
    Ok(())
}

/// The follower's outcome for a change to `mode` among the transcript's entries after `*seen`
/// (which it moves past what it read), once there is one: `Err` with the coding agent's reason
/// when it refused.
fn outcome(
    store: &Store,
    session: &str,
    seen: &mut i64,
    mode: &str,
) -> Result<Option<Result<(), String>>, SamError> {
    loop {
        let rows = store.transcript(session, *seen, 500)?;
        let Some(last) = rows.last() else {
            return Ok(None);
        };
        *seen = last.seq;
        for row in rows.iter().filter(|row| row.kind == "mode") {
            if row.body["currentModeId"].as_str() == Some(mode) {
                return Ok(Some(Ok(())));
            }
            if row.body["refused"].as_str() == Some(mode) {
                let why = row.body["note"].as_str().unwrap_or_default().to_owned();
                return Ok(Some(Err(why)));
            }
        }
    }
}
