// Terminal calls: tabs, attaching a view (a binary channel of frames and notices), input,
// resize, selection, search, scrolling.

import { Channel } from "@tauri-apps/api/core";

import {
  commands,
  type SearchMatch,
  type SelectKind,
  type SelectRequest,
  type TerminalNotice,
  type TerminalTab,
} from "../bindings";
import { unwrap } from "./index";

export type { SearchMatch, SelectKind, SelectRequest, TerminalNotice, TerminalTab };

/** Channel message tags (src-tauri/ipc/terminal.rs). */
const FRAME_TAG = 0;
const NOTICE_TAG = 1;

export interface TerminalHandlers {
  frame(bytes: Uint8Array): void;
  notice(notice: TerminalNotice): void;
}

const utf8 = new TextDecoder();

/** Splits a channel message into a frame or a notice. Exported for tests. */
export function dispatch(message: ArrayBuffer | Uint8Array | number[], handlers: TerminalHandlers): void {
  const bytes =
    message instanceof Uint8Array
      ? message
      : message instanceof ArrayBuffer
        ? new Uint8Array(message)
        : Uint8Array.from(message);
  if (bytes.length === 0) return;
  const body = bytes.subarray(1);
  if (bytes[0] === FRAME_TAG) handlers.frame(body);
  else if (bytes[0] === NOTICE_TAG) handlers.notice(JSON.parse(utf8.decode(body)) as TerminalNotice);
}

/** The tabs; the core opens a first terminal (once, whoever asks at the same time) when there is none. */
export async function listOrOpenTerminals(workspace: string, cols: number, rows: number): Promise<TerminalTab[]> {
  return unwrap(await commands.terminalListOrOpen(workspace, cols, rows));
}

export async function openTerminal(workspace: string, cols: number, rows: number): Promise<TerminalTab> {
  return unwrap(await commands.terminalOpen(workspace, cols, rows));
}

/** A read-only tab on a command a coding agent runs (its terminal id `sam-<stream>`). */
export async function showCommand(workspace: string, stream: number): Promise<TerminalTab> {
  return unwrap(await commands.terminalShowCommand(workspace, stream));
}

/** Shows a terminal: its screen arrives as a full frame, then every change. */
export async function attachTerminal(
  workspace: string,
  stream: number,
  cols: number,
  rows: number,
  dark: boolean,
  handlers: TerminalHandlers,
): Promise<void> {
  const channel = new Channel<ArrayBuffer>();
  channel.onmessage = (message) => dispatch(message, handlers);
  unwrap(
    await commands.terminalAttach({ workspace, stream, cols, rows, dark, channel: channel.toJSON() }),
  );
}

export async function terminalInput(workspace: string, stream: number, data: string): Promise<void> {
  unwrap(await commands.terminalInput(workspace, stream, data));
}

export async function resizeTerminal(workspace: string, stream: number, cols: number, rows: number): Promise<void> {
  unwrap(await commands.terminalResize(workspace, stream, cols, rows));
}

export async function detachTerminal(workspace: string, stream: number): Promise<void> {
  unwrap(await commands.terminalDetach(workspace, stream));
}

export async function closeTerminal(workspace: string, stream: number): Promise<void> {
  unwrap(await commands.terminalClose(workspace, stream));
}

export async function renameTerminal(workspace: string, stream: number, name: string): Promise<void> {
  unwrap(await commands.terminalRename(workspace, stream, name));
}

export async function selectInTerminal(workspace: string, stream: number, request: SelectRequest): Promise<string | null> {
  return unwrap(await commands.terminalSelect(workspace, stream, request));
}

export async function searchTerminal(
  workspace: string,
  stream: number,
  pattern: string,
  backward: boolean,
): Promise<SearchMatch | null> {
  return unwrap(await commands.terminalSearch(workspace, stream, pattern, backward));
}

export async function scrollTerminal(workspace: string, stream: number, lines: number): Promise<void> {
  unwrap(await commands.terminalScroll(workspace, stream, lines));
}
