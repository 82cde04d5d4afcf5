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

mod writer;

pub use writer::Writer;

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

impl Frame {
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
