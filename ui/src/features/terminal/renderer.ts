// Draws a Screen on a canvas: row by row, only rows that changed, a run of one style at a time
// (one background rectangle, one fillText for plain text; the platform's text renderer keeps
// the glyph cache). Crisp on high-DPI screens (the backing store is scaled by
// devicePixelRatio).

import { Attr } from "./frame";
import { resolve, type TerminalTheme } from "./palette";
import type { Color } from "./frame";
import type { Cell, Screen, StyledRun } from "./screen";

export interface CellSize {
  width: number;
  height: number;
  baseline: number;
}

const FONT_FAMILY = '"DejaVu Sans Mono", "Menlo", "Consolas", "Liberation Mono", monospace';
const BOX_DRAWING = /[\u2500-\u259f]/;

export class Renderer {
  private readonly ctx: CanvasRenderingContext2D;
  private ratio = 1;
  cell: CellSize = { width: 8, height: 16, baseline: 12 };
  cursorOn = true;
  /** Milliseconds the last draw took, and how many rows it drew (for the paint benchmark). */
  lastDrawMs = 0;
  lastDrawRows = 0;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private theme: TerminalTheme,
    private fontSize: number,
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("This window cannot draw a terminal: the canvas has no 2D context.");
    this.ctx = ctx;
    this.measure();
  }

  private font(attrs: number): string {
    const weight = attrs & Attr.BOLD ? "bold " : "";
    const style = attrs & Attr.ITALIC ? "italic " : "";
    return `${style}${weight}${this.fontSize}px ${FONT_FAMILY}`;
  }

  /** Measures a cell for the current font. */
  measure(): void {
    this.ratio = window.devicePixelRatio || 1;
    this.ctx.font = this.font(0);
    const metrics = this.ctx.measureText("M");
    const width = Math.max(1, Math.round(metrics.width * this.ratio)) / this.ratio;
    const height = Math.ceil(this.fontSize * 1.25 * this.ratio) / this.ratio;
    const ascent = metrics.fontBoundingBoxAscent || this.fontSize * 0.8;
    const descent = metrics.fontBoundingBoxDescent || this.fontSize * 0.2;
    const baseline = Math.round(((height - (ascent + descent)) / 2 + ascent) * this.ratio) / this.ratio;
    this.cell = { width, height, baseline };
  }

  setTheme(theme: TerminalTheme): void {
    this.theme = theme;
  }

  setFontSize(size: number): void {
    this.fontSize = size;
    this.measure();
  }

  /** How many cells fit in a box of CSS pixels. */
  fit(width: number, height: number): { cols: number; rows: number } {
    return {
      cols: Math.max(2, Math.floor(width / this.cell.width)),
      rows: Math.max(1, Math.floor(height / this.cell.height)),
    };
  }

  /** Draws the rows that changed (all with `full`). */
  draw(screen: Screen, full: boolean): void {
    const start = performance.now();
    const width = Math.round(screen.cols * this.cell.width * this.ratio);
    const height = Math.round(screen.rows * this.cell.height * this.ratio);
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.canvas.style.width = `${screen.cols * this.cell.width}px`;
      this.canvas.style.height = `${screen.rows * this.cell.height}px`;
      full = true;
    }
    const ctx = this.ctx;
    ctx.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    const rows = full ? [...Array(screen.rows).keys()] : [...screen.dirty];
    screen.dirty.clear();
    let drawn = 0;
    for (const row of rows) {
      if (row < screen.rows) {
        this.drawRow(screen, row);
        drawn += 1;
      }
    }
    this.lastDrawMs = performance.now() - start;
    this.lastDrawRows = drawn;
  }

  private drawRow(screen: Screen, row: number): void {
    const { width: cw, height: ch } = this.cell;
    const ctx = this.ctx;
    const y = row * ch;
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, y, screen.cols * cw, ch);
    for (const run of screen.runs(row)) this.drawRun(run, y);
    this.drawSelection(screen, row);
    const cursor = screen.cursor;
    if (cursor && cursor.row === row && this.cursorOn && screen.displayOffset === 0) {
      this.drawCursor(screen.cells(row)[cursor.col] ?? null, cursor.col, y, cursor.shape);
    }
  }

  private colors(style: { fg: Color; bg: Color; attrs: number }): { fg: string; bg: string } {
    let fg = resolve(style.fg, this.theme, "fg");
    let bg = resolve(style.bg, this.theme, "bg");
    if (style.attrs & Attr.INVERSE) [fg, bg] = [bg, fg];
    return { fg, bg };
  }

  /**
   * One run: its background in one rectangle, its text in as few `fillText` calls as the
   * characters allow. Plain runs are one call, held to the grid by `maxWidth`; wide characters,
   * graphemes with combining marks and box drawing are placed one by one.
   */
  private drawRun(run: StyledRun, y: number): void {
    const { width: cw, height: ch } = this.cell;
    const ctx = this.ctx;
    const x = run.col * cw;
    const w = run.cells * cw;
    const { fg, bg } = this.colors(run);
    if (bg !== this.theme.background) {
      ctx.fillStyle = bg;
      ctx.fillRect(x, y, w, ch);
    }
    if (run.attrs & Attr.HIDDEN) return;
    ctx.globalAlpha = run.attrs & Attr.DIM ? 0.6 : 1;
    ctx.fillStyle = fg;
    ctx.font = this.font(run.attrs);
    this.drawText(run, x, y, fg);
    if (run.attrs & (Attr.UNDERLINE | Attr.LINK)) ctx.fillRect(x, y + ch - 2, w, 1);
    if (run.attrs & Attr.STRIKEOUT) ctx.fillRect(x, y + Math.round(ch / 2), w, 1);
    ctx.globalAlpha = 1;
  }

  private drawText(run: { text: string; cells: number; attrs: number }, x: number, y: number, color: string): void {
    const ctx = this.ctx;
    const cw = this.cell.width;
    ctx.fillStyle = color;
    const wide = (run.attrs & Attr.WIDE) !== 0;
    const chars = [...run.text];
    const grapheme = chars.length * (wide ? 2 : 1) > run.cells;
    if (!wide && !grapheme && !BOX_DRAWING.test(run.text)) {
      ctx.fillText(run.text, x, y + this.cell.baseline, run.cells * cw);
      return;
    }
    const step = (wide ? 2 : 1) * cw;
    const parts = grapheme ? [run.text] : chars;
    parts.forEach((text, i) => {
      const cx = x + i * step;
      if (BOX_DRAWING.test(text)) this.drawBox(text, cx, y, step);
      else ctx.fillText(text, cx, y + this.cell.baseline, step);
    });
  }

  /** A box-drawing character stretched to its cell, so lines join up. */
  private drawBox(text: string, x: number, y: number, w: number): void {
    const ctx = this.ctx;
    const measured = ctx.measureText(text).width || w;
    ctx.save();
    ctx.translate(x, y + this.cell.baseline);
    ctx.scale(w / measured, 1);
    ctx.fillText(text, 0, 0);
    ctx.restore();
  }

  private drawSelection(screen: Screen, row: number): void {
    const sel = screen.selection;
    if (!sel || row < sel.startRow || row > sel.endRow) return;
    const { width: cw, height: ch } = this.cell;
    let from = 0;
    let to = screen.cols - 1;
    if (sel.block) {
      from = Math.min(sel.startCol, sel.endCol);
      to = Math.max(sel.startCol, sel.endCol);
    } else {
      if (row === sel.startRow) from = sel.startCol;
      if (row === sel.endRow) to = sel.endCol;
    }
    this.ctx.fillStyle = this.theme.selection;
    this.ctx.fillRect(from * cw, row * ch, (to - from + 1) * cw, ch);
  }

  private drawCursor(cell: Cell | null, col: number, y: number, shape: number): void {
    const { width: cw, height: ch } = this.cell;
    const ctx = this.ctx;
    const x = col * cw;
    const w = cw * (cell?.width ?? 1);
    ctx.fillStyle = this.theme.cursor;
    switch (shape) {
      case 1:
        ctx.fillRect(x, y + ch - 2, w, 2);
        break;
      case 2:
        ctx.fillRect(x, y, 2, ch);
        break;
      case 3:
        ctx.strokeStyle = this.theme.cursor;
        ctx.strokeRect(x + 0.5, y + 0.5, w - 1, ch - 1);
        break;
      default:
        ctx.fillRect(x, y, w, ch);
        if (cell && cell.text !== " ") {
          ctx.font = this.font(cell.attrs);
          this.drawText({ text: cell.text, cells: cell.width, attrs: cell.attrs }, x, y, this.theme.background);
        }
    }
  }
}
