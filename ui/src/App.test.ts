import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import { afterEach, describe, expect, it } from "vitest";

import App from "./App.svelte";
import type { SamError, Workspace } from "./api";

afterEach(() => {
  cleanup();
  clearMocks();
});

function workspace(name: string): Workspace {
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
    created_at_ms: 1,
    updated_at_ms: 1,
  };
}

describe("the workspace list", () => {
  it("explains SAM and offers both ways to start when there are no workspaces", async () => {
    mockIPC(() => []);
    render(App);
    expect(await screen.findByTestId("empty-state")).toBeTruthy();
    expect(screen.getByTestId("run-local").textContent?.trim()).toBe("Run on this computer");
    expect(screen.getByTestId("connect-hetzner").textContent?.trim()).toBe("Connect Hetzner");
  });

  it("leads to each start screen and back", async () => {
    mockIPC(() => []);
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    expect(screen.getByTestId("run-local-screen").textContent).toContain("Not available yet");
    await fireEvent.click(screen.getByTestId("back"));
    await fireEvent.click(await screen.findByTestId("connect-hetzner"));
    expect(screen.getByTestId("connect-hetzner-screen").textContent).toContain("Not available yet");
  });

  it("renders names from outside as text, never as markup", async () => {
    const hostile = "<img src=x onerror=alert(1)><b>bold</b>";
    mockIPC(() => [workspace(hostile)]);
    const { container } = render(App);
    const row = await screen.findByTestId("workspace-row");
    expect(row.querySelector(".name")?.textContent).toBe(hostile);
    expect(container.querySelector("img, b")).toBeNull();
  });

  it("shows a failure with its next step and offers a retry when it may help", async () => {
    const busy: SamError = {
      category: "transient",
      message: "The database is busy.",
      next_step: "Try again in a moment.",
      retryable: true,
      retry_after_secs: null,
      step: null,
      log_ref: "3f9a2c10",
    };
    let calls = 0;
    mockIPC(() => {
      calls += 1;
      if (calls === 1) throw busy;
      return [];
    });
    render(App);
    const notice = await screen.findByTestId("error-notice");
    expect(notice.textContent).toContain("The database is busy.");
    expect(notice.textContent).toContain("Try again in a moment.");
    expect(notice.textContent).toContain("3f9a2c10");
    await fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(await screen.findByTestId("empty-state")).toBeTruthy();
  });
});
