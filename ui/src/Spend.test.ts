import { render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import App from "./App.svelte";
import { mockBackend, workspace } from "./testing";

describe("spend", () => {
  it("shows each workspace's cost this month and so far, and the month's total", async () => {
    mockBackend((cmd) => {
      if (cmd === "list_workspaces") return [{ ...workspace("demo"), provider: "hetzner" }];
      if (cmd === "spend")
        return {
          currency: "EUR",
          month_start_ms: 0,
          month_to_date_centicents: 12_345,
          workspaces: [
            { workspace: "abcdefghijkm", so_far_centicents: 50_400, this_month_centicents: 7_900 },
            { workspace: "deletedwsaaa", so_far_centicents: 4_445, this_month_centicents: 4_445 },
          ],
        };
      return [];
    });
    render(App);
    expect((await screen.findByTestId("spend-month")).textContent).toBe("€0.79");
    expect(screen.getByTestId("spend-so-far").textContent).toBe("€5.04");
    expect(screen.getByTestId("spend-total").textContent).toContain("€1.23");
  });

  it("shows no cost columns while nothing was billed", async () => {
    mockBackend((cmd) => (cmd === "list_workspaces" ? [workspace("demo")] : []));
    render(App);
    await screen.findByTestId("workspace-row");
    expect(screen.queryByTestId("spend-total")).toBeNull();
    expect(screen.queryByTestId("spend-month")).toBeNull();
  });
});
