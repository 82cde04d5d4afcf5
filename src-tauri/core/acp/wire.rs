//! ACP's wire: writing JSON-RPC lines to the coding agent's stdin, and reading its stdout line
//! by line into answers and events.

use std::sync::Arc;

use agent_client_protocol_schema::v1::{
    CLIENT_METHOD_NAMES, RequestPermissionRequest, SessionNotification,
};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{AcpError, AcpEvent, PermissionAsk, Shared, lock};
use crate::agent_client::{StreamEvent, StreamHandle, StreamInput};

/// JSON-RPC's "method not found".
const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC's "invalid params".
pub(super) const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC's "internal error".
pub(super) const INTERNAL_ERROR: i64 = -32603;

/// Sends a request.
pub(super) fn call(input: &StreamInput, id: u64, method: &str, params: &impl Serialize) {
    send(
        input,
        &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
    );
}

/// Sends a notification.
pub(super) fn notify(input: &StreamInput, method: &str, params: &impl Serialize) {
    send(
        input,
        &json!({"jsonrpc": "2.0", "method": method, "params": params}),
    );
}

/// Answers one of the coding agent's requests.
pub(super) fn respond(input: &StreamInput, id: &Value, result: &Value) {
    send(
        input,
        &json!({"jsonrpc": "2.0", "id": id, "result": result}),
    );
}

pub(super) fn refuse(input: &StreamInput, id: &Value, code: i64, message: &str) {
    send(
        input,
        &json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}),
    );
}

fn send(input: &StreamInput, message: &Value) {
    input.write(format!("{message}\n").as_bytes(), false);
}

/// Reads the stream until it ends: whole lines are dispatched, answers complete requests, and
/// everything else becomes an event, sent with the stream offset just past its line (lines that
/// make no event send the offset alone). When it ends, every request still waiting fails.
pub(super) async fn read(
    mut handle: StreamHandle,
    shared: Arc<Shared>,
    input: StreamInput,
    events: mpsc::UnboundedSender<(u64, Option<AcpEvent>)>,
) {
    let mut partial: Vec<u8> = Vec::new();
    // The stream offset of `partial[0]`.
    let mut start = 0u64;
    // Reading stops when nobody takes the events any more: dropping `AcpEvents` detaches.
    loop {
        let event = tokio::select! {
            () = events.closed() => break,
            event = handle.next() => match event {
                Some(event) => event,
                None => break,
            },
        };
        match event {
            StreamEvent::Output { offset, bytes } => {
                if partial.is_empty() {
                    start = offset;
                }
                partial.extend_from_slice(&bytes);
                while let Some(end) = partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=end).collect();
                    start += line.len() as u64;
                    match dispatch(&line, &shared, &input) {
                        Line::Event(event) => {
                            let _ = events.send((start, event));
                        }
                        // The position first: whoever the answer wakes sees the line as read.
                        Line::Answer(pending, outcome) => {
                            let _ = events.send((start, None));
                            let _ = pending.reply.send(outcome);
                        }
                    }
                }
            }
            StreamEvent::Gap { from, base } => {
                partial.clear();
                start = base;
                let lost = base.saturating_sub(from);
                let _ = events.send((
                    base,
                    Some(AcpEvent::Malformed(format!(
                        "{lost} bytes of the coding agent's messages were lost (the desktop fell behind)"
                    ))),
                ));
            }
            StreamEvent::Exit(status) => {
                let _ = events.send((start, Some(AcpEvent::Exited(status))));
                break;
            }
            StreamEvent::Reset => break,
        }
    }
    for (_, pending) in lock(&shared.pending).drain() {
        let _ = pending.reply.send(Err(AcpError::Gone(pending.method)));
    }
}

/// What a line was.
enum Line {
    /// A request or notification (an event, or nothing when it was answered or ignored), or
    /// something else (`Malformed`).
    Event(Option<AcpEvent>),
    /// The answer to one of our requests, for the reader to deliver.
    Answer(super::Pending, Result<Value, AcpError>),
}

/// One line: an answer (to deliver, no event), a request or notification (an event, or a
/// refusal written back), or something else (`Malformed`).
fn dispatch(line: &[u8], shared: &Shared, input: &StreamInput) -> Line {
    Line::Event(match classify(line, shared, Some(input)) {
        Ok(event) => event,
        Err(answer) => return answer,
    })
}

/// The events in output of a process that is gone (a journal), each with the offset just past
/// its line; `start` is the offset of `bytes[0]`. Requests are not carried out and nothing is
/// answered: nobody is there to hear it. A last line without its end is left out.
pub(super) fn replay(bytes: &[u8], start: u64) -> Vec<(u64, AcpEvent)> {
    let shared = Shared::default();
    let mut events = Vec::new();
    let mut at = 0;
    while let Some(end) = bytes[at..].iter().position(|b| *b == b'\n') {
        let line = &bytes[at..=at + end];
        at += end + 1;
        if let Ok(Some(event)) = classify(line, &shared, None) {
            events.push((start + at as u64, event));
        }
    }
    events
}

/// One line; with no `input` (a replay), requests are neither carried out nor answered.
fn classify(
    line: &[u8],
    shared: &Shared,
    input: Option<&StreamInput>,
) -> Result<Option<AcpEvent>, Line> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let Ok(Value::Object(message)) = serde_json::from_str::<Value>(text) else {
        return Ok(Some(AcpEvent::Malformed(format!(
            "not JSON-RPC: {}",
            clip(text)
        ))));
    };
    let id = message.get("id").cloned();
    let params = message.get("params").cloned().unwrap_or(Value::Null);
    Ok(match (message.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) if method == CLIENT_METHOD_NAMES.session_request_permission => {
            match serde_json::from_value::<RequestPermissionRequest>(params) {
                Ok(request) => {
                    lock(&shared.asks)
                        .insert(id.to_string(), (id.clone(), request.session_id.clone()));
                    Some(AcpEvent::Permission(Box::new(PermissionAsk {
                        id,
                        request,
                    })))
                }
                Err(err) => {
                    if let Some(input) = input {
                        refuse(input, &id, INVALID_PARAMS, &err.to_string());
                    }
                    Some(AcpEvent::Malformed(format!(
                        "a permission request SAM cannot read: {err}"
                    )))
                }
            }
        }
        (Some(method), Some(id))
            if method == CLIENT_METHOD_NAMES.fs_read_text_file && shared.files.is_some() =>
        {
            if let (Some(files), Some(input)) = (&shared.files, input) {
                files.read(input, id, params);
            }
            None
        }
        (Some(method), Some(id))
            if method == CLIENT_METHOD_NAMES.fs_write_text_file && shared.files.is_some() =>
        {
            if let (Some(files), Some(input)) = (&shared.files, input) {
                files.write(input, id, params);
            }
            None
        }
        (Some(method), Some(id))
            if super::terminals::Terminals::handles(method) && shared.terminals.is_some() =>
        {
            if let (Some(terminals), Some(input)) = (&shared.terminals, input) {
                terminals.answer(input, method, id, params);
            }
            None
        }
        // Anything else is not offered (initialize says what is).
        (Some(method), Some(id)) => {
            if let Some(input) = input {
                refuse(
                    input,
                    &id,
                    METHOD_NOT_FOUND,
                    &format!("SAM does not offer {method}"),
                );
            }
            None
        }
        (Some(method), None) if method == CLIENT_METHOD_NAMES.session_update => {
            match serde_json::from_value::<SessionNotification>(params) {
                Ok(update) => Some(AcpEvent::Update(Box::new(update))),
                Err(err) => Some(AcpEvent::Malformed(format!(
                    "an update SAM cannot read: {err}"
                ))),
            }
        }
        // Other notifications (vendors' `_…` ones among them) are not SAM's business.
        (Some(_), None) => None,
        (None, Some(id)) => {
            let Some(pending) = id.as_u64().and_then(|n| lock(&shared.pending).remove(&n)) else {
                // An answer to a request of an earlier connection (a turn it started), or noise.
                return Ok(Some(AcpEvent::StrayAnswer(Value::Object(message))));
            };
            let outcome = match (message.get("result"), message.get("error")) {
                (_, Some(error)) => Err(AcpError::Rpc {
                    method: pending.method.clone(),
                    code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message")
                        .to_owned(),
                }),
                (Some(result), None) => Ok(result.clone()),
                (None, None) => Err(AcpError::BadAnswer {
                    method: pending.method.clone(),
                    detail: "neither result nor error".to_owned(),
                }),
            };
            return Err(Line::Answer(pending, outcome));
        }
        (None, None) => Some(AcpEvent::Malformed(format!("not JSON-RPC: {}", clip(text)))),
    })
}

fn clip(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
