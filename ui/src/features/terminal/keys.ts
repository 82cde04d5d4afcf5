// What a key press sends to the program, given the terminal's modes (xterm conventions, which
// is what TERM=xterm-256color promises). Pure functions: unit-tested against every mode.

import { Mode } from "./frame";

/** The parts of a KeyboardEvent the encoder reads. */
export interface KeyPress {
  key: string;
  code: string;
  ctrlKey: boolean;
  altKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
}

const ESC = "\x1b";

/** xterm's modifier parameter: 1 + shift + 2·alt + 4·ctrl. 1 means none. */
function modifier(e: KeyPress): number {
  return 1 + (e.shiftKey ? 1 : 0) + (e.altKey ? 2 : 0) + (e.ctrlKey ? 4 : 0);
}

const CURSOR: Record<string, string> = {
  ArrowUp: "A",
  ArrowDown: "B",
  ArrowRight: "C",
  ArrowLeft: "D",
  Home: "H",
  End: "F",
};

const TILDE: Record<string, number> = {
  Insert: 2,
  Delete: 3,
  PageUp: 5,
  PageDown: 6,
  F5: 15,
  F6: 17,
  F7: 18,
  F8: 19,
  F9: 20,
  F10: 21,
  F11: 23,
  F12: 24,
};

const SS3_FUNCTION: Record<string, string> = { F1: "P", F2: "Q", F3: "R", F4: "S" };

const KEYPAD: Record<string, string> = {
  Numpad0: "p",
  Numpad1: "q",
  Numpad2: "r",
  Numpad3: "s",
  Numpad4: "t",
  Numpad5: "u",
  Numpad6: "v",
  Numpad7: "w",
  Numpad8: "x",
  Numpad9: "y",
  NumpadDecimal: "n",
  NumpadAdd: "k",
  NumpadSubtract: "m",
  NumpadMultiply: "j",
  NumpadDivide: "o",
  NumpadEnter: "M",
};

/** Control characters for Ctrl + a printable key, where one exists. */
function control(key: string): string | null {
  if (key.length !== 1) return null;
  const c = key.toLowerCase();
  if (c >= "a" && c <= "z") return String.fromCharCode(c.charCodeAt(0) - 96);
  switch (c) {
    case " ":
    case "@":
    case "2":
      return "\x00";
    case "[":
    case "3":
      return ESC;
    case "\\":
    case "4":
      return "\x1c";
    case "]":
    case "5":
      return "\x1d";
    case "^":
    case "6":
      return "\x1e";
    case "_":
    case "-":
    case "7":
      return "\x1f";
    case "?":
    case "8":
      return "\x7f";
    default:
      return null;
  }
}

/**
 * The bytes (as a string of code points) a key press sends, or null when the terminal should
 * not handle it (a bare modifier, a Meta/Cmd shortcut, a dead key).
 */
export function encodeKey(e: KeyPress, modes: number): string | null {
  if (e.metaKey) return null;
  const mod = modifier(e);
  const alt = e.altKey ? ESC : "";

  if (modes & Mode.APP_KEYPAD && e.code in KEYPAD && !e.ctrlKey && !e.altKey) {
    return `${ESC}O${KEYPAD[e.code]}`;
  }
  if (e.key in CURSOR) {
    const final = CURSOR[e.key];
    if (mod > 1) return `${ESC}[1;${mod}${final}`;
    return modes & Mode.APP_CURSOR ? `${ESC}O${final}` : `${ESC}[${final}`;
  }
  if (e.key in TILDE) {
    const n = TILDE[e.key];
    return mod > 1 ? `${ESC}[${n};${mod}~` : `${ESC}[${n}~`;
  }
  if (e.key in SS3_FUNCTION) {
    const final = SS3_FUNCTION[e.key];
    return mod > 1 ? `${ESC}[1;${mod}${final}` : `${ESC}O${final}`;
  }
  switch (e.key) {
    case "Enter":
      return alt + (modes & Mode.LINE_FEED_NEW_LINE ? "\r\n" : "\r");
    case "Backspace":
      return alt + (e.ctrlKey ? "\x08" : "\x7f");
    case "Tab":
      return e.shiftKey ? `${ESC}[Z` : alt + "\t";
    case "Escape":
      return alt + ESC;
  }
  if (e.key.length === 0 || [...e.key].length !== 1) return null; // named keys we do not send
  if (e.ctrlKey) {
    const c = control(e.key);
    return c === null ? null : alt + c;
  }
  return alt + e.key;
}

/** Pasted text as the program should receive it. */
export function encodePaste(text: string, modes: number): string {
  // Line breaks are typed as Enter; a bracketed paste cannot be ended early by its content.
  const body = text.replace(/\r?\n/g, "\r");
  if (modes & Mode.BRACKETED_PASTE) {
    return `${ESC}[200~${body.replaceAll(`${ESC}[201~`, "")}${ESC}[201~`;
  }
  return body;
}

/** Whether pasting `text` deserves a confirmation: several lines into a shell prompt. */
export function pasteNeedsConfirmation(text: string, modes: number): boolean {
  return /[\r\n]./.test(text.trimEnd()) && !(modes & Mode.ALT_SCREEN) && !(modes & Mode.BRACKETED_PASTE);
}

export type MouseKind = "press" | "release" | "drag" | "move" | "wheel-up" | "wheel-down";

export interface MouseReport {
  kind: MouseKind;
  /** 0 left, 1 middle, 2 right. */
  button: number;
  /** 0-based cell. */
  col: number;
  row: number;
  shift: boolean;
  alt: boolean;
  ctrl: boolean;
}

/** The report a mouse event sends under the terminal's modes, or null when it reports nothing. */
export function encodeMouse(m: MouseReport, modes: number): string | null {
  const reporting = modes & (Mode.MOUSE_CLICK | Mode.MOUSE_DRAG | Mode.MOUSE_MOTION);
  if (!reporting) return null;
  if (m.kind === "drag" && !(modes & (Mode.MOUSE_DRAG | Mode.MOUSE_MOTION))) return null;
  if (m.kind === "move" && !(modes & Mode.MOUSE_MOTION)) return null;
  let code: number;
  switch (m.kind) {
    case "wheel-up":
      code = 64;
      break;
    case "wheel-down":
      code = 65;
      break;
    case "move":
      code = 35;
      break;
    case "drag":
      code = 32 + m.button;
      break;
    case "release":
      code = modes & Mode.SGR_MOUSE ? m.button : 3;
      break;
    default:
      code = m.button;
  }
  code += (m.shift ? 4 : 0) + (m.alt ? 8 : 0) + (m.ctrl ? 16 : 0);
  const x = m.col + 1;
  const y = m.row + 1;
  if (modes & Mode.SGR_MOUSE) return `${ESC}[<${code};${x};${y}${m.kind === "release" ? "m" : "M"}`;
  // Legacy reports carry 32 + coordinate as one character; past 95 it would not be one byte.
  const limit = modes & Mode.UTF8_MOUSE ? 2015 : 95;
  if (x > limit || y > limit) return null;
  return `${ESC}[M${String.fromCodePoint(32 + code, 32 + x, 32 + y)}`;
}
