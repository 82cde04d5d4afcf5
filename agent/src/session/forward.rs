//! The forwarder: one task per attached stream that reads the stream's ring from the client's
//! position and sends output frames within the credit window.

use std::sync::Arc;

use sam_protocol::frame::{DataFrame, MAX_PAYLOAD};
use sam_protocol::message::Event;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::{WINDOW_BYTES, json};
use crate::ring::Read;
use crate::stream::Stream;

/// Sends a stream's output from `from`, within the credit window, until cancelled; then `exit`
/// once the process has ended and everything before it was sent.
pub(super) async fn forward(
    stream: Arc<Stream>,
    mut from: u64,
    mut applied: watch::Receiver<u64>,
    out: mpsc::Sender<Message>,
    cancel: CancellationToken,
) {
    let mut head = stream.subscribe();
    // Bytes a gap skipped are never sent, so they await no acknowledgement: after a gap the
    // window starts at its base, whatever the client acknowledged before.
    let mut skipped_to = 0;
    loop {
        head.borrow_and_update();
        let exited = stream.exit();
        loop {
            let acked = (*applied.borrow_and_update()).max(skipped_to);
            let room = WINDOW_BYTES.saturating_sub(from.saturating_sub(acked));
            if room == 0 {
                break;
            }
            let max = usize::try_from(room)
                .unwrap_or(MAX_PAYLOAD)
                .min(MAX_PAYLOAD);
            match stream.read(from, max) {
                Read::Gap { base } => {
                    let gap = Event::Gap {
                        stream: stream.id,
                        from,
                        base,
                    };
                    if out.send(json(gap.into())).await.is_err() {
                        return;
                    }
                    from = base;
                    skipped_to = base;
                }
                Read::Bytes(bytes) if bytes.is_empty() => {
                    if let Some(status) = exited {
                        let _ = out
                            .send(json(
                                Event::Exit {
                                    stream: stream.id,
                                    status,
                                }
                                .into(),
                            ))
                            .await;
                        return;
                    }
                    break;
                }
                Read::Bytes(bytes) => {
                    let frame = DataFrame::output(stream.id, from, bytes);
                    from = frame.end();
                    if out
                        .send(Message::Binary(frame.encode().into()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Read::Future { .. } => break,
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = head.changed() => if changed.is_err() { return },
            changed = applied.changed() => if changed.is_err() { return },
        }
    }
}
