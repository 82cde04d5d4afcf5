//! A live terminal: an agent PTY stream pumped into an [`Engine`], frames paced to the display,
//! replies sent back as automatic input, and user input on its own path.
//!
//! Flood behaviour: output is parsed as fast as it arrives (the agent's flow-control window
//! bounds what is in flight); frames are built at most once per `frame_interval` and only when
//! the consumer has room, so a slow consumer makes intermediate frames disappear (their damage
//! merges into the next one) instead of queueing. Input goes straight to the connection through
//! a [`StreamInput`] and never waits for output processing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::engine::{ClipboardWrite, Engine, Size};
use super::theme::Theme;
use crate::agent_client::{
    AgentClient, AgentError, ExitStatus, PtySize, StreamEvent, StreamHandle, StreamInput,
};

/// How a terminal is set up.
#[derive(Debug, Clone, Copy)]
pub struct TerminalOptions {
    /// Initial size (the PTY's size).
    pub size: Size,
    /// Lines of scrollback.
    pub scrollback: usize,
    /// Colours for colour queries.
    pub theme: Theme,
    /// The shortest time between two frames (one display frame: 16 ms at 60 Hz).
    pub frame_interval: Duration,
    /// Output below this offset was already answered (a re-attach from an earlier offset):
    /// it rebuilds the screen without answering queries again.
    pub replay_until: u64,
    /// The stream is a command's output, not a terminal (a coding agent's command, run as a
    /// job): each line feed starts a new line at its first column (as `onlcr` would have made
    /// it), no query is answered, and nothing can be typed or resized on the agent's side.
    pub output_only: bool,
}

impl Default for TerminalOptions {
    fn default() -> Self {
        Self {
            size: Size { cols: 80, rows: 24 },
            scrollback: super::engine::DEFAULT_SCROLLBACK,
            theme: Theme::default(),
            frame_interval: Duration::from_millis(16),
            replay_until: 0,
            output_only: false,
        }
    }
}

/// What a terminal tells its consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// An encoded frame (`super::frame`); the first one is full.
    Frame(Vec<u8>),
    /// The program set the title (`""` = reset).
    Title(String),
    /// The bell rang (once per frame at most).
    Bell,
    /// The program asked to put text on the clipboard; apply it only if the user agrees.
    Clipboard(ClipboardWrite),
    /// Output between `from` and `base` was lost; the screen was reset (a full frame follows).
    Gap {
        /// Where the terminal was.
        from: u64,
        /// Where output resumed.
        base: u64,
    },
    /// The program ended (the last frame was sent before this).
    Exited(ExitStatus),
    /// A web address on the workspace's own loopback appeared in the output (a dev server
    /// saying where it listens): its port may be worth forwarding. Once per port and terminal.
    LocalUrl {
        /// The port.
        port: u16,
    },
    /// The stream is gone (the agent restarted or forgot it) or the client closed.
    Closed,
}

/// Events waiting for the consumer, at most: frames beyond this are skipped, not queued.
pub const EVENT_QUEUE: usize = 4;

/// A running terminal. Dropping it stops the pump (the PTY keeps running on the agent).
#[derive(Debug)]
pub struct Terminal {
    engine: Arc<Mutex<Engine>>,
    output_only: bool,
    input: StreamInput,
    client: AgentClient,
    stream: u32,
    applied: Arc<AtomicU64>,
    redraw: Arc<Notify>,
    pump: JoinHandle<()>,
}

impl Terminal {
    /// Starts pumping `handle` (attached at `from`) into a new engine. Events arrive on the
    /// returned receiver, which holds at most [`EVENT_QUEUE`] of them.
    pub fn start(
        client: &AgentClient,
        handle: StreamHandle,
        from: u64,
        options: TerminalOptions,
    ) -> (Self, mpsc::Receiver<TerminalEvent>) {
        let mut engine = Engine::new(options.size, options.scrollback);
        engine.set_theme(options.theme);
        let engine = Arc::new(Mutex::new(engine));
        let (events, receiver) = mpsc::channel(EVENT_QUEUE);
        let applied = Arc::new(AtomicU64::new(from));
        let redraw = Arc::new(Notify::new());
        let input = handle.input();
        let pump = Pump {
            engine: Arc::clone(&engine),
            handle,
            input: input.clone(),
            events,
            applied: Arc::clone(&applied),
            redraw: Arc::clone(&redraw),
            options,
            announced: std::collections::BTreeSet::new(),
        };
        let terminal = Self {
            engine,
            output_only: options.output_only,
            input,
            client: client.clone(),
            stream: pump.handle.id(),
            applied,
            redraw,
            pump: tokio::spawn(pump.run()),
        };
        (terminal, receiver)
    }

    /// Sends what the user typed or pasted (counts as activity). Refused for a command's
    /// output, which takes no input.
    pub fn input(&self, bytes: &[u8]) -> Result<(), AgentError> {
        if self.output_only {
            return Err(AgentError::Remote {
                code: sam_protocol::message::ErrorCode::InvalidArgument,
                message: "this tab shows a command's output; it takes no typing".to_owned(),
            });
        }
        self.input.write(bytes, true);
        Ok(())
    }

    /// Whether the stream is a command's output rather than a terminal.
    pub fn is_output_only(&self) -> bool {
        self.output_only
    }

    /// The input path itself, for a consumer that writes from its own thread.
    pub fn input_handle(&self) -> StreamInput {
        self.input.clone()
    }

    /// Resizes the engine and the PTY (a command's output has none).
    pub async fn resize(&self, size: Size) -> Result<(), AgentError> {
        lock(&self.engine).resize(size);
        self.redraw.notify_one();
        if self.output_only {
            return Ok(());
        }
        self.client
            .resize(
                self.stream,
                PtySize {
                    cols: size.cols,
                    rows: size.rows,
                },
            )
            .await
    }

    /// Works on the engine (selection, search, scrolling); a frame follows if anything changed.
    pub fn with_engine<R>(&self, work: impl FnOnce(&mut Engine) -> R) -> R {
        let result = work(&mut lock(&self.engine));
        self.redraw.notify_one();
        result
    }

    /// The output offset the screen reflects (where a re-attach resumes).
    pub fn applied_offset(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

struct Pump {
    engine: Arc<Mutex<Engine>>,
    handle: StreamHandle,
    input: StreamInput,
    events: mpsc::Sender<TerminalEvent>,
    applied: Arc<AtomicU64>,
    redraw: Arc<Notify>,
    options: TerminalOptions,
    /// Ports of local web addresses already announced ([`TerminalEvent::LocalUrl`]).
    announced: std::collections::BTreeSet<u16>,
}

impl Pump {
    async fn run(mut self) {
        let mut ticker = tokio::time::interval(self.options.frame_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut dirty, mut full) = (true, true);
        loop {
            tokio::select! {
                biased;
                () = self.redraw.notified() => dirty = true,
                _ = ticker.tick(), if dirty => match self.frame(full) {
                    Sent::Yes => (dirty, full) = (false, false),
                    Sent::Later => {}
                    Sent::Closed => return,
                },
                event = self.handle.next() => match event {
                    Some(StreamEvent::Output { offset, bytes }) => {
                        if !self.output(offset, &bytes).await {
                            return;
                        }
                        dirty = true;
                    }
                    Some(StreamEvent::Gap { from, base }) => {
                        lock(&self.engine).reset();
                        self.applied.store(base, Ordering::Release);
                        (dirty, full) = (true, true);
                        if self.events.send(TerminalEvent::Gap { from, base }).await.is_err() {
                            return;
                        }
                    }
                    Some(StreamEvent::Exit(status)) => {
                        self.flush(full).await;
                        let _ = self.events.send(TerminalEvent::Exited(status)).await;
                        return;
                    }
                    Some(StreamEvent::Reset) | None => {
                        let _ = self.events.send(TerminalEvent::Closed).await;
                        return;
                    }
                },
            }
        }
    }

    /// Feeds output, answers its queries, and reports what the program asked for. `false` when
    /// the consumer is gone.
    async fn output(&mut self, offset: u64, bytes: &[u8]) -> bool {
        let end = offset + bytes.len() as u64;
        // Output seen before (a re-attach) had its addresses offered then.
        let fresh = usize::try_from(self.options.replay_until.saturating_sub(offset))
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let ports = super::local_urls::local_ports(&bytes[fresh..]);
        // A command's output has had no terminal to turn each line feed into a new line.
        let crlf;
        let bytes = if self.options.output_only {
            crlf = new_lines(bytes);
            &crlf[..]
        } else {
            bytes
        };
        let (replies, notices) = {
            let mut engine = lock(&self.engine);
            // A command's output is never answered: nothing reads its input.
            let until = if self.options.output_only {
                u64::MAX
            } else {
                self.options.replay_until
            };
            let replayed = usize::try_from(until.saturating_sub(offset))
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            engine.replay(&bytes[..replayed]);
            engine.feed(&bytes[replayed..]);
            let mut notices = Vec::new();
            for port in ports {
                if self.announced.insert(port) {
                    notices.push(TerminalEvent::LocalUrl { port });
                }
            }
            if let Some(title) = engine.take_title() {
                notices.push(TerminalEvent::Title(title));
            }
            if engine.take_bells() > 0 {
                notices.push(TerminalEvent::Bell);
            }
            if let Some(write) = engine.take_clipboard_write() {
                notices.push(TerminalEvent::Clipboard(write));
            }
            (engine.take_replies(), notices)
        };
        for reply in replies {
            self.input.write(reply.as_bytes(), false);
        }
        self.applied.store(end, Ordering::Release);
        for notice in notices {
            if self.events.send(notice).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Builds and sends a frame if the consumer has room; otherwise the damage waits.
    fn frame(&mut self, full: bool) -> Sent {
        let permit = match self.events.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => return Sent::Later,
            Err(mpsc::error::TrySendError::Closed(())) => return Sent::Closed,
        };
        let mut engine = lock(&self.engine);
        engine.tick(Instant::now());
        if engine.is_synchronizing() {
            return Sent::Later;
        }
        if let Some(frame) = engine.frame(full) {
            permit.send(TerminalEvent::Frame(frame));
        }
        Sent::Yes
    }

    /// The last frame before the program's exit, waiting for room if need be.
    async fn flush(&mut self, full: bool) {
        let Ok(permit) = self.events.reserve().await else {
            return;
        };
        let mut engine = lock(&self.engine);
        engine.tick(Instant::now() + Duration::from_secs(3600));
        if let Some(frame) = engine.frame(full) {
            permit.send(TerminalEvent::Frame(frame));
        }
    }
}

/// `bytes` with each line feed preceded by a carriage return, as a terminal's output
/// processing (`onlcr`) would have written them.
fn new_lines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 16);
    for &byte in bytes {
        if byte == b'\n' {
            out.push(b'\r');
        }
        out.push(byte);
    }
    out
}

enum Sent {
    Yes,
    Later,
    Closed,
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
