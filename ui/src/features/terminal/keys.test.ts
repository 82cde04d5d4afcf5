import { describe, expect, it } from "vitest";

import { Mode } from "./frame";
import { shortcutOf, TerminalInput } from "./input";
import { encodeKey, encodeMouse, encodePaste, pasteNeedsConfirmation, type KeyPress } from "./keys";

function key(key: string, mods: Partial<KeyPress> = {}): KeyPress {
  return { key, code: mods.code ?? "", ctrlKey: false, altKey: false, shiftKey: false, metaKey: false, ...mods };
}

describe("key encoding", () => {
  it("sends printable text and control characters", () => {
    expect(encodeKey(key("a"), 0)).toBe("a");
    expect(encodeKey(key("é"), 0)).toBe("é");
    expect(encodeKey(key("c", { ctrlKey: true }), 0)).toBe("\x03");
    expect(encodeKey(key("C", { ctrlKey: true, shiftKey: true }), 0)).toBe("\x03");
    expect(encodeKey(key(" ", { ctrlKey: true }), 0)).toBe("\x00");
    expect(encodeKey(key("[", { ctrlKey: true }), 0)).toBe("\x1b");
    expect(encodeKey(key("x", { altKey: true }), 0)).toBe("\x1bx");
    expect(encodeKey(key("d", { ctrlKey: true, altKey: true }), 0)).toBe("\x1b\x04");
  });

  it("sends editing keys", () => {
    expect(encodeKey(key("Enter"), 0)).toBe("\r");
    expect(encodeKey(key("Enter"), Mode.LINE_FEED_NEW_LINE)).toBe("\r\n");
    expect(encodeKey(key("Backspace"), 0)).toBe("\x7f");
    expect(encodeKey(key("Backspace", { ctrlKey: true }), 0)).toBe("\x08");
    expect(encodeKey(key("Tab"), 0)).toBe("\t");
    expect(encodeKey(key("Tab", { shiftKey: true }), 0)).toBe("\x1b[Z");
    expect(encodeKey(key("Escape"), 0)).toBe("\x1b");
  });

  it("follows application cursor mode for arrows, and modifiers override it", () => {
    expect(encodeKey(key("ArrowUp"), 0)).toBe("\x1b[A");
    expect(encodeKey(key("ArrowUp"), Mode.APP_CURSOR)).toBe("\x1bOA");
    expect(encodeKey(key("Home"), Mode.APP_CURSOR)).toBe("\x1bOH");
    expect(encodeKey(key("ArrowLeft", { ctrlKey: true }), Mode.APP_CURSOR)).toBe("\x1b[1;5D");
    expect(encodeKey(key("ArrowRight", { shiftKey: true, altKey: true }), 0)).toBe("\x1b[1;4C");
  });

  it("sends function keys and the editing block", () => {
    expect(encodeKey(key("F1"), 0)).toBe("\x1bOP");
    expect(encodeKey(key("F1", { shiftKey: true }), 0)).toBe("\x1b[1;2P");
    expect(encodeKey(key("F5"), 0)).toBe("\x1b[15~");
    expect(encodeKey(key("F12", { ctrlKey: true }), 0)).toBe("\x1b[24;5~");
    expect(encodeKey(key("Delete"), 0)).toBe("\x1b[3~");
    expect(encodeKey(key("PageUp"), 0)).toBe("\x1b[5~");
  });

  it("uses the application keypad only in that mode", () => {
    const five = key("5", { code: "Numpad5" });
    expect(encodeKey(five, 0)).toBe("5");
    expect(encodeKey(five, Mode.APP_KEYPAD)).toBe("\x1bOu");
    expect(encodeKey(key("Enter", { code: "NumpadEnter" }), Mode.APP_KEYPAD)).toBe("\x1bOM");
  });

  it("leaves bare modifiers, dead keys and Cmd shortcuts to the app", () => {
    expect(encodeKey(key("Shift"), 0)).toBeNull();
    expect(encodeKey(key("Dead"), 0)).toBeNull();
    expect(encodeKey(key("c", { metaKey: true }), 0)).toBeNull();
  });
});

describe("paste", () => {
  it("brackets when the program asked, and strips an early end marker", () => {
    expect(encodePaste("a\nb", 0)).toBe("a\rb");
    expect(encodePaste("x\x1b[201~y", Mode.BRACKETED_PASTE)).toBe("\x1b[200~xy\x1b[201~");
  });

  it("asks before several lines reach a shell prompt", () => {
    expect(pasteNeedsConfirmation("one line\n", 0)).toBe(false);
    expect(pasteNeedsConfirmation("rm -rf build\nmake", 0)).toBe(true);
    expect(pasteNeedsConfirmation("a\nb", Mode.BRACKETED_PASTE)).toBe(false);
    expect(pasteNeedsConfirmation("a\nb", Mode.ALT_SCREEN)).toBe(false);
  });
});

describe("mouse reports", () => {
  const at = { button: 0, col: 9, row: 4, shift: false, alt: false, ctrl: false };

  it("reports nothing unless the program asked", () => {
    expect(encodeMouse({ ...at, kind: "press" }, 0)).toBeNull();
    expect(encodeMouse({ ...at, kind: "move" }, Mode.MOUSE_CLICK)).toBeNull();
  });

  it("uses SGR when enabled, legacy otherwise", () => {
    const sgr = Mode.MOUSE_CLICK | Mode.SGR_MOUSE;
    expect(encodeMouse({ ...at, kind: "press" }, sgr)).toBe("\x1b[<0;10;5M");
    expect(encodeMouse({ ...at, kind: "release" }, sgr)).toBe("\x1b[<0;10;5m");
    expect(encodeMouse({ ...at, kind: "wheel-up", ctrl: true }, sgr)).toBe("\x1b[<80;10;5M");
    expect(encodeMouse({ ...at, kind: "press" }, Mode.MOUSE_CLICK)).toBe("\x1b[M *%");
    expect(encodeMouse({ ...at, kind: "drag" }, Mode.MOUSE_DRAG | Mode.SGR_MOUSE)).toBe("\x1b[<32;10;5M");
    expect(encodeMouse({ ...at, col: 200, kind: "press" }, Mode.MOUSE_CLICK)).toBeNull();
  });
});

describe("input method composition", () => {
  function setup(): { sent: string[]; input: TerminalInput } {
    const sent: string[] = [];
    return { sent, input: new TerminalInput((text) => sent.push(text), () => 0) };
  }
  const prevent = { preventDefault: () => undefined };

  it("sends the composed text once, and none of the keys that built it", () => {
    const { sent, input } = setup();
    input.compositionStart();
    expect(input.keydown({ ...key("n"), ...prevent, isComposing: true })).toBe(false);
    input.input("に", "insertCompositionText", true);
    expect(input.keydown({ ...key("Process"), ...prevent })).toBe(false);
    input.compositionEnd("日本");
    expect(sent).toEqual(["日本"]);
  });

  it("types ordinary keys and dead-key results", () => {
    const { sent, input } = setup();
    let prevented = false;
    expect(input.keydown({ ...key("a"), preventDefault: () => (prevented = true) })).toBe(true);
    expect(prevented).toBe(true);
    expect(input.keydown({ ...key("Dead"), ...prevent })).toBe(false);
    input.input("é", "insertText", false);
    input.compositionEnd("");
    expect(sent).toEqual(["a", "é"]);
  });
});

describe("the window's own shortcuts", () => {
  it("takes Ctrl+Shift for copy, paste and search, and leaves Ctrl+C to the shell", () => {
    expect(shortcutOf(key("C", { code: "KeyC", ctrlKey: true, shiftKey: true }))).toBe("copy");
    expect(shortcutOf(key("V", { code: "KeyV", ctrlKey: true, shiftKey: true }))).toBe("paste");
    expect(shortcutOf(key("F", { code: "KeyF", ctrlKey: true, shiftKey: true }))).toBe("search");
    expect(shortcutOf(key("c", { code: "KeyC", ctrlKey: true }))).toBeNull();
    expect(shortcutOf(key("C", { code: "KeyC", ctrlKey: true, shiftKey: true, altKey: true }))).toBeNull();
  });

  it("zooms with Ctrl and + or -, and pages the scrollback with Shift", () => {
    expect(shortcutOf(key("=", { ctrlKey: true }))).toBe("zoom-in");
    expect(shortcutOf(key("+", { ctrlKey: true }))).toBe("zoom-in");
    expect(shortcutOf(key("-", { ctrlKey: true }))).toBe("zoom-out");
    expect(shortcutOf(key("PageUp", { shiftKey: true }))).toBe("page-up");
    expect(shortcutOf(key("PageDown", { shiftKey: true }))).toBe("page-down");
    expect(shortcutOf(key("PageUp"))).toBeNull();
    expect(shortcutOf(key("a"))).toBeNull();
  });
});
