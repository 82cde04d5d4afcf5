import { describe, expect, it } from "vitest";

import { PARA_LINES, highlight, parseInline, parseMarkdown } from "./markdown";

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
