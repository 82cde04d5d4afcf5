import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { mockBackend } from "../../testing";
import { wanted } from "../terminal/focus.svelte";
import ToolCall from "./ToolCall.svelte";

const call = {
  kind: "tool" as const,
  seq: 1,
  id: "c1",
  title: "cargo test",
  toolKind: "execute",
  status: "in_progress",
  locations: [],
  diffs: [],
  output: "",
  terminals: ["sam-7", "elsewhere-1"],
};

describe("a tool call that runs a command", () => {
  it("opens SAM's command as a terminal tab and asks the panel to show it", async () => {
    const asked: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "terminal_show_command") {
        asked.push(args);
        return { stream: 7, name: "▶ cargo test", exited: false, output_only: true };
      }
      return null;
    });
    render(ToolCall, { call, workspace: "w1" });
    // Only SAM's own terminals (sam-<stream>) can be opened.
    const buttons = screen.getAllByTestId("tool-terminal");
    expect(buttons).toHaveLength(1);
    const before = wanted.seq;
    await fireEvent.click(buttons[0] as HTMLElement);
    await Promise.resolve();
    expect(asked).toEqual([{ workspace: "w1", stream: 7 }]);
    expect(wanted.stream).toBe(7);
    expect(wanted.seq).toBe(before + 1);
  });

  it("says why when the command is gone", async () => {
    mockBackend((cmd) => {
      if (cmd === "terminal_show_command") {
        throw {
          category: "invalid-input",
          message: "Command 7 is no longer running in the workspace.",
          next_step: "Its output is in the coding agent's session.",
          retryable: false,
          retry_after_secs: null,
          step: null,
          log_ref: null,
        };
      }
      return null;
    });
    render(ToolCall, { call, workspace: "w1" });
    await fireEvent.click(screen.getByTestId("tool-terminal"));
    expect(await screen.findByText(/no longer running/)).toBeTruthy();
  });
});
