// Failures of lookups that only add detail are shown where their answer would be, never dropped.

import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import App from "./App.svelte";
import type { SamError, Workspace } from "./api";
import { reportError } from "./lib/report";
import { mockBackend, workspace } from "./testing";

const rateLimited: SamError = {
  category: "transient",
  message: "Hetzner asked SAM to slow down.",
  next_step: "SAM asks again in a minute.",
  retryable: true,
  retry_after_secs: 60,
  step: null,
  log_ref: null,
};

const onHetzner: Workspace = { ...workspace("demo"), provider: "hetzner", status: "stopped" };

describe("a failed lookup", () => {
  it("of a workspace's server says so on its page, with the reason and the next step", async () => {
    mockBackend((cmd) => {
      if (cmd === "list_workspaces") return [onHetzner];
      if (cmd === "get_workspace") return onHetzner;
      if (cmd === "workspace_machine") throw rateLimited;
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByText("demo"));
    const shown = await screen.findByTestId("machine-error");
    expect(shown.textContent).toContain("The server's details are unavailable.");
    expect(shown.textContent).toContain("Hetzner asked SAM to slow down.");
    expect(shown.textContent).toContain("SAM asks again in a minute.");
    expect(screen.queryByTestId("machine")).toBeNull();
  });

  it("of a workspace's costs says so on its page", async () => {
    mockBackend((cmd) => {
      if (cmd === "list_workspaces") return [onHetzner];
      if (cmd === "get_workspace") return onHetzner;
      if (cmd === "spend") throw rateLimited;
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByText("demo"));
    const shown = await screen.findByTestId("spend-error");
    expect(shown.textContent).toContain("What this workspace was billed is unavailable.");
    expect(shown.textContent).toContain("SAM asks again in a minute.");
  });

  it("of the costs says so under the workspace list", async () => {
    mockBackend((cmd) => {
      if (cmd === "list_workspaces") return [onHetzner];
      if (cmd === "spend") throw rateLimited;
      return [];
    });
    render(App);
    const shown = await screen.findByTestId("spend-error");
    expect(shown.textContent).toContain("The costs are unavailable.");
    expect(shown.textContent).toContain("Hetzner asked SAM to slow down.");
    expect(screen.getByTestId("workspace-row")).toBeTruthy();
  });

  it("of the tray says so in the notification settings", async () => {
    mockBackend((cmd) => {
      if (cmd === "hetzner_account") return { connected: false, source: null };
      if (cmd === "tray_status") throw rateLimited;
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    const shown = await screen.findByTestId("tray-error");
    expect(shown.textContent).toContain("Whether SAM has a tray icon is unknown.");
    expect(screen.queryByTestId("tray-status")).toBeNull();
  });

  it("of the link SAM was started with shows in the link banner", async () => {
    mockBackend((cmd) => {
      if (cmd === "take_startup_link") throw rateLimited;
      return [];
    });
    render(App);
    const banner = await screen.findByTestId("link-problem");
    expect(banner.textContent).toContain("Hetzner asked SAM to slow down.");
  });
});

describe("a failure with nowhere to show", () => {
  it("is logged once with its reason, however often it happens", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      reportError("detach terminal 1 of workspace abc", rateLimited);
      reportError("detach terminal 1 of workspace abc", rateLimited);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0]?.[0]).toBe(
        "SAM could not detach terminal 1 of workspace abc: Hetzner asked SAM to slow down. SAM asks again in a minute.",
      );
      reportError("detach terminal 2 of workspace abc", rateLimited);
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
    }
  });
});
