// A workspace's Ports panel: forwards to this computer's loopback, and the ports programs
// listen on in the workspace.

import { commands, type PortForward, type PortOffer, type PortsView, type WorkspacePort } from "../bindings";
import { unwrap } from "./index";

export type { PortForward, PortOffer, PortsView, WorkspacePort };

/** The forwards chosen and the ports listening in the workspace. */
export async function portsView(id: string): Promise<PortsView> {
  return unwrap(await commands.portsView(id));
}

/** Forwards `remote` (from the same port here unless `local` says otherwise). */
export async function forwardPort(id: string, remote: number, local: number | null = null): Promise<PortForward> {
  return unwrap(await commands.portsForward(id, remote, local));
}

/** Stops forwarding `remote`. */
export async function unforwardPort(id: string, remote: number): Promise<void> {
  unwrap(await commands.portsUnforward(id, remote));
}

/** Declines the offer to forward `port` (a coding agent printed its address). */
export async function dismissPortOffer(id: string, port: number): Promise<void> {
  unwrap(await commands.portsDismiss(id, port));
}

/** A port number typed by a person, or null when it is not one (1 to 65535). */
export function parsePort(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{1,5}$/.test(trimmed)) return null;
  const port = Number(trimmed);
  return port >= 1 && port <= 65535 ? port : null;
}
