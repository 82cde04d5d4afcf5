//! Tunnels: streams whose far end is a byte pipe — the agent's SSH server, or a TCP connection
//! to a port in the workspace — rather than a process.
//!
//! A tunnel keeps the stream model (output by offset, input acknowledged by offset, exact resume
//! after a reconnect) with two differences that make it a reliable pipe instead of a terminal:
//! - **Output waits for the client.** The drain reads from the far end only while fewer than
//!   [`TUNNEL_WINDOW`] bytes are unacknowledged (`ack`), and the ring holds exactly that much, so
//!   a tunnel never has a gap: a slow or absent client slows the far end, as TCP would.
//! - **Input is acknowledged once written** to the far end, not when it arrives, and a client
//!   keeps at most [`TUNNEL_WINDOW`] bytes unacknowledged: the agent's memory per tunnel is
//!   bounded whatever the far end does.

use std::sync::Arc;
use std::time::Duration;

use sam_protocol::message::{ExitStatus, StreamKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::{READ_CHUNK, Stream};

/// Output a tunnel sends ahead of the client's `ack`, and input a client sends ahead of the
/// agent's `input_ack`, in bytes.
pub const TUNNEL_WINDOW: u64 = 1024 * 1024;

/// How many tunnels may be open at once.
pub const MAX_TUNNELS: u32 = 256;

/// A tunnel that no connection has attached for this long is closed: its client is gone.
pub const ORPHAN_AFTER: Duration = Duration::from_secs(300);

/// The tunnel half of a [`Stream`].
#[derive(Debug)]
pub(crate) struct Tunnel {
    /// The highest output offset any client acknowledged.
    applied: watch::Sender<u64>,
    /// Input written to the far end.
    written: watch::Sender<u64>,
    input: mpsc::UnboundedSender<Pipe>,
    /// Ends both directions.
    cancel: CancellationToken,
    /// Connections attached now.
    attached: watch::Sender<usize>,
}

/// What goes to the far end.
#[derive(Debug)]
enum Pipe {
    Write(Vec<u8>),
    /// Shut the write side once everything before is written; answered when done.
    End(oneshot::Sender<()>),
}

/// Counts one attached connection while it lives.
#[derive(Debug)]
pub struct Attached(Arc<Stream>);

impl Drop for Attached {
    fn drop(&mut self) {
        if let Some(tunnel) = &self.0.tunnel {
            tunnel.attached.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl Stream {
    /// A tunnel stream over `pipe`; `command` describes the far end (`["ssh"]`,
    /// `["tcp", "127.0.0.1:3000"]`).
    pub fn spawn_tunnel<P>(id: u32, command: Vec<String>, pipe: P) -> Arc<Self>
    where
        P: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (input, input_rx) = mpsc::unbounded_channel();
        let tunnel = Tunnel {
            applied: watch::channel(0).0,
            written: watch::channel(0).0,
            input,
            cancel: CancellationToken::new(),
            attached: watch::channel(0).0,
        };
        let window = usize::try_from(TUNNEL_WINDOW).unwrap_or(usize::MAX);
        let stream = Arc::new(Self {
            command,
            tunnel: Some(tunnel),
            ..Self::new(id, StreamKind::Tunnel, None, window, None, None, None)
        });
        let (reader, writer) = tokio::io::split(pipe);
        tokio::spawn(Arc::clone(&stream).drain_tunnel(reader));
        tokio::spawn(Arc::clone(&stream).fill_tunnel(writer, input_rx));
        stream
    }

    fn tunnel(&self) -> Option<&Tunnel> {
        self.tunnel.as_ref()
    }

    /// Reads the far end into the ring while the client keeps up; the stream exits (code 0)
    /// when the far end closes, with code 1 when reading it fails.
    async fn drain_tunnel(self: Arc<Self>, mut reader: impl AsyncRead + Unpin) {
        let Some(tunnel) = self.tunnel() else { return };
        let mut applied = tunnel.applied.subscribe();
        let mut buf = vec![0u8; READ_CHUNK];
        let code = loop {
            let unacked = self
                .lock()
                .ring
                .head()
                .saturating_sub(*applied.borrow_and_update());
            let room = TUNNEL_WINDOW.saturating_sub(unacked);
            if room == 0 {
                tokio::select! {
                    () = tunnel.cancel.cancelled() => break 0,
                    changed = applied.changed() => if changed.is_err() { break 0 },
                }
                continue;
            }
            let max = usize::try_from(room).unwrap_or(READ_CHUNK).min(READ_CHUNK);
            let read = tokio::select! {
                () = tunnel.cancel.cancelled() => break 0,
                read = reader.read(buf.get_mut(..max).unwrap_or_default()) => read,
            };
            match read {
                Ok(0) => break 0,
                Ok(n) => self.append(buf.get(..n).unwrap_or_default()),
                Err(err) => {
                    tracing::debug!(stream = self.id, %err, "tunnel read ended");
                    break 1;
                }
            }
        };
        // The writer has nothing left to do once the far end is gone.
        tunnel.cancel.cancel();
        let head = {
            let mut state = self.lock();
            state.exit = Some(ExitStatus {
                code: Some(code),
                signal: None,
            });
            state.ring.head()
        };
        self.head.send_replace(head);
    }

    /// Writes input to the far end in order, announcing each write.
    async fn fill_tunnel(
        self: Arc<Self>,
        mut writer: impl AsyncWrite + Unpin,
        mut input: mpsc::UnboundedReceiver<Pipe>,
    ) {
        let Some(tunnel) = self.tunnel() else { return };
        loop {
            let next = tokio::select! {
                () = tunnel.cancel.cancelled() => break,
                next = input.recv() => next,
            };
            match next {
                None => break,
                Some(Pipe::Write(bytes)) => {
                    let len = bytes.len() as u64;
                    if let Err(err) = writer.write_all(&bytes).await {
                        tracing::debug!(stream = self.id, %err, "tunnel write ended");
                        tunnel.cancel.cancel();
                        break;
                    }
                    tunnel.written.send_modify(|written| *written += len);
                }
                Some(Pipe::End(done)) => {
                    let _ = writer.shutdown().await;
                    let _ = done.send(());
                }
            }
        }
    }

    /// Takes tunnel input from `offset`: bytes already received are skipped, the rest is
    /// queued for the far end. Returns what has been written so far (the `in_acked` of a
    /// tunnel); later writes are announced by [`Stream::written`].
    pub(super) fn tunnel_input(
        &self,
        tunnel: &Tunnel,
        offset: u64,
        bytes: &[u8],
    ) -> Result<u64, super::InputError> {
        let written = *tunnel.written.borrow();
        let mut state = self.lock();
        if state.exit.is_some() || tunnel.cancel.is_cancelled() {
            return Err(super::InputError::Ended);
        }
        if offset > state.in_acked {
            return Err(super::InputError::Hole {
                acked: state.in_acked,
            });
        }
        let skip = usize::try_from(state.in_acked - offset).unwrap_or(usize::MAX);
        let fresh = bytes.get(skip..).unwrap_or_default();
        let ahead = state.in_acked + fresh.len() as u64 - written;
        if ahead > TUNNEL_WINDOW {
            return Err(super::InputError::Overrun {
                window: TUNNEL_WINDOW,
            });
        }
        if !fresh.is_empty() {
            state.in_acked += fresh.len() as u64;
            tunnel
                .input
                .send(Pipe::Write(fresh.to_vec()))
                .map_err(|_| super::InputError::Ended)?;
        }
        Ok(written)
    }

    /// Input written to a tunnel's far end so far, announced as it grows; `None` for other
    /// streams.
    pub fn written(&self) -> Option<watch::Receiver<u64>> {
        self.tunnel().map(|tunnel| tunnel.written.subscribe())
    }

    /// A client applied output up to `applied`: a tunnel may read that much more.
    pub fn applied(&self, applied: u64) {
        if let Some(tunnel) = self.tunnel() {
            tunnel.applied.send_if_modified(|current| {
                let advanced = applied > *current;
                *current = (*current).max(applied);
                advanced
            });
        }
    }

    /// Half-closes a tunnel once the input queued before is written.
    pub async fn end_input(&self) -> Result<(), super::InputError> {
        let tunnel = self.tunnel().ok_or(super::InputError::NotATunnel)?;
        let (done, finished) = oneshot::channel();
        tunnel
            .input
            .send(Pipe::End(done))
            .map_err(|_| super::InputError::Ended)?;
        finished.await.map_err(|_| super::InputError::Ended)
    }

    /// Counts a connection attached to a tunnel until the guard drops.
    pub fn attached(self: &Arc<Self>) -> Attached {
        if let Some(tunnel) = self.tunnel() {
            tunnel.attached.send_modify(|n| *n += 1);
        }
        Attached(Arc::clone(self))
    }

    /// Resolves once the tunnel has had no attached connection for `after` (ended or not);
    /// never for other streams.
    pub async fn orphaned(&self, after: Duration) {
        let Some(tunnel) = self.tunnel() else {
            return std::future::pending().await;
        };
        let mut attached = tunnel.attached.subscribe();
        loop {
            if *attached.borrow_and_update() == 0 {
                tokio::select! {
                    () = tokio::time::sleep(after) => {
                        if *attached.borrow() == 0 {
                            return;
                        }
                    }
                    changed = attached.changed() => if changed.is_err() { return },
                }
            } else if attached.changed().await.is_err() {
                return;
            }
        }
    }

    /// Ends a tunnel: both directions stop and the stream exits.
    pub(super) async fn end_tunnel(&self, tunnel: &Tunnel) {
        tunnel.cancel.cancel();
        let mut head = self.subscribe();
        while self.exit().is_none() {
            if head.changed().await.is_err() {
                break;
            }
        }
    }
}
