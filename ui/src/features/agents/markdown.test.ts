import { describe, expect, it } from "vitest";

import { PARA_LINES, highlight, parseInline, parseMarkdown, parseMore, type Parsed } from "./markdown";

describe("markdown", () => {
  it("parses headings, paragraphs, lists and fenced code", () => {
    const blocks = parseMarkdown("# Findings\n\nThe **bug** is in `main.rs`:\n\n```rust\nfn main() {}\n```\n\n- one\n- two\n");
    expect(blocks.map((b) => b.kind)).toEqual(["heading", "para", "code", "list"]);
    expect(blocks[1]).toEqual({
      kind: "para",
      inlines: [
        { kind: "text", text: "The " },
        { kind: "strong", text: "bug" },
        { kind: "text", text: " is in " },
        { kind: "code", text: "main.rs" },
        { kind: "text", text: ":" },
      ],
    });
    expect(blocks[2]).toEqual({ kind: "code", lang: "rust", text: "fn main() {}" });
    expect(blocks[3]).toMatchObject({ kind: "list", ordered: false, items: [[{ text: "one" }], [{ text: "two" }]] });
  });

  it("continues a streaming reply's parse to the same blocks as a parse of the whole, reusing the settled ones", () => {
    // A seeded generator: the same cases on every run.
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pieces = ["chunk ", "word", "\n", "\n\n", "- item\n", "1. one\n", "# Head\n", "```rust\n", "```\n", "> q\n", "**b**", "`c`", "   ", "~~~\n"];
    for (let round = 0; round < 200; round += 1) {
      let text = "";
      let parsed: Parsed | null = null;
      for (let step = 0; step < 60; step += 1) {
        const before: Parsed | null = parsed;
        for (let n = random(4) + 1; n > 0; n -= 1) text += pieces[random(pieces.length)];
        parsed = parseMore(before, text);
        expect(parsed.blocks).toEqual(parseMarkdown(text));
        // Every block but the last two is the very object parsed before.
        if (before && before.blocks.length >= 3) {
          const settled = before.blocks.length - 2;
          expect(parsed.blocks.slice(0, settled).every((b, i) => b === before.blocks[i])).toBe(true);
        }
      }
    }
    // Text that is not a continuation is parsed afresh.
    const first = parseMore(null, "a\n\nb\n\nc\n\nd");
    expect(parseMore(first, "x").blocks).toEqual(parseMarkdown("x"));
  });

  it("cuts a long paragraph into continued blocks, whose words are all kept", () => {
    const lines = Array.from({ length: PARA_LINES * 2 + 3 }, (_, i) => `chunk ${i + 1}`);
    const blocks = parseMarkdown(lines.join("\n") + "\n\nafter");
    expect(blocks.map((b) => (b.kind === "para" ? Boolean(b.cont) : b.kind))).toEqual([false, true, true, false]);
    const words = blocks.flatMap((b) => (b.kind === "para" ? b.inlines.map((i) => i.text) : [])).join(" ");
    expect(words).toBe([...lines, "after"].join(" "));
  });

  it("treats an unclosed fence, as a reply still streams, as code to the end", () => {
    expect(parseMarkdown("see:\n```\nlet x = 1;\nlet y")).toEqual([
      { kind: "para", inlines: [{ kind: "text", text: "see:" }] },
      { kind: "code", lang: "", text: "let x = 1;\nlet y" },
    ]);
  });

  it("keeps markup as text, never as HTML", () => {
    expect(parseInline("<img src=x onerror=alert(1)>")).toEqual([
      { kind: "text", text: "<img src=x onerror=alert(1)>" },
    ]);
    expect(parseInline("[docs](https://example.com)")).toEqual([
      { kind: "link", text: "docs", href: "https://example.com" },
    ]);
  });

  it("colours keywords, strings, comments and numbers and keeps every character", () => {
    const code = 'let x = "a"; // note\nreturn 42';
    const tokens = highlight(code, "rust");
    expect(tokens.map((t) => t.text).join("")).toBe(code);
    expect(tokens.filter((t) => t.cls !== "").map((t) => [t.cls, t.text])).toEqual([
      ["kw", "let"],
      ["str", '"a"'],
      ["com", "// note"],
      ["kw", "return"],
      ["num", "42"],
    ]);
    expect(highlight("# comment", "sh")).toEqual([{ cls: "com", text: "# comment" }]);
  });
});
