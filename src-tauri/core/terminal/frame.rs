//! Screen frames: what changed on a terminal's screen, in a compact binary form for the webview.
//!
//! Layout (little-endian; `docs/terminal.md` is the reference for the renderer):
//!
//! ```text
//! frame  = version:u8 flags:u8 cols:u16 rows:u16 cursor_row:u16 cursor_col:u16 cursor_shape:u8
//!          row_count:u16 row*            flags: bit0 full redraw, bit1 cursor visible
//! row    = index:u16 run_count:u16 run*  (a row listed is redrawn whole; cells not covered by a
//!                                          run are blank with default colours)
//! run    = col:u16 cells:u16 fg:color bg:color attrs:u16 text_len:u16 text:utf8
//! color  = 0 (default) | 1 named:u16 | 2 indexed:u8 | 3 r:u8 g:u8 b:u8
//! ```
//!
//! A run covers `cells` columns from `col` with one style; its text has one character per
//! column, except that a wide character (attrs bit `WIDE`) covers two columns, and combining
//! marks follow their base character.

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
    /// Each character is two columns wide.
    pub const WIDE: u16 = 1 << 5;
    /// Dim.
    pub const DIM: u16 = 1 << 7;
    /// Hidden.
    pub const HIDDEN: u16 = 1 << 8;
    /// Strikeout.
    pub const STRIKEOUT: u16 = 1 << 9;
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

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Every row is included (first paint, resize, after a gap).
    pub full: bool,
    /// Screen columns.
    pub cols: u16,
    /// Screen rows.
    pub rows: u16,
    /// The cursor, when visible.
    pub cursor: Option<Cursor>,
    /// The rows to redraw.
    pub lines: Vec<Row>,
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
    #[error("run text is not UTF-8")]
    Text,
}

impl Frame {
    /// Serializes the frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.lines.len() * 32);
        out.push(VERSION);
        out.push(u8::from(self.full) | (u8::from(self.cursor.is_some()) << 1));
        let cursor = self.cursor.unwrap_or(Cursor {
            row: 0,
            col: 0,
            shape: 0,
        });
        for value in [self.cols, self.rows, cursor.row, cursor.col] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.push(cursor.shape);
        out.extend_from_slice(&len16(self.lines.len()).to_le_bytes());
        for row in &self.lines {
            out.extend_from_slice(&row.index.to_le_bytes());
            out.extend_from_slice(&len16(row.runs.len()).to_le_bytes());
            for run in &row.runs {
                out.extend_from_slice(&run.col.to_le_bytes());
                out.extend_from_slice(&run.cells.to_le_bytes());
                color(&mut out, run.style.fg);
                color(&mut out, run.style.bg);
                out.extend_from_slice(&run.style.attrs.to_le_bytes());
                out.extend_from_slice(&len16(run.text.len()).to_le_bytes());
                out.extend_from_slice(run.text.as_bytes());
            }
        }
        out
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
                let len = usize::from(r.u16()?);
                let text = std::str::from_utf8(r.take(len)?)
                    .map_err(|_| FrameError::Text)?
                    .to_owned();
                runs.push(Run {
                    col,
                    cells,
                    style: Style { fg, bg, attrs },
                    text,
                });
            }
            lines.push(Row { index, runs });
        }
        let cursor = (flags & 2 != 0).then_some(Cursor {
            row: cursor_row,
            col: cursor_col,
            shape,
        });
        Ok(Self {
            full: flags & 1 != 0,
            cols,
            rows,
            cursor,
            lines,
        })
    }
}

fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
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

    #[test]
    fn a_frame_round_trips() {
        let frame = Frame {
            full: true,
            cols: 80,
            rows: 24,
            cursor: Some(Cursor {
                row: 3,
                col: 7,
                shape: 2,
            }),
            lines: vec![Row {
                index: 3,
                runs: vec![Run {
                    col: 0,
                    cells: 4,
                    style: Style {
                        fg: Color::Rgb(1, 2, 3),
                        bg: Color::Indexed(236),
                        attrs: attrs::BOLD | attrs::WIDE,
                    },
                    text: "日本".to_owned(),
                }],
            }],
        };
        assert_eq!(Frame::decode(&frame.encode()), Ok(frame));
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Frame::decode(&bytes);
        }
    }
}
