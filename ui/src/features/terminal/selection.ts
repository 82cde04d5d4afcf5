// Selecting text with the mouse. The selection lives in the core, which knows the whole
// scrollback and sends it back in frames for the renderer; the window starts, extends and clears
// it, and copies what it covers to the OS clipboard.

import type { SelectKind, SelectRequest } from "../../api/terminal";

export class TerminalSelection {
  /** Whether the left button went down on the text and has not come up. */
  dragging = false;

  constructor(
    /** Sends a request to the core; answers with the selected text where the request asks for it. */
    private readonly select: (request: SelectRequest) => Promise<string | null>,
    private readonly copyText: (text: string) => Promise<void>,
    private readonly fail: (err: unknown) => void,
  ) {}

  start(kind: SelectKind, row: number, col: number): void {
    this.dragging = true;
    this.select({ action: "start", kind, row, col }).catch(this.fail);
  }

  extend(row: number, col: number): void {
    this.select({ action: "extend", row, col }).catch(this.fail);
  }

  /** The button came up at (row, col): copies what is selected (a plain click selects nothing). */
  async finish(row: number, col: number): Promise<void> {
    this.dragging = false;
    await this.copyAfter({ action: "extend", row, col });
  }

  /** Copies the selection as it stands (Ctrl+Shift+C). */
  async copy(): Promise<void> {
    await this.copyAfter({ action: "keep" });
  }

  clear(): void {
    this.select({ action: "clear" }).catch(this.fail);
  }

  private async copyAfter(request: SelectRequest): Promise<void> {
    try {
      const text = await this.select(request);
      if (text) await this.copyText(text);
    } catch (err) {
      this.fail(err);
    }
  }
}
