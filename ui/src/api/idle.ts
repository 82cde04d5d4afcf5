// A workspace's idle policy (timeout, deadline, warning, "keep running") and the notifications
// that announce it.

import { commands, events, type IdleChoice, type IdleView } from "../bindings";
import { unwrap } from "./index";

export type { IdleChoice, IdleView };

/** Where the workspace's idle policy stands. */
export async function workspaceIdle(id: string): Promise<IdleView> {
  return unwrap(await commands.workspaceIdle(id));
}

/** Sets the idle timeout in seconds; null = never. */
export async function setIdleTimeout(id: string, timeoutSecs: number | null): Promise<void> {
  unwrap(await commands.workspaceSetIdleTimeout(id, timeoutSecs));
}

/** Keeps the workspace from being stopped for idleness for `minutes` from now. */
export async function keepRunning(id: string, minutes: number): Promise<IdleView> {
  return unwrap(await commands.workspaceKeepRunning(id, minutes));
}

export async function doNotDisturb(): Promise<boolean> {
  return unwrap(await commands.doNotDisturb());
}

export async function setDoNotDisturb(on: boolean): Promise<void> {
  unwrap(await commands.setDoNotDisturb(on));
}

/** Calls `open` with a workspace id when a notification or the tray asks to show it. */
export async function onOpenWorkspace(open: (id: string) => void): Promise<() => void> {
  return events.openWorkspace.listen((event) => open(event.payload.id));
}

/** The idle timeouts offered, in minutes (null = never). */
export const IDLE_CHOICES: readonly (number | null)[] = [5, 15, 30, 60, 120, 240, 480, null];

/** "30 min", "2 h", "never". */
export function idleLabel(minutes: number | null): string {
  if (minutes === null) return "never";
  return minutes % 60 === 0 ? `${minutes / 60} h` : `${minutes} min`;
}
