import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import type { WorkspaceEvent } from "../../api";
import { choose, claudeCode, mockBackend } from "../../testing";
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
    await screen.findAllByRole("option", { name: "Claude Code" });
    await fireEvent.submit(screen.getByTestId("start-agent").closest("form") as HTMLFormElement);
    const shown = await screen.findByTestId("agent-installing");
    expect(shown.textContent).toContain("installed the first time");

    const now: WorkspaceEvent = { ...old, seq: 2, at_ms: Date.now() + 1, message: "installing Node.js 22 (this machine has 18 only)" };
    await view.rerender({ workspace: "w1", installing: now });
    expect(screen.getByTestId("agent-installing").textContent).toContain("installing Node.js 22 (this machine has 18 only)…");
  });
});

describe("permission rules", () => {
  it("lists a workspace's rules in words, adds one with its pattern and shows the decisions", async () => {
    const sent: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "agents_catalog") return [claudeCode];
      if (cmd === "agent_rules")
        return [{ id: 1, workspace_id: "w1", created_at_ms: 0, agent: "claude-code", tool_kind: "execute", pattern: "cargo test", decision: "allow" }];
      if (cmd === "agent_audit")
        return [
          {
            id: 9,
            at_ms: Date.now(),
            workspace_id: "w1",
            workspace_name: "demo",
            session_id: "s",
            agent: "claude-code",
            permission_id: 4,
            request: { toolCall: { title: "rm -rf target" } },
            answer: "reject",
            answered_by: "rule 2",
          },
        ];
      if (cmd === "agent_rule_add") {
        sent.push(args);
        return { id: 2, workspace_id: "w1", created_at_ms: 0, ...(args as { rule: object }).rule };
      }
      return [];
    });
    render(AgentsPanel, { workspace: "w1" });
    const rule = await screen.findByTestId("rule");
    expect(rule.textContent).toContain("Allow Claude Code: execute commands starting with “cargo test”");
    expect((await screen.findByTestId("audit-row")).textContent).toContain("rm -rf target → reject by rule 2");

    await choose("rule-decision", "deny");
    await fireEvent.input(screen.getByTestId("rule-pattern"), { target: { value: "  rm " } });
    await fireEvent.submit(screen.getByTestId("add-rule").closest("form") as HTMLFormElement);
    await screen.findByText("Deny any agent: execute commands starting with “rm”");
    expect(sent).toEqual([{ workspace: "w1", rule: { agent: null, tool_kind: "execute", pattern: "rm", decision: "deny" } }]);

    // A kind without a pattern has no pattern field.
    await choose("rule-kind", "fetch");
    expect(screen.queryByTestId("rule-pattern")).toBeNull();
  });
});
