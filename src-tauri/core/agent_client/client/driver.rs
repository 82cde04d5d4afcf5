//! The driver task: connect, say hello, serve the socket, reconnect with backoff — until the
//! client is closed.
//!
//! While serving, a reply goes to whoever waits for its request number (a caller, or the
//! driver's own resuming `attach`), whatever its type; an event goes to its stream.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sam_protocol::frame::{DataFrame, FrameKind};
use sam_protocol::message::request::Attach;
use sam_protocol::message::{
    AgentMessage, ClientMessage, DecodeError, Envelope, Event, Notice, Reply, Req, Request,
};
use sam_protocol::token::Audience;
use sam_protocol::{PROTOCOL_VERSION, SESSION_PATH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::super::dial::{AgentSocket, CONNECT_TIMEOUT, Caller, dial};
use super::super::error::AgentError;
use super::super::tls::PinVerifier;
use super::{
    BACKOFF_MAX, BACKOFF_START, LinkState, SILENCE_TIMEOUT, Shared, StreamEvent, Sub, Waiter,
    Welcome, lock, text,
};

/// The driver: connect, serve, reconnect — until shutdown.
pub(super) async fn drive(shared: Arc<Shared>, mut outbox: mpsc::UnboundedReceiver<Message>) {
    let mut attempt = 0u32;
    loop {
        if shared.shutdown.is_cancelled() {
            break;
        }
        let connected = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            connected = open_session(&shared) => connected,
        };
        match connected {
            Ok((socket, welcome)) => {
                attempt = 0;
                start_connection(&shared, &welcome);
                let outcome = serve(&shared, socket, &mut outbox).await;
                tracing::info!(workspace = %shared.endpoint.workspace, ?outcome, "agent connection ended");
                // Anything queued for the old connection is void; requests sent on it fail.
                while outbox.try_recv().is_ok() {}
                lock(&shared.pending).clear();
                if shared.shutdown.is_cancelled() {
                    break;
                }
                shared.state.send_replace(LinkState::Reconnecting {
                    attempt: 0,
                    error: AgentError::ConnectionLost,
                });
            }
            Err(error) => {
                attempt += 1;
                tracing::debug!(workspace = %shared.endpoint.workspace, %error, attempt, "agent connection failed");
                shared
                    .state
                    .send_replace(LinkState::Reconnecting { attempt, error });
                tokio::select! {
                    () = shared.shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff(attempt)) => {}
                    () = shared.reconnect.notified() => {}
                }
            }
        }
    }
    shared.state.send_replace(LinkState::Closed);
    lock(&shared.pending).clear();
    lock(&shared.subs).clear();
}

/// Connects, says hello, and waits for `welcome`.
async fn open_session(shared: &Shared) -> Result<(AgentSocket, Welcome), AgentError> {
    let verifier = PinVerifier::new(Some(shared.endpoint.pin.clone()));
    let caller = Caller {
        key: &shared.key,
        workspace: &shared.endpoint.workspace,
    };
    let (mut socket, _) = dial(
        &shared.endpoint.addr,
        &verifier,
        SESSION_PATH,
        &caller.token(Audience::Session),
    )
    .await?;
    let hello = Notice::Hello {
        protocol: PROTOCOL_VERSION,
        client: format!("sam-desktop/{}", env!("CARGO_PKG_VERSION")),
    };
    socket
        .send(text(hello.into()))
        .await
        .map_err(|_| AgentError::ConnectionLost)?;
    let welcome = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(body))) => {
                    return match AgentMessage::decode(body.as_str()) {
                        Ok(AgentMessage::Event(Event::Welcome {
                            epoch,
                            streams,
                            protocol,
                            limits,
                            ..
                        })) if protocol == PROTOCOL_VERSION => Ok(Welcome {
                            epoch,
                            streams,
                            tunnel_window: limits.tunnel_window,
                        }),
                        // An agent of another protocol version says so in an error event.
                        Ok(AgentMessage::Event(Event::Error { message, .. })) => {
                            Err(AgentError::Protocol(message))
                        }
                        _ => Err(AgentError::Protocol("expected welcome".into())),
                    };
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                _ => return Err(AgentError::ConnectionLost),
            }
        }
    })
    .await
    .map_err(|_| AgentError::Timeout(CONNECT_TIMEOUT))??;
    Ok((socket, welcome))
}

/// After `welcome`: notice an agent restart, then re-attach every open handle where it left off.
fn start_connection(shared: &Shared, welcome: &Welcome) {
    let previous = lock(&shared.welcome).replace(welcome.clone());
    if previous.is_some_and(|p| p.epoch != welcome.epoch) {
        for (_, sub) in lock(&shared.subs).drain() {
            let _ = sub.events.send(StreamEvent::Reset);
        }
    }
    shared.state.send_replace(LinkState::Connected {
        epoch: welcome.epoch.clone(),
    });
    let subs: Vec<Arc<Sub>> = lock(&shared.subs).values().cloned().collect();
    for sub in subs {
        let from = lock(&sub.state).received;
        let req = shared.next_req();
        lock(&shared.pending).insert(req, Waiter::Resume(sub.id));
        let attach = Attach {
            stream: sub.id,
            from,
        };
        let _ = shared
            .outbox
            .send(text(ClientMessage::request(req, Request::Attach(attach))));
    }
}

/// Pumps one connection until it ends.
async fn serve(
    shared: &Shared,
    mut socket: AgentSocket,
    outbox: &mut mpsc::UnboundedReceiver<Message>,
) -> Result<(), AgentError> {
    loop {
        tokio::select! {
            () = shared.shutdown.cancelled() => {
                // A graceful close delivers what was already queued (typed input, detaches).
                while let Ok(message) = outbox.try_recv() {
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
                let _ = socket.close(None).await;
                return Ok(());
            }
            () = shared.reconnect.notified() => {
                let _ = socket.close(None).await;
                return Err(AgentError::ConnectionLost);
            }
            out = outbox.recv() => {
                let Some(message) = out else { return Err(AgentError::Closed) };
                socket.send(message).await.map_err(|_| AgentError::ConnectionLost)?;
            }
            incoming = tokio::time::timeout(SILENCE_TIMEOUT, socket.next()) => {
                let message = match incoming {
                    Err(_) => return Err(AgentError::Timeout(SILENCE_TIMEOUT)),
                    Ok(None) | Ok(Some(Err(_))) => return Err(AgentError::ConnectionLost),
                    Ok(Some(Ok(message))) => message,
                };
                match message {
                    Message::Text(body) => on_message(shared, body.as_str())?,
                    Message::Binary(bytes) => on_frame(shared, &bytes)?,
                    Message::Close(_) => return Err(AgentError::ConnectionLost),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            }
        }
    }
}

fn on_frame(shared: &Shared, bytes: &[u8]) -> Result<(), AgentError> {
    let frame = DataFrame::decode(bytes).map_err(|err| AgentError::Protocol(err.to_string()))?;
    if frame.kind != FrameKind::Output {
        return Err(AgentError::Protocol("the agent sent an input frame".into()));
    }
    let sub = lock(&shared.subs).get(&frame.stream).cloned();
    match sub {
        Some(sub) => sub.on_output(frame.offset, frame.payload),
        // A detached stream's last frames may still arrive.
        None => Ok(()),
    }
}

fn on_message(shared: &Shared, body: &str) -> Result<(), AgentError> {
    match AgentMessage::decode(body) {
        Ok(AgentMessage::Reply(Envelope { req, body })) => on_reply(shared, req, Ok(body)),
        Ok(AgentMessage::Event(event)) => on_event(shared, event)?,
        Err(DecodeError { req, kind }) => {
            tracing::warn!(%kind, "unreadable message from the agent");
            // A reply that cannot be read still ends its request, at once rather than by timeout.
            if let Some(req) = req {
                let err = AgentError::Protocol(format!("unreadable answer: {kind}"));
                on_reply(shared, req, Err(err));
            }
        }
    }
    Ok(())
}

/// Hands a reply to whoever waits for its request number.
fn on_reply(shared: &Shared, req: Req, reply: Result<Reply, AgentError>) {
    let waiter = lock(&shared.pending).remove(&req);
    match waiter {
        Some(Waiter::Caller(caller)) => {
            let _ = caller.send(reply);
        }
        Some(Waiter::Resume(id)) => on_resumed(shared, id, reply),
        // Nobody waits for a request that timed out, or for the detach of a dropped handle.
        None => {}
    }
}

/// The answer to an `attach` the driver sent itself after reconnecting: resend the input the
/// agent lacks, or reset a stream that vanished.
fn on_resumed(shared: &Shared, id: u32, reply: Result<Reply, AgentError>) {
    match reply {
        Ok(Reply::Attached { stream }) => {
            let sub = lock(&shared.subs).get(&id).cloned();
            if let Some(sub) = sub {
                sub.on_attached(&stream, shared);
            }
        }
        Ok(Reply::Error { code, message }) => {
            tracing::info!(stream = id, ?code, %message, "a stream could not be resumed");
            if let Some(sub) = lock(&shared.subs).remove(&id) {
                let _ = sub.events.send(StreamEvent::Reset);
            }
        }
        other => tracing::warn!(stream = id, ?other, "unexpected answer to a resumed attach"),
    }
}

/// Events belong to streams, except a second `welcome`, which breaks the protocol.
fn on_event(shared: &Shared, event: Event) -> Result<(), AgentError> {
    let sub_of = |id: u32| lock(&shared.subs).get(&id).cloned();
    match event {
        Event::Gap { stream, from, base } => {
            if let Some(sub) = sub_of(stream) {
                sub.on_gap(from, base);
            }
        }
        Event::InputAck { stream, acked } => {
            if let Some(sub) = sub_of(stream) {
                sub.on_input_ack(acked);
            }
        }
        Event::Exit { stream, status } => {
            if let Some(sub) = sub_of(stream) {
                let _ = sub.events.send(StreamEvent::Exit(status));
            }
        }
        Event::Error { code, message } => {
            tracing::debug!(?code, %message, "agent reported an error");
        }
        Event::Welcome { .. } => return Err(AgentError::Protocol("a second welcome".into())),
    }
    Ok(())
}

/// Exponential backoff with ±20 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1u32 << attempt.min(10))
        .min(BACKOFF_MAX);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let jitter = 0.8 + 0.4 * f64::from(byte[0]) / 255.0;
    base.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use ed25519_dalek::SigningKey;
    use sam_protocol::message::{ErrorCode, ExitStatus};
    use tokio::sync::oneshot;

    use super::super::stream::SubState;
    use super::super::{AgentEndpoint, Shared};
    use super::*;

    fn shared() -> (Shared, mpsc::UnboundedReceiver<Message>) {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let endpoint = AgentEndpoint {
            addr: "127.0.0.1:1".into(),
            workspace: "abcdefghijkm".into(),
            pin: String::new(),
        };
        let shared = Shared::new(endpoint, SigningKey::from_bytes(&[7; 32]), outbox);
        (shared, outbox_rx)
    }

    fn wait(shared: &Shared, req: Req) -> oneshot::Receiver<Result<Reply, AgentError>> {
        let (tx, rx) = oneshot::channel();
        lock(&shared.pending).insert(req, Waiter::Caller(tx));
        rx
    }

    fn subscribe(shared: &Shared, id: u32) -> mpsc::UnboundedReceiver<StreamEvent> {
        let (events, rx) = mpsc::unbounded_channel();
        let sub = Sub {
            id,
            events,
            state: Mutex::new(SubState::default()),
            input_acked: tokio::sync::Notify::new(),
        };
        lock(&shared.subs).insert(id, Arc::new(sub));
        rx
    }

    #[test]
    fn a_reply_of_any_type_reaches_the_request_with_its_number() {
        let (shared, _outbox) = shared();
        let mut first = wait(&shared, 1);
        let mut second = wait(&shared, 2);
        on_message(
            &shared,
            r#"{"req":2,"type":"stop_prepared","closed_streams":3}"#,
        )
        .expect("not fatal");
        on_message(
            &shared,
            r#"{"req":1,"type":"error","code":"not_found","message":"no"}"#,
        )
        .expect("not fatal");
        assert_eq!(
            second.try_recv().expect("answered"),
            Ok(Reply::StopPrepared { closed_streams: 3 })
        );
        assert!(matches!(
            first.try_recv().expect("answered"),
            Ok(Reply::Error {
                code: ErrorCode::NotFound,
                ..
            })
        ));
        assert!(lock(&shared.pending).is_empty());
    }

    #[test]
    fn an_unreadable_reply_fails_its_request_at_once() {
        let (shared, _outbox) = shared();
        let mut waiting = wait(&shared, 5);
        on_message(&shared, r#"{"req":5,"type":"from_the_future"}"#).expect("not fatal");
        assert!(matches!(
            waiting.try_recv().expect("answered"),
            Err(AgentError::Protocol(_))
        ));
        on_message(&shared, r#"{"type":"from_the_future"}"#).expect("an unknown event is ignored");
    }

    #[test]
    fn a_stream_that_cannot_be_resumed_is_reset() {
        let (shared, _outbox) = shared();
        let mut events = subscribe(&shared, 4);
        lock(&shared.pending).insert(9, Waiter::Resume(4));
        on_message(
            &shared,
            r#"{"req":9,"type":"error","code":"unknown_stream","message":"gone"}"#,
        )
        .expect("not fatal");
        assert_eq!(events.try_recv(), Ok(StreamEvent::Reset));
        assert!(!lock(&shared.subs).contains_key(&4));
    }

    #[test]
    fn events_go_to_their_stream_and_a_second_welcome_is_fatal() {
        let (shared, _outbox) = shared();
        let mut events = subscribe(&shared, 4);
        on_message(&shared, r#"{"type":"gap","stream":4,"from":0,"base":10}"#).expect("not fatal");
        on_message(
            &shared,
            r#"{"type":"exit","stream":4,"status":{"code":0,"signal":null}}"#,
        )
        .expect("not fatal");
        assert_eq!(
            events.try_recv(),
            Ok(StreamEvent::Gap { from: 0, base: 10 })
        );
        let status = ExitStatus {
            code: Some(0),
            signal: None,
        };
        assert_eq!(events.try_recv(), Ok(StreamEvent::Exit(status)));
        let welcome = Event::Welcome {
            protocol: PROTOCOL_VERSION,
            agent_version: "0".into(),
            epoch: "e".into(),
            workspace: "w".into(),
            streams: Vec::new(),
            limits: sam_protocol::message::Limits {
                max_frame: 0,
                max_text_frame: 0,
                max_streams: 0,
                ring_bytes: 0,
                window_bytes: 0,
                max_read: 0,
                max_write: 0,
                max_tunnels: 0,
                tunnel_window: 0,
            },
        };
        let text = AgentMessage::from(welcome).encode();
        assert!(matches!(
            on_message(&shared, &text),
            Err(AgentError::Protocol(_))
        ));
    }
}
