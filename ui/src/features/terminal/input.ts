// Keyboard and IME input for one terminal: the window's own shortcuts are picked out first, other
// keys are encoded by keys.ts, and text composed by an input method (CJK, dead keys, emoji
// pickers) arrives whole when composition ends.

import { encodeKey, type KeyPress } from "./keys";

export interface KeyEventLike extends KeyPress {
  isComposing?: boolean;
  preventDefault(): void;
}

export class TerminalInput {
  private composing = false;

  constructor(
    private readonly send: (text: string) => void,
    private readonly modes: () => number,
  ) {}

  /** Handles a keydown; true when the terminal took it (the caller stops its default action). */
  keydown(e: KeyEventLike): boolean {
    // During composition the input method owns the keys; keyCode 229 is its placeholder.
    if (this.composing || e.isComposing || e.key === "Process") return false;
    const bytes = encodeKey(e, this.modes());
    if (bytes === null) return false;
    e.preventDefault();
    this.send(bytes);
    return true;
  }

  compositionStart(): void {
    this.composing = true;
  }

  compositionEnd(data: string): void {
    this.composing = false;
    if (data) this.send(data);
  }

  /**
   * Text inserted without a keydown the encoder handled (a dead key's result, an on-screen
   * keyboard). Composition results come through compositionEnd instead.
   */
  input(data: string | null, inputType: string, isComposing: boolean): void {
    if (this.composing || isComposing || !data) return;
    if (inputType === "insertText" || inputType === "insertReplacementText") this.send(data);
  }
}

/** The window's own keys, which never reach the program. */
export type Shortcut = "copy" | "paste" | "search" | "zoom-in" | "zoom-out" | "page-up" | "page-down";

/**
 * The shortcut a key press is, if any. Copy, paste and search take Ctrl+Shift (plain Ctrl+C is
 * the shell's interrupt); zoom takes Ctrl with + or -; Shift+PageUp/PageDown pages through the
 * scrollback, as in other terminals.
 */
export function shortcutOf(e: KeyPress): Shortcut | null {
  const ctrlShift = e.ctrlKey && e.shiftKey && !e.altKey;
  if (ctrlShift && e.code === "KeyC") return "copy";
  if (ctrlShift && e.code === "KeyV") return "paste";
  if (ctrlShift && e.code === "KeyF") return "search";
  if (e.ctrlKey && !e.shiftKey && (e.key === "=" || e.key === "+")) return "zoom-in";
  if (e.ctrlKey && !e.shiftKey && e.key === "-") return "zoom-out";
  if (e.shiftKey && e.key === "PageUp") return "page-up";
  if (e.shiftKey && e.key === "PageDown") return "page-down";
  return null;
}
