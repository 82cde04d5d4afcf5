import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

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

describe("images in the prompt box", () => {
  it("takes a pasted image for an agent that takes images and sends it with the prompt", async () => {
    const sent: unknown[] = [];
    const follow: { push?: (rows: unknown[]) => void } = {};
    mockBackend((cmd, args) => {
      if (cmd === "agent_follow") {
        const channel = (args as { channel: { onmessage: (rows: unknown[]) => void } }).channel;
        follow.push = (rows) => channel.onmessage(rows);
        return 1;
      }
      if (cmd === "agent_prompt") {
        sent.push(args);
        return null;
      }
      return [];
    });
    render(SessionView, { session });
    await vi.waitFor(() => expect(follow.push).toBeDefined());
    follow.push?.([
      {
        seq: 1,
        session_id: "ag1",
        kind: "started",
        body: { initialize: { agentCapabilities: { promptCapabilities: { image: true } } } },
        at_ms: 0,
      },
    ]);
    const box = screen.getByTestId("agent-prompt") as HTMLTextAreaElement;
    const png = new File([new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10, 1, 2, 3])], "shot.png", { type: "image/png" });
    await fireEvent.paste(box, { clipboardData: { files: [png] } });
    expect((await screen.findByTestId("prompt-images")).textContent).toContain("image/png · 1 KiB");
    await fireEvent.input(box, { target: { value: "what is wrong here?" } });
    await fireEvent.submit(box.closest("form") as HTMLFormElement);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ session: "ag1", text: "what is wrong here?", images: [{ mime_type: "image/png", data: "iVBORw0KGgoBAgM=" }] });
  });
});
