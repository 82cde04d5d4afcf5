//! Coding agents that need the person, told outside the window: while the window is not in
//! front, a permission request becomes a desktop notification with the agent's own Allow and
//! Deny, and the end of a turn becomes one that opens the workspace. Requests and turns are read
//! from the store, so those of a `sam agent prompt` are told too; a request that waited while
//! the app was closed is told at the next start.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tauri::{AppHandle, Manager};

use sam_core::Core;
use sam_core::error::SamError;
use sam_core::notice::Notice;
use sam_core::store::PermissionRow;

/// How often the store is looked at.
const POLL: Duration = Duration::from_millis(300);

/// Watches for waiting requests and ended turns until the core goes away.
pub async fn watch(app: AppHandle, core: Arc<Core>) {
    let mut told = HashSet::new();
    let mut states = HashMap::new();
    let mut tick = tokio::time::interval(POLL);
    loop {
        tick.tick().await;
        if let Err(err) = look(&app, &core, &mut told, &mut states) {
            tracing::warn!(%err, "looking for coding agents that need you failed");
        }
    }
}

fn look(
    app: &AppHandle,
    core: &Core,
    told: &mut HashSet<i64>,
    states: &mut HashMap<String, String>,
) -> Result<(), SamError> {
    let store = core.store();
    let in_front = in_front(app);
    let waiting = store.waiting_permissions()?;
    // A request seen while the window is in front is on screen there: not told again later.
    for row in &waiting {
        if told.insert(row.id) && !in_front {
            core.notices().publish(waiting_notice(core, row)?);
        }
    }
    told.retain(|id| waiting.iter().any(|row| row.id == *id));
    for workspace in store.workspaces()? {
        for session in store.agent_sessions(&workspace.id)? {
            let before = states.insert(session.id.clone(), session.state.clone());
            let was_in_turn = before
                .as_deref()
                .is_some_and(|state| matches!(state, "working" | "waiting" | "cancelling"));
            if was_in_turn && session.state == "idle" && !in_front {
                let head = store.transcript_head(&session.id)?;
                let last = store.transcript(&session.id, head - 1, 1)?;
                let stop = last
                    .first()
                    .and_then(|row| row.body["stopReason"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                core.notices().publish(Notice::AgentDone {
                    workspace: workspace.id.clone(),
                    name: workspace.name.clone(),
                    agent: session.agent.clone(),
                    session: session.id.clone(),
                    outcome: outcome(&stop).to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// Whether the window is shown and has the focus.
fn in_front(app: &AppHandle) -> bool {
    app.get_webview_window("main").is_some_and(|window| {
        window.is_visible().unwrap_or(false) && window.is_focused().unwrap_or(false)
    })
}

fn waiting_notice(core: &Core, row: &PermissionRow) -> Result<Notice, SamError> {
    let workspace = core.store().workspace(&row.workspace_id.parse()?)?;
    let options = row.request["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // The agent's own options, by their kind: the first that allows once (or always), the
    // first that refuses.
    let pick = |kinds: &[&str]| {
        kinds.iter().find_map(|kind| {
            options.iter().find_map(|option| {
                (option["kind"].as_str() == Some(kind)).then(|| {
                    (
                        option["optionId"].as_str().unwrap_or_default().to_owned(),
                        option["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
            })
        })
    };
    Ok(Notice::AgentWaiting {
        workspace: workspace.id,
        name: workspace.name,
        agent: row.agent.clone(),
        request: row.id,
        title: row.request["toolCall"]["title"]
            .as_str()
            .unwrap_or("to act")
            .to_owned(),
        allow: pick(&["allow_once", "allow_always"]),
        deny: pick(&["reject_once", "reject_always"]),
    })
}

fn outcome(stop: &str) -> &'static str {
    match stop {
        "end_turn" => "done",
        "cancelled" => "cancelled",
        "max_tokens" => "the model's token limit",
        "max_turn_requests" => "its request limit",
        "refusal" => "it refused",
        _ => "stopped",
    }
}
