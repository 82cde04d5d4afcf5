// The mouse over a terminal. A program that asked for mouse reports (vim, htop, tmux) gets them,
// unless Shift is held; otherwise the left button selects (copy on select), Ctrl+click opens the
// link under the pointer, and the wheel scrolls the scrollback — or, on the alternate screen of a
// program that asked for it, sends arrow keys.

import { Mode } from "./frame";
import { encodeMouse, type MouseKind } from "./keys";
import type { CellSize } from "./renderer";
import type { Screen } from "./screen";
import type { TerminalSelection } from "./selection";

/** What the pointer does to the terminal around it. */
export interface PointerActions {
  /** Sends bytes to the program, as typed input. */
  send(bytes: string): void;
  /** Scrolls the view `lines` up into the scrollback (negative: down). */
  scroll(lines: number): void;
  openLink(url: string): void;
}

// A wheel notch is about this many pixels, and scrolls three lines, as in other terminals.
const NOTCH_PX = 40;
const LINES_PER_NOTCH = 3;

export class TerminalPointer {
  /** The link under the pointer, for the cursor and the tooltip. */
  hoverLink = $state<string | null>(null);

  constructor(
    private readonly canvas: () => HTMLCanvasElement,
    private readonly cell: () => CellSize,
    private readonly screen: Screen,
    private readonly selection: TerminalSelection,
    private readonly actions: PointerActions,
  ) {}

  down(event: MouseEvent): void {
    if (event.ctrlKey && event.button === 0 && this.hoverLink !== null) {
      event.preventDefault();
      this.actions.openLink(this.hoverLink);
      return;
    }
    if (this.report("press", event)) return;
    if (event.button !== 0) return;
    const { row, col } = this.cellAt(event);
    const kind = event.detail >= 3 ? "line" : event.detail === 2 ? "word" : event.altKey ? "block" : "simple";
    this.selection.start(kind, row, col);
  }

  move(event: MouseEvent): void {
    const { row, col } = this.cellAt(event);
    this.hoverLink = this.screen.linkAt(row, col);
    const dragging = this.selection.dragging;
    if (event.buttons & 1 && !dragging && this.report("drag", event)) return;
    if (!event.buttons && this.report("move", event)) return;
    if (dragging) this.selection.extend(row, col);
  }

  async up(event: MouseEvent): Promise<void> {
    if (!this.selection.dragging) {
      this.report("release", event);
      return;
    }
    const { row, col } = this.cellAt(event);
    await this.selection.finish(row, col);
  }

  wheel(event: WheelEvent): void {
    event.preventDefault();
    const up = event.deltaY < 0;
    if (this.report(up ? "wheel-up" : "wheel-down", event)) return;
    const lines = Math.max(1, Math.round(Math.abs(event.deltaY) / NOTCH_PX)) * LINES_PER_NOTCH;
    const modes = this.screen.modes;
    if (modes & Mode.ALT_SCREEN && modes & Mode.ALTERNATE_SCROLL) {
      const arrow = modes & Mode.APP_CURSOR ? (up ? "\x1bOA" : "\x1bOB") : up ? "\x1b[A" : "\x1b[B";
      this.actions.send(arrow.repeat(lines));
      return;
    }
    this.actions.scroll(up ? lines : -lines);
  }

  private cellAt(event: MouseEvent): { row: number; col: number } {
    const rect = this.canvas().getBoundingClientRect();
    const cell = this.cell();
    const screen = this.screen;
    return {
      col: Math.max(0, Math.min(screen.cols - 1, Math.floor((event.clientX - rect.left) / cell.width))),
      row: Math.max(0, Math.min(screen.rows - 1, Math.floor((event.clientY - rect.top) / cell.height))),
    };
  }

  /** Reports the event to the program if it asked for such reports; true when it did. */
  private report(kind: MouseKind, event: MouseEvent): boolean {
    if (event.shiftKey) return false; // Shift always selects, as in other terminals.
    const { row, col } = this.cellAt(event);
    const bytes = encodeMouse(
      { kind, button: event.button, row, col, shift: false, alt: event.altKey, ctrl: event.ctrlKey },
      this.screen.modes,
    );
    if (bytes === null) return false;
    this.actions.send(bytes);
    return true;
  }
}
