import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import type { PortsView } from "../../api/ports";
import { mockBackend } from "../../testing";
import PortsPanel from "./PortsPanel.svelte";

describe("the Ports panel", () => {
  it("offers the ports a coding agent printed, and forwards or dismisses each", async () => {
    let view: PortsView = {
      forwards: [],
      listening: [],
      listening_error: null,
      offers: [
        { port: 3000, by: "claude-code" },
        { port: 8080, by: "claude-code" },
      ],
    };
    const calls: [string, unknown][] = [];
    mockBackend((cmd, args) => {
      calls.push([cmd, args]);
      if (cmd === "ports_view") return view;
      if (cmd === "ports_forward") {
        view = { ...view, offers: view.offers.filter((o) => o.port !== 3000) };
        view.forwards = [{ remote: 3000, local: 3000, url: "http://127.0.0.1:3000", error: null }];
        return view.forwards[0];
      }
      if (cmd === "ports_dismiss") {
        view = { ...view, offers: view.offers.filter((o) => o.port !== 8080) };
        return null;
      }
      return [];
    });
    render(PortsPanel, { workspace: "abcdefghijkm" });
    const offer = await screen.findByTestId("printed-3000");
    expect(offer.textContent).toContain("claude-code printed an address on port 3000");

    await fireEvent.click(offer.querySelector("[data-testid=printed-forward]") as HTMLElement);
    await screen.findByTestId("forward-3000");
    expect(screen.queryByTestId("printed-3000")).toBeNull();
    expect(calls).toContainEqual(["ports_forward", { id: "abcdefghijkm", remote: 3000, local: null }]);

    const other = screen.getByTestId("printed-8080");
    await fireEvent.click(other.querySelector("[data-testid=printed-dismiss]") as HTMLElement);
    expect(calls).toContainEqual(["ports_dismiss", { id: "abcdefghijkm", port: 8080 }]);
    await expect.poll(() => screen.queryByTestId("printed-8080")).toBeNull();
  });
});
