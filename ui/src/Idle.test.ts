import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import { catalog, choose, mockBackend, mockHetznerCreate, quietIdle, workspace } from "./testing";

/** Opens the page of a running workspace whose idle view is `idle` (until `keep` answers). */
async function openRunning(answer: (cmd: string, args: unknown) => unknown) {
  mockBackend((cmd, args) => {
    const found = answer(cmd, args);
    if (found !== undefined) return found;
    if (cmd === "list_workspaces") return [workspace("demo")];
    if (cmd === "get_workspace") return workspace("demo");
    return [];
  });
  render(App);
  await fireEvent.click(await screen.findByText("demo"));
  await screen.findByTestId("idle");
}

describe("the idle policy", () => {
  it("warns on the workspace page, and Keep running 1 h asks the core and clears the warning", async () => {
    const soon = Date.now() + 4 * 60_000;
    const kept: unknown[] = [];
    await openRunning((cmd, args) => {
      if (cmd === "workspace_idle") return { ...quietIdle, timeout_secs: 1800, deadline_ms: soon, stop_at_ms: soon };
      if (cmd === "workspace_keep_running") {
        kept.push(args);
        return { ...quietIdle, timeout_secs: 1800, deadline_ms: soon + 3_600_000, kept_until_ms: soon + 3_600_000 };
      }
      return undefined;
    });
    const warning = await screen.findByTestId("idle-warning");
    expect(warning.textContent).toContain("unless you keep it running");
    await fireEvent.click(screen.getByTestId("idle-keep-running"));
    expect((await screen.findByTestId("idle-kept")).textContent).toContain("Kept running until");
    expect(screen.queryByTestId("idle-warning")).toBeNull();
    expect(kept).toEqual([{ id: "abcdefghijkm", minutes: 60 }]);
  });

  it("changes the timeout in seconds, never as null", async () => {
    const set: unknown[] = [];
    await openRunning((cmd, args) => {
      if (cmd === "workspace_set_idle_timeout") {
        set.push(args);
        return null;
      }
      return undefined;
    });
    expect((screen.getByTestId("idle-timeout") as HTMLSelectElement).value).toBe("never");
    await choose("idle-timeout", "15");
    await choose("idle-timeout", "never");
    expect(set).toEqual([
      { id: "abcdefghijkm", timeoutSecs: 900 },
      { id: "abcdefghijkm", timeoutSecs: null },
    ]);
  });

  it("defaults a Hetzner workspace to 30 minutes and prices never per day", async () => {
    const backend = mockHetznerCreate("fsn1");
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    expect((screen.getByTestId("idle-choice") as HTMLSelectElement).selectedOptions[0]?.textContent).toContain("never");
    await choose("provider", "hetzner");
    await screen.findByTestId("price");
    expect((screen.getByTestId("idle-choice") as HTMLSelectElement).selectedOptions[0]?.textContent).toContain("30 min");
    expect(screen.queryByTestId("idle-never-cost")).toBeNull();
    await choose("idle-choice", "never");
    // €0.0079 an hour × 24.
    expect(screen.getByTestId("idle-never-cost").textContent).toContain("€0.19 a day");
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "https://example.com/demo.git" } });
    await fireEvent.click(screen.getByTestId("create"));
    await screen.findByTestId("error-notice");
    expect(backend.sent).toMatchObject({ request: { provider: "hetzner", idle: { kind: "never" } } });
  });
});

describe("idle servers deleting themselves", () => {
  it("states what the token can do, and asks the core when toggled", async () => {
    const set: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "hetzner_account") return { connected: true, source: "keyring" };
      if (cmd === "hetzner_preferences") return { locations: ["fsn1"], server_types: ["cx23"] };
      if (cmd === "hetzner_catalog") return catalog;
      if (cmd === "hetzner_set_self_delete") {
        set.push(args);
        return null;
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    expect((await screen.findByTestId("self-delete-warning")).textContent).toContain("whole Hetzner project");
    const toggle = (await screen.findByTestId("self-delete-toggle")) as HTMLInputElement;
    expect(toggle.checked).toBe(false);
    await fireEvent.click(toggle);
    expect(set).toEqual([{ on: true }]);
  });
});
