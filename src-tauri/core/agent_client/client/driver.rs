//! The driver task: connect, say hello, serve the socket, reconnect with backoff — until the
//! client is closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sam_protocol::frame::{DataFrame, FrameKind};
use sam_protocol::message::{AgentMessage, ClientMessage};
use sam_protocol::token::Audience;
use sam_protocol::{PROTOCOL_VERSION, SESSION_PATH};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::super::dial::{AgentSocket, CONNECT_TIMEOUT, Caller, dial};
use super::super::error::AgentError;
use super::super::tls::PinVerifier;
use super::{
    BACKOFF_MAX, BACKOFF_START, LinkState, SILENCE_TIMEOUT, Shared, StreamEvent, Sub, Welcome,
    lock, text,
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
                lock(&shared.resuming).clear();
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
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        client: format!("sam-desktop/{}", env!("CARGO_PKG_VERSION")),
    };
    socket
        .send(text(&hello))
        .await
        .map_err(|_| AgentError::ConnectionLost)?;
    let welcome = tokio::time::timeout(CONNECT_TIMEOUT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(body))) => {
                    return match serde_json::from_str::<AgentMessage>(body.as_str()) {
                        Ok(AgentMessage::Welcome {
                            epoch,
                            streams,
                            protocol,
                            ..
                        }) if protocol == PROTOCOL_VERSION => Ok(Welcome { epoch, streams }),
                        Ok(AgentMessage::Error { message, .. }) => {
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
        let req = shared.next_req.fetch_add(1, Ordering::Relaxed);
        lock(&shared.resuming).insert(req, sub.id);
        let _ = shared.outbox.send(text(&ClientMessage::Attach {
            req,
            stream: sub.id,
            from,
        }));
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
    let message: AgentMessage = match serde_json::from_str(body) {
        Ok(message) => message,
        Err(err) => {
            tracing::warn!(%err, "unreadable message from the agent");
            return Ok(());
        }
    };
    let sub_of = |id: u32| lock(&shared.subs).get(&id).cloned();
    let req = match &message {
        AgentMessage::Attached { req, stream } => {
            if let Some(sub) = sub_of(stream.stream) {
                sub.on_attached(stream, shared);
            }
            Some(*req)
        }
        AgentMessage::Gap { stream, from, base } => {
            if let Some(sub) = sub_of(*stream) {
                sub.on_gap(*from, *base);
            }
            None
        }
        AgentMessage::InputAck { stream, acked } => {
            if let Some(sub) = sub_of(*stream) {
                sub.on_input_ack(*acked);
            }
            None
        }
        AgentMessage::Exit { stream, status } => {
            if let Some(sub) = sub_of(*stream) {
                let _ = sub.events.send(StreamEvent::Exit(*status));
            }
            None
        }
        AgentMessage::Error { req, code, message } => {
            if req.is_none() {
                tracing::debug!(?code, %message, "agent reported an error");
            }
            *req
        }
        AgentMessage::Welcome { .. } => {
            return Err(AgentError::Protocol("a second welcome".into()));
        }
        AgentMessage::Opened { req, .. }
        | AgentMessage::Ok { req }
        | AgentMessage::Streams { req, .. }
        | AgentMessage::Status { req, .. }
        | AgentMessage::StopPrepared { req, .. }
        | AgentMessage::FsEntries { req, .. }
        | AgentMessage::FsStat { req, .. }
        | AgentMessage::FsData { req, .. } => Some(*req),
    };
    if let Some(req) = req {
        let waiter = lock(&shared.pending).remove(&req);
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(message);
            }
            None => {
                // A resumed attach the driver sent itself: a stream that vanished is reset.
                let resumed = lock(&shared.resuming).remove(&req);
                if let (Some(id), AgentMessage::Error { code, message, .. }) = (resumed, &message) {
                    tracing::info!(stream = id, ?code, %message, "a stream could not be resumed");
                    if let Some(sub) = lock(&shared.subs).remove(&id) {
                        let _ = sub.events.send(StreamEvent::Reset);
                    }
                }
            }
        }
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
