import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import type { WorkspaceEvent } from "../../api";
import { claudeCode, mockBackend } from "../../testing";
import AgentsPanel from "./AgentsPanel.svelte";

describe("starting a coding agent", () => {
  it("shows the install step the workspace's log has since the start, not an older one", async () => {
    mockBackend((cmd) => {
      if (cmd === "agents_catalog") return [claudeCode];
      // The start waits while the agent installs.
      if (cmd === "agent_start") return new Promise(() => {});
      return [];
    });
    const old: WorkspaceEvent = { seq: 1, at_ms: Date.now() - 60_000, step: "agent install", level: "info", message: "installing an old one" };
    const view = render(AgentsPanel, { workspace: "w1", installing: old });
    await screen.findByRole("option", { name: "Claude Code" });
    await fireEvent.submit(screen.getByTestId("start-agent").closest("form") as HTMLFormElement);
    const shown = await screen.findByTestId("agent-installing");
    expect(shown.textContent).toContain("installed the first time");

    const now: WorkspaceEvent = { ...old, seq: 2, at_ms: Date.now() + 1, message: "installing Node.js 22 (this machine has 18 only)" };
    await view.rerender({ workspace: "w1", installing: now });
    expect(screen.getByTestId("agent-installing").textContent).toContain("installing Node.js 22 (this machine has 18 only)…");
  });
});
