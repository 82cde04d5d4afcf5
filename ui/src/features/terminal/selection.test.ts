import { describe, expect, it, vi } from "vitest";

import type { SelectRequest } from "../../api/terminal";
import { TerminalSelection } from "./selection";

/** A selection whose core answers `selected` to every request, recording requests, copies and failures. */
function setup(selected: () => Promise<string | null>) {
  const requests: SelectRequest[] = [];
  const copied: string[] = [];
  const failed: unknown[] = [];
  const selection = new TerminalSelection(
    (request) => {
      requests.push(request);
      return selected();
    },
    async (text) => {
      copied.push(text);
    },
    (err) => failed.push(err),
  );
  return { selection, requests, copied, failed };
}

describe("selecting with the mouse", () => {
  it("copies what a drag selected when the button comes up, and nothing after a plain click", async () => {
    const { selection, requests, copied } = setup(async () => "selected text");
    selection.start("word", 1, 2);
    expect(selection.dragging).toBe(true);
    selection.extend(1, 5);
    await selection.finish(1, 7);
    expect(selection.dragging).toBe(false);
    expect(requests).toEqual([
      { action: "start", kind: "word", row: 1, col: 2 },
      { action: "extend", row: 1, col: 5 },
      { action: "extend", row: 1, col: 7 },
    ]);
    expect(copied).toEqual(["selected text"]);

    const click = setup(async () => "");
    click.selection.start("simple", 0, 0);
    await click.selection.finish(0, 0);
    expect(click.copied).toEqual([]);
  });

  it("passes on a failure instead of dropping it", async () => {
    const refused = new Error("the terminal is gone");
    const { selection, copied, failed } = setup(() => Promise.reject(refused));
    await selection.copy();
    selection.clear();
    await vi.waitFor(() => expect(failed).toEqual([refused, refused]));
    expect(copied).toEqual([]);
  });
});
