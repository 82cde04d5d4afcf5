//! Frames straight from the emulator's grid: cells are compared in the emulator's own types and
//! written into the frame as they are visited, with no per-cell or per-run allocation.

use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::Column;
use alacritty_terminal::term::cell::{Cell, Flags};
use alacritty_terminal::vte::ansi::{self, CursorShape, NamedColor};

use super::super::frame::{self, Color, Cursor, Header, SelectionBox, Style, Writer};
use super::Engine;
use crate::opener::is_openable_link;

/// Flags that change how a cell looks (the rest are bookkeeping).
const STYLE_FLAGS: Flags = Flags::INVERSE
    .union(Flags::BOLD)
    .union(Flags::ITALIC)
    .union(Flags::ALL_UNDERLINES)
    .union(Flags::WIDE_CHAR)
    .union(Flags::DIM)
    .union(Flags::HIDDEN)
    .union(Flags::STRIKEOUT);

/// Flags that make a blank cell look different from an empty one (a coloured foreground
/// does not: there is nothing to draw in it).
const SHOWS_ON_BLANK: Flags = Flags::INVERSE
    .union(Flags::ALL_UNDERLINES)
    .union(Flags::STRIKEOUT);

/// Encodes screen rows `rows` (sorted, unique) of `engine`.
pub(super) fn frame(engine: &Engine, full: bool, rows: &[usize]) -> Vec<u8> {
    let header = header(engine, full);
    // About 8 bytes of run header per 16 cells plus the text: enough to rarely grow.
    let estimate = 64 + rows.len() * (8 + engine.size.columns() * 3 / 2);
    let mut writer = Writer::new(Vec::with_capacity(estimate), &header);
    let grid = engine.term.grid();
    let columns = engine.size.columns();
    for &row in rows {
        writer.row(u16::try_from(row).unwrap_or(u16::MAX));
        let line = &grid[engine.screen_line(row)];
        // The open run's key (fg, bg, flags, link), the column it expects next, and blanks
        // seen since its last character: kept if the run goes on, dropped if it ends.
        let mut open: Option<(ansi::Color, ansi::Color, Flags, Option<u16>)> = None;
        let mut next_col = usize::MAX;
        let mut blanks = 0u16;
        // Whether blanks in the open run may be left out (no background, nothing drawn on them).
        let mut blankable = false;
        for col in 0..columns {
            let cell = &line[Column(col)];
            // The common case first: the cell continues the open run in the same style.
            if let Some((fg, bg, run_flags, None)) = open
                && next_col == col
                && cell.extra.is_none()
                && cell.fg == fg
                && cell.bg == bg
                && cell.flags & STYLE_FLAGS == run_flags
                && !cell
                    .flags
                    .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                let ch = visible(cell.c);
                if ch == ' ' && blankable {
                    blanks += 1;
                } else {
                    for _ in 0..blanks {
                        writer.push(' ', 1);
                    }
                    blanks = 0;
                    writer.push(
                        ch,
                        if run_flags.contains(Flags::WIDE_CHAR) {
                            2
                        } else {
                            1
                        },
                    );
                }
                next_col = col
                    + if run_flags.contains(Flags::WIDE_CHAR) {
                        2
                    } else {
                        1
                    };
                continue;
            }
            if cell
                .flags
                .intersects(Flags::WIDE_CHAR_SPACER | Flags::LEADING_WIDE_CHAR_SPACER)
            {
                continue;
            }
            let flags = cell.flags & STYLE_FLAGS;
            let ch = visible(cell.c);
            if is_blank(cell) {
                if open.is_some_and(|(fg, bg, f, _)| (fg, bg, f) == (cell.fg, cell.bg, flags))
                    && next_col == col
                {
                    blanks += 1;
                    next_col += 1;
                }
                continue;
            }
            let link = match &cell.extra {
                Some(_) => cell
                    .hyperlink()
                    .filter(|link| is_openable_link(link.uri()))
                    .map(|link| writer.link(link.uri())),
                None => None,
            };
            let key = (cell.fg, cell.bg, flags, link);
            let marks = cell.zerowidth().filter(|marks| !marks.is_empty());
            if open != Some(key) || next_col != col || marks.is_some() {
                let style = Style {
                    fg: color(cell.fg),
                    bg: color(cell.bg),
                    attrs: attrs(flags),
                };
                writer.run(u16::try_from(col).unwrap_or(u16::MAX), style, link);
                open = Some(key);
                blankable = is_default(cell.bg) && !flags.intersects(SHOWS_ON_BLANK);
            } else {
                for _ in 0..blanks {
                    writer.push(' ', 1);
                }
            }
            blanks = 0;
            let width = if flags.contains(Flags::WIDE_CHAR) {
                2
            } else {
                1
            };
            writer.push(ch, width);
            if let Some(marks) = marks {
                // A grapheme with combining marks is a run of its own.
                for &mark in marks {
                    writer.push_mark(mark);
                }
                open = None;
            }
            next_col = col + usize::from(width);
        }
    }
    writer.finish()
}

fn header(engine: &Engine, full: bool) -> Header {
    let term = &engine.term;
    let size = engine.size;
    let offset = term.grid().display_offset();
    let screen_row = |line: i32| i64::from(line) + offset as i64;
    let rows = i64::from(size.rows.max(1));
    let cursor_point = term.grid().cursor.point;
    let style = term.cursor_style();
    let cursor_row = screen_row(cursor_point.line.0);
    let cursor = (term
        .mode()
        .contains(alacritty_terminal::term::TermMode::SHOW_CURSOR)
        && style.shape != CursorShape::Hidden
        && (0..rows).contains(&cursor_row))
    .then(|| Cursor {
        row: u16::try_from(cursor_row).unwrap_or(0),
        col: u16::try_from(cursor_point.column.0).unwrap_or(0),
        shape: match style.shape {
            CursorShape::Underline => 1,
            CursorShape::Beam => 2,
            CursorShape::HollowBlock => 3,
            _ => 0,
        },
    });
    let selection = term
        .selection
        .as_ref()
        .and_then(|selection| selection.to_range(term))
        .and_then(|range| {
            let (start, end) = (screen_row(range.start.line.0), screen_row(range.end.line.0));
            if end < 0 || start >= rows {
                return None;
            }
            let last_col = u16::try_from(size.columns() - 1).unwrap_or(u16::MAX);
            let col = |column: usize| u16::try_from(column).unwrap_or(u16::MAX);
            let clipped_top = start < 0 && !range.is_block;
            let clipped_bottom = end >= rows && !range.is_block;
            Some(SelectionBox {
                start_row: u16::try_from(start.max(0)).unwrap_or(0),
                start_col: if clipped_top {
                    0
                } else {
                    col(range.start.column.0)
                },
                end_row: u16::try_from(end.min(rows - 1)).unwrap_or(0),
                end_col: if clipped_bottom {
                    last_col
                } else {
                    col(range.end.column.0)
                },
                block: range.is_block,
            })
        });
    Header {
        full,
        cols: size.cols,
        rows: size.rows,
        cursor,
        modes: engine.modes(),
        display_offset: u32::try_from(offset).unwrap_or(u32::MAX),
        history: u32::try_from(engine.history_lines()).unwrap_or(u32::MAX),
        selection,
    }
}

/// Whether a cell looks empty: a space with no background, nothing drawn on it, no link.
pub(super) fn is_blank(cell: &Cell) -> bool {
    visible(cell.c) == ' '
        && !cell.flags.intersects(SHOWS_ON_BLANK)
        && cell.extra.is_none()
        && is_default(cell.bg)
}

/// What a cell shows: the emulator keeps a tab in the cell where the tab started (so copying
/// keeps it), but on screen it is blank.
pub(super) fn visible(c: char) -> char {
    if c == '\t' { ' ' } else { c }
}

fn is_default(color: ansi::Color) -> bool {
    matches!(
        color,
        ansi::Color::Named(NamedColor::Foreground | NamedColor::Background)
    )
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
