import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import { MAX_RETRIES, type SamError } from "../../api";
import "../../testing";
import ErrorCard from "./ErrorCard.svelte";

const noCapacity: SamError = {
  category: "capacity",
  message: "Hetzner has no cx23 left in fsn1.",
  next_step: "Retry later, or choose another location.",
  retryable: true,
  retry_after_secs: null,
  step: "server",
  log_ref: null,
};

const noRepository: SamError = {
  ...noCapacity,
  category: "workspace-build",
  message: "There is no repository at that URL.",
  next_step: "Check the URL, then delete this workspace and create it again.",
  retryable: false,
  step: "clone",
};

describe("the error card", () => {
  it("offers Retry, and counts retries, when the core says a retry can help", async () => {
    let retried = 0;
    render(ErrorCard, { error: noCapacity, retries: 1, onRetry: () => (retried += 1) });
    expect(screen.getByTestId("retry-count").textContent).toBe(`Retried 1 of ${MAX_RETRIES} times`);
    await fireEvent.click(screen.getByTestId("retry"));
    expect(retried).toBe(1);
    expect(screen.queryByTestId("retry-unavailable")).toBeNull();
  });

  it("offers no Retry and no retry count for an error a retry cannot fix, and says so", () => {
    render(ErrorCard, { error: noRepository, retries: 0, onRetry: () => {} });
    expect(screen.getByTestId("error-next").textContent).toContain("Check the URL");
    expect(screen.queryByTestId("retry")).toBeNull();
    expect(screen.queryByTestId("retry-count")).toBeNull();
    expect(screen.getByTestId("retry-unavailable").textContent).toContain("will not help");
  });

  it("offers no Retry once the core's cap is reached", () => {
    render(ErrorCard, { error: noCapacity, retries: MAX_RETRIES, onRetry: () => {} });
    expect(screen.queryByTestId("retry")).toBeNull();
    expect(screen.getByTestId("retry-count").textContent).toContain(`Retried ${MAX_RETRIES} of ${MAX_RETRIES} times, the most SAM allows`);
  });

  it("says when to try again when the core knows (a spent rate limit)", () => {
    render(ErrorCard, { error: { ...noCapacity, retry_after_secs: 300 }, retries: 0, onRetry: () => {} });
    expect(screen.getByTestId("retry-after").textContent).toMatch(/^Try again in about 5 minutes/);
  });
});
