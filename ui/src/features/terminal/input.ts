// Keyboard and IME input for one terminal: keys are encoded by keys.ts; text composed by an
// input method (CJK, dead keys, emoji pickers) arrives whole when composition ends.

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
