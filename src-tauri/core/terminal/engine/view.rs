//! What the user does with a terminal's contents rather than its program: select text, search
//! the scrollback, open links.

use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Boundary, Column, Direction, Line, Point, Side};
use alacritty_terminal::selection::{Selection, SelectionType};
use alacritty_terminal::term::search::RegexSearch;

use super::Engine;
use crate::error::SamError;
use crate::opener::is_openable_link;

/// A cell on the screen as the user sees it (row 0 is the top of the view, wherever the view is
/// scrolled to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScreenPoint {
    /// Row from the top of the view.
    pub row: u16,
    /// Column.
    pub col: u16,
}

/// How a selection grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionKind {
    /// Character by character (a drag).
    Simple,
    /// A rectangle (Alt-drag).
    Block,
    /// Whole words (a double click).
    Word,
    /// Whole lines (a triple click).
    Line,
}

/// Which way a search goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchDirection {
    /// Towards older output (up).
    Backward,
    /// Towards newer output (down).
    Forward,
}

/// A search hit, in buffer lines: 0 is the top of the live screen, negative lines are history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SearchMatch {
    /// Line of the first character.
    pub start_line: i32,
    /// Column of the first character.
    pub start_col: u16,
    /// Line of the last character.
    pub end_line: i32,
    /// Column of the last character.
    pub end_col: u16,
    /// The matched text.
    pub text: String,
}

/// A search in progress: the compiled pattern and where the last hit was.
#[derive(Debug)]
pub(super) struct Search {
    pattern: String,
    regex: RegexSearch,
    last: Option<(Point, Point)>,
}

impl Engine {
    /// Starts a selection at `at`.
    pub fn select(&mut self, kind: SelectionKind, at: ScreenPoint) {
        let kind = match kind {
            SelectionKind::Simple => SelectionType::Simple,
            SelectionKind::Block => SelectionType::Block,
            SelectionKind::Word => SelectionType::Semantic,
            SelectionKind::Line => SelectionType::Lines,
        };
        self.term.selection = Some(Selection::new(kind, self.point(at), Side::Left));
        self.force_full = true;
    }

    /// Moves the selection's free end to `to` (inclusive).
    pub fn extend_selection(&mut self, to: ScreenPoint) {
        let point = self.point(to);
        if let Some(selection) = &mut self.term.selection {
            selection.update(point, Side::Right);
            self.force_full = true;
        }
    }

    /// Drops the selection.
    pub fn clear_selection(&mut self) {
        if self.term.selection.take().is_some() {
            self.force_full = true;
        }
    }

    /// The selected text (lines joined with `\n`, trailing blanks trimmed), for copying.
    pub fn selection_text(&self) -> Option<String> {
        self.term
            .selection_to_string()
            .filter(|text| !text.is_empty())
    }

    /// The link under `at`, when it is one that may be opened (see [`is_openable_link`]).
    pub fn link_at(&self, at: ScreenPoint) -> Option<String> {
        let point = self.point(at);
        self.term.grid()[point]
            .hyperlink()
            .map(|link| link.uri().to_owned())
            .filter(|uri| is_openable_link(uri))
    }

    /// Finds the next match of `pattern` (a regular expression; case-insensitive unless it has
    /// an upper-case letter) in the screen and its history, wrapping around. Repeating the same
    /// pattern continues from the previous hit. The hit is selected and scrolled into view.
    pub fn search(
        &mut self,
        pattern: &str,
        direction: SearchDirection,
    ) -> Result<Option<SearchMatch>, SamError> {
        if pattern.is_empty() {
            self.search = None;
            return Ok(None);
        }
        if self
            .search
            .as_ref()
            .is_none_or(|search| search.pattern != pattern)
        {
            let regex = RegexSearch::new(pattern).map_err(|err| {
                SamError::invalid_input(
                    format!(
                        "\"{pattern}\" is not a search pattern this terminal understands: {err}."
                    ),
                    "Check the pattern's brackets and escapes, or search for plain text.",
                )
            })?;
            self.search = Some(Search {
                pattern: pattern.to_owned(),
                regex,
                last: None,
            });
        }
        let Some(search) = self.search.as_mut() else {
            return Ok(None);
        };
        let last_line = Line(i32::try_from(self.size.screen_lines()).unwrap_or(1) - 1);
        let last_col = Column(self.size.columns() - 1);
        let (origin, dir, side) = match (direction, search.last) {
            (SearchDirection::Backward, Some((start, _))) => (
                start.sub(&self.term, Boundary::None, 1),
                Direction::Left,
                Side::Right,
            ),
            (SearchDirection::Backward, None) => (
                Point::new(last_line, last_col),
                Direction::Left,
                Side::Right,
            ),
            (SearchDirection::Forward, Some((_, end))) => (
                end.add(&self.term, Boundary::None, 1),
                Direction::Right,
                Side::Left,
            ),
            (SearchDirection::Forward, None) => (
                Point::new(self.term.topmost_line(), Column(0)),
                Direction::Right,
                Side::Left,
            ),
        };
        let Some(hit) = self
            .term
            .search_next(&mut search.regex, origin, dir, side, None)
        else {
            search.last = None;
            return Ok(None);
        };
        let (start, end) = (*hit.start(), *hit.end());
        search.last = Some((start, end));
        let text = self.term.bounds_to_string(start, end);
        let mut selection = Selection::new(SelectionType::Simple, start, Side::Left);
        selection.update(end, Side::Right);
        self.term.selection = Some(selection);
        self.term.scroll_to_point(start);
        self.force_full = true;
        Ok(Some(SearchMatch {
            start_line: start.line.0,
            start_col: u16::try_from(start.column.0).unwrap_or(u16::MAX),
            end_line: end.line.0,
            end_col: u16::try_from(end.column.0).unwrap_or(u16::MAX),
            text,
        }))
    }

    /// A screen point in buffer coordinates, clamped to the screen.
    fn point(&self, at: ScreenPoint) -> Point {
        let row = usize::from(at.row).min(self.size.screen_lines() - 1);
        let col = usize::from(at.col).min(self.size.columns() - 1);
        Point::new(self.screen_line(row), Column(col))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Size;
    use super::*;

    fn engine() -> Engine {
        let mut engine = Engine::new(Size { cols: 20, rows: 3 }, 100);
        for n in 0..10 {
            engine.feed(format!("line {n} alpha\r\n").as_bytes());
        }
        engine.feed(b"last beta");
        engine
    }

    #[test]
    fn osc8_links_are_found_under_the_pointer_only_when_openable() {
        let mut engine = Engine::new(Size { cols: 40, rows: 2 }, 0);
        engine.feed(b"\x1b]8;;https://example.com/x\x1b\\web\x1b]8;;\x1b\\ ");
        engine.feed(b"\x1b]8;;file:///etc/passwd\x1b\\file\x1b]8;;\x1b\\");
        assert_eq!(
            engine.link_at(ScreenPoint { row: 0, col: 1 }).as_deref(),
            Some("https://example.com/x")
        );
        assert_eq!(engine.link_at(ScreenPoint { row: 0, col: 5 }), None);
        assert_eq!(engine.link_at(ScreenPoint { row: 0, col: 3 }), None);
    }

    #[test]
    fn a_selection_copies_the_text_under_it() {
        let mut engine = engine();
        engine.select(SelectionKind::Simple, ScreenPoint { row: 1, col: 5 });
        engine.extend_selection(ScreenPoint { row: 2, col: 3 });
        assert_eq!(engine.selection_text().as_deref(), Some("9 alpha\nlast"));
        engine.select(SelectionKind::Word, ScreenPoint { row: 2, col: 6 });
        assert_eq!(engine.selection_text().as_deref(), Some("beta"));
        engine.select(SelectionKind::Line, ScreenPoint { row: 1, col: 0 });
        assert_eq!(engine.selection_text().as_deref(), Some("line 9 alpha\n"));
        engine.clear_selection();
        assert_eq!(engine.selection_text(), None);
    }

    #[test]
    fn search_walks_back_through_history_and_scrolls_to_each_hit() {
        let mut engine = engine();
        let hit = engine
            .search("line \\d", SearchDirection::Backward)
            .expect("pattern")
            .expect("a hit");
        assert_eq!((hit.start_line, hit.text.as_str()), (1, "line 9"));
        let next = engine
            .search("line \\d", SearchDirection::Backward)
            .expect("pattern")
            .expect("a hit");
        assert_eq!((next.start_line, next.text.as_str()), (0, "line 8"));
        for _ in 0..6 {
            engine
                .search("line \\d", SearchDirection::Backward)
                .expect("pattern");
        }
        let deep = engine
            .search("line \\d", SearchDirection::Backward)
            .expect("pattern")
            .expect("a hit");
        assert_eq!((deep.start_line, deep.text.as_str()), (-7, "line 1"));
        assert!(engine.display_offset() >= 7, "scrolled to the hit");
        assert_eq!(engine.selection_text().as_deref(), Some("line 1"));
        assert_eq!(
            engine
                .search("nowhere", SearchDirection::Forward)
                .expect("pattern"),
            None
        );
        let err = engine
            .search("(unclosed", SearchDirection::Forward)
            .expect_err("a bad pattern");
        assert!(err.message.contains("(unclosed"), "{err:?}");
    }
}
