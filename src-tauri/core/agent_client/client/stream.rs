//! One attached stream on the client side: the handle a consumer holds, and the state the
//! driver keeps to resume it exactly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sam_protocol::frame::{DataFrame, MAX_PAYLOAD};
use sam_protocol::message::request::Detach;
use sam_protocol::message::{ClientMessage, Notice, Request, StreamInfo};
use tokio::sync::mpsc;

use super::super::error::AgentError;
use super::{ACK_EVERY, AgentClient, Shared, StreamEvent, lock, text};

/// Client-side state of one attached stream.
#[derive(Debug)]
pub(super) struct Sub {
    pub(super) id: u32,
    pub(super) events: mpsc::UnboundedSender<StreamEvent>,
    pub(super) state: Mutex<SubState>,
    /// Woken whenever the agent acknowledges input.
    pub(super) input_acked: tokio::sync::Notify,
}

#[derive(Debug, Default)]
pub(super) struct SubState {
    /// Next output offset expected from the agent (everything before is in the channel or consumed).
    pub(super) received: u64,
    /// Output the consumer has taken.
    pub(super) consumed: u64,
    /// The last `ack` sent.
    pub(super) acked: u64,
    /// Next input offset to assign.
    pub(super) in_sent: u64,
    /// Input not yet acknowledged: (offset, bytes, user_typed).
    pub(super) unacked: VecDeque<(u64, Vec<u8>, bool)>,
}

/// One attached stream: its events, and its input.
#[derive(Debug)]
pub struct StreamHandle {
    pub(super) sub: Arc<Sub>,
    pub(super) events: mpsc::UnboundedReceiver<StreamEvent>,
    pub(super) client: AgentClient,
}

impl StreamHandle {
    /// The stream id.
    pub fn id(&self) -> u32 {
        self.sub.id
    }

    /// The next event; `None` once the client is closed. Consuming output acknowledges it, which
    /// lets the agent send more.
    pub async fn next(&mut self) -> Option<StreamEvent> {
        let event = self.events.recv().await?;
        if let StreamEvent::Output { bytes, .. } = &event {
            let ack = {
                let mut state = lock(&self.sub.state);
                state.consumed += bytes.len() as u64;
                let due = state.consumed - state.acked >= ACK_EVERY || self.events.is_empty();
                (due && state.consumed > state.acked).then(|| {
                    state.acked = state.consumed;
                    state.consumed
                })
            };
            if let Some(applied) = ack {
                let ack = Notice::Ack {
                    stream: self.sub.id,
                    applied,
                };
                let _ = self.client.shared.outbox.send(text(ack.into()));
            }
        }
        Some(event)
    }

    /// Sends input to the PTY; see [`StreamInput::write`].
    pub fn write(&self, bytes: &[u8], user_typed: bool) {
        write_input(&self.sub, &self.client, bytes, user_typed);
    }

    /// A handle that writes this stream's input from anywhere, while another task reads its
    /// output: input never waits behind output.
    pub fn input(&self) -> StreamInput {
        StreamInput {
            sub: Arc::clone(&self.sub),
            client: self.client.clone(),
        }
    }

    /// Input the agent has not acknowledged yet, in bytes.
    pub fn unacked_input(&self) -> u64 {
        unacked_input(&self.sub)
    }
}

/// Writes one attached stream's input; clones share the stream's input offsets.
#[derive(Debug, Clone)]
pub struct StreamInput {
    sub: Arc<Sub>,
    client: AgentClient,
}

impl StreamInput {
    /// Sends input to the PTY. `user_typed` marks keystrokes and pastes (activity), as opposed
    /// to terminal replies. Input is kept until the agent acknowledges it, and resent after a
    /// reconnect; the agent drops anything it already has, so nothing is typed twice.
    pub fn write(&self, bytes: &[u8], user_typed: bool) {
        write_input(&self.sub, &self.client, bytes, user_typed);
    }

    /// Input the agent has not acknowledged yet, in bytes.
    pub fn unacked_input(&self) -> u64 {
        unacked_input(&self.sub)
    }

    /// Waits until at most `limit` bytes of input are unacknowledged: a tunnel's writer calls
    /// this before each write, so it never runs more than the agent's window ahead.
    pub async fn room(&self, limit: u64) {
        loop {
            let acked = self.sub.input_acked.notified();
            tokio::pin!(acked);
            // Registered before the check, so an acknowledgement in between still wakes us.
            acked.as_mut().enable();
            if unacked_input(&self.sub) <= limit {
                return;
            }
            acked.await;
        }
    }
}

fn write_input(sub: &Sub, client: &AgentClient, bytes: &[u8], user_typed: bool) {
    for chunk in bytes.chunks(MAX_PAYLOAD) {
        let frame = {
            let mut state = lock(&sub.state);
            let offset = state.in_sent;
            state.in_sent += chunk.len() as u64;
            state
                .unacked
                .push_back((offset, chunk.to_vec(), user_typed));
            DataFrame::input(sub.id, offset, chunk.to_vec(), user_typed)
        };
        client.shared.send_frame(&frame);
    }
}

fn unacked_input(sub: &Sub) -> u64 {
    lock(&sub.state)
        .unacked
        .iter()
        .map(|(_, bytes, _)| bytes.len() as u64)
        .sum()
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        let mut subs = lock(&self.client.shared.subs);
        if subs
            .get(&self.sub.id)
            .is_some_and(|current| Arc::ptr_eq(current, &self.sub))
        {
            subs.remove(&self.sub.id);
            let req = self.client.shared.next_req();
            let detach = Detach {
                stream: self.sub.id,
            };
            let _ = self
                .client
                .shared
                .outbox
                .send(text(ClientMessage::request(req, Request::Detach(detach))));
        }
    }
}

impl Sub {
    /// A fresh `attached`: drop input the agent already has and resend the rest.
    pub(super) fn on_attached(&self, info: &StreamInfo, shared: &Shared) {
        let resend: Vec<DataFrame> = {
            let mut state = lock(&self.state);
            state
                .unacked
                .retain(|(offset, bytes, _)| offset + bytes.len() as u64 > info.in_acked);
            state.in_sent = state.in_sent.max(info.in_acked);
            state
                .unacked
                .iter()
                .map(|(offset, bytes, typed)| {
                    DataFrame::input(self.id, *offset, bytes.clone(), *typed)
                })
                .collect()
        };
        self.input_acked.notify_waiters();
        for frame in &resend {
            shared.send_frame(frame);
        }
    }

    pub(super) fn on_input_ack(&self, acked: u64) {
        lock(&self.state)
            .unacked
            .retain(|(offset, bytes, _)| offset + bytes.len() as u64 > acked);
        self.input_acked.notify_waiters();
    }

    /// Output from the agent: deliver exactly the bytes not seen yet.
    pub(super) fn on_output(&self, offset: u64, bytes: Vec<u8>) -> Result<(), AgentError> {
        let mut state = lock(&self.state);
        if offset > state.received {
            return Err(AgentError::Protocol(format!(
                "stream {} output jumped from {} to {offset}",
                self.id, state.received
            )));
        }
        // Bytes before `received` are a duplicate from an earlier attachment still in flight.
        let skip = usize::try_from(state.received - offset).unwrap_or(usize::MAX);
        if skip >= bytes.len() {
            return Ok(());
        }
        let fresh = bytes[skip..].to_vec();
        let start = state.received;
        state.received += fresh.len() as u64;
        let _ = self.events.send(StreamEvent::Output {
            offset: start,
            bytes: fresh,
        });
        Ok(())
    }

    pub(super) fn on_gap(&self, from: u64, base: u64) {
        let mut state = lock(&self.state);
        state.received = state.received.max(base);
        state.consumed = state.consumed.max(base);
        state.acked = state.acked.max(base);
        let _ = self.events.send(StreamEvent::Gap { from, base });
    }
}
