// The screen as the window knows it: rebuilt from frames alone. The renderer draws it; the text
// mirror reads it for screen readers (and tests).

import { Attr, type Color, type Cursor, type Frame, type SelectionBox } from "./frame";

export interface Cell {
  text: string;
  /** 1, or 2 for a wide character (the next column is its spacer). */
  width: number;
  fg: Color;
  bg: Color;
  attrs: number;
  link: string | null;
}

export interface StyledRun {
  col: number;
  cells: number;
  fg: Color;
  bg: Color;
  attrs: number;
  link: string | null;
  text: string;
}

export class Screen {
  cols = 0;
  rows = 0;
  cursor: Cursor | null = null;
  modes = 0;
  displayOffset = 0;
  history = 0;
  selection: SelectionBox | null = null;
  private lines: StyledRun[][] = [];
  /** Rows changed since the renderer last drew them. */
  readonly dirty = new Set<number>();

  /** Applies a frame; returns whether everything must be redrawn. */
  apply(frame: Frame): boolean {
    const resized = frame.cols !== this.cols || frame.rows !== this.rows;
    const whole = frame.full || resized;
    if (whole) {
      this.cols = frame.cols;
      this.rows = frame.rows;
      this.lines = Array.from({ length: frame.rows }, () => []);
      for (let row = 0; row < frame.rows; row++) this.dirty.add(row);
    }
    if (this.cursor) this.dirty.add(this.cursor.row);
    for (const row of frame.lines) {
      if (row.index >= this.rows) continue;
      this.lines[row.index] = row.runs.map((run) => ({
        col: run.col,
        cells: run.cells,
        fg: run.fg,
        bg: run.bg,
        attrs: run.attrs,
        link: run.link === null ? null : (frame.links[run.link] ?? null),
        text: run.text,
      }));
      this.dirty.add(row.index);
    }
    const selectionChanged = JSON.stringify(frame.selection) !== JSON.stringify(this.selection);
    this.cursor = frame.cursor;
    if (this.cursor) this.dirty.add(this.cursor.row);
    this.modes = frame.modes;
    this.displayOffset = frame.displayOffset;
    this.history = frame.history;
    this.selection = frame.selection;
    return whole || selectionChanged;
  }

  /** The runs of one row. */
  runs(row: number): readonly StyledRun[] {
    return this.lines[row] ?? [];
  }

  /** One row as cells (blank cells are null), wide characters followed by a null spacer. */
  cells(row: number): (Cell | null)[] {
    const out: (Cell | null)[] = new Array<Cell | null>(this.cols).fill(null);
    for (const run of this.runs(row)) {
      const wide = (run.attrs & Attr.WIDE) !== 0;
      const width = wide ? 2 : 1;
      const chars = [...run.text];
      // A run whose text is longer than its cells is one grapheme with combining marks.
      const graphemes = chars.length * width > run.cells ? [run.text] : chars;
      let col = run.col;
      for (const text of graphemes) {
        if (col >= this.cols) break;
        out[col] = { text, width, fg: run.fg, bg: run.bg, attrs: run.attrs, link: run.link };
        col += width;
      }
    }
    return out;
  }

  /** One row as plain text, trailing blanks trimmed. */
  rowText(row: number): string {
    let text = "";
    const cells = this.cells(row);
    for (let col = 0; col < cells.length; col++) {
      const cell = cells[col];
      if (!cell) {
        // The spacer after a wide character adds nothing.
        const previous = col > 0 ? cells[col - 1] : null;
        if (!(previous && previous.width === 2)) text += " ";
        continue;
      }
      text += cell.attrs & Attr.HIDDEN ? " " : cell.text;
    }
    return text.trimEnd();
  }

  /** The link under a cell, if any. */
  linkAt(row: number, col: number): string | null {
    for (const run of this.runs(row)) {
      if (col >= run.col && col < run.col + run.cells) return run.link;
    }
    return null;
  }
}
