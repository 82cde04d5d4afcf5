import { describe, expect, it } from "vitest";

import type { AgentEventRow } from "../../api/sessions";
import { apply, brake, diffLines, emptyTranscript, terminalStream, usageText } from "./transcript";

let seq = 0;
function row(kind: string, body: AgentEventRow["body"]): AgentEventRow {
  seq += 1;
  return { seq, session_id: "ag1", kind, body, at_ms: 0 };
}
const update = (u: AgentEventRow["body"]) => row("update", { sessionId: "s", update: u });
const chunk = (text: string) => update({ sessionUpdate: "agent_message_chunk", content: { type: "text", text } });

describe("a transcript", () => {
  it("joins a reply's chunks and keeps prompts, thoughts and turn ends apart", () => {
    const t = emptyTranscript();
    apply(t, [
      row("prompt", { text: "fix it" }),
      update({ sessionUpdate: "agent_thought_chunk", content: { type: "text", text: "hmm" } }),
      chunk("Hello "),
      chunk("world"),
      row("turn", { stopReason: "end_turn" }),
    ]);
    expect(t.items.map((i) => i.kind)).toEqual(["prompt", "thought", "message", "turn"]);
    expect(t.items[2]).toMatchObject({ kind: "message", text: "Hello world" });
  });

  it("applies each entry once, however often it is delivered", () => {
    const t = emptyTranscript();
    const rows = [chunk("a"), chunk("b")];
    apply(t, rows);
    apply(t, rows);
    expect(t.items).toHaveLength(1);
    expect(t.items[0]).toMatchObject({ text: "ab" });
  });

  it("updates a tool call in place, with its diffs, locations and output", () => {
    const t = emptyTranscript();
    apply(t, [
      update({
        sessionUpdate: "tool_call",
        toolCallId: "c1",
        title: "Edit a.rs",
        kind: "edit",
        status: "pending",
        locations: [{ path: "/w/a.rs", line: 3 }],
        content: [{ type: "diff", path: "/w/a.rs", oldText: "x\n", newText: "y\n" }],
      }),
      update({ sessionUpdate: "tool_call_update", toolCallId: "c1", status: "completed" }),
    ]);
    expect(t.items).toHaveLength(1);
    expect(t.items[0]).toMatchObject({
      kind: "tool",
      status: "completed",
      toolKind: "edit",
      locations: ["/w/a.rs:3"],
      diffs: [{ path: "/w/a.rs", oldText: "x\n", newText: "y\n" }],
    });
  });

  it("keeps the terminals a tool call runs, and knows which are SAM's streams", () => {
    const t = emptyTranscript();
    apply(t, [
      update({
        sessionUpdate: "tool_call",
        toolCallId: "c2",
        title: "cargo test",
        kind: "execute",
        status: "in_progress",
        content: [{ type: "terminal", terminalId: "sam-12" }],
      }),
    ]);
    expect(t.items[0]).toMatchObject({ kind: "tool", terminals: ["sam-12"] });
    expect(terminalStream("sam-12")).toBe(12);
    expect(terminalStream("term-1")).toBeNull();
    expect(terminalStream("sam-12x")).toBeNull();
  });

  it("shows a permission request with the agent's options until it is answered", () => {
    const t = emptyTranscript();
    const request = {
      toolCall: { title: "touch x", rawInput: { command: "touch x" } },
      options: [
        { optionId: "allow", name: "Allow", kind: "allow_once" },
        { optionId: "deny", name: "Deny", kind: "reject_once" },
      ],
    };
    apply(t, [row("permission", { id: 7, request, answer: null, answered_by: null })]);
    expect(t.items[0]).toMatchObject({ kind: "permission", request: 7, detail: "touch x", answer: null });
    apply(t, [row("answered", { id: 7, request, answer: "deny", answered_by: "cli" })]);
    expect(t.items[0]).toMatchObject({ answer: "deny", by: "cli" });
  });

  it("reads the agent's modes, commands and capabilities, and ignores what it does not know", () => {
    const t = emptyTranscript();
    apply(t, [
      row("started", {
        initialize: { agentCapabilities: { promptCapabilities: { image: true } }, agentInfo: { name: "fake" } },
        session: { modes: { currentModeId: "ask", availableModes: [{ id: "ask", name: "Ask" }] } },
      }),
      update({ sessionUpdate: "available_commands_update", availableCommands: [{ name: "review", description: "Review" }] }),
      update({ sessionUpdate: "current_mode_update", currentModeId: "code" }),
      update({ sessionUpdate: "something_new", x: 1 }),
      row("update", null),
    ]);
    expect(t).toMatchObject({ images: true, agentName: "fake", mode: "code" });
    apply(t, [row("mode", { currentModeId: "ask", by: "app" })]);
    expect(t.mode).toBe("ask");
    expect(t.commands).toEqual([{ name: "review", description: "Review" }]);
    expect(t.items).toEqual([]);
  });
});

describe("a diff", () => {
  it("keeps common lines and marks removed and added ones", () => {
    expect(diffLines("a\nb\nc\n", "a\nB\nc\n")).toEqual([
      { sign: " ", text: "a" },
      { sign: "-", text: "b" },
      { sign: "+", text: "B" },
      { sign: " ", text: "c" },
    ]);
  });

  it("shows a new file as all added", () => {
    expect(diffLines(null, "x\ny")).toEqual([
      { sign: "+", text: "x" },
      { sign: "+", text: "y" },
    ]);
  });
});

describe("who holds the brake", () => {
  it("says when the current mode lets the agent act alone, and when it asks", () => {
    const alone = ["acceptEdits", "bypassPermissions"];
    expect(brake("bypassPermissions", alone)).toEqual({
      alone: true,
      text: 'its mode "bypassPermissions" lets it do some things without asking you',
    });
    expect(brake("default", alone)).toEqual({ alone: false, text: 'it asks you before it acts (mode "default")' });
    expect(brake("auto", []).alone).toBe(false);
    expect(brake(null, alone).text).toContain("its own choice");
  });
});

describe("usage", () => {
  it("keeps the latest context use and cost the agent reports, in a few words", () => {
    const t = emptyTranscript();
    apply(t, [
      update({ sessionUpdate: "usage_update", used: 1000, size: 200000 }),
      update({ sessionUpdate: "usage_update", used: 24000, size: 200000, cost: { amount: 0.4217, currency: "USD" } }),
    ]);
    expect(t.usage).toEqual({ used: 24000, size: 200000, cost: { amount: 0.4217, currency: "USD" } });
    expect(t.usage && usageText(t.usage)).toBe("context 12% of 200000 tokens · 0.42 USD");
    expect(usageText({ used: 5, size: 0, cost: null })).toBe("5 tokens");
  });
});

describe("a session taken up again", () => {
  it("knows whether the agent can load sessions, and says once that it resumed", () => {
    const t = emptyTranscript();
    apply(t, [
      row("started", { initialize: { agentCapabilities: { loadSession: true } }, session: { modes: { currentModeId: "ask", availableModes: [] } } }),
      row("ended", { reason: "its process ended" }),
      row("resumed", { session: { modes: { currentModeId: "auto" } }, replayed: 7 }),
    ]);
    expect(t.loadable).toBe(true);
    expect(t.mode).toBe("auto");
    const note = t.items.at(-1);
    expect(note?.kind === "note" && note.text).toContain("replayed 7 updates");
    const other = emptyTranscript();
    apply(other, [row("started", { initialize: { agentCapabilities: {} } })]);
    expect(other.loadable).toBe(false);
  });
});

describe("configuration options", () => {
  it("lists the options other than the mode, with grouped values flattened, and follows their changes", () => {
    const t = emptyTranscript();
    apply(t, [
      row("started", {
        initialize: {},
        session: {
          configOptions: [
            { id: "mode", name: "Mode", category: "mode", type: "select", currentValue: "ask", options: [{ value: "ask", name: "Ask" }] },
            {
              id: "model",
              name: "Model",
              category: "model",
              type: "select",
              currentValue: "fast",
              options: [{ group: "g", name: "Group", options: [{ value: "fast", name: "Fast" }, { value: "deep", name: "Deep" }] }],
            },
          ],
        },
      }),
    ]);
    expect(t.configOptions).toEqual([
      { id: "model", name: "Model", value: "fast", values: [{ value: "fast", name: "Fast" }, { value: "deep", name: "Deep" }] },
    ]);
    apply(t, [
      update({
        sessionUpdate: "config_option_update",
        configOptions: [{ id: "model", name: "Model", type: "select", currentValue: "deep", options: [{ value: "deep", name: "Deep" }] }],
      }),
    ]);
    expect(t.configOptions[0]?.value).toBe("deep");
    apply(t, [row("config", { configId: "model", value: "fast", by: "app", configOptions: [] })]);
    expect(t.configOptions).toEqual([]);
  });
});
