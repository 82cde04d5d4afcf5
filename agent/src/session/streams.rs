//! Streams on one connection: opening PTYs, jobs and coding agents, attaching and detaching (with the
//! forwarder that sends output), resizing, closing, listing, and the client's input and output
//! acknowledgements.

use std::sync::Arc;

use sam_protocol::frame::DataFrame;
use sam_protocol::message::request::{
    Attach, Close, Detach, EndInput, OpenAcp, OpenPty, OpenTunnel, Resize, RunJob,
};
use sam_protocol::message::{ErrorCode, Event, PtySize, Reply, StreamInfo};
use tokio::sync::watch;

use super::forward::forward;
use super::{Answer, Attachment, Session};
use crate::agent::Failure;
use crate::stream::InputError;

impl Session {
    pub(super) async fn open_pty(&mut self, open: OpenPty, answer: Answer) {
        let size = PtySize {
            cols: open.cols,
            rows: open.rows,
        };
        let opened = self
            .agent
            .open_pty(open.command, open.cwd.as_deref(), &open.env, size);
        answer
            .send(opened.map(|stream| Reply::Opened { stream }))
            .await;
    }

    pub(super) async fn run_job(&mut self, job: RunJob, answer: Answer) {
        let opened = self
            .agent
            .run_job(job.command, job.cwd.as_deref(), &job.env);
        answer
            .send(opened.map(|stream| Reply::Opened { stream }))
            .await;
    }

    pub(super) async fn open_acp(&mut self, open: OpenAcp, answer: Answer) {
        let opened = self.agent.open_acp(
            open.command,
            open.cwd.as_deref(),
            &open.env,
            &open.secret_env,
        );
        answer
            .send(opened.map(|stream| Reply::Opened { stream }))
            .await;
    }

    /// Opening a tunnel may connect to a port or start an SSH handshake, so it answers from a
    /// task of its own.
    pub(super) fn open_tunnel(&mut self, open: OpenTunnel, answer: Answer) {
        let agent = Arc::clone(&self.agent);
        tokio::spawn(async move {
            let opened = agent.open_tunnel(open.target, open.port).await;
            answer
                .send(opened.map(|stream| Reply::Opened { stream }))
                .await;
        });
    }

    /// Half-closes a tunnel once its queued input is written.
    pub(super) fn end_input(&mut self, EndInput { stream }: EndInput, answer: Answer) {
        let target = self.agent.stream(stream);
        tokio::spawn(async move {
            let ended = match target {
                Ok(target) => target
                    .end_input()
                    .await
                    .map_err(|err| input_failure(stream, err)),
                Err(failure) => Err(failure),
            };
            answer.ok(ended).await;
        });
    }

    pub(super) async fn attach(&mut self, Attach { stream, from }: Attach, answer: Answer) {
        match self.attachable(stream, from) {
            Ok(info) => {
                // `attached` goes out before the forwarder's first frame.
                answer.send(Ok(Reply::Attached { stream: info })).await;
                self.start_forwarder(stream, from);
            }
            Err(failure) => answer.send(Err(failure)).await,
        }
    }

    pub(super) async fn detach(&mut self, Detach { stream }: Detach, answer: Answer) {
        let detached = match self.attachments.remove(&stream) {
            Some(attachment) => {
                attachment.cancel.cancel();
                Ok(())
            }
            None => Err(Failure::new(
                ErrorCode::NotAttached,
                format!("stream {stream} is not attached"),
            )),
        };
        answer.ok(detached).await;
    }

    pub(super) async fn resize(&mut self, resize: Resize, answer: Answer) {
        let Resize { stream, cols, rows } = resize;
        if cols == 0 || rows == 0 {
            let failure = Failure::new(
                ErrorCode::InvalidArgument,
                "a terminal needs at least one row and column",
            );
            return answer.ok(Err(failure)).await;
        }
        let resized = match self.agent.stream(stream) {
            Ok(target) => target
                .resize(PtySize { cols, rows })
                .await
                .map_err(|err| input_failure(stream, err)),
            Err(failure) => Err(failure),
        };
        answer.ok(resized).await;
    }

    /// Closing waits for the process to end (up to the kill grace), so it answers from a task of
    /// its own and the connection keeps serving meanwhile.
    pub(super) fn close_stream(&mut self, Close { stream }: Close, answer: Answer) {
        if let Some(attachment) = self.attachments.remove(&stream) {
            attachment.cancel.cancel();
        }
        let agent = Arc::clone(&self.agent);
        tokio::spawn(async move { answer.ok(agent.close(stream).await).await });
    }

    pub(super) async fn list_ports(&mut self, answer: Answer) {
        let ports = self.agent.listening_ports();
        answer.send(Ok(Reply::Ports { ports })).await;
    }

    pub(super) async fn list(&mut self, answer: Answer) {
        let streams = self.agent.list();
        answer.send(Ok(Reply::Streams { streams })).await;
    }

    /// The client applied output up to `applied`: the stream's credit window moves on.
    pub(super) fn on_ack(&mut self, stream: u32, applied: u64) {
        if let Ok(target) = self.agent.stream(stream) {
            target.applied(applied);
        }
        if let Some(attachment) = self.attachments.get(&stream) {
            attachment.applied.send_if_modified(|current| {
                let advanced = applied > *current;
                *current = (*current).max(applied);
                advanced
            });
        }
    }

    /// Writes an input frame to its PTY and acknowledges it; input has no request number, so
    /// its answers are events.
    pub(super) async fn on_input(&mut self, frame: DataFrame, user_typed: bool) {
        let stream = match self.agent.stream(frame.stream) {
            Ok(stream) => stream,
            Err(failure) => return self.send(failure.into()).await,
        };
        match stream.input(frame.offset, &frame.payload).await {
            Ok(acked) => {
                if user_typed {
                    self.agent.activity.touch();
                }
                self.send(Event::InputAck {
                    stream: frame.stream,
                    acked,
                })
                .await;
            }
            Err(err) => self.send(input_failure(frame.stream, err).into()).await,
        }
    }

    fn attachable(&self, id: u32, from: u64) -> Result<StreamInfo, Failure> {
        let stream = self.agent.stream(id)?;
        let info = stream.info();
        if from > info.out_head {
            return Err(Failure::new(
                ErrorCode::InvalidOffset,
                format!(
                    "offset {from} is past the end of stream {id} ({})",
                    info.out_head
                ),
            ));
        }
        Ok(info)
    }

    fn start_forwarder(&mut self, id: u32, from: u64) {
        let Ok(stream) = self.agent.stream(id) else {
            return;
        };
        if let Some(previous) = self.attachments.remove(&id) {
            previous.cancel.cancel();
        }
        let (applied, applied_rx) = watch::channel(from);
        let cancel = self.cancel.child_token();
        if let Some(written) = stream.written() {
            tokio::spawn(acknowledge_input(
                Arc::clone(&stream),
                written,
                self.control.clone(),
                cancel.clone(),
            ));
        }
        tokio::spawn(forward(
            stream,
            from,
            applied_rx,
            self.out.clone(),
            cancel.clone(),
        ));
        self.attachments.insert(id, Attachment { applied, cancel });
    }
}

fn input_failure(stream: u32, err: InputError) -> Failure {
    match err {
        InputError::NotATerminal => Failure::new(
            ErrorCode::InvalidArgument,
            format!("stream {stream} is not a terminal"),
        ),
        InputError::Hole { acked } => Failure::new(
            ErrorCode::InvalidOffset,
            format!("input for stream {stream} must continue at offset {acked}"),
        ),
        InputError::Ended => Failure::new(
            ErrorCode::InvalidArgument,
            format!("stream {stream} has ended"),
        ),
        InputError::Overrun { window } => Failure::new(
            ErrorCode::TooLarge,
            format!(
                "input for tunnel {stream} runs more than {window} bytes ahead of its input_ack"
            ),
        ),
        InputError::NotATunnel => Failure::new(
            ErrorCode::InvalidArgument,
            format!("stream {stream} is not a tunnel"),
        ),
    }
}

/// Tells the client, for as long as it is attached, how much of its tunnel input has been
/// written: a tunnel's `input_ack` comes when the far end took the bytes, not when they arrived.
/// The guard counts the attachment, so a tunnel nobody attaches is eventually closed.
async fn acknowledge_input(
    stream: Arc<crate::stream::Stream>,
    mut written: watch::Receiver<u64>,
    control: tokio::sync::mpsc::Sender<tokio_tungstenite::tungstenite::Message>,
    cancel: tokio_util::sync::CancellationToken,
) {
    let _attached = stream.attached();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = written.changed() => if changed.is_err() { return },
        }
        let acked = *written.borrow_and_update();
        let ack = Event::InputAck {
            stream: stream.id,
            acked,
        };
        if control.send(super::json(ack.into())).await.is_err() {
            return;
        }
    }
}
