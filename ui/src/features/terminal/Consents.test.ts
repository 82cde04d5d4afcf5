import { fireEvent, render, screen } from "@testing-library/svelte";
import { describe, expect, it } from "vitest";

import "../../testing";
import Consents from "./Consents.svelte";

function setup() {
  const sent: string[] = [];
  const copied: string[] = [];
  let answered = 0;
  const { component } = render(Consents, {
    // A shell prompt: no bracketed paste, which is when SAM asks before pasting several lines.
    modes: () => 0,
    send: (bytes: string) => sent.push(bytes),
    copy: (text: string) => copied.push(text),
    onAnswered: () => (answered += 1),
  });
  return { component, sent, copied, answered: () => answered };
}

describe("the terminal's consent questions", () => {
  it("pastes several lines only after the user says yes, each line typed as Enter", async () => {
    const { component, sent, answered } = setup();
    component.askPaste("echo one\necho two");
    const dialog = await screen.findByTestId("paste-confirm");
    expect(dialog.textContent).toContain("Paste 2 lines into the shell?");
    expect(sent).toEqual([]);
    await fireEvent.click(screen.getByTestId("paste-confirm-yes"));
    expect(sent).toEqual(["echo one\recho two"]);
    expect(screen.queryByTestId("paste-confirm")).toBeNull();
    expect(answered()).toBe(1);
  });

  it("puts a program's text on the clipboard only when allowed", async () => {
    const { component, copied } = setup();
    component.askClipboard("secret");
    expect((await screen.findByTestId("clipboard-consent")).textContent).toContain("6 characters");
    await fireEvent.click(screen.getByTestId("clipboard-deny"));
    expect(copied).toEqual([]);
    component.askClipboard("wanted");
    await fireEvent.click(await screen.findByTestId("clipboard-allow"));
    expect(copied).toEqual(["wanted"]);
  });
});
