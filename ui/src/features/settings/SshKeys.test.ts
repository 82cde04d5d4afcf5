import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";

import { mockBackend } from "../../testing";
import SshKeys from "./SshKeys.svelte";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uta2V5 me@laptop";

describe("SSH keys for Hetzner servers", () => {
  it("adds a key, lists it, removes it, and says why a bad one is refused", async () => {
    let keys: string[] = [];
    const calls: unknown[] = [];
    mockBackend((cmd, args) => {
      if (cmd === "hetzner_ssh_keys") return [...keys];
      if (cmd === "hetzner_add_ssh_key") {
        calls.push(args);
        const key = (args as { key: string }).key;
        if (!key.startsWith("ssh-")) {
          throw {
            category: "invalid-input",
            message: "The SSH key starting \"nope\" is not a single-line OpenSSH public key.",
            next_step: "Paste the one line of your .pub file.",
            retryable: false,
            retry_after_secs: null,
            step: null,
            log_ref: null,
          };
        }
        keys = [key];
        return [...keys];
      }
      if (cmd === "hetzner_remove_ssh_key") {
        calls.push(args);
        keys = [];
        return [];
      }
      return null;
    });
    render(SshKeys);
    expect(await screen.findByTestId("ssh-keys-none")).toBeTruthy();

    const input = screen.getByTestId("ssh-key-input") as HTMLInputElement;
    await fireEvent.input(input, { target: { value: "nope" } });
    await fireEvent.submit(input.closest("form") as HTMLFormElement);
    expect(await screen.findByText(/not a single-line OpenSSH public key/)).toBeTruthy();

    await fireEvent.input(input, { target: { value: KEY } });
    await fireEvent.submit(input.closest("form") as HTMLFormElement);
    expect((await screen.findByTestId("ssh-key")).textContent).toContain("me@laptop");
    await vi.waitFor(() => expect(input.value).toBe(""));

    await fireEvent.click(screen.getByTestId("ssh-key-remove"));
    expect(await screen.findByTestId("ssh-keys-none")).toBeTruthy();
    expect(calls).toEqual([{ key: "nope" }, { key: KEY }, { key: "1" }]);
  });
});
