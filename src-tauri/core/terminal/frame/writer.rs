//! The frame encoder: one [`Writer`], driven row by row and run by run (by the engine straight
//! from its grid, and by [`Frame::encode`] from a decoded frame), patching counts and lengths in
//! place.

use super::{Color, Cursor, Frame, Header, Style, VERSION, attrs};

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
