//! What a coding agent said while no SAM process was reading — after the workspace's agent
//! restarted (a stop and start, a reboot) — recovered from the journal the agent keeps on the
//! workspace's disk, so the transcript ends with the coding agent's last words, not SAM's last
//! read.

use serde_json::{Value, json};

use crate::Core;
use crate::acp::{AcpConnection, AcpEvent};
use crate::agent_client::AgentClient;
use crate::error::SamError;
use crate::store::{AgentSessionRow, TranscriptEntry};

/// Records what the journal of `session`'s old stream holds past what the transcript has,
/// then drops the journal. Requests among it were never answered and are recorded as asked
/// (the session's end answers them `cancelled`); nothing is carried out. Returns how many
/// entries were recovered. Does nothing while the stream's agent is the one `client` speaks to.
pub(super) async fn recover(
    core: &Core,
    session: &AgentSessionRow,
    client: &AgentClient,
) -> Result<usize, SamError> {
    if client.epoch().unwrap_or_default() == session.epoch {
        return Ok(0);
    }
    let Some(tail) = client
        .journal_tail(&session.epoch, session.stream, session.read_offset)
        .await
        .map_err(SamError::from)?
    else {
        return Ok(0);
    };
    let events = AcpConnection::replay(&tail, session.read_offset);
    let position = events.last().map(|(offset, _)| *offset);
    let entries: Vec<TranscriptEntry> = events
        .into_iter()
        .filter_map(|(_, event)| entry(event))
        .collect();
    core.store()
        .append_transcript(&session.id, &entries, position)?;
    if let Err(err) = client.journal_drop(&session.epoch, session.stream).await {
        tracing::warn!(session = %session.id, %err, "its journal stays until it is pruned");
    }
    Ok(entries.len())
}

/// The transcript's entry for an event of a journal.
fn entry(event: AcpEvent) -> Option<TranscriptEntry> {
    let event_entry = |kind, body| Some(TranscriptEntry::Event { kind, body });
    match event {
        AcpEvent::Update(update) => event_entry(
            "update",
            serde_json::to_value(&update).unwrap_or(Value::Null),
        ),
        AcpEvent::Permission(ask) => Some(TranscriptEntry::Permission {
            rpc_id: ask.id.to_string(),
            request: serde_json::to_value(&ask.request).unwrap_or(Value::Null),
            ruled: None,
        }),
        AcpEvent::Malformed(detail) => event_entry("malformed", json!({ "detail": detail })),
        // The answer to the prompt of the turn that was running: the turn's end.
        AcpEvent::StrayAnswer(message) => match super::turn::earlier_turn_end(&message)? {
            Ok(stop) => event_entry("turn", json!({ "stopReason": stop })),
            Err(_) => None,
        },
        AcpEvent::Exited(_) => None,
    }
}
