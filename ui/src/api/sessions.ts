// Coding agents' sessions in a workspace: start, prompt, follow the transcript, answer, cancel.

import { Channel } from "@tauri-apps/api/core";

import {
  commands,
  type AgentActivity,
  type AgentEventRow,
  type AgentSessionRow,
  type PermissionRow,
  type PromptImage,
} from "../bindings";
import { unwrap } from "./index";

export type { AgentActivity, AgentEventRow, AgentSessionRow, PermissionRow, PromptImage };

/** Per workspace with coding agents in a turn: how many work and how many wait for an answer. */
export async function agentActivity(): Promise<AgentActivity[]> {
  return unwrap(await commands.agentActivity());
}

/** What a workspace's coding agents are doing, in a few words ("" when none is in a turn). */
export function activityText(activity: AgentActivity | undefined): string {
  if (!activity) return "";
  const parts = [];
  if (activity.waiting > 0) parts.push(`${activity.waiting} waiting for you`);
  if (activity.working > 0) parts.push(`${activity.working} working`);
  if (parts.length === 0) return "";
  const agents = activity.waiting + activity.working === 1 ? "agent" : "agents";
  return `${agents}: ${parts.join(", ")}`;
}

export async function agentSessions(workspace: string): Promise<AgentSessionRow[]> {
  return unwrap(await commands.agentSessions(workspace));
}

export async function startAgent(workspace: string, agent: string): Promise<AgentSessionRow> {
  return unwrap(await commands.agentStart(workspace, agent));
}

/** Takes up an ended session with a new process of its coding agent, which loads it. */
export async function resumeSession(session: string): Promise<AgentSessionRow> {
  return unwrap(await commands.agentResume(session));
}

/** Sends a prompt, with images for an agent that takes them. */
export async function promptAgent(session: string, text: string, images: PromptImage[] = []): Promise<void> {
  unwrap(await commands.agentPrompt(session, text, images));
}

/** The image types coding agents take in prompts. */
export const imageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/** A pasted or dropped file as a prompt's image (null when it is not one agents take). */
export async function promptImage(file: File): Promise<PromptImage | null> {
  if (!imageTypes.includes(file.type)) return null;
  const url = await new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error("the image could not be read"));
    reader.readAsDataURL(file);
  });
  return { mime_type: file.type, data: url.slice(url.indexOf(",") + 1) };
}

export async function setMode(session: string, mode: string): Promise<void> {
  unwrap(await commands.agentSetMode(session, mode));
}

/** The files of a workspace's repository, for the prompt box's `@` picker. */
export async function workspaceFiles(workspace: string): Promise<string[]> {
  return unwrap(await commands.agentFiles(workspace));
}

export async function setConfig(session: string, option: string, value: string): Promise<void> {
  unwrap(await commands.agentSetConfig(session, option, value));
}

export async function answerPermission(request: number, option: string): Promise<PermissionRow> {
  return unwrap(await commands.agentAnswer(request, option));
}

export async function cancelTurn(session: string): Promise<number> {
  return unwrap(await commands.agentCancel(session));
}

export async function pendingPermissions(): Promise<PermissionRow[]> {
  return unwrap(await commands.agentPending());
}

/**
 * Follows a session's transcript from entry `after`: `onRows` gets every entry in order, in
 * pages, as they are recorded. Resolves to a function that stops following.
 */
export async function followTranscript(
  session: string,
  after: number,
  onRows: (rows: AgentEventRow[]) => void,
): Promise<() => void> {
  const channel = new Channel<AgentEventRow[]>();
  channel.onmessage = onRows;
  const id = unwrap(await commands.agentFollow(session, after, channel));
  return () => {
    void commands.agentUnfollow(id);
  };
}
