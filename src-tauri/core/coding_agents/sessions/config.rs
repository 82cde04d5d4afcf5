//! Changing a session's configuration options other than its mode (ACP's `configOptions`: a
//! model, a collaboration mode, …). Only between turns: the asker takes the session's lease and
//! sets the option itself; during a turn the change is refused with when to try again.

use serde_json::{Value, json};

use super::mode::{answer_in_time, attach_at_end};
use super::{STALE, coding_agent_error, ended};
use crate::Core;
use crate::acp::schema::SessionId;
use crate::error::SamError;
use crate::store::TranscriptEntry;

/// Sets the session's option `config` to `value`, one of those the coding agent offered; `by`
/// says who asked, for the transcript.
pub async fn set_config(
    core: &Core,
    session_id: &str,
    config: &str,
    value: &str,
    by: &str,
) -> Result<(), SamError> {
    let store = core.store();
    let session = store.agent_session(session_id)?;
    if session.state == "ended" {
        return Err(ended(&session, "its options cannot change"));
    }
    let offered = super::started(store, &session.id)?["session"]["configOptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(option) = offered.iter().find(|o| o["id"] == config) else {
        let ids: Vec<&str> = offered.iter().filter_map(|o| o["id"].as_str()).collect();
        return Err(SamError::invalid_input(
            format!(
                "The coding agent {} has no option {config:?}.",
                session.agent
            ),
            if ids.is_empty() {
                "It offers no options.".to_owned()
            } else {
                format!("It offers: {}", ids.join(", "))
            },
        ));
    };
    let values = option_values(option);
    if !values.iter().any(|v| v == value) {
        return Err(SamError::invalid_input(
            format!(
                "{value:?} is not a value of the option {config:?} of {}.",
                session.agent
            ),
            format!("Choose one of: {}", values.join(", ")),
        ));
    }
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    if !store.claim_agent_session(&session.id, stale)? {
        return Err(SamError::invalid_input(
            format!(
                "The coding agent in session {} is in a turn; its options change between turns.",
                session.id
            ),
            "Try again once the turn has ended (or cancel it: sam agent cancel).",
        ));
    }
    let set = async {
        let (acp, _events) = attach_at_end(core, &session).await?;
        let acp_session = SessionId::new(session.acp_session.clone());
        answer_in_time(
            "session/set_config_option",
            acp.set_config_option(&acp_session, config, value),
        )
        .await
        .map_err(|err| coding_agent_error(&session.agent, &err))
    }
    .await;
    store.release_agent_session(&session.id)?;
    let answer = set?;
    store.append_transcript(
        &session.id,
        &[TranscriptEntry::Event {
            kind: "config",
            body: json!({
                "configId": config,
                "value": value,
                "by": by,
                "configOptions": answer.get("configOptions").cloned().unwrap_or(Value::Null),
            }),
        }],
        None,
    )?;
    Ok(())
}

/// The values of a select option, flat or in groups.
fn option_values(option: &Value) -> Vec<String> {
    let mut values = Vec::new();
    for entry in option["options"].as_array().into_iter().flatten() {
        if let Some(value) = entry["value"].as_str() {
            values.push(value.to_owned());
        }
        for inner in entry["options"].as_array().into_iter().flatten() {
            if let Some(value) = inner["value"].as_str() {
                values.push(value.to_owned());
            }
        }
    }
    values
}
