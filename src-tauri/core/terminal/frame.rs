//! Screen frames: what changed on a terminal's screen, in a compact binary form for the webview.
//!
//! Layout (little-endian; `docs/terminal.md` is the reference for the renderer):
//!
//! ```text
//! frame  = version:u8 flags:u8 cols:u16 rows:u16 cursor_row:u16 cursor_col:u16 cursor_shape:u8
//!          modes:u16 display_offset:u32 history:u32
//!          [sel_start_row:u16 sel_start_col:u16 sel_end_row:u16 sel_end_col:u16 sel_block:u8]
//!          row_count:u16 row* link_count:u16 link*
//!          flags: bit0 full redraw, bit1 cursor visible, bit2 selection present
//! row    = index:u16 run_count:u16 run*  (a row listed is redrawn whole; cells not covered by a
//!                                          run are blank with default colours)
//! run    = col:u16 cells:u16 fg:color bg:color attrs:u16 [link:u16 if attrs has LINK]
//!          text_len:u16 text:utf8
//! color  = 0 (default) | 1 named:u16 | 2 indexed:u8 | 3 r:u8 g:u8 b:u8
//! link   = uri_len:u16 uri:utf8       (only http and https links are ever listed)
//! ```
//!
//! A run covers `cells` columns from `col` with one style; its text has one character per
//! column, except that a wide character (attrs bit `WIDE`) covers two columns. A character
//! with combining marks is a run of its own (one cell, or two when wide) whose text is the
//! whole grapheme.
//!
//! [`Writer`] is the one encoder: the engine drives it straight from the emulator's grid (no
//! intermediate objects), and [`Frame::encode`] drives it from a decoded frame.

use thiserror::Error;

/// The frame format's version.
pub const VERSION: u8 = 1;

/// Attribute bits of a run (a subset of the emulator's cell flags).
pub mod attrs {
    /// Swap foreground and background.
    pub const INVERSE: u16 = 1 << 0;
    /// Bold.
    pub const BOLD: u16 = 1 << 1;
    /// Italic.
    pub const ITALIC: u16 = 1 << 2;
    /// Underline (any kind).
    pub const UNDERLINE: u16 = 1 << 3;
    /// The run is an http(s) hyperlink; a `link` index follows the attributes.
    pub const LINK: u16 = 1 << 4;
    /// Each character is two columns wide.
    pub const WIDE: u16 = 1 << 5;
    /// Dim.
    pub const DIM: u16 = 1 << 7;
    /// Hidden.
    pub const HIDDEN: u16 = 1 << 8;
    /// Strikeout.
    pub const STRIKEOUT: u16 = 1 << 9;
}

/// Terminal mode bits: what the input encoder and the renderer must know.
pub mod modes {
    /// Application cursor keys (DECCKM).
    pub const APP_CURSOR: u16 = 1 << 0;
    /// Application keypad (DECKPAM).
    pub const APP_KEYPAD: u16 = 1 << 1;
    /// Bracketed paste.
    pub const BRACKETED_PASTE: u16 = 1 << 2;
    /// Mouse button presses are reported.
    pub const MOUSE_CLICK: u16 = 1 << 3;
    /// Mouse motion while a button is held is reported.
    pub const MOUSE_DRAG: u16 = 1 << 4;
    /// All mouse motion is reported.
    pub const MOUSE_MOTION: u16 = 1 << 5;
    /// Mouse reports use the SGR encoding.
    pub const SGR_MOUSE: u16 = 1 << 6;
    /// Focus in/out is reported.
    pub const FOCUS_EVENTS: u16 = 1 << 7;
    /// The alternate screen is active (full-screen programs).
    pub const ALT_SCREEN: u16 = 1 << 8;
    /// The wheel scrolls by sending cursor keys on the alternate screen.
    pub const ALTERNATE_SCROLL: u16 = 1 << 9;
    /// The cursor blinks.
    pub const CURSOR_BLINK: u16 = 1 << 10;
    /// Enter sends CR LF (LNM).
    pub const LINE_FEED_NEW_LINE: u16 = 1 << 11;
    /// Mouse reports use the UTF-8 encoding.
    pub const UTF8_MOUSE: u16 = 1 << 12;
}

/// A colour as the emulator holds it; the renderer resolves it with its theme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Color {
    /// The theme's default foreground or background.
    #[default]
    Default,
    /// One of the named colours: 0–15 the ANSI palette, 256 and up the emulator's special ones
    /// (foreground, background, cursor, the dim variants…).
    Named(u16),
    /// An index into the 256-colour palette.
    Indexed(u8),
    /// A true colour.
    Rgb(u8, u8, u8),
}

/// A run's style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Foreground.
    pub fg: Color,
    /// Background.
    pub bg: Color,
    /// [`attrs`] bits.
    pub attrs: u16,
}

/// Consecutive cells of one style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// First column.
    pub col: u16,
    /// Columns covered.
    pub cells: u16,
    /// Style.
    pub style: Style,
    /// Index into [`Frame::links`] when the style has [`attrs::LINK`].
    pub link: Option<u16>,
    /// The characters.
    pub text: String,
}

/// One redrawn row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Row on the screen, from 0 at the top.
    pub index: u16,
    /// Its non-blank runs, left to right.
    pub runs: Vec<Run>,
}

/// The cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Row.
    pub row: u16,
    /// Column.
    pub col: u16,
    /// 0 block, 1 underline, 2 beam, 3 hollow block.
    pub shape: u8,
}

/// The selected cells on screen, inclusive, in screen coordinates (clamped to the screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectionBox {
    /// First row.
    pub start_row: u16,
    /// First column (on the first row; on every row for a block).
    pub start_col: u16,
    /// Last row.
    pub end_row: u16,
    /// Last column (on the last row; on every row for a block).
    pub end_col: u16,
    /// A rectangular selection.
    pub block: bool,
}

/// Everything in a frame except its rows and links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Every row is included (first paint, resize, scroll, after a gap).
    pub full: bool,
    /// Screen columns.
    pub cols: u16,
    /// Screen rows.
    pub rows: u16,
    /// The cursor, when visible.
    pub cursor: Option<Cursor>,
    /// [`modes`] bits.
    pub modes: u16,
    /// Lines the view is scrolled back into history (0 = following the output).
    pub display_offset: u32,
    /// Lines of history above the screen.
    pub history: u32,
    /// The selection, when any of it is on screen.
    pub selection: Option<SelectionBox>,
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Size, cursor, modes, scroll position, selection.
    pub header: Header,
    /// The rows to redraw.
    pub lines: Vec<Row>,
    /// The http(s) links runs refer to.
    pub links: Vec<String>,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The bytes ended early.
    #[error("frame truncated")]
    Truncated,
    /// An unknown version.
    #[error("unknown frame version {0}")]
    Version(u8),
    /// An unknown colour tag.
    #[error("unknown colour tag {0}")]
    Color(u8),
    /// Text that is not UTF-8.
    #[error("frame text is not UTF-8")]
    Text,
    /// A run names a link the frame does not list.
    #[error("run refers to link {0}, which the frame does not list")]
    Link(u16),
    /// Bytes after the end of the frame.
    #[error("{0} bytes after the end of the frame")]
    Trailing(usize),
}

/// Encodes one frame, row by row and run by run, patching counts and lengths in place.
#[derive(Debug)]
pub struct Writer {
    out: Vec<u8>,
    row_count_at: usize,
    row_count: u16,
    run_count_at: Option<usize>,
    run_count: u16,
    /// Where the open run's `cells` and `text_len` fields are, and its cells so far.
    open_run: Option<(usize, usize, u16)>,
    links: Vec<String>,
}

impl Writer {
    /// Starts a frame in `out` (cleared first; pass last frame's buffer to reuse it).
    pub fn new(mut out: Vec<u8>, header: &Header) -> Self {
        out.clear();
        out.push(VERSION);
        out.push(
            u8::from(header.full)
                | (u8::from(header.cursor.is_some()) << 1)
                | (u8::from(header.selection.is_some()) << 2),
        );
        let cursor = header.cursor.unwrap_or(Cursor {
            row: 0,
            col: 0,
            shape: 0,
        });
        for value in [header.cols, header.rows, cursor.row, cursor.col] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(cursor.shape);
        out.extend_from_slice(&header.modes.to_le_bytes());
        out.extend_from_slice(&header.display_offset.to_le_bytes());
        out.extend_from_slice(&header.history.to_le_bytes());
        if let Some(sel) = header.selection {
            for value in [sel.start_row, sel.start_col, sel.end_row, sel.end_col] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.push(u8::from(sel.block));
        }
        let row_count_at = out.len();
        out.extend_from_slice(&[0, 0]);
        Self {
            out,
            row_count_at,
            row_count: 0,
            run_count_at: None,
            run_count: 0,
            open_run: None,
            links: Vec::new(),
        }
    }

    /// Starts the next row (rows must be written top to bottom, each once).
    pub fn row(&mut self, index: u16) {
        self.end_row();
        self.out.extend_from_slice(&index.to_le_bytes());
        self.run_count_at = Some(self.out.len());
        self.out.extend_from_slice(&[0, 0]);
        self.row_count += 1;
    }

    /// Starts a run at `col` on the current row. `link` is a [`Writer::link`] index.
    pub fn run(&mut self, col: u16, style: Style, link: Option<u16>) {
        self.end_run();
        self.out.extend_from_slice(&col.to_le_bytes());
        let cells_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        color(&mut self.out, style.fg);
        color(&mut self.out, style.bg);
        let attrs = match link {
            Some(_) => style.attrs | attrs::LINK,
            None => style.attrs & !attrs::LINK,
        };
        self.out.extend_from_slice(&attrs.to_le_bytes());
        if let Some(link) = link {
            self.out.extend_from_slice(&link.to_le_bytes());
        }
        let text_at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        self.open_run = Some((cells_at, text_at, 0));
        self.run_count += 1;
    }

    /// Appends a character covering `cells` columns to the open run.
    #[inline]
    pub fn push(&mut self, ch: char, cells: u16) {
        self.push_mark(ch);
        if let Some((_, _, count)) = &mut self.open_run {
            *count += cells;
        }
    }

    /// Appends a character that covers no column of its own (a combining mark).
    #[inline]
    pub fn push_mark(&mut self, ch: char) {
        if ch.is_ascii() {
            self.out.push(ch as u8);
        } else {
            let mut utf8 = [0; 4];
            self.out
                .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        }
    }

    /// Extends the open run by `cells` columns without text (the spacer after a wide
    /// character that wrapped).
    #[inline]
    pub fn extend(&mut self, cells: u16) {
        if let Some((_, _, count)) = &mut self.open_run {
            *count += cells;
        }
    }

    /// The index of `uri` in this frame's link table, adding it when new.
    pub fn link(&mut self, uri: &str) -> u16 {
        if let Some(index) = self.links.iter().position(|known| known == uri) {
            return len16(index);
        }
        self.links.push(uri.to_owned());
        len16(self.links.len() - 1)
    }

    /// Ends the frame and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.end_row();
        patch(&mut self.out, self.row_count_at, self.row_count);
        self.out
            .extend_from_slice(&len16(self.links.len()).to_le_bytes());
        for uri in &self.links {
            let bytes = &uri.as_bytes()[..uri.len().min(usize::from(u16::MAX))];
            self.out
                .extend_from_slice(&len16(bytes.len()).to_le_bytes());
            self.out.extend_from_slice(bytes);
        }
        self.out
    }

    fn end_run(&mut self) {
        if let Some((cells_at, text_at, cells)) = self.open_run.take() {
            patch(&mut self.out, cells_at, cells);
            let text_len = len16(self.out.len() - text_at - 2);
            patch(&mut self.out, text_at, text_len);
        }
    }

    fn end_row(&mut self) {
        self.end_run();
        if let Some(at) = self.run_count_at.take() {
            patch(&mut self.out, at, self.run_count);
            self.run_count = 0;
        }
    }
}

impl Frame {
    /// Serializes the frame (through the same [`Writer`] the engine uses).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new(Vec::new(), &self.header);
        for row in &self.lines {
            writer.row(row.index);
            for run in &row.runs {
                let link = run
                    .link
                    .and_then(|index| self.links.get(usize::from(index)))
                    .map(|uri| writer.link(uri));
                writer.run(run.col, run.style, link);
                for ch in run.text.chars() {
                    writer.push_mark(ch);
                }
                writer.extend(run.cells);
            }
        }
        writer.finish()
    }

    /// Parses a frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        let flags = r.u8()?;
        let (cols, rows, cursor_row, cursor_col) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
        let shape = r.u8()?;
        let modes = r.u16()?;
        let display_offset = r.u32()?;
        let history = r.u32()?;
        let selection = if flags & 4 != 0 {
            Some(SelectionBox {
                start_row: r.u16()?,
                start_col: r.u16()?,
                end_row: r.u16()?,
                end_col: r.u16()?,
                block: r.u8()? != 0,
            })
        } else {
            None
        };
        let count = r.u16()?;
        let mut lines = Vec::with_capacity(usize::from(count.min(1024)));
        for _ in 0..count {
            let index = r.u16()?;
            let run_count = r.u16()?;
            let mut runs = Vec::with_capacity(usize::from(run_count.min(1024)));
            for _ in 0..run_count {
                let col = r.u16()?;
                let cells = r.u16()?;
                let fg = r.color()?;
                let bg = r.color()?;
                let attrs = r.u16()?;
                let link = if attrs & attrs::LINK != 0 {
                    Some(r.u16()?)
                } else {
                    None
                };
                let text = r.text()?;
                runs.push(Run {
                    col,
                    cells,
                    style: Style { fg, bg, attrs },
                    link,
                    text,
                });
            }
            lines.push(Row { index, runs });
        }
        let link_count = r.u16()?;
        let links = (0..link_count)
            .map(|_| r.text())
            .collect::<Result<Vec<_>, _>>()?;
        if !r.0.is_empty() {
            return Err(FrameError::Trailing(r.0.len()));
        }
        if let Some(bad) = lines
            .iter()
            .flat_map(|row| &row.runs)
            .filter_map(|run| run.link)
            .find(|&link| usize::from(link) >= links.len())
        {
            return Err(FrameError::Link(bad));
        }
        let cursor = (flags & 2 != 0).then_some(Cursor {
            row: cursor_row,
            col: cursor_col,
            shape,
        });
        Ok(Self {
            header: Header {
                full: flags & 1 != 0,
                cols,
                rows,
                cursor,
                modes,
                display_offset,
                history,
                selection,
            },
            lines,
            links,
        })
    }
}

fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

fn patch(out: &mut [u8], at: usize, value: u16) {
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn color(out: &mut Vec<u8>, color: Color) {
    match color {
        Color::Default => out.push(0),
        Color::Named(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Color::Indexed(i) => out.extend_from_slice(&[2, i]),
        Color::Rgb(r, g, b) => out.extend_from_slice(&[3, r, g, b]),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.0.len() < n {
            return Err(FrameError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from(self.u16()?) | (u32::from(self.u16()?) << 16))
    }

    fn text(&mut self) -> Result<String, FrameError> {
        let len = usize::from(self.u16()?);
        std::str::from_utf8(self.take(len)?)
            .map(str::to_owned)
            .map_err(|_| FrameError::Text)
    }

    fn color(&mut self) -> Result<Color, FrameError> {
        match self.u8()? {
            0 => Ok(Color::Default),
            1 => Ok(Color::Named(self.u16()?)),
            2 => Ok(Color::Indexed(self.u8()?)),
            3 => Ok(Color::Rgb(self.u8()?, self.u8()?, self.u8()?)),
            other => Err(FrameError::Color(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Frame {
        Frame {
            header: Header {
                full: true,
                cols: 80,
                rows: 24,
                cursor: Some(Cursor {
                    row: 3,
                    col: 7,
                    shape: 2,
                }),
                modes: modes::APP_CURSOR | modes::ALT_SCREEN,
                display_offset: 70_000,
                history: 100_000,
                selection: Some(SelectionBox {
                    start_row: 1,
                    start_col: 2,
                    end_row: 3,
                    end_col: 4,
                    block: true,
                }),
            },
            lines: vec![Row {
                index: 3,
                runs: vec![
                    Run {
                        col: 0,
                        cells: 4,
                        style: Style {
                            fg: Color::Rgb(1, 2, 3),
                            bg: Color::Indexed(236),
                            attrs: attrs::BOLD | attrs::WIDE,
                        },
                        link: None,
                        text: "日本".to_owned(),
                    },
                    Run {
                        col: 5,
                        cells: 4,
                        style: Style {
                            fg: Color::Named(4),
                            bg: Color::Default,
                            attrs: attrs::UNDERLINE | attrs::LINK,
                        },
                        link: Some(0),
                        text: "docs".to_owned(),
                    },
                ],
            }],
            links: vec!["https://example.com/".to_owned()],
        }
    }

    #[test]
    fn a_frame_round_trips() {
        let frame = sample();
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        let bytes = sample().encode();
        assert_eq!(
            Frame::decode(&bytes[..bytes.len() - 1]),
            Err(FrameError::Truncated)
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Frame::decode(&longer), Err(FrameError::Trailing(1)));
        let mut unknown = bytes;
        unknown[0] = 9;
        assert_eq!(Frame::decode(&unknown), Err(FrameError::Version(9)));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Frame::decode(&bytes);
        }

        #[test]
        fn any_frame_round_trips(
            rows in proptest::collection::vec(
                (0u16..50, proptest::collection::vec((0u16..200, 1u16..4, "[a-z日€]{1,6}", any::<u16>(), any::<bool>()), 0..5)),
                0..6),
        ) {
            let mut frame = sample();
            let linked = rows.iter().any(|(_, runs)| runs.iter().any(|run| run.4));
            frame.links = if linked { vec!["http://a/".to_owned()] } else { Vec::new() };
            frame.lines = rows
                .into_iter()
                .map(|(index, runs)| Row {
                    index,
                    runs: runs
                        .into_iter()
                        .map(|(col, cells, text, attrs, link)| Run {
                            col,
                            cells,
                            style: Style {
                                fg: Color::Named(attrs % 300),
                                bg: Color::Rgb(1, 2, 3),
                                attrs: if link { attrs | attrs::LINK } else { attrs & !attrs::LINK },
                            },
                            link: link.then_some(0),
                            text,
                        })
                        .collect(),
                })
                .collect();
            prop_assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
        }
    }
}
