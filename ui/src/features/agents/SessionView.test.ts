import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import type { AgentSessionRow } from "../../api/sessions";
import { mockBackend } from "../../testing";
import SessionView from "./SessionView.svelte";

const session: AgentSessionRow = {
  id: "ag1",
  workspace_id: "w1",
  agent: "claude-code",
  command: [],
  stream: 1,
  epoch: "e",
  acp_session: "s",
  state: "idle",
  created_at_ms: 0,
  read_offset: 0,
};

describe("the prompt box", () => {
  it("offers the repository's files after an @ and puts the one picked in the prompt", async () => {
    const asked: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "agent_follow") return 1;
      if (cmd === "agent_files") {
        asked.push(args);
        return ["README.md", "src/lib.rs", "src/main.rs"];
      }
      return [];
    });
    render(SessionView, { session });
    const box = screen.getByTestId("agent-prompt") as HTMLTextAreaElement;
    await fireEvent.input(box, { target: { value: "look at @lib" } });
    const options = await screen.findAllByTestId("mention-option");
    expect(options.map((o) => o.textContent)).toEqual(["@src/lib.rs"]);
    await fireEvent.click(options[0] as HTMLElement);
    expect(box.value).toBe("look at @src/lib.rs ");
    expect(screen.queryByTestId("mention-suggestions")).toBeNull();

    // Tab picks the first match; the files are fetched once.
    await fireEvent.input(box, { target: { value: "and @src/" } });
    await screen.findAllByTestId("mention-option");
    await fireEvent.keyDown(box, { key: "Tab" });
    expect(box.value).toBe("and @src/lib.rs ");
    expect(asked).toEqual([{ workspace: "w1" }]);
  });
});
