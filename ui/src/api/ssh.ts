// SSH access from editors: opening a workspace in one, and SAM's block in ~/.ssh/config.

import { commands, type SshConfigStatus } from "../bindings";
import { unwrap } from "./index";

export type { SshConfigStatus };

/** The editors a workspace opens in, as the app names them. */
export const EDITORS = [
  { id: "vscode", label: "VS Code" },
  { id: "cursor", label: "Cursor" },
  { id: "jetbrains", label: "JetBrains Gateway" },
  { id: "zed", label: "Zed" },
] as const;

/** Opens the workspace's repository in `editor`; the link handed to the desktop. */
export async function openInEditor(id: string, editor: string): Promise<string> {
  return unwrap(await commands.workspaceOpenEditor(id, editor));
}

/** Where SAM's block stands in ~/.ssh/config, and what the switch would change. */
export async function sshConfigStatus(): Promise<SshConfigStatus> {
  return unwrap(await commands.sshConfigStatus());
}

/** Adds (on) or removes SAM's block. */
export async function setSshConfig(on: boolean): Promise<SshConfigStatus> {
  return unwrap(await commands.sshConfigSet(on));
}
