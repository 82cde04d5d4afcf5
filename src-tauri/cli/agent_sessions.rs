//! `sam agent start|sessions|prompt|resume|pending|answer`: coding agents' sessions in a workspace.

use clap::Subcommand;
use sam_core::acp::schema::{ContentBlock, SessionUpdate, StopReason};

use super::{find, print_json, print_note, print_partial, print_text};
use sam_core::Core;
use sam_core::coding_agents::images::PromptImage;
use sam_core::coding_agents::sessions::{self, AgentChoice, TurnEvent};
use sam_core::error::SamError;
use sam_core::store::PermissionRow;

#[derive(Debug, Subcommand)]
pub(super) enum SessionCommand {
    /// Start a coding agent in a running workspace; prints the session's id.
    Start {
        /// The workspace (id or name).
        workspace: String,
        /// A catalogue agent's id (see `sam agent catalog`).
        #[arg(long, conflicts_with = "command", required_unless_present = "command")]
        agent: Option<String>,
        /// A command line instead, for an agent that is not in the catalogue.
        #[arg(long)]
        command: Option<String>,
        /// The session's mode (one the agent offers); a catalogue agent otherwise starts in
        /// the mode in which it asks before it acts.
        #[arg(long)]
        mode: Option<String>,
    },
    /// Set a session's mode (one the agent offers).
    Mode {
        /// The session's id.
        session: String,
        /// The mode's id.
        mode: String,
    },
    /// Set one of a session's other options (a model, say) to one of its values, between turns.
    Config {
        /// The session's id.
        session: String,
        /// The option's id (the agent's `configOptions`).
        option: String,
        /// One of its values.
        value: String,
    },
    /// A workspace's coding agent sessions.
    Sessions {
        /// The workspace (id or name).
        workspace: String,
    },
    /// Send a prompt and follow the turn until the agent ends it (exit 0 when it ends the turn
    /// normally, 1 otherwise). Permission requests wait for `sam agent answer`.
    Prompt {
        /// The session's id.
        session: String,
        /// What to ask.
        text: String,
        /// An image to send with it (PNG, JPEG, GIF or WebP; repeatable), for an agent that
        /// takes images.
        #[arg(long = "image", value_name = "FILE")]
        images: Vec<std::path::PathBuf>,
    },
    /// Follow a turn whose `sam agent prompt` (or app) went away mid-turn, from where it
    /// stopped, until the coding agent ends it.
    Follow {
        /// The session's id.
        session: String,
    },
    /// Take up a session whose coding agent's process went away (it crashed, or the workspace
    /// stopped): a new process loads it (ACP's session/load), where the agent can.
    Resume {
        /// The session's id.
        session: String,
    },
    /// Permission requests that wait for an answer, with the agent's options.
    Pending,
    /// Stop a session's turn: waiting permission requests are answered `cancelled`, and the
    /// process running the turn tells the coding agent.
    Cancel {
        /// The session's id.
        session: String,
    },
    /// Answer a permission request with one of its options.
    Answer {
        /// The request's number (see `sam agent pending`).
        request: i64,
        /// The option's id.
        option: String,
    },
}

pub(super) async fn run(core: &Core, command: SessionCommand, json: bool) -> Result<(), SamError> {
    match command {
        SessionCommand::Start {
            workspace,
            agent,
            command,
            mode,
        } => {
            let workspace = find(core, &workspace)?;
            let choice = match (agent, command) {
                (Some(agent), _) => AgentChoice::Catalogue(agent),
                (None, Some(command)) => AgentChoice::Command(command),
                (None, None) => unreachable!("clap requires one"),
            };
            let mut progress = |step: &str| print_note(&format!("sam: {step}"));
            let session =
                sessions::start(core, &workspace, &choice, mode.as_deref(), &mut progress).await?;
            if json {
                print_json(&serde_json::json!({ "session": session }));
            } else {
                print_text(&format!(
                    "Started {} in {}: session {}\nPrompt it with: sam agent prompt {} \"…\"",
                    session.agent, workspace.name, session.id, session.id
                ));
            }
        }
        SessionCommand::Resume { session } => {
            let mut progress = |step: &str| print_note(&format!("sam: {step}"));
            let session = sessions::resume(core, &session, &mut progress).await?;
            if json {
                print_json(&serde_json::json!({ "session": session }));
            } else {
                print_text(&format!(
                    "Session {} of {} is back; its coding agent loaded it.\nPrompt it with: sam agent prompt {} \"…\"",
                    session.id, session.agent, session.id
                ));
            }
        }
        SessionCommand::Config {
            session,
            option,
            value,
        } => {
            sessions::set_config(core, &session, &option, &value, "cli").await?;
            if json {
                print_json(&serde_json::json!({ "option": option, "value": value }));
            } else {
                print_text(&format!("Session {session}: {option} is {value}."));
            }
        }
        SessionCommand::Mode { session, mode } => {
            sessions::set_mode(core, &session, &mode, "cli").await?;
            if json {
                print_json(&serde_json::json!({ "mode": mode }));
            } else {
                print_text(&format!("Session {session} is in mode {mode}."));
            }
        }
        SessionCommand::Sessions { workspace } => {
            let workspace = find(core, &workspace)?;
            let list = core.store().agent_sessions(&workspace.id)?;
            if json {
                print_json(&serde_json::json!({ "sessions": list }));
            } else if list.is_empty() {
                print_text(&format!("No coding agent sessions in {}.", workspace.name));
            } else {
                for s in &list {
                    print_text(&format!("{}  {:<12} {}", s.id, s.agent, s.state));
                }
            }
        }
        SessionCommand::Prompt {
            session,
            text,
            images,
        } => {
            let images = images
                .iter()
                .map(|path| read_image(path))
                .collect::<Result<Vec<_>, _>>()?;
            let turn = sessions::begin_with_images(core, &session, &text, images).await?;
            turned(core, turn, json).await?;
        }
        SessionCommand::Follow { session } => {
            let state = core.store().agent_session(&session)?.state;
            if state == "idle" {
                print_note(&format!("Session {session} has no turn to follow."));
                return Ok(());
            }
            let turn = sessions::begin(core, &session, None).await?;
            turned(core, turn, json).await?;
        }
        SessionCommand::Pending => {
            let waiting = core.store().waiting_permissions()?;
            if json {
                print_json(&serde_json::json!({ "pending": waiting }));
            } else if waiting.is_empty() {
                print_text("No coding agent waits for an answer.");
            } else {
                for row in &waiting {
                    print_text(&describe(row));
                }
            }
        }
        SessionCommand::Cancel { session } => {
            let answered = sessions::cancel(core, &session)?;
            if json {
                print_json(&serde_json::json!({ "answered": answered }));
            } else {
                print_text(&format!(
                    "Cancelling session {session}: {answered} waiting request(s) answered cancelled."
                ));
            }
        }
        SessionCommand::Answer { request, option } => {
            let row = sessions::answer(core, request, &option, "cli")?;
            if json {
                print_json(&serde_json::json!({ "answered": row }));
            } else {
                print_text(&format!(
                    "Answered request {request}: {option}. The turn's process hands it to the coding agent."
                ));
            }
        }
    }
    Ok(())
}

/// Follows a turn to its end, printing it; exits 1 unless it ended normally.
async fn turned(core: &Core, turn: sessions::Turn, json: bool) -> Result<(), SamError> {
    let stop = turn.run(core, |event| report(&event, json)).await?;
    if json {
        print_json(&serde_json::json!({ "type": "done", "stopReason": stop }));
    } else {
        print_text(&format!("\n[turn ended: {}]", stop_text(stop)));
    }
    if stop != StopReason::EndTurn {
        std::process::exit(1);
    }
    Ok(())
}

/// One line per event: JSON lines with `--json`, readable text otherwise.
fn report(event: &TurnEvent, json: bool) {
    if json {
        let line = match event {
            TurnEvent::Update(update) => serde_json::json!({"type": "update", "update": update}),
            TurnEvent::Permission(row) => {
                serde_json::json!({"type": "permission", "permission": row})
            }
            TurnEvent::Answered(row) => serde_json::json!({"type": "answered", "permission": row}),
            TurnEvent::Malformed(what) => serde_json::json!({"type": "malformed", "detail": what}),
        };
        print_json(&line);
        return;
    }
    match event {
        TurnEvent::Update(update) => match &update.update {
            SessionUpdate::AgentMessageChunk(chunk) => {
                if let ContentBlock::Text(text) = &chunk.content {
                    print_partial(&text.text);
                }
            }
            SessionUpdate::ToolCall(call) => print_text(&format!("\n[tool] {}", call.title)),
            _ => {}
        },
        TurnEvent::Permission(row) => print_text(&format!("\n{}", describe(row))),
        TurnEvent::Answered(row) => print_text(&format!(
            "[request {} answered: {} (by {})]",
            row.id,
            row.answer.as_deref().unwrap_or("?"),
            row.answered_by.as_deref().unwrap_or("?")
        )),
        TurnEvent::Malformed(what) => print_note(&format!("[not ACP] {what}")),
    }
}

fn describe(row: &PermissionRow) -> String {
    let title = row.request["toolCall"]["title"]
        .as_str()
        .unwrap_or("(no title)");
    let options: Vec<String> = row.request["options"]
        .as_array()
        .map(|options| {
            options
                .iter()
                .map(|o| {
                    format!(
                        "{} ({})",
                        o["optionId"].as_str().unwrap_or("?"),
                        o["name"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if let (Some(answer), Some(by)) = (&row.answer, &row.answered_by) {
        return format!(
            "Permission request {} (session {}): {title}\n  answered {answer} by {by}",
            row.id, row.session_id
        );
    }
    format!(
        "Permission request {} (session {}): {title}\n  options: {}\n  answer with: sam agent answer {} OPTION",
        row.id,
        row.session_id,
        options.join(", "),
        row.id
    )
}

/// An image file for a prompt, refused with the reason when it cannot be one.
fn read_image(path: &std::path::Path) -> Result<PromptImage, SamError> {
    let bytes = std::fs::read(path).map_err(|err| {
        SamError::invalid_input(
            format!("The image {} cannot be read: {err}.", path.display()),
            "Give the path of a PNG, JPEG, GIF or WebP file.",
        )
    })?;
    PromptImage::from_bytes(&bytes).ok_or_else(|| {
        SamError::invalid_input(
            format!("{} is not a PNG, JPEG, GIF or WebP image.", path.display()),
            "Coding agents take those four kinds of image.",
        )
    })
}

fn stop_text(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn => "done",
        StopReason::MaxTokens => "the model's token limit",
        StopReason::MaxTurnRequests => "the agent's request limit",
        StopReason::Refusal => "the agent refused",
        StopReason::Cancelled => "cancelled",
        _ => "stopped",
    }
}
