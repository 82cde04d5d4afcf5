import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import { claudeCode, mockBackend } from "./testing";

describe("credentials for private repositories", () => {
  it("keeps a host's token, lists only the host, and forgets the typed token", async () => {
    const sent: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "hetzner_account") return { connected: false, source: null };
      if (cmd === "git_set_token") {
        sent.push(args);
        return ["github.com"];
      }
      if (cmd === "git_remove_token") {
        sent.push(args);
        return [];
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    await fireEvent.input(await screen.findByTestId("git-host"), { target: { value: "github.com" } });
    const token = screen.getByTestId("git-token") as HTMLInputElement;
    expect(token.type).toBe("password");
    await fireEvent.input(token, { target: { value: "ghp_secret" } });
    await fireEvent.click(screen.getByTestId("keep-git-token"));
    const listed = await screen.findByTestId("git-hosts");
    expect(listed.textContent).toContain("github.com");
    expect(listed.textContent).not.toContain("ghp_secret");
    expect(token.value).toBe("");
    await fireEvent.click(screen.getByTestId("remove-git-token"));
    expect(sent).toEqual([{ host: "github.com", token: "ghp_secret" }, { host: "github.com" }]);
  });
});

describe("coding agents' keys", () => {
  it("keeps an agent's key, shows only that it is kept, forgets it, and says how to log in instead", async () => {
    const sent: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "hetzner_account") return { connected: false, source: null };
      if (cmd === "agents_catalog") return [claudeCode];
      if (cmd === "agents_keyed") return [];
      if (cmd === "agents_set_key") {
        sent.push(args);
        return ["claude-code"];
      }
      if (cmd === "agents_remove_key") {
        sent.push(args);
        return [];
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    const login = await screen.findByTestId("agent-login");
    expect(login.textContent).toContain("npx --yes @anthropic-ai/claude-code, then /login");
    await fireEvent.click(await screen.findByTestId("add-key"));
    const key = screen.getByTestId("key-input") as HTMLInputElement;
    expect(key.type).toBe("password");
    await fireEvent.input(key, { target: { value: "sk-ant-secret" } });
    await fireEvent.click(screen.getByTestId("save-key"));
    const row = await screen.findByTestId("key-kept");
    expect(row.textContent).toContain("kept in your keyring");
    expect(document.body.innerHTML).not.toContain("sk-ant-secret");
    await fireEvent.click(screen.getByTestId("remove-key"));
    expect(await screen.findByTestId("add-key")).toBeTruthy();
    expect(sent).toEqual([{ agent: "claude-code", key: "sk-ant-secret" }, { agent: "claude-code" }]);
  });
});

describe("GitHub sign-in", () => {
  it("signs in, shows the account, and signs out", async () => {
    const calls: string[] = [];
    mockBackend((cmd) => {
      calls.push(cmd);
      if (cmd === "hetzner_account") return { connected: false, source: null };
      if (cmd === "github_sign_in") return { login: "octo-user", id: 583231, name: "Octo User" };
      if (cmd === "github_sign_out") return null;
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    await fireEvent.click(await screen.findByTestId("github-sign-in"));
    expect((await screen.findByTestId("github-account")).textContent).toContain("octo-user");
    await fireEvent.click(screen.getByTestId("github-sign-out"));
    expect(await screen.findByTestId("github-sign-in")).toBeTruthy();
    expect(calls).toContain("github_sign_out");
  });
});

describe("the settings page", () => {
  it("has a section each for the Hetzner account, credentials, coding agents, SSH access and notifications, with the settings in them", async () => {
    mockBackend((cmd) => {
      if (cmd === "hetzner_account") return { connected: false, source: null };
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("nav-hetzner"));
    const page = await screen.findByTestId("settings-page");
    await screen.findByTestId("do-not-disturb");
    const sections = [...page.querySelectorAll("section[data-testid^='settings-']")];
    expect(sections.map((s) => s.querySelector("h2")?.textContent)).toEqual([
      "Hetzner account",
      "Credentials for private repositories",
      "Coding agents",
      "SSH access for editors",
      "Notifications",
    ]);
    const within = (section: string, testid: string) =>
      screen.getByTestId(section).contains(screen.getByTestId(testid));
    expect(within("settings-hetzner", "connect-hetzner-screen")).toBe(true);
    expect(within("settings-hetzner", "hetzner-token")).toBe(true);
    expect(within("settings-credentials", "credentials-settings")).toBe(true);
    expect(within("settings-credentials", "github")).toBe(true);
    expect(within("settings-agents", "agents-settings")).toBe(true);
    expect(within("settings-ssh", "ssh-access")).toBe(true);
    expect(within("settings-notifications", "notification-settings")).toBe(true);
    expect(within("settings-notifications", "do-not-disturb")).toBe(true);
    const contents = [...page.querySelectorAll("nav a")].map((a) => a.getAttribute("href"));
    expect(contents).toEqual([
      "#settings-hetzner",
      "#settings-credentials",
      "#settings-agents",
      "#settings-ssh",
      "#settings-notifications",
    ]);
  });

  it("is where Connect Hetzner leads, and Back returns to the workspaces", async () => {
    mockBackend((cmd) => {
      if (cmd === "hetzner_account") return { connected: false, source: null };
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("connect-hetzner"));
    expect(await screen.findByTestId("settings-page")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("back"));
    expect(await screen.findByTestId("empty-state")).toBeTruthy();
  });
});
