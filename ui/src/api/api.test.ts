import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, describe, expect, it } from "vitest";

import { ApiError, listWorkspaces, type SamError } from ".";

const notFound: SamError = {
  category: "invalid-input",
  message: "There is no workspace abc.",
  next_step: "Refresh the list.",
  retryable: false,
  retry_after_secs: null,
  step: null,
  log_ref: null,
};

afterEach(() => clearMocks());

describe("the API layer", () => {
  it("returns a command's value", async () => {
    mockIPC((cmd) => (cmd === "list_workspaces" ? [] : undefined));
    await expect(listWorkspaces()).resolves.toEqual([]);
  });

  it("throws the backend's error shape unchanged", async () => {
    mockIPC(() => {
      throw notFound;
    });
    const err = await listWorkspaces().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).detail).toEqual(notFound);
  });

  it("turns a framework rejection (a bare string) into an internal error", async () => {
    mockIPC(() => {
      throw "command list_workspaces not found";
    });
    const err = (await listWorkspaces().catch((e: unknown) => e)) as ApiError;
    expect(err.detail.category).toBe("internal");
    expect(err.detail.message).toContain("command list_workspaces not found");
    expect(err.detail.next_step).not.toBe("");
  });
});
