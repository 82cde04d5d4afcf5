import { render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { activityText } from "../../api/sessions";
import { workspace } from "../../testing";
import WorkspaceTable from "./WorkspaceTable.svelte";

describe("the workspace list", () => {
  it("says what each workspace's coding agents are doing, a waiting one first", () => {
    const busy = { ...workspace("busy"), id: "busy00000001" };
    const quiet = { ...workspace("quiet"), id: "quiet0000001" };
    render(WorkspaceTable, {
      workspaces: [busy, quiet],
      spend: null,
      agents: [{ workspace: busy.id, working: 2, waiting: 1 }],
      onOpen: () => {},
      onNew: () => {},
    });
    const shown = screen.getAllByTestId("agent-activity");
    expect(shown).toHaveLength(1);
    const [only] = shown;
    expect(only?.textContent?.trim()).toBe("agents: 1 waiting for you, 2 working");
    expect(only?.classList.contains("waiting")).toBe(true);
  });

  it("words one agent and none", () => {
    expect(activityText({ workspace: "w", working: 1, waiting: 0 })).toBe("agent: 1 working");
    expect(activityText({ workspace: "w", working: 0, waiting: 0 })).toBe("");
    expect(activityText(undefined)).toBe("");
  });
});
