// The desktop around the window: the OS clipboard (through the app, which WebKitGTK's
// navigator.clipboard cannot reliably reach) and the browser.

import { commands, type TrayStatus } from "../bindings";

export type { TrayStatus };
import { unwrap } from "./index";

/** Copies text to the OS clipboard. */
export async function copyText(text: string): Promise<void> {
  unwrap(await commands.clipboardWrite(text));
}

/** The OS clipboard's text ("" when it holds none). */
export async function readClipboard(): Promise<string> {
  return unwrap(await commands.clipboardRead());
}

/** Opens a web address in the browser; the app refuses anything but http(s). */
export async function openLink(url: string): Promise<void> {
  unwrap(await commands.openLink(url));
}

/** Whether the tray icon is shown, and why not. */
export async function trayStatus(): Promise<TrayStatus> {
  return unwrap(await commands.trayStatus());
}
