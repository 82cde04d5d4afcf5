// When the screen is painted: a frame from the core at once, local changes (the cursor blinking,
// a zoom) on the next animation frame. The Renderer does the drawing; this decides when, and
// tells the view what each paint showed.

import { Mode } from "./frame";
import type { TerminalTheme } from "./palette";
import { Renderer, type CellSize } from "./renderer";
import type { Screen } from "./screen";

/** One paint, for the view's text mirror and for tests and benchmarks. */
export interface Painted {
  full: boolean;
  /** How long the draw took, and how many rows it drew. */
  ms: number;
  drawnRows: number;
  cols: number;
  rows: number;
  cursorRow: number;
  cursorCol: number;
  /** When the first frame this paint shows arrived (performance.now()); 0 for a local change. */
  frameArrived: number;
}

const BLINK_MS = 530;
// Webviews throttle animation frames (hidden or busy windows get few): a queued paint happens
// within this many milliseconds regardless.
const LATEST_MS = 20;

export class Painter {
  private readonly renderer: Renderer;
  private queued = false;
  private full = true;
  private arrived = 0;
  private animationFrame = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly blink: ReturnType<typeof setInterval>;

  constructor(
    canvas: HTMLCanvasElement,
    private readonly screen: Screen,
    theme: TerminalTheme,
    fontSize: number,
    private readonly painted: (paint: Painted) => void,
  ) {
    this.renderer = new Renderer(canvas, theme, fontSize);
    this.blink = setInterval(() => this.blinkCursor(), BLINK_MS);
  }

  /** The size of one cell in CSS pixels. */
  get cell(): CellSize {
    return this.renderer.cell;
  }

  /** How many cells fit in a box of CSS pixels. */
  fit(width: number, height: number): { cols: number; rows: number } {
    return this.renderer.fit(width, height);
  }

  /**
   * Applies a frame from the core (`apply` says whether everything must be redrawn) and paints it
   * at once: the core sends at most one frame per display frame, so waiting for an animation
   * frame would only add latency.
   */
  frame(apply: () => boolean): void {
    this.arrived ||= performance.now();
    // Applied first, always: `||=` would skip it whenever a full paint is already pending.
    const full = apply();
    this.full ||= full;
    this.queued = true;
    this.draw();
  }

  /** Paints on the next animation frame (everything with `full`). */
  queue(full: boolean): void {
    this.full ||= full;
    if (this.queued) return;
    this.queued = true;
    this.animationFrame = requestAnimationFrame(() => this.draw());
    this.timer = setTimeout(() => this.draw(), LATEST_MS);
  }

  setFontSize(size: number): void {
    this.renderer.setFontSize(size);
    this.queue(true);
  }

  /** Stops the blinking and any paint still queued. */
  stop(): void {
    clearInterval(this.blink);
    clearTimeout(this.timer);
    cancelAnimationFrame(this.animationFrame);
  }

  private blinkCursor(): void {
    const cursor = this.screen.cursor;
    if (!(this.screen.modes & Mode.CURSOR_BLINK) || !cursor) return;
    this.renderer.cursorOn = !this.renderer.cursorOn;
    this.screen.dirty.add(cursor.row);
    this.queue(false);
  }

  private draw(): void {
    cancelAnimationFrame(this.animationFrame);
    clearTimeout(this.timer);
    if (!this.queued) return;
    this.queued = false;
    const full = this.full;
    const arrived = this.arrived;
    this.arrived = 0;
    this.renderer.draw(this.screen, full);
    this.full = false;
    this.painted({
      full,
      ms: this.renderer.lastDrawMs,
      drawnRows: this.renderer.lastDrawRows,
      cols: this.screen.cols,
      rows: this.screen.rows,
      cursorRow: this.screen.cursor?.row ?? -1,
      cursorCol: this.screen.cursor?.col ?? -1,
      frameArrived: arrived,
    });
  }
}
