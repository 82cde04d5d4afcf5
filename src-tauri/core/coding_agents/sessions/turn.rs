//! Following a coding agent's turn: one process at a time reads the session's stream from where
//! its transcript stopped, records what comes (with the stream offset, in one transaction), hands
//! over answers given anywhere, and ends the turn when the coding agent does.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{TurnEvent, coding_agent_error, ended};
use crate::Core;
use crate::acp::schema::{
    PromptResponse, RequestPermissionOutcome, SelectedPermissionOutcome, SessionId, StopReason,
};
use crate::acp::{AcpConnection, AcpError, AcpEvent, AcpEvents};
use crate::coding_agents::images::PromptImage;
use crate::coding_agents::rules;
use crate::error::{ErrorCategory, SamError};
use crate::store::{AgentEventRow, AgentSessionRow, TranscriptEntry};
use crate::terminal::local_urls::local_ports;
use crate::workspace::WorkspaceId;

/// How often a turn's follower looks for answers and cancels given elsewhere.
const ANSWER_POLL: Duration = Duration::from_millis(250);
/// How often it says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a follower may be silent before another process adopts its turn.
pub const STALE: Duration = Duration::from_secs(5);

/// A turn being followed: begun by [`begin`], run to its end by [`Turn::run`].
#[derive(Debug)]
pub struct Turn {
    session: AgentSessionRow,
    acp: AcpConnection,
    events: AcpEvents,
    /// The prompt this process sent, while it runs; `None` when following a turn that an
    /// earlier process started (its answer arrives as a stray one).
    request: Option<JoinHandle<Result<PromptResponse, AcpError>>>,
    /// The repository's folder on the workspace's machine, where path rules are relative to.
    root: Option<String>,
}

/// Takes a session's turn: with `prompt`, starts a new one (refused while one runs); without,
/// adopts the one a process that went away was following. Fails before anything is sent when
/// the session has ended or another process follows it.
pub async fn begin(core: &Core, session_id: &str, prompt: Option<&str>) -> Result<Turn, SamError> {
    begin_with(core, session_id, prompt.map(|text| (text, Vec::new()))).await
}

/// [`begin`] with a prompt that carries images too, for a coding agent that takes them.
pub async fn begin_with_images(
    core: &Core,
    session_id: &str,
    text: &str,
    images: Vec<PromptImage>,
) -> Result<Turn, SamError> {
    crate::coding_agents::images::check(&images)?;
    if !images.is_empty() {
        let session = core.store().agent_session(session_id)?;
        let started = super::started(core.store(), session_id)?;
        if started["initialize"]["agentCapabilities"]["promptCapabilities"]["image"] != true {
            return Err(SamError::invalid_input(
                format!("The coding agent {} does not take images.", session.agent),
                "Describe what the image shows, or mention an image file of the repository with @.",
            ));
        }
    }
    begin_with(core, session_id, Some((text, images))).await
}

async fn begin_with(
    core: &Core,
    session_id: &str,
    prompt: Option<(&str, Vec<PromptImage>)>,
) -> Result<Turn, SamError> {
    let store = core.store();
    let session = store.agent_session(session_id)?;
    if session.state == "ended" {
        return Err(ended(&session, "its coding agent is gone"));
    }
    if prompt.is_some() && session.state != "idle" {
        return Err(SamError::invalid_input(
            format!(
                "The coding agent in session {} has not finished its turn ({}).",
                session.id, session.state
            ),
            "Wait for it, answer what it asks (sam agent pending), or cancel it: sam agent cancel",
        ));
    }
    let stale = i64::try_from(STALE.as_millis()).unwrap_or(i64::MAX);
    if !store.claim_agent_session(&session.id, stale)? {
        return Err(SamError::invalid_input(
            format!(
                "Another SAM process (the app or a sam agent prompt) is following session {}.",
                session.id
            ),
            "Follow it there, or try again once its turn has ended.",
        ));
    }
    let taken = take(core, &session, prompt).await;
    if taken.is_err() {
        store.release_agent_session(&session.id)?;
    }
    taken
}

async fn take(
    core: &Core,
    session: &AgentSessionRow,
    prompt: Option<(&str, Vec<PromptImage>)>,
) -> Result<Turn, SamError> {
    let store = core.store();
    let workspace = store.workspace(&session.workspace_id.parse()?)?;
    let client = core.workspaces().connect(&workspace).await?;
    if client.epoch().unwrap_or_default() != session.epoch {
        let recovered = super::journal::recover(core, session, &client).await?;
        let why = match recovered {
            0 => "the workspace's agent restarted since it started".to_owned(),
            n => format!(
                "the workspace's agent restarted since it started; {n} messages it sent while \
                 SAM was away were recovered from its journal"
            ),
        };
        return Err(end(core, session, &why)?);
    }
    let streams = client.list().await.map_err(SamError::from)?;
    let Some(info) = streams.iter().find(|s| s.stream == session.stream) else {
        return Err(end(core, session, "its process is gone")?);
    };
    if let Some(exit) = info.exit
        && session.read_offset >= info.out_head
    {
        return Err(end(
            core,
            session,
            &format!("its process ended ({exit:?})"),
        )?);
    }
    // The agent's key, read here, is known to the redactor: a coding agent that quotes it
    // does not put it in the transcript.
    if let Err(err) = crate::coding_agents::keys::key(core, &session.agent).await {
        tracing::warn!(%err, agent = %session.agent, "its key could not be read for redaction");
    }
    let root = info.cwd.clone();
    let (acp, events) = AcpConnection::attach(&client, session.stream, session.read_offset)
        .await
        .map_err(|err| coding_agent_error(&session.agent, &err))?;
    let request = match prompt {
        Some((text, images)) => {
            // `@path` mentions of files that exist go along as links to them.
            // (The workspace agent refuses paths outside the repository.)
            let mut files = Vec::new();
            if root.is_some() {
                for path in crate::coding_agents::mentions::mentioned(text) {
                    if let Ok(entry) = client.fs_stat(&path).await
                        && entry.kind == crate::agent_client::FsKind::File
                    {
                        files.push(path);
                    }
                }
            }
            store.append_transcript(
                &session.id,
                &[TranscriptEntry::Event {
                    kind: "prompt",
                    body: {
                        let mut body = json!({ "text": text });
                        if !files.is_empty() {
                            body["files"] = json!(files);
                        }
                        if !images.is_empty() {
                            let kept: Vec<_> = images
                                .iter()
                                .map(|i| json!({ "mimeType": i.mime_type, "bytes": i.bytes() }))
                                .collect();
                            body["images"] = json!(kept);
                        }
                        body
                    },
                }],
                None,
            )?;
            store.set_agent_session_state(&session.id, "working")?;
            let acp_session = SessionId::new(session.acp_session.clone());
            let links: Vec<(String, String)> = files
                .iter()
                .map(|path| {
                    let root = root.as_deref().unwrap_or("").trim_end_matches('/');
                    (format!("file://{root}/{path}"), path.clone())
                })
                .collect();
            let images: Vec<(String, String)> = images
                .into_iter()
                .map(|image| (image.data, image.mime_type))
                .collect();
            let (acp, text) = (acp.clone(), text.to_owned());
            Some(tokio::spawn(async move {
                acp.prompt_with(&acp_session, &text, &links, &images).await
            }))
        }
        None => None,
    };
    Ok(Turn {
        session: session.clone(),
        acp,
        events,
        request,
        root,
    })
}

impl Turn {
    /// The session this turn belongs to.
    pub fn session(&self) -> &AgentSessionRow {
        &self.session
    }

    /// Follows the turn until the coding agent ends it, recording everything in the transcript
    /// and reporting it to `on` in order. Lets the session go at the end, however it ends.
    pub async fn run(
        mut self,
        core: &Core,
        mut on: impl FnMut(TurnEvent),
    ) -> Result<StopReason, SamError> {
        let outcome = self.follow(core, &mut on).await;
        let store = core.store();
        let id = &self.session.id;
        let (state, entry) = match &outcome {
            Ok(stop) => ("idle", ("turn", json!({ "stopReason": stop }))),
            Err(err) => ("ended", ("ended", json!({ "reason": err.message }))),
        };
        store.append_transcript(
            id,
            &[TranscriptEntry::Event {
                kind: entry.0,
                body: entry.1,
            }],
            Some(self.events.position()),
        )?;
        if state == "ended" {
            store.cancel_waiting_permissions(id)?;
        }
        store.set_agent_session_state(id, state)?;
        store.release_agent_session(id)?;
        outcome
    }

    async fn follow(
        &mut self,
        core: &Core,
        on: &mut impl FnMut(TurnEvent),
    ) -> Result<StopReason, SamError> {
        let store = core.store();
        let id = self.session.id.clone();
        self.deliver_answers(core, on)?;
        let mut poll = tokio::time::interval(ANSWER_POLL);
        let mut beat = tokio::time::interval(HEARTBEAT);
        loop {
            tokio::select! {
                biased;
                event = self.events.next() => match event {
                    Some(event) => {
                        let mut batch = vec![event];
                        while let Some(more) = self.events.try_next() {
                            batch.push(more);
                        }
                        if let Some(end) = self.record(core, batch, on)? {
                            return end;
                        }
                        // What a rule answered goes to the coding agent at once.
                        self.deliver_answers(core, on)?;
                    }
                    None => return Err(ended(&self.session, "its stream closed")),
                },
                _ = beat.tick() => store.heartbeat_agent_session(&id)?,
                _ = poll.tick() => {
                    // A cancel asked elsewhere: tell the coding agent first, then hand over the
                    // `cancelled` answers it recorded, as ACP orders them.
                    if store.agent_session(&id)?.state == "cancelling" {
                        self.acp.send_cancel(&SessionId::new(self.session.acp_session.clone()));
                        store.set_agent_session_state(&id, "working")?;
                    }
                    self.deliver_answers(core, on)?;
                    super::mode::hand_over(core, &self.session, &self.acp)?;
                }
                finished = async { self.request.as_mut().expect("guarded").await },
                    if self.request.is_some() =>
                {
                    self.request = None;
                    // What came before the answer is already queued: record it all first.
                    let mut rest = Vec::new();
                    while let Some(more) = self.events.try_next() {
                        rest.push(more);
                    }
                    if let Some(end) = self.record(core, rest, on)? {
                        return end;
                    }
                    return match finished {
                        Ok(Ok(response)) => Ok(response.stop_reason),
                        Ok(Err(err)) => Err(coding_agent_error(&self.session.agent, &err)),
                        Err(join) => Err(SamError::internal("The turn's task failed.", &join)),
                    };
                }
            }
        }
    }

    /// Records a batch of events in one transaction with the stream position, then reports
    /// them. Returns the turn's end when the batch holds it.
    fn record(
        &mut self,
        core: &Core,
        batch: Vec<AcpEvent>,
        on: &mut impl FnMut(TurnEvent),
    ) -> Result<Option<Result<StopReason, SamError>>, SamError> {
        let mut entries = Vec::with_capacity(batch.len());
        let mut finish = None;
        let mut rules = None;
        for event in batch {
            let event_entry = |kind, body| TranscriptEntry::Event { kind, body };
            match event {
                AcpEvent::Update(update) => entries.push(event_entry(
                    "update",
                    serde_json::to_value(&update).unwrap_or(Value::Null),
                )),
                AcpEvent::Permission(ask) => {
                    let request = serde_json::to_value(&ask.request).unwrap_or(Value::Null);
                    let rules = match &rules {
                        Some(rules) => rules,
                        None => rules.insert(
                            core.store()
                                .permission_rules(&self.session.workspace_id.parse()?)?,
                        ),
                    };
                    let ruled =
                        rules::decide(rules, &self.session.agent, self.root.as_deref(), &request)
                            .map(|(option, rule)| (option, format!("rule {}", rule.id)));
                    entries.push(TranscriptEntry::Permission {
                        rpc_id: ask.id.to_string(),
                        request,
                        ruled,
                    });
                }
                AcpEvent::Malformed(detail) => {
                    entries.push(event_entry("malformed", json!({ "detail": detail })));
                }
                AcpEvent::StrayAnswer(message) => match earlier_turn_end(&message) {
                    // The answer to the prompt of a turn this process adopted.
                    Some(end) if self.request.is_none() && finish.is_none() => {
                        finish = Some(end.map_err(|why| {
                            SamError::new(
                                ErrorCategory::Agent,
                                format!("The coding agent {} failed: {why}.", self.session.agent),
                                "Its messages are in the workspace's agent log.",
                            )
                        }));
                    }
                    // Another process's request (a mode set from elsewhere), or noise.
                    _ => tracing::debug!(id = %message["id"], "an answer to no request of ours"),
                },
                AcpEvent::Exited(status) => {
                    finish.get_or_insert_with(|| {
                        Err(ended(
                            &self.session,
                            &format!("its process ended ({status:?})"),
                        ))
                    });
                }
            }
        }
        let rows = core.store().append_transcript(
            &self.session.id,
            &entries,
            Some(self.events.position()),
        )?;
        self.offer_printed_ports(core, &rows);
        for row in rows {
            on(match row.kind.as_str() {
                "update" => match serde_json::from_value(row.body) {
                    Ok(update) => TurnEvent::Update(Box::new(update)),
                    Err(err) => TurnEvent::Malformed(err.to_string()),
                },
                "permission" => match serde_json::from_value(row.body) {
                    Ok(permission) => TurnEvent::Permission(permission),
                    Err(err) => TurnEvent::Malformed(err.to_string()),
                },
                _ => TurnEvent::Malformed(row.body["detail"].as_str().unwrap_or("").to_owned()),
            });
        }
        Ok(finish)
    }

    /// Offers to forward the ports of loopback addresses (`http://localhost:3000`) the coding
    /// agent wrote in `rows` or its commands printed.
    fn offer_printed_ports(&self, core: &Core, rows: &[AgentEventRow]) {
        let Ok(workspace) = self.session.workspace_id.parse::<WorkspaceId>() else {
            return;
        };
        let mut ports = self.acp.take_printed_ports();
        for row in rows.iter().filter(|row| row.kind == "update") {
            ports.extend(local_ports(row.body.to_string().as_bytes()));
        }
        for port in ports {
            core.forwards().offer(&workspace, port, &self.session.agent);
        }
    }

    /// Hands the coding agent every answer given for this session that has not reached it yet.
    fn deliver_answers(&self, core: &Core, on: &mut impl FnMut(TurnEvent)) -> Result<(), SamError> {
        let store = core.store();
        let session = &self.session.id;
        for row in store.undelivered_answers(session)? {
            let Ok(id) = serde_json::from_str::<Value>(&row.rpc_id) else {
                continue;
            };
            let outcome = match row.answer.as_deref() {
                Some("cancelled") | None => RequestPermissionOutcome::Cancelled,
                Some(option) => RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(
                    option.to_owned(),
                )),
            };
            self.acp.deliver(&id, outcome);
            store.mark_permission_delivered(row.id)?;
            let row = store.permission(row.id)?;
            store.append_transcript(
                session,
                &[TranscriptEntry::Event {
                    kind: "answered",
                    body: serde_json::to_value(&row).unwrap_or(Value::Null),
                }],
                None,
            )?;
            if store.agent_session(session)?.state == "waiting" && !store.is_waiting(session)? {
                store.set_agent_session_state(session, "working")?;
            }
            on(TurnEvent::Answered(row));
        }
        Ok(())
    }
}

/// Whether a stray answer is the end of a turn: its `session/prompt` answer (a stop reason) or
/// an error.
pub(super) fn earlier_turn_end(message: &Value) -> Option<Result<StopReason, String>> {
    if let Some(error) = message.get("error") {
        return Some(Err(error["message"]
            .as_str()
            .unwrap_or("an error without a message")
            .to_owned()));
    }
    let stop = message.get("result")?.get("stopReason")?;
    serde_json::from_value(stop.clone()).ok().map(Ok)
}

/// Records that a session ended, and why; the error to return.
fn end(core: &Core, session: &AgentSessionRow, why: &str) -> Result<SamError, SamError> {
    let store = core.store();
    store.append_transcript(
        &session.id,
        &[TranscriptEntry::Event {
            kind: "ended",
            body: json!({ "reason": why }),
        }],
        None,
    )?;
    store.cancel_waiting_permissions(&session.id)?;
    store.set_agent_session_state(&session.id, "ended")?;
    Ok(ended(session, why))
}
