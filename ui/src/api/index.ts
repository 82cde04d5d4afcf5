// The one place the UI talks to the backend. Components import from here, never from the
// generated bindings or @tauri-apps/api directly (an ESLint rule enforces it).

import {
  commands,
  events,
  MAX_RETRIES,
  type AppInfo,
  type CreateWorkspace,
  type ErrorCategory,
  type MachineDetails,
  type Placement,
  type SamError,
  type Workspace,
  type WorkspaceAction,
  type WorkspaceEvent,
} from "../bindings";

export type {
  AppInfo,
  CreateWorkspace,
  ErrorCategory,
  MachineDetails,
  Placement,
  SamError,
  Workspace,
  WorkspaceAction,
  WorkspaceEvent,
};

/** The core's cap on retries of a failed operation (the Retry button hides once it is reached). */
export { MAX_RETRIES };

/** A backend failure, carrying the shared error shape. */
export class ApiError extends Error {
  readonly detail: SamError;

  constructor(detail: SamError) {
    super(detail.message);
    this.name = "ApiError";
    this.detail = detail;
  }
}

type Outcome<T> = { status: "ok"; data: T } | { status: "error"; error: SamError | string };

/**
 * Turns a command's outcome into its value, or throws an ApiError. Tauri itself rejects with a
 * plain string when the command is unknown or an argument is malformed; that becomes an
 * `internal` error rather than an object missing its fields.
 */
export function unwrap<T>(outcome: Outcome<T>): T {
  if (outcome.status === "ok") return outcome.data;
  throw new ApiError(toSamError(outcome.error));
}

export function toSamError(error: unknown): SamError {
  if (isSamError(error)) return error;
  return {
    category: "internal",
    message: `The app's window and its core disagree: ${String(error)}`,
    next_step: "Restart SAM. If it keeps happening, report it.",
    retryable: false,
    retry_after_secs: null,
    step: null,
    log_ref: null,
  };
}

function isSamError(value: unknown): value is SamError {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.category === "string" && typeof v.message === "string" && typeof v.next_step === "string";
}

export async function listWorkspaces(): Promise<Workspace[]> {
  return unwrap(await commands.listWorkspaces());
}

export async function appInfo(): Promise<AppInfo> {
  return unwrap(await commands.appInfo());
}

export async function createWorkspace(request: CreateWorkspace): Promise<Workspace> {
  return unwrap(await commands.createWorkspace(request));
}

export async function workspaceAction(id: string, action: WorkspaceAction): Promise<void> {
  unwrap(await commands.workspaceAction(id, action));
}

export async function getWorkspace(id: string): Promise<Workspace> {
  return unwrap(await commands.getWorkspace(id));
}

/** The workspace's server, location, address and cost so far (Hetzner); null on this computer. */
export async function workspaceMachine(id: string): Promise<MachineDetails | null> {
  return unwrap(await commands.workspaceMachine(id));
}

export async function workspaceEvents(id: string, after: number): Promise<WorkspaceEvent[]> {
  return unwrap(await commands.workspaceEvents(id, after));
}

/** Calls `onChange` whenever workspaces change (here or in the CLI); returns the unsubscribe. */
export async function onWorkspacesChanged(onChange: () => void): Promise<() => void> {
  return events.workspacesChanged.listen(() => onChange());
}

/** The error of a rejected call, in the shared shape. */
export function errorOf(err: unknown): SamError {
  return err instanceof ApiError ? err.detail : toSamError(err);
}
