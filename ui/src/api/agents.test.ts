import { describe, expect, it } from "vitest";

import { howItStarts } from "./agents";

describe("how an agent starts", () => {
  it("names the npm package, its arguments and the Node.js it needs", () => {
    expect(howItStarts({ npx: { package: "@google/gemini-cli", args: ["--acp"], nodeMin: 20 } })).toBe(
      "npm @google/gemini-cli (--acp), Node.js 20 or later",
    );
    expect(howItStarts({ npx: { package: "opencode-ai" } })).toBe("npm opencode-ai");
  });

  it("shows a command as it would be typed", () => {
    expect(howItStarts({ command: { command: "my-agent", args: ["--acp", "fast"] } })).toBe("my-agent --acp fast");
  });
});
