// Shared by the UI tests: a mocked backend, sample data, and user gestures jsdom lacks.

import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { cleanup, fireEvent, screen } from "@testing-library/svelte";
import { afterEach } from "vitest";

import type { Workspace } from "./api";
import type { Entry } from "./api/agents";
import type { GitHubAccount } from "./api/git";
import type { GitHubStatus } from "./api/github";
import type { IdleView } from "./api/idle";

/** Claude Code's catalogue entry, with its key variable and log-in command. */
export const claudeCode: Entry = {
  origin: "built_in",
  id: "claude-code",
  name: "Claude Code",
  description: "",
  distribution: { npx: { package: "@agentclientprotocol/claude-agent-acp@0.101.0", args: [], nodeMin: 22 } },
  keyEnv: ["ANTHROPIC_API_KEY"],
  login: "npx --yes @anthropic-ai/claude-code, then /login",
};

/** A workspace whose idle policy says nothing. */
export const quietIdle: IdleView = { timeout_secs: null, deadline_ms: null, stop_at_ms: null, kept_until_ms: null };

/** What the GitHub status says when nobody signed in and there is no app. */
export const signedOut: GitHubStatus = {
  account: null,
  session: null,
  token_entry: "github/access-token",
  app: null,
  problem: null,
};

/**
 * The backend for one test: `handler` answers. The sweep's report is empty, and the idle view,
 * do-not-disturb, spend, the Ports panel, SSH access, the GitHub status, the repository picker and the startup link are quiet
 * unless `handler` answers them with something else than a catch-all list (which they never
 * are). The GitHub status remembers who `github_sign_in` signed in, until `github_sign_out`.
 * Events are mocked: emit them with `events.….emit` from the bindings.
 */
export function mockBackend(handler: (cmd: string, args: unknown) => unknown) {
  let signedIn: GitHubAccount | null = null;
  mockIPC(
    (cmd, args) => {
      if (cmd === "hetzner_last_resources") return null;
      const answer = handler(cmd, args);
      if (cmd === "github_sign_in" && answer && !Array.isArray(answer)) signedIn = answer as GitHubAccount;
      if (cmd === "github_sign_out") signedIn = null;
      if (Array.isArray(answer)) {
        if (cmd === "workspace_idle") return quietIdle;
        if (cmd === "do_not_disturb" || cmd === "hetzner_self_delete") return false;
        if (cmd === "github_status") return { ...signedOut, account: signedIn };
        if (cmd === "github_repos") return { repos: [], matched: 0, total: 0, truncated: false };
        if (cmd === "take_startup_link") return null;
        if (cmd === "tray_status") return { available: true, problem: null };
        if (cmd === "spend") return { currency: null, month_start_ms: 0, month_to_date_centicents: 0, workspaces: [] };
        if (cmd === "ports_view") return { forwards: [], listening: [], listening_error: null, offers: [] };
        if (cmd === "ssh_config_status") return { file: "~/.ssh/config", installed: false, change: "" };
      }
      return answer;
    },
    { shouldMockEvents: true },
  );
}

afterEach(() => {
  cleanup();
  clearMocks();
});

export function workspace(name: string): Workspace {
  return {
    id: "abcdefghijkm",
    name,
    repo_url: "https://github.com/example/project.git",
    branch: null,
    provider: "local",
    status: "running",
    error: null,
    retry_count: 0,
    idle_timeout_secs: null,
    placement: null,
    created_at_ms: 1,
    updated_at_ms: 1,
  };
}

export const catalog = {
  currency: "EUR",
  locations: [
    { name: "fsn1", city: "Falkenstein", country: "DE" },
    { name: "hel1", city: "Helsinki", country: "FI" },
  ],
  server_types: [
    {
      name: "cx23",
      cores: 2,
      memory_gb: 4,
      disk_gb: 40,
      architecture: "x86",
      offers: [
        { location: "fsn1", available: true, hourly_centicents: 79, monthly_centicents: 50_400 },
        { location: "hel1", available: true, hourly_centicents: 81, monthly_centicents: 51_000 },
      ],
    },
  ],
  volume_gb: 20,
  volume_monthly_centicents: 11_440,
};

/** Picks `value` in the select with test id `testid`, as a user would. */
export async function choose(testid: string, value: string) {
  const select = screen.getByTestId(testid) as HTMLSelectElement;
  for (const option of select.options) option.selected = option.value === value;
  await fireEvent.change(select);
}

/**
 * A connected Hetzner account preferring `location`, whose create refuses (so the dialog stays
 * open); what the dialog sent is kept in the returned object.
 */
export function mockHetznerCreate(location: string): { sent: unknown } {
  const seen: { sent: unknown } = { sent: null };
  mockBackend((cmd, args) => {
    if (cmd === "hetzner_account") return { connected: true, source: "keyring" };
    if (cmd === "hetzner_catalog") return catalog;
    if (cmd === "hetzner_preferences") return { locations: [location], server_types: ["cx23"] };
    if (cmd === "create_workspace") {
      seen.sent = args;
      throw { category: "capacity", message: "stop here", next_step: "-", retryable: false, retry_after_secs: null, step: null, log_ref: null };
    }
    return [];
  });
  return seen;
}
