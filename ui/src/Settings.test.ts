import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import { mockBackend } from "./testing";

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
