// Draws a Screen on a canvas: row by row, only rows that changed, glyphs from a cache of
// pre-rendered bitmaps keyed by character, colour and weight. Crisp on high-DPI screens (the
// backing store is scaled by devicePixelRatio).

import { Attr } from "./frame";
import { resolve, type TerminalTheme } from "./palette";
import type { Cell, Screen } from "./screen";

export interface CellSize {
  width: number;
  height: number;
  baseline: number;
}

const FONT_FAMILY = '"DejaVu Sans Mono", "Menlo", "Consolas", "Liberation Mono", monospace';
const GLYPH_CACHE_LIMIT = 4096;

export class Renderer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly glyphs = new Map<string, HTMLCanvasElement>();
  private ratio = 1;
  cell: CellSize = { width: 8, height: 16, baseline: 12 };
  cursorOn = true;
  /** Milliseconds the last draw took (for the paint benchmark). */
  lastDrawMs = 0;

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

  /** Measures a cell for the current font; clears the glyph cache. */
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
    this.glyphs.clear();
  }

  setTheme(theme: TerminalTheme): void {
    this.theme = theme;
    this.glyphs.clear();
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
    for (const row of rows) {
      if (row < screen.rows) this.drawRow(screen, row);
    }
    this.lastDrawMs = performance.now() - start;
  }

  private drawRow(screen: Screen, row: number): void {
    const { width: cw, height: ch } = this.cell;
    const ctx = this.ctx;
    const y = row * ch;
    ctx.fillStyle = this.theme.background;
    ctx.fillRect(0, y, screen.cols * cw, ch);
    const cells = screen.cells(row);
    for (let col = 0; col < cells.length; col++) {
      const cell = cells[col];
      if (cell) this.drawCell(cell, col, y);
    }
    this.drawSelection(screen, row);
    const cursor = screen.cursor;
    if (cursor && cursor.row === row && this.cursorOn && screen.displayOffset === 0) {
      this.drawCursor(cells[cursor.col] ?? null, cursor.col, y, cursor.shape);
    }
  }

  private colors(cell: Cell): { fg: string; bg: string } {
    let fg = resolve(cell.fg, this.theme, "fg");
    let bg = resolve(cell.bg, this.theme, "bg");
    if (cell.attrs & Attr.INVERSE) [fg, bg] = [bg, fg];
    return { fg, bg };
  }

  private drawCell(cell: Cell, col: number, y: number): void {
    const { width: cw, height: ch } = this.cell;
    const ctx = this.ctx;
    const x = col * cw;
    const { fg, bg } = this.colors(cell);
    const w = cw * cell.width;
    if (bg !== this.theme.background) {
      ctx.fillStyle = bg;
      ctx.fillRect(x, y, w, ch);
    }
    if (cell.attrs & Attr.HIDDEN) return;
    ctx.globalAlpha = cell.attrs & Attr.DIM ? 0.6 : 1;
    if (cell.text !== " ") ctx.drawImage(this.glyph(cell.text, fg, cell.attrs, cell.width), x, y, w, ch);
    if (cell.attrs & (Attr.UNDERLINE | Attr.LINK)) {
      ctx.fillStyle = fg;
      ctx.fillRect(x, y + ch - 2, w, 1);
    }
    if (cell.attrs & Attr.STRIKEOUT) {
      ctx.fillStyle = fg;
      ctx.fillRect(x, y + Math.round(ch / 2), w, 1);
    }
    ctx.globalAlpha = 1;
  }

  /** A pre-rendered glyph (device pixels), from the cache. */
  private glyph(text: string, color: string, attrs: number, width: number): HTMLCanvasElement {
    const style = attrs & (Attr.BOLD | Attr.ITALIC);
    const key = `${style}|${color}|${width}|${text}`;
    let glyph = this.glyphs.get(key);
    if (glyph) return glyph;
    if (this.glyphs.size >= GLYPH_CACHE_LIMIT) this.glyphs.clear();
    glyph = document.createElement("canvas");
    glyph.width = Math.ceil(this.cell.width * width * this.ratio);
    glyph.height = Math.ceil(this.cell.height * this.ratio);
    const g = glyph.getContext("2d");
    if (g) {
      g.scale(this.ratio, this.ratio);
      g.font = this.font(attrs);
      g.fillStyle = color;
      g.textBaseline = "alphabetic";
      const boxDrawing = /[\u2500-\u259f]/.test(text);
      // Box-drawing characters are stretched to the cell so lines join up.
      if (boxDrawing) {
        const measured = g.measureText(text).width || this.cell.width;
        g.setTransform((this.ratio * this.cell.width * width) / measured, 0, 0, this.ratio, 0, 0);
      }
      g.fillText(text, 0, this.cell.baseline);
    }
    this.glyphs.set(key, glyph);
    return glyph;
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
          ctx.drawImage(this.glyph(cell.text, this.theme.background, cell.attrs, cell.width), x, y, w, ch);
        }
    }
  }
}
