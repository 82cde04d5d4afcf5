import { fireEvent, render, screen, waitFor } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import type { SamError } from "./api";
import type { GitHubRepo, GitHubStatus } from "./api/github";
import { events } from "./bindings";
import { choose, mockBackend, signedOut } from "./testing";

const octo = { login: "octo-user", id: 583231, name: "Octo User" };
const buildApp = { client_id: "Iv23liBUILD", source: "build", has_secret: true, secret_entry: "github/client-secret" } as const;
const refused: SamError = {
  category: "credentials",
  message: "GitHub ended the sign-in: access_denied",
  next_step: "Sign in again and choose Authorize.",
  retryable: false,
  retry_after_secs: null,
  step: null,
  log_ref: null,
};

/** Settings with a GitHub status that `status()` answers (read anew on each call). */
async function openSettings(status: () => GitHubStatus, answer: (cmd: string, args: unknown) => unknown = () => undefined) {
  const calls: { cmd: string; args: unknown }[] = [];
  mockBackend((cmd, args) => {
    calls.push({ cmd, args });
    const found = answer(cmd, args);
    if (found !== undefined) return found;
    if (cmd === "hetzner_account") return { connected: false, source: null };
    if (cmd === "github_status") return status();
    return [];
  });
  render(App);
  await fireEvent.click(await screen.findByTestId("nav-hetzner"));
  return calls;
}

describe("GitHub in Settings → Credentials", () => {
  it("signs in in the browser: waits, offers the address, then shows the account", async () => {
    let account: typeof octo | null = null;
    const calls = await openSettings(
      () => ({ ...signedOut, account, app: buildApp }),
      (cmd) => (cmd === "github_sign_in_browser" ? "https://github.com/login/oauth/authorize?client_id=Iv23liBUILD" : undefined),
    );
    await fireEvent.click(await screen.findByTestId("github-sign-in-browser"));
    const waiting = await screen.findByTestId("github-waiting");
    expect(waiting.textContent).toContain("Waiting for GitHub in your browser…");
    expect(screen.getByTestId("github-sign-in-url").textContent).toBe("https://github.com/login/oauth/authorize?client_id=Iv23liBUILD");
    account = octo;
    await events.gitHubSignInEnded.emit({ account: octo, error: null });
    expect((await screen.findByTestId("github-account")).textContent).toContain("octo-user");
    expect(screen.queryByTestId("github-waiting")).toBeNull();
    expect(calls.map((c) => c.cmd)).toContain("github_sign_in_browser");
  });

  it("shows why a browser sign-in failed", async () => {
    await openSettings(
      () => ({ ...signedOut, app: buildApp }),
      (cmd) => (cmd === "github_sign_in_browser" ? "https://github.com/login/oauth/authorize" : undefined),
    );
    await fireEvent.click(await screen.findByTestId("github-sign-in-browser"));
    await screen.findByTestId("github-waiting");
    await events.gitHubSignInEnded.emit({ account: null, error: refused });
    const shown = await screen.findByTestId("github-error");
    expect(shown.textContent).toContain("access_denied");
    expect(shown.textContent).toContain("Sign in again and choose Authorize.");
    expect(screen.queryByTestId("github-waiting")).toBeNull();
    expect(screen.queryByTestId("github-account")).toBeNull();
  });

  it("says when GitHub no longer accepts the sign-in", async () => {
    await openSettings(() => ({
      ...signedOut,
      account: octo,
      app: buildApp,
      problem: "GitHub no longer accepts SAM's sign-in (it expired or was revoked). Sign in with GitHub again.",
    }));
    expect((await screen.findByTestId("github-problem")).textContent).toContain("Sign in with GitHub again.");
  });

  it("says how the user signed in, what the token reaches, until when, and where it is kept", async () => {
    const expires = 1_900_000_000;
    const refresh = 1_915_000_000;
    await openSettings(() => ({
      ...signedOut,
      account: octo,
      app: buildApp,
      session: { method: "browser", scope: "", expires_at: expires, refresh_expires_at: refresh, renewed_at: expires - 28_800 },
    }));
    expect((await screen.findByTestId("github-account")).textContent).toContain("octo-user");
    const session = screen.getByTestId("github-session").textContent ?? "";
    expect(session).toContain("in the browser");
    expect(session).toContain("the repositories the GitHub app is installed on");
    expect(session).toContain(`expires ${new Date(expires * 1000).toLocaleString()}`);
    expect(session).toContain(`renewed automatically until ${new Date(refresh * 1000).toLocaleString()}`);
    expect(session).toContain("github/access-token");
    expect(screen.getByTestId("github-app").textContent).toContain("Iv23liBUILD");
  });

  it("shows a code sign-in's scope and a token that does not expire", async () => {
    await openSettings(() => ({
      ...signedOut,
      account: octo,
      session: { method: "device", scope: "repo", expires_at: null, refresh_expires_at: null, renewed_at: null },
    }));
    const session = (await screen.findByTestId("github-session")).textContent ?? "";
    expect(session).toContain("with a code");
    expect(session).toContain("repo");
    expect(session).toContain("does not expire");
    expect(session).not.toContain("renewed automatically");
  });

  it("signs out and passes on what GitHub did not do", async () => {
    let account: typeof octo | null = octo;
    await openSettings(
      () => ({ ...signedOut, account, app: { ...buildApp, has_secret: false } }),
      (cmd) => {
        if (cmd !== "github_sign_out") return undefined;
        account = null;
        return { revoked_at_github: false, note: "SAM has no client secret, so it could not revoke the token at GitHub." };
      },
    );
    await fireEvent.click(await screen.findByTestId("github-sign-out"));
    expect((await screen.findByTestId("github-sign-out-note")).textContent).toContain("could not revoke");
    expect(screen.getByTestId("github-signed-out").textContent).not.toContain("Revoked at GitHub.");
    expect(screen.getByTestId("github-sign-in")).toBeTruthy();
    expect(screen.queryByTestId("github-account")).toBeNull();
  });

  it("says when GitHub revoked the token", async () => {
    await openSettings(
      () => ({ ...signedOut, account: octo, app: buildApp }),
      (cmd) => (cmd === "github_sign_out" ? { revoked_at_github: true, note: null } : undefined),
    );
    await fireEvent.click(await screen.findByTestId("github-sign-out"));
    expect((await screen.findByTestId("github-signed-out")).textContent).toContain("Revoked at GitHub.");
    expect(screen.queryByTestId("github-sign-out-note")).toBeNull();
  });

  it("without an app's secret, offers only the code and the own-app form; saving keeps the secret out of the page", async () => {
    const own = { client_id: "Iv23liOWN", source: "own", has_secret: true, secret_entry: "github/client-secret" } as const;
    const calls = await openSettings(
      () => signedOut,
      (cmd) => {
        if (cmd === "github_set_app") return { ...signedOut, app: own };
        if (cmd === "github_forget_app") return signedOut;
        return undefined;
      },
    );
    expect(await screen.findByTestId("github-app-needed")).toBeTruthy();
    expect(screen.queryByTestId("github-sign-in-browser")).toBeNull();
    expect(screen.getByTestId("github-sign-in").textContent).toContain("Sign in with a code");
    await fireEvent.input(screen.getByTestId("github-app-client-id"), { target: { value: " Iv23liOWN " } });
    const secret = screen.getByTestId("github-app-secret") as HTMLInputElement;
    expect(secret.type).toBe("password");
    await fireEvent.input(secret, { target: { value: "very-secret" } });
    await fireEvent.click(screen.getByTestId("github-app-save"));
    await waitFor(() => expect(screen.getByTestId("github-app").textContent).toContain("Iv23liOWN"));
    expect(screen.getByTestId("github-app").textContent).toContain("github/client-secret");
    expect(secret.value).toBe("");
    expect(document.body.textContent).not.toContain("very-secret");
    expect(screen.getByTestId("github-sign-in-browser")).toBeTruthy();
    expect(calls.find((c) => c.cmd === "github_set_app")?.args).toEqual({ clientId: "Iv23liOWN", clientSecret: "very-secret" });
    await fireEvent.click(screen.getByTestId("github-app-forget"));
    await waitFor(() => expect(screen.queryByTestId("github-sign-in-browser")).toBeNull());
    expect(calls.map((c) => c.cmd)).toContain("github_forget_app");
  });
});

const repos: GitHubRepo[] = [
  {
    full_name: "octo-user/secret-project",
    private: true,
    clone_url: "https://github.com/octo-user/secret-project.git",
    default_branch: "trunk",
    description: "Not for everyone",
  },
  { full_name: "octo-user/project", private: false, clone_url: "https://github.com/octo-user/project.git", default_branch: "main", description: null },
];

describe("the repository picker", () => {
  it("searches the user's repositories, marks private ones, and fills the URL and the branch", async () => {
    const searched: unknown[] = [];
    let sent: unknown = null;
    mockBackend((cmd, args) => {
      if (cmd === "github_status") return { ...signedOut, account: octo };
      if (cmd === "github_repos") {
        searched.push(args);
        const query = (args as { query: string }).query;
        const found = repos.filter((r) => r.full_name.includes(query));
        return { repos: found, matched: found.length, total: 2, truncated: false };
      }
      if (cmd === "github_branches") return (args as { fullName: string }).fullName === "octo-user/secret-project" ? ["trunk", "feature"] : ["main"];
      if (cmd === "create_workspace") {
        sent = args;
        throw { ...refused, message: "stop here" };
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    await fireEvent.input(await screen.findByTestId("repo-search"), { target: { value: "secret" } });
    await waitFor(() => expect(searched).toContainEqual({ query: "secret", reload: false }));
    await waitFor(() => expect(screen.getAllByTestId("repo-choice")).toHaveLength(1));
    const choice = screen.getByTestId("repo-choice");
    expect(choice.textContent).toContain("octo-user/secret-project");
    expect(choice.textContent).toContain("Not for everyone");
    expect(choice.querySelector(".private")).not.toBeNull();
    expect(screen.getByTestId("repo-count").textContent).toContain("1 of 2");
    await fireEvent.click(choice);
    expect((screen.getByTestId("repo-url") as HTMLInputElement).value).toBe("https://github.com/octo-user/secret-project.git");
    const branch = (await screen.findByTestId("branch-choice")) as HTMLSelectElement;
    expect([...branch.options].map((o) => o.value)).toEqual(["trunk", "feature"]);
    expect(branch.value).toBe("trunk");
    await choose("branch-choice", "feature");
    await fireEvent.click(screen.getByTestId("create"));
    await screen.findByTestId("error-notice");
    expect(sent).toMatchObject({ request: { repo: "https://github.com/octo-user/secret-project.git", branch: "feature" } });
  });

  it("lists public repositories without the private mark, reloads from GitHub, and still takes a typed URL", async () => {
    const searched: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "github_status") return { ...signedOut, account: octo };
      if (cmd === "github_repos") {
        searched.push(args);
        return { repos: [repos[1]], matched: 1, total: 2, truncated: false };
      }
      return [];
    });
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    const choice = await screen.findByTestId("repo-choice");
    expect(choice.querySelector(".private")).toBeNull();
    await fireEvent.click(screen.getByTestId("repo-reload"));
    expect(searched).toContainEqual({ query: "", reload: true });
    await fireEvent.input(screen.getByTestId("repo-url"), { target: { value: "https://example.com/other.git" } });
    expect((screen.getByTestId("repo-url") as HTMLInputElement).value).toBe("https://example.com/other.git");
    expect(screen.getByTestId("branch")).toBeTruthy();
  });

  it("tells how to pick from GitHub when nobody signed in", async () => {
    mockBackend(() => []);
    render(App);
    await fireEvent.click(await screen.findByTestId("run-local"));
    expect((await screen.findByTestId("repo-picker-hint")).textContent).toContain("Settings → Credentials");
    expect(screen.queryByTestId("repo-search")).toBeNull();
  });
});

describe("sam:// links", () => {
  /** The app, once it has asked for the startup link (so its listeners are up). */
  async function started(startup: unknown) {
    const calls: string[] = [];
    mockBackend((cmd) => {
      calls.push(cmd);
      if (cmd === "take_startup_link") return startup;
      return [];
    });
    render(App);
    await waitFor(() => expect(calls).toContain("take_startup_link"));
    return calls;
  }

  it("opens the create form with the repository and branch of a link that arrives", async () => {
    await started(null);
    await events.openRepoLink.emit({ repo: "https://github.com/octo-user/project.git", branch: "dev" });
    expect(((await screen.findByTestId("repo-url")) as HTMLInputElement).value).toBe("https://github.com/octo-user/project.git");
    expect((screen.getByTestId("branch") as HTMLInputElement).value).toBe("dev");
    await events.openRepoLink.emit({ repo: "https://github.com/octo-user/other.git", branch: null });
    await waitFor(() =>
      expect((screen.getByTestId("repo-url") as HTMLInputElement).value).toBe("https://github.com/octo-user/other.git"),
    );
    expect((screen.getByTestId("branch") as HTMLInputElement).value).toBe("");
  });

  it("follows the link SAM was started with", async () => {
    await started({ kind: "open", repo: "https://github.com/octo-user/project.git", branch: null });
    expect(((await screen.findByTestId("repo-url")) as HTMLInputElement).value).toBe("https://github.com/octo-user/project.git");
  });

  it("says why a link could not be followed, until dismissed", async () => {
    await started(null);
    await events.linkProblem.emit({ error: { ...refused, message: "That link names no repository.", next_step: "Use a sam://open?repo=… link." } });
    const banner = await screen.findByTestId("link-problem");
    expect(banner.textContent).toContain("That link names no repository.");
    expect(banner.textContent).toContain("Use a sam://open?repo=… link.");
    await fireEvent.click(screen.getByTestId("link-problem-dismiss"));
    expect(screen.queryByTestId("link-problem")).toBeNull();
  });

  it("shows a startup link's problem", async () => {
    await started({ kind: "problem", error: refused });
    expect((await screen.findByTestId("link-problem")).textContent).toContain("access_denied");
  });
});
