// Decoder for the engine's binary screen frames. The layout is documented in docs/terminal.md
// ("Frame format") and encoded by src-tauri/core/terminal/frame.rs; a shared fixture written by
// the Rust tests keeps the two in step.

export const FRAME_VERSION = 1;

export const Attr = {
  INVERSE: 1 << 0,
  BOLD: 1 << 1,
  ITALIC: 1 << 2,
  UNDERLINE: 1 << 3,
  LINK: 1 << 4,
  WIDE: 1 << 5,
  DIM: 1 << 7,
  HIDDEN: 1 << 8,
  STRIKEOUT: 1 << 9,
} as const;

export const Mode = {
  APP_CURSOR: 1 << 0,
  APP_KEYPAD: 1 << 1,
  BRACKETED_PASTE: 1 << 2,
  MOUSE_CLICK: 1 << 3,
  MOUSE_DRAG: 1 << 4,
  MOUSE_MOTION: 1 << 5,
  SGR_MOUSE: 1 << 6,
  FOCUS_EVENTS: 1 << 7,
  ALT_SCREEN: 1 << 8,
  ALTERNATE_SCROLL: 1 << 9,
  CURSOR_BLINK: 1 << 10,
  LINE_FEED_NEW_LINE: 1 << 11,
  UTF8_MOUSE: 1 << 12,
} as const;

/** A colour as the emulator holds it; the renderer resolves it with its theme. */
export type Color =
  | { kind: "default" }
  | { kind: "named"; index: number }
  | { kind: "indexed"; index: number }
  | { kind: "rgb"; r: number; g: number; b: number };

export interface Run {
  col: number;
  cells: number;
  fg: Color;
  bg: Color;
  attrs: number;
  link: number | null;
  text: string;
}

export interface Row {
  index: number;
  runs: Run[];
}

export interface Cursor {
  row: number;
  col: number;
  /** 0 block, 1 underline, 2 beam, 3 hollow block. */
  shape: number;
}

export interface SelectionBox {
  startRow: number;
  startCol: number;
  endRow: number;
  endCol: number;
  block: boolean;
}

export interface Frame {
  full: boolean;
  cols: number;
  rows: number;
  cursor: Cursor | null;
  modes: number;
  displayOffset: number;
  history: number;
  selection: SelectionBox | null;
  lines: Row[];
  links: string[];
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  remaining(): number {
    return this.bytes.length - this.offset;
  }

  private need(n: number): void {
    if (this.remaining() < n) throw new FrameError("frame truncated");
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const value = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  text(): string {
    const len = this.u16();
    this.need(len);
    const slice = this.bytes.subarray(this.offset, this.offset + len);
    this.offset += len;
    try {
      return utf8.decode(slice);
    } catch {
      throw new FrameError("frame text is not UTF-8");
    }
  }

  color(): Color {
    const tag = this.u8();
    switch (tag) {
      case 0:
        return { kind: "default" };
      case 1:
        return { kind: "named", index: this.u16() };
      case 2:
        return { kind: "indexed", index: this.u8() };
      case 3:
        return { kind: "rgb", r: this.u8(), g: this.u8(), b: this.u8() };
      default:
        throw new FrameError(`unknown colour tag ${tag}`);
    }
  }
}

/** Parses one frame; throws FrameError on anything malformed. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const r = new Reader(bytes);
  const version = r.u8();
  if (version !== FRAME_VERSION) throw new FrameError(`unknown frame version ${version}`);
  const flags = r.u8();
  const cols = r.u16();
  const rows = r.u16();
  const cursorRow = r.u16();
  const cursorCol = r.u16();
  const shape = r.u8();
  const modes = r.u16();
  const displayOffset = r.u32();
  const history = r.u32();
  const selection =
    flags & 4
      ? { startRow: r.u16(), startCol: r.u16(), endRow: r.u16(), endCol: r.u16(), block: r.u8() !== 0 }
      : null;
  const rowCount = r.u16();
  const lines: Row[] = [];
  for (let i = 0; i < rowCount; i++) {
    const index = r.u16();
    const runCount = r.u16();
    const runs: Run[] = [];
    for (let j = 0; j < runCount; j++) {
      const col = r.u16();
      const cells = r.u16();
      const fg = r.color();
      const bg = r.color();
      const attrs = r.u16();
      const link = attrs & Attr.LINK ? r.u16() : null;
      const text = r.text();
      runs.push({ col, cells, fg, bg, attrs, link, text });
    }
    lines.push({ index, runs });
  }
  const linkCount = r.u16();
  const links: string[] = [];
  for (let i = 0; i < linkCount; i++) links.push(r.text());
  if (r.remaining() !== 0) throw new FrameError(`${r.remaining()} bytes after the end of the frame`);
  for (const row of lines) {
    for (const run of row.runs) {
      if (run.link !== null && run.link >= links.length) {
        throw new FrameError(`run refers to link ${run.link}, which the frame does not list`);
      }
    }
  }
  return {
    full: (flags & 1) !== 0,
    cols,
    rows,
    cursor: flags & 2 ? { row: cursorRow, col: cursorCol, shape } : null,
    modes,
    displayOffset,
    history,
    selection,
    lines,
    links,
  };
}
