//! One terminal's emulator: a `Term` and the one parser it is fed through for its whole life.
//!
//! Rules from `reference/terminal-acp.md` A1 that this type enforces:
//! - one persistent parser per stream, so an escape sequence split across two chunks is parsed
//!   as one;
//! - terminal replies (DA, DSR, CPR, DECRQM, colour queries answered from the theme, …) are
//!   collected as automatic input exactly once, and never for replayed output (old queries must
//!   not be answered again);
//! - synchronized updates (DEC 2026) end when their timeout passes, checked by [`Engine::tick`],
//!   because the parser never ends them by itself;
//! - OSC 52 clipboard writes are held for the user's consent, never applied; clipboard reads
//!   are refused.

mod encode;
mod view;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use alacritty_terminal::event::{Event, EventListener, WindowSize};
use alacritty_terminal::grid::{Dimensions, Scroll};
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::term::{ClipboardType, Config, Osc52, Term, TermDamage, TermMode};
use alacritty_terminal::vte::ansi::{Processor, Rgb, StdSyncHandler};

use super::frame::modes;
use super::theme::Theme;

pub use view::{ScreenPoint, SearchDirection, SearchMatch, SelectionKind};

/// Lines of scrollback by default.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

/// The largest OSC 52 clipboard write held for consent; larger ones are dropped.
pub const MAX_CLIPBOARD_WRITE: usize = 1024 * 1024;

/// A terminal's size in cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

impl Dimensions for Size {
    fn total_lines(&self) -> usize {
        self.screen_lines()
    }

    fn screen_lines(&self) -> usize {
        usize::from(self.rows.max(1))
    }

    fn columns(&self) -> usize {
        usize::from(self.cols.max(1))
    }
}

/// A program's request (OSC 52) to put text on the clipboard, waiting for the user's consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipboardWrite {
    /// The text.
    pub text: String,
    /// The primary selection rather than the clipboard.
    pub primary: bool,
}

type ColorFormatter = Arc<dyn Fn(Rgb) -> String + Send + Sync>;
type SizeFormatter = Arc<dyn Fn(WindowSize) -> String + Send + Sync>;

/// A reply the emulator owes the program, resolved when taken (colour replies need the
/// emulator's current colours, which the event listener cannot see).
enum Reply {
    Text(String),
    Color(usize, ColorFormatter),
    Size(SizeFormatter),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Self::Color(index, _) => f.debug_tuple("Color").field(index).finish(),
            Self::Size(_) => f.write_str("Size"),
        }
    }
}

/// What the emulator asked for while parsing; drained by the engine's owner.
#[derive(Debug, Default)]
struct Outbox {
    replies: Vec<Reply>,
    title: Option<String>,
    bells: u32,
    clipboard: Option<ClipboardWrite>,
    replaying: bool,
}

/// Receives the emulator's events. It runs while `Term` is being mutated, so it only records.
#[derive(Debug, Clone, Default)]
struct Listener(Arc<Mutex<Outbox>>);

impl EventListener for Listener {
    fn send_event(&self, event: Event) {
        let mut outbox = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let live = !outbox.replaying;
        match event {
            Event::PtyWrite(reply) if live => outbox.replies.push(Reply::Text(reply)),
            Event::ColorRequest(index, format) if live => {
                outbox.replies.push(Reply::Color(index, format));
            }
            Event::TextAreaSizeRequest(format) if live => outbox.replies.push(Reply::Size(format)),
            Event::ClipboardStore(kind, text) if live => {
                if text.len() <= MAX_CLIPBOARD_WRITE {
                    outbox.clipboard = Some(ClipboardWrite {
                        text,
                        primary: kind == ClipboardType::Selection,
                    });
                } else {
                    tracing::warn!(
                        bytes = text.len(),
                        "dropped an oversized OSC 52 clipboard write"
                    );
                }
            }
            Event::Title(title) => outbox.title = Some(title),
            Event::ResetTitle => outbox.title = Some(String::new()),
            Event::Bell if live => outbox.bells += 1,
            _ => {}
        }
    }
}

/// One terminal's emulator.
pub struct Engine {
    term: Term<Listener>,
    parser: Processor<StdSyncHandler>,
    listener: Listener,
    size: Size,
    scrollback: usize,
    theme: Theme,
    /// Pixel size of a cell, for the rare program that asks (CSI 14 t).
    cell_pixels: (u16, u16),
    /// The next frame must be full (the selection or theme changed, or the engine was reset).
    force_full: bool,
    search: Option<view::Search>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("size", &self.size)
            .field("scrollback", &self.scrollback)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A blank terminal of `size` keeping `scrollback` lines of history.
    pub fn new(size: Size, scrollback: usize) -> Self {
        let listener = Listener::default();
        Self {
            term: Term::new(config(scrollback), &size, listener.clone()),
            parser: Processor::new(),
            listener,
            size,
            scrollback,
            theme: Theme::default(),
            cell_pixels: (8, 16),
            force_full: true,
            search: None,
        }
    }

    /// Forgets everything on the screen and in history (after a `gap`: the output that led
    /// here is lost, so the old screen would be wrong). Size and theme are kept.
    pub fn reset(&mut self) {
        self.listener = Listener::default();
        self.term = Term::new(config(self.scrollback), &self.size, self.listener.clone());
        self.parser = Processor::new();
        self.force_full = true;
        self.search = None;
    }

    /// Sets the colours used to answer colour queries (the renderer draws with the same).
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.force_full = true;
    }

    /// Sets a cell's size in pixels, reported to programs that ask for the text area's size.
    pub fn set_cell_pixels(&mut self, width: u16, height: u16) {
        self.cell_pixels = (width, height);
    }

    /// Feeds live output. Replies to queries in it are queued for [`Engine::take_replies`].
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.advance(&mut self.term, bytes);
    }

    /// Feeds output that was already answered once (a resume from offset 0, a recording):
    /// the screen is rebuilt, but no query in it is answered again, no bell rings and no
    /// clipboard write is offered.
    pub fn replay(&mut self, bytes: &[u8]) {
        self.outbox().replaying = true;
        self.parser.advance(&mut self.term, bytes);
        self.outbox().replaying = false;
    }

    /// Ends a synchronized update whose timeout has passed. Call it from the frame timer.
    pub fn tick(&mut self, now: Instant) {
        if self
            .parser
            .sync_timeout()
            .sync_timeout()
            .is_some_and(|deadline| now >= deadline)
        {
            self.parser.stop_sync(&mut self.term);
        }
    }

    /// Whether a synchronized update is holding output back (skip drawing until it ends).
    pub fn is_synchronizing(&self) -> bool {
        self.parser.sync_bytes_count() > 0
    }

    /// Terminal replies to send to the PTY as automatic (not user-typed) input, in order.
    pub fn take_replies(&mut self) -> Vec<String> {
        let pending = std::mem::take(&mut self.outbox().replies);
        pending
            .into_iter()
            .map(|reply| match reply {
                Reply::Text(text) => text,
                Reply::Color(index, format) => {
                    let set = self.term.colors()[index];
                    format(set.unwrap_or_else(|| self.theme.color(index)))
                }
                Reply::Size(format) => format(WindowSize {
                    num_lines: self.size.rows,
                    num_cols: self.size.cols,
                    cell_width: self.cell_pixels.0,
                    cell_height: self.cell_pixels.1,
                }),
            })
            .collect()
    }

    /// The title the program set, if it changed since the last call (`""` = reset).
    pub fn take_title(&mut self) -> Option<String> {
        self.outbox().title.take()
    }

    /// Bells since the last call.
    pub fn take_bells(&mut self) -> u32 {
        std::mem::take(&mut self.outbox().bells)
    }

    /// The latest clipboard write a program asked for (OSC 52), for the user to allow or not.
    pub fn take_clipboard_write(&mut self) -> Option<ClipboardWrite> {
        self.outbox().clipboard.take()
    }

    /// Changes the size (reflowing the text). The PTY must be resized separately.
    pub fn resize(&mut self, size: Size) {
        self.size = size;
        self.term.resize(size);
        self.force_full = true;
    }

    /// The current size.
    pub fn size(&self) -> Size {
        self.size
    }

    /// Scrolls the view `lines` up into history (negative: down), clamped.
    pub fn scroll(&mut self, lines: i32) {
        self.term.scroll_display(Scroll::Delta(lines));
    }

    /// Follows the output again.
    pub fn scroll_to_bottom(&mut self) {
        self.term.scroll_display(Scroll::Bottom);
    }

    /// Lines the view is scrolled back.
    pub fn display_offset(&self) -> usize {
        self.term.grid().display_offset()
    }

    /// Lines of history above the screen.
    pub fn history_lines(&self) -> usize {
        self.term.grid().history_size()
    }

    /// Memory the screen and its history hold, in bytes (cells are a fixed size; characters
    /// with combining marks or links hold a little more).
    pub fn memory_bytes(&self) -> usize {
        let lines = self.history_lines() + self.size.screen_lines();
        lines * self.size.columns() * size_of::<Cell>()
    }

    /// The terminal's [`modes`] bits (what the input encoder must honour).
    pub fn modes(&self) -> u16 {
        let mode = *self.term.mode();
        let mut out = 0;
        for (flag, bit) in [
            (TermMode::APP_CURSOR, modes::APP_CURSOR),
            (TermMode::APP_KEYPAD, modes::APP_KEYPAD),
            (TermMode::BRACKETED_PASTE, modes::BRACKETED_PASTE),
            (TermMode::MOUSE_REPORT_CLICK, modes::MOUSE_CLICK),
            (TermMode::MOUSE_DRAG, modes::MOUSE_DRAG),
            (TermMode::MOUSE_MOTION, modes::MOUSE_MOTION),
            (TermMode::SGR_MOUSE, modes::SGR_MOUSE),
            (TermMode::UTF8_MOUSE, modes::UTF8_MOUSE),
            (TermMode::FOCUS_IN_OUT, modes::FOCUS_EVENTS),
            (TermMode::ALT_SCREEN, modes::ALT_SCREEN),
            (TermMode::ALTERNATE_SCROLL, modes::ALTERNATE_SCROLL),
            (TermMode::LINE_FEED_NEW_LINE, modes::LINE_FEED_NEW_LINE),
        ] {
            if mode.contains(flag) {
                out |= bit;
            }
        }
        if self.term.cursor_style().blinking {
            out |= modes::CURSOR_BLINK;
        }
        out
    }

    /// The visible screen as plain text: one line per row, trailing spaces trimmed, trailing
    /// empty rows kept (the screen has a fixed height).
    pub fn screen_text(&self) -> String {
        let grid = self.term.grid();
        let mut out = String::new();
        for row in 0..self.size.screen_lines() {
            let line = &grid[self.screen_line(row)];
            let mut text = String::new();
            // The column after a wide character is its spacer. An erase that began there
            // clears the spacer's flag but leaves the character drawn over it, so an empty cell
            // there is still covered; anything written there later is drawn on top and shows
            // (the frame encoder follows the same rule).
            let mut covered = false;
            for col in 0..self.size.columns() {
                let cell = &line[Column(col)];
                let after_wide = std::mem::take(&mut covered);
                if cell.flags.contains(Flags::WIDE_CHAR_SPACER)
                    || (after_wide && encode::is_blank(cell))
                {
                    continue;
                }
                covered = cell.flags.contains(Flags::WIDE_CHAR);
                text.push(encode::visible(cell.c));
                if let Some(zerowidth) = cell.zerowidth() {
                    text.extend(zerowidth);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }

    /// What changed since the last frame (everything, with `full`) as an encoded frame
    /// (`super::frame`), or `None` when nothing did. Clears the damage.
    pub fn frame(&mut self, full: bool) -> Option<Vec<u8>> {
        let (whole, mut rows) = match self.term.damage() {
            TermDamage::Full => (true, Vec::new()),
            TermDamage::Partial(lines) => (false, lines.map(|damage| damage.line).collect()),
        };
        self.term.reset_damage();
        let forced = std::mem::take(&mut self.force_full);
        let full = full || whole || forced;
        if full {
            rows = (0..self.size.screen_lines()).collect();
        }
        rows.sort_unstable();
        rows.dedup();
        if rows.is_empty() {
            return None;
        }
        Some(encode::frame(self, full, &rows))
    }

    /// The grid line shown on screen row `row`.
    fn screen_line(&self, row: usize) -> Line {
        let offset = i32::try_from(self.term.grid().display_offset()).unwrap_or(0);
        Line(i32::try_from(row).unwrap_or(i32::MAX) - offset)
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.listener
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn config(scrollback: usize) -> Config {
    Config {
        scrolling_history: scrollback,
        osc52: Osc52::OnlyCopy,
        ..Config::default()
    }
}

#[cfg(test)]
mod tests;
