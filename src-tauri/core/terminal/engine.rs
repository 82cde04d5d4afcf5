//! One terminal's emulator: a `Term` and the one parser it is fed through for its whole life.
//!
//! Rules from `reference/terminal-acp.md` A1 that this type enforces:
//! - one persistent parser per stream, so an escape sequence split across two chunks is parsed
//!   as one;
//! - terminal replies (DA, DSR, CPR, DECRQM, …) are collected as automatic input exactly once,
//!   and never for replayed output (old queries must not be answered again);
//! - synchronized updates (DEC 2026) end when their timeout passes, checked by [`Engine::tick`],
//!   because the parser never ends them by itself.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use alacritty_terminal::event::{Event, EventListener};
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::term::{Config, Term, TermDamage};
use alacritty_terminal::vte::ansi::{self, CursorShape, NamedColor, Processor, StdSyncHandler};

use super::frame::{self, Color, Cursor, Frame, Row, Run, Style};

/// Lines of scrollback by default.
pub const DEFAULT_SCROLLBACK: usize = 10_000;

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

/// What the emulator asked for while parsing; drained by the engine's owner.
#[derive(Debug, Default)]
struct Outbox {
    replies: Vec<String>,
    title: Option<String>,
    bells: u32,
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
        match event {
            Event::PtyWrite(reply) if !outbox.replaying => outbox.replies.push(reply),
            Event::Title(title) => outbox.title = Some(title),
            Event::ResetTitle => outbox.title = Some(String::new()),
            Event::Bell => outbox.bells += 1,
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
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A blank terminal of `size` keeping `scrollback` lines of history.
    pub fn new(size: Size, scrollback: usize) -> Self {
        let listener = Listener::default();
        let config = Config {
            scrolling_history: scrollback,
            ..Config::default()
        };
        Self {
            term: Term::new(config, &size, listener.clone()),
            parser: Processor::new(),
            listener,
            size,
        }
    }

    /// Feeds live output. Replies to queries in it are queued for [`Engine::take_replies`].
    pub fn feed(&mut self, bytes: &[u8]) {
        self.parser.advance(&mut self.term, bytes);
    }

    /// Feeds output that was already answered once (a resume from offset 0, a recording):
    /// the screen is rebuilt, but no query in it is answered again.
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

    /// Terminal replies to send to the PTY as automatic (not user-typed) input.
    pub fn take_replies(&mut self) -> Vec<String> {
        std::mem::take(&mut self.outbox().replies)
    }

    /// The title the program set, if it changed since the last call (`""` = reset).
    pub fn take_title(&mut self) -> Option<String> {
        self.outbox().title.take()
    }

    /// Bells since the last call.
    pub fn take_bells(&mut self) -> u32 {
        std::mem::take(&mut self.outbox().bells)
    }

    /// Changes the size (reflowing the text). The PTY must be resized separately.
    pub fn resize(&mut self, size: Size) {
        self.size = size;
        self.term.resize(size);
    }

    /// The current size.
    pub fn size(&self) -> Size {
        self.size
    }

    /// The visible screen as plain text: one line per row, trailing spaces trimmed, trailing
    /// empty rows kept (the screen has a fixed height).
    pub fn screen_text(&self) -> String {
        let grid = self.term.grid();
        let offset = i32::try_from(grid.display_offset()).unwrap_or(0);
        let mut out = String::new();
        for row in 0..self.size.screen_lines() {
            let line = Line(i32::try_from(row).unwrap_or(i32::MAX) - offset);
            let mut text = String::new();
            for col in 0..self.size.columns() {
                let cell = &grid[line][Column(col)];
                if cell.flags.contains(Flags::WIDE_CHAR_SPACER) {
                    continue;
                }
                text.push(cell.c);
                if let Some(zerowidth) = cell.zerowidth() {
                    text.extend(zerowidth);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }

    /// What changed since the last frame (everything, with `full`), or `None` when nothing did.
    pub fn frame(&mut self, full: bool) -> Option<Frame> {
        let (whole, mut damaged) = match self.term.damage() {
            TermDamage::Full => (true, Vec::new()),
            TermDamage::Partial(lines) => {
                (false, lines.map(|damage| damage.line).collect::<Vec<_>>())
            }
        };
        self.term.reset_damage();
        let full = full || whole;
        if full {
            damaged = (0..self.size.screen_lines()).collect();
        }
        damaged.sort_unstable();
        damaged.dedup();
        if damaged.is_empty() {
            return None;
        }
        let lines = damaged.into_iter().map(|row| self.row(row)).collect();
        let content = self.term.renderable_content();
        let offset = i32::try_from(content.display_offset).unwrap_or(0);
        let point = content.cursor.point;
        let cursor = (content.cursor.shape != CursorShape::Hidden).then(|| Cursor {
            row: u16::try_from(point.line.0 + offset).unwrap_or(0),
            col: u16::try_from(point.column.0).unwrap_or(0),
            shape: match content.cursor.shape {
                CursorShape::Underline => 1,
                CursorShape::Beam => 2,
                CursorShape::HollowBlock => 3,
                _ => 0,
            },
        });
        Some(Frame {
            full,
            cols: self.size.cols,
            rows: self.size.rows,
            cursor,
            lines,
        })
    }

    /// One screen row as runs of one style, blank default cells left out.
    fn row(&self, row: usize) -> Row {
        let grid = self.term.grid();
        let offset = i32::try_from(grid.display_offset()).unwrap_or(0);
        let line = &grid[Line(i32::try_from(row).unwrap_or(0) - offset)];
        let mut runs: Vec<Run> = Vec::new();
        for col in 0..self.size.columns() {
            let cell = &line[Column(col)];
            if cell
                .flags
                .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                if let Some(run) = runs
                    .last_mut()
                    .filter(|run| run.style.attrs & frame::attrs::WIDE != 0)
                {
                    run.cells += 1;
                }
                continue;
            }
            let style = Style {
                fg: color(cell.fg),
                bg: color(cell.bg),
                attrs: attrs(cell.flags),
            };
            if cell.c == ' ' && style == Style::default() {
                continue;
            }
            let col16 = u16::try_from(col).unwrap_or(u16::MAX);
            let extends = runs
                .last()
                .is_some_and(|run| run.style == style && run.col + run.cells == col16);
            if !extends {
                runs.push(Run {
                    col: col16,
                    cells: 0,
                    style,
                    text: String::new(),
                });
            }
            if let Some(run) = runs.last_mut() {
                run.cells += 1;
                run.text.push(cell.c);
                if let Some(marks) = cell.zerowidth() {
                    run.text.extend(marks);
                }
            }
        }
        Row {
            index: u16::try_from(row).unwrap_or(u16::MAX),
            runs,
        }
    }

    /// Lines of history above the screen.
    pub fn history_lines(&self) -> usize {
        self.term.grid().history_size()
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.listener
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn color(color: ansi::Color) -> Color {
    match color {
        ansi::Color::Named(NamedColor::Foreground | NamedColor::Background) => Color::Default,
        ansi::Color::Named(named) => Color::Named(named as u16),
        ansi::Color::Indexed(index) => Color::Indexed(index),
        ansi::Color::Spec(rgb) => Color::Rgb(rgb.r, rgb.g, rgb.b),
    }
}

fn attrs(flags: Flags) -> u16 {
    let mut out = 0;
    for (flag, bit) in [
        (Flags::INVERSE, frame::attrs::INVERSE),
        (Flags::BOLD, frame::attrs::BOLD),
        (Flags::ITALIC, frame::attrs::ITALIC),
        (Flags::ALL_UNDERLINES, frame::attrs::UNDERLINE),
        (Flags::WIDE_CHAR, frame::attrs::WIDE),
        (Flags::DIM, frame::attrs::DIM),
        (Flags::HIDDEN, frame::attrs::HIDDEN),
        (Flags::STRIKEOUT, frame::attrs::STRIKEOUT),
    ] {
        if flags.intersects(flag) {
            out |= bit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: Size = Size { cols: 20, rows: 4 };

    fn rows(engine: &Engine) -> Vec<String> {
        engine.screen_text().lines().map(str::to_owned).collect()
    }

    #[test]
    fn text_and_cursor_movement_land_where_a_terminal_puts_them() {
        let mut engine = Engine::new(SIZE, 100);
        engine.feed(b"hello\r\nworld\x1b[1;10HX");
        assert_eq!(rows(&engine), ["hello    X", "world", "", ""]);
    }

    #[test]
    fn an_escape_split_across_chunks_is_parsed_once() {
        let mut engine = Engine::new(SIZE, 100);
        engine.feed(b"a\x1b[");
        engine.feed(b"2Cb");
        assert_eq!(rows(&engine)[0], "a  b");
    }

    #[test]
    fn queries_are_answered_once_live_and_never_on_replay() {
        let mut engine = Engine::new(SIZE, 100);
        engine.feed(b"\x1b[c\x1b[6n");
        let replies = engine.take_replies();
        assert_eq!(replies.len(), 2, "{replies:?}");
        assert!(replies[0].starts_with("\x1b[?"), "{replies:?}");
        assert_eq!(replies[1], "\x1b[1;1R");
        assert!(engine.take_replies().is_empty(), "taken once");
        engine.replay(b"\x1b[c\x1b[6n");
        assert!(engine.take_replies().is_empty(), "a replay answers nothing");
    }

    #[test]
    fn titles_bells_and_wide_characters() {
        let mut engine = Engine::new(SIZE, 100);
        engine.feed("\x1b]0;build\x07\x07日本€".as_bytes());
        assert_eq!(engine.take_title().as_deref(), Some("build"));
        assert_eq!(engine.take_bells(), 1);
        assert_eq!(rows(&engine)[0], "日本€");
    }

    #[test]
    fn a_synchronized_update_ends_at_its_timeout() {
        let mut engine = Engine::new(SIZE, 100);
        engine.feed(b"\x1b[?2026hhidden");
        assert!(engine.is_synchronizing());
        assert_eq!(rows(&engine)[0], "", "held back during the update");
        engine.tick(Instant::now() + std::time::Duration::from_secs(1));
        assert!(!engine.is_synchronizing());
        assert_eq!(rows(&engine)[0], "hidden");
    }

    #[test]
    fn scrollback_keeps_what_scrolled_off_and_resize_reflows() {
        let mut engine = Engine::new(SIZE, 100);
        for n in 0..10 {
            engine.feed(format!("line {n}\r\n").as_bytes());
        }
        assert_eq!(engine.history_lines(), 7);
        assert_eq!(rows(&engine), ["line 7", "line 8", "line 9", ""]);
        engine.resize(Size { cols: 4, rows: 4 });
        assert_eq!(engine.size(), Size { cols: 4, rows: 4 });
        assert!(rows(&engine).iter().all(|row| row.chars().count() <= 4));
    }
}

#[cfg(test)]
mod frame_tests {
    use super::*;

    /// The text a frame shows on a row, with wide characters and gaps laid out by column.
    fn text_of(row: &Row, cols: usize) -> String {
        let mut cells = vec![" ".to_owned(); cols];
        for run in &row.runs {
            let width = if run.style.attrs & frame::attrs::WIDE != 0 {
                2
            } else {
                1
            };
            let mut col = usize::from(run.col);
            for ch in run.text.chars() {
                if let Some(cell) = cells.get_mut(col) {
                    *cell = ch.to_string();
                }
                for _ in 1..width {
                    if let Some(cell) = cells.get_mut(col + 1) {
                        cell.clear();
                    }
                }
                col += width;
            }
        }
        cells.concat().trim_end().to_owned()
    }

    #[test]
    fn a_full_frame_reproduces_the_screen_and_survives_encoding() {
        let mut engine = Engine::new(Size { cols: 20, rows: 3 }, 0);
        engine.feed(
            "plain \x1b[1;31mbold red\x1b[0m\r\n\x1b[38;2;1;2;3m日本\x1b[0m x\r\n\x1b[48;5;236mbg"
                .as_bytes(),
        );
        let frame = engine.frame(true).expect("a first frame");
        assert!(frame.full);
        assert_eq!(Frame::decode(&frame.encode()).as_ref(), Ok(&frame));
        let screen: Vec<String> = frame.lines.iter().map(|row| text_of(row, 20)).collect();
        let expected: Vec<String> = engine.screen_text().lines().map(str::to_owned).collect();
        assert_eq!(screen, expected);
        let bold = &frame.lines[0].runs[1];
        assert_eq!(
            (
                bold.text.as_str(),
                bold.style.fg,
                bold.style.attrs & frame::attrs::BOLD != 0
            ),
            ("bold red", Color::Named(1), true)
        );
        let wide = &frame.lines[1].runs[0];
        assert_eq!((wide.cells, wide.style.fg), (4, Color::Rgb(1, 2, 3)));
        assert_eq!(frame.lines[2].runs[0].style.bg, Color::Indexed(236));
        assert_eq!(frame.cursor.map(|c| (c.row, c.col)), Some((2, 2)));
    }

    #[test]
    fn after_a_change_only_damaged_rows_are_sent() {
        let mut engine = Engine::new(Size { cols: 20, rows: 5 }, 0);
        engine.feed(b"one\r\ntwo\r\nthree");
        engine.frame(true).expect("first");
        // The emulator always re-reports the cursor's row (the cursor may have moved or blinked).
        let idle = engine
            .frame(false)
            .map(|frame| frame.lines.iter().map(|row| row.index).collect::<Vec<_>>());
        assert!(idle.is_none() || idle == Some(vec![2]), "{idle:?}");
        engine.feed(b"\x1b[2;1HTWO");
        let frame = engine.frame(false).expect("a change");
        assert!(!frame.full);
        let rows: Vec<u16> = frame.lines.iter().map(|row| row.index).collect();
        assert!(rows.contains(&1) && rows.len() <= 2, "{rows:?}");
        let changed = frame
            .lines
            .iter()
            .find(|row| row.index == 1)
            .expect("row 1");
        assert_eq!(text_of(changed, 20), "TWO");
    }
}
