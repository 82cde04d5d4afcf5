import { render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import type { MachineDetails } from "../../api";
import "../../testing";
import MachineCard from "./MachineCard.svelte";

const cost = { hourly_centicents: 79, monthly_centicents: 61_840, so_far_centicents: 158, currency: "EUR" };
const running: MachineDetails = {
  facts: [
    { key: "server", label: "Server", value: "sam-abc (cx23)", since_ms: Date.UTC(2026, 11, 1, 9) },
    { key: "location", label: "Location", value: "fsn1", since_ms: null },
    { key: "ip", label: "Address", value: "192.0.2.7", since_ms: null },
  ],
  cost,
  removed_on_delete: [],
};

describe("the machine card", () => {
  it("shows whatever facts the provider gives, in its order, with their times", () => {
    render(MachineCard, { machine: running, spent: null });
    const labels = [...document.querySelectorAll("dt")].map((dt) => dt.textContent);
    expect(labels).toEqual(["Server", "Location", "Address", "Costs"]);
    expect(screen.getByTestId("machine-server").textContent).toMatch(/^sam-abc \(cx23\), since /);
    expect(screen.getByTestId("machine-ip").textContent).toBe("192.0.2.7");
    expect(screen.getByTestId("machine-cost").textContent).toContain("per hour now");
  });

  it("leaves out the hourly price while there is no compute, and the costs when nothing is billed", () => {
    const { unmount } = render(MachineCard, {
      machine: { ...running, cost: { ...cost, hourly_centicents: null } },
      spent: null,
    });
    expect(screen.getByTestId("machine-cost").textContent).not.toContain("per hour");
    unmount();
    render(MachineCard, { machine: { ...running, cost: null }, spent: null });
    expect(screen.queryByTestId("machine-cost")).toBeNull();
  });
});
