import { mockIPC } from "@tauri-apps/api/mocks";
import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import type { SamError, Workspace } from "./api";
import { events } from "./bindings";
import { catalog, choose, mockBackend, mockHetznerCreate, workspace } from "./testing";

describe("the workspace list", () => {
  it("explains SAM and offers both ways to start when there are no workspaces", async () => {
    mockBackend(() => []);
    render(App);
    expect(await screen.findByTestId("empty-state")).toBeTruthy();
    expect(screen.getByTestId("run-local").textContent?.trim()).toBe("Run on this computer");
    expect(screen.getByTestId("connect-hetzner").textContent?.trim()).toBe("Connect Hetzner");
  });

  it("leads to each start screen and back", async () => {
    mockBackend(() => []);
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    expect(screen.getByTestId("runs-as-you").textContent).toContain("runs as you");
    expect(screen.getByTestId("repo-url")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("back"));
    await fireEvent.click(await screen.findByTestId("connect-hetzner"));
    expect(screen.getByTestId("connect-hetzner-screen").textContent).toContain("keyring");
    expect(screen.getByTestId("hetzner-token")).toBeTruthy();
  });

  it("checks a Hetzner token, says where it is kept, and forgets it in the page", async () => {
    const calls: string[] = [];
    mockBackend((cmd, args) => {
      calls.push(cmd);
      if (cmd === "hetzner_account") return { connected: false, source: null };
      if (cmd === "hetzner_catalog") return catalog;
      if (cmd === "hetzner_preferences") return { locations: ["fsn1"], server_types: ["cx23"] };
      if (cmd === "hetzner_set_token") {
        expect((args as { token: string }).token).toBe("secret-token");
        return { connected: true, source: "keyring" };
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("connect-hetzner"));
    const field = (await screen.findByTestId("hetzner-token")) as HTMLInputElement;
    expect(field.type).toBe("password");
    await fireEvent.input(field, { target: { value: "secret-token" } });
    await fireEvent.submit(field.closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("hetzner-status")).textContent).toContain("keyring");
    expect(field.value).toBe("");
    expect(calls).toContain("hetzner_set_token");
  });

  it("renders names from outside as text, never as markup", async () => {
    const hostile = "<img src=x onerror=alert(1)><b>bold</b>";
    mockBackend(() => [workspace(hostile)]);
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
    mockBackend(() => {
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

describe("creating a workspace", () => {
  it("sends the form, then shows the new workspace's page with its log", async () => {
    const created = workspace("demo");
    let sent: unknown = null;
    mockBackend((cmd, args) => {
      if (cmd === "create_workspace") {
        sent = args;
        return { ...created, status: "creating" };
      }
      if (cmd === "get_workspace") return { ...created, status: "creating" };
      if (cmd === "workspace_events")
        return [{ seq: 1, at_ms: 0, step: "clone", level: "info", message: "Cloning into '.'..." }];
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "https://example.com/demo.git" } });
    await fireEvent.click(screen.getByTestId("create"));
    expect(await screen.findByTestId("workspace-page")).toBeTruthy();
    expect(sent).toEqual({
      request: {
        repo: "https://example.com/demo.git",
        name: null,
        branch: null,
        provider: "local",
        placement: null,
        idle: { kind: "default" },
      },
    });
    expect((await screen.findAllByTestId("log-line"))[0]?.textContent).toContain("Cloning into");
  });

  it("shows a refused URL's error in the form", async () => {
    const refused: SamError = {
      category: "invalid-input",
      message: "\"git@github.com:o/r.git\" is an SSH URL; workspaces have no SSH key to clone with.",
      next_step: "Use the https form instead: https://github.com/o/r.git",
      retryable: false,
      retry_after_secs: null,
      step: null,
      log_ref: null,
    };
    mockBackend((cmd) => {
      if (cmd === "create_workspace") throw refused;
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "git@github.com:o/r.git" } });
    await fireEvent.click(screen.getByTestId("create"));
    const notice = await screen.findByTestId("error-notice");
    expect(notice.textContent).toContain("Use the https form instead");
  });
});

describe("the create form beside the list", () => {
  it("opens beside the workspaces, keeps what was typed when asked for again, and closes", async () => {
    mockBackend((cmd) => (cmd === "list_workspaces" ? [workspace("demo")] : []));
    render(App);
    await fireEvent.click(await screen.findByTestId("new-workspace"));
    const form = await screen.findByTestId("new-workspace-screen");
    expect(screen.getByTestId("workspace-list")).toBeTruthy();
    expect(form.closest("aside")?.getAttribute("aria-label")).toBe("New workspace");
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "https://example.com/typed.git" } });
    await fireEvent.click(screen.getByTestId("new-workspace"));
    expect((screen.getByTestId("repo-url") as HTMLInputElement).value).toBe("https://example.com/typed.git");
    await fireEvent.click(screen.getByTestId("back"));
    expect(screen.queryByTestId("new-workspace-screen")).toBeNull();
    expect(screen.getByTestId("workspace-row")).toBeTruthy();
  });

  it("is opened by a sam://open link beside the list, from any page", async () => {
    mockBackend((cmd) => (cmd === "list_workspaces" ? [workspace("demo")] : []));
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-resources"));
    await events.openRepoLink.emit({ repo: "https://github.com/octo-user/project.git", branch: "dev" });
    expect(((await screen.findByTestId("repo-url")) as HTMLInputElement).value).toBe("https://github.com/octo-user/project.git");
    expect(await screen.findByTestId("workspace-list")).toBeTruthy();
  });
});

describe("a failed workspace", () => {
  it("shows the error card with the next step and a Retry that calls the backend", async () => {
    const failed: Workspace = {
      ...workspace("broken"),
      status: "error",
      retry_count: 1,
      error: {
        category: "workspace-build",
        message: "The repository could not be cloned.",
        next_step: "Read the log, then retry.",
        retryable: true,
        retry_after_secs: null,
        step: "clone",
        log_ref: null,
      },
    };
    const calls: string[] = [];
    mockBackend((cmd, args) => {
      calls.push(cmd);
      if (cmd === "list_workspaces") return [failed];
      if (cmd === "get_workspace") return failed;
      if (cmd === "workspace_action") return (args as { action: string }).action === "retry" ? null : null;
      return [];
    });
    render(App);
    const row = await screen.findByTestId("workspace-row");
    await fireEvent.click(row.querySelector("button") as HTMLButtonElement);
    const card = await screen.findByTestId("error-card");
    expect(card.textContent).toContain("Workspace build");
    expect(card.textContent).toContain("Read the log, then retry.");
    expect(screen.getByTestId("retry-count").textContent).toBe("Retried 1 of 3 times");
    await fireEvent.click(screen.getByTestId("retry"));
    expect(calls).toContain("workspace_action");
  });
});

describe("Hetzner", () => {
  it("shows the price of the chosen server type and location before creating, and sends the choice", async () => {
    const backend = mockHetznerCreate("hel1");
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    await choose("provider", "hetzner");
    const price = await screen.findByTestId("price");
    expect(price.textContent).toContain("€0.0081 per hour");
    expect(price.textContent).toContain("€5.10 per month");
    expect(price.textContent).toContain("€1.14 per month");
    await choose("location", "fsn1");
    expect(screen.getByTestId("price").textContent).toContain("€0.0079 per hour");
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "https://example.com/demo.git" } });
    await fireEvent.click(screen.getByTestId("create"));
    await screen.findByTestId("error-notice");
    expect(backend.sent).toMatchObject({ request: { provider: "hetzner", placement: { location: "fsn1", server_type: "cx23" } } });
  });

  it("reorders the location and server type preferences and saves them", async () => {
    let saved: unknown = null;
    const twoTypes = {
      ...catalog,
      server_types: [
        ...catalog.server_types,
        { ...catalog.server_types[0], name: "cx33", cores: 4, memory_gb: 8 },
      ],
    };
    mockBackend((cmd, args) => {
      if (cmd === "hetzner_account") return { connected: true, source: "keyring" };
      if (cmd === "hetzner_catalog") return twoTypes;
      if (cmd === "hetzner_preferences") return { locations: ["fsn1"], server_types: ["cx23", "cx33"] };
      if (cmd === "hetzner_set_preferences") {
        saved = args;
        return (args as { preferences: unknown }).preferences;
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("connect-hetzner"));
    await fireEvent.click(await screen.findByLabelText("Move cx33 up"));
    await choose("prefs-add-locations", "hel1");
    await fireEvent.click(screen.getByTestId("prefs-save"));
    expect(await screen.findByTestId("prefs-saved")).toBeTruthy();
    expect(saved).toEqual({ preferences: { locations: ["fsn1", "hel1"], server_types: ["cx33", "cx23"] } });
  });

  it("warns on the list about resources SAM does not know, with their cost", async () => {
    mockIPC((cmd) => {
      if (cmd === "hetzner_last_resources")
        return {
          unknown: [
            { kind: "server", id: 1, name: "sam-x", location: "fsn1", workspace: "x", installation: "i", monthly_centicents: 50_400 },
            { kind: "volume", id: 2, name: "sam-x", location: "fsn1", workspace: "x", installation: "i", monthly_centicents: 11_440 },
          ],
          foreign: [],
          vanished: [],
        };
      return [];
    });
    render(App);
    const banner = await screen.findByTestId("orphans-banner");
    expect(banner.textContent).toContain("2 resources");
    expect(banner.textContent).toContain("€6.18 per month");
  });
});
