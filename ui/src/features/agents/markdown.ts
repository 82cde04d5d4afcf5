// Markdown as coding agents write it, parsed into blocks the session view renders as elements
// (never as HTML: nothing an agent writes becomes markup). Headings, paragraphs, lists, quotes
// and fenced code; inline code, bold, italics and links. An unclosed fence (a reply still
// streaming) is code to the end. A long paragraph is cut every `PARA_LINES` source lines into
// blocks marked `cont`, so the view lays out and repaints only the blocks in sight (a reply of
// thousands of lines stays smooth) and a streaming reply re-renders only its last block.

export type Inline =
  | { kind: "text"; text: string }
  | { kind: "code"; text: string }
  | { kind: "strong"; text: string }
  | { kind: "em"; text: string }
  | { kind: "link"; text: string; href: string };

export type Block =
  | { kind: "heading"; level: number; inlines: Inline[] }
  | { kind: "para"; inlines: Inline[]; cont?: true }
  | { kind: "quote"; inlines: Inline[] }
  | { kind: "list"; ordered: boolean; items: Inline[][] }
  | { kind: "code"; lang: string; text: string };

/** The most source lines one paragraph block holds; a longer paragraph continues in the next. */
export const PARA_LINES = 40;

export function parseMarkdown(source: string): Block[] {
  return parseFrom(source, 0, false).blocks;
}

/** A parse that a longer text starting with the same `source` can continue (see [`parseMore`]). */
export interface Parsed {
  source: string;
  blocks: Block[];
  /** Where each block's first line starts in `source`. */
  starts: number[];
}

/**
 * Parses `source`, reusing what `before` parsed when `source` only adds to its text (a reply
 * streaming in): every block but the last two stays as it was — the same objects, so the view
 * leaves them alone — and only the text from the second-to-last block on is parsed again. (The
 * last block may grow; the one before it may take in what follows, as a list takes a new item.)
 */
export function parseMore(before: Parsed | null, source: string): Parsed {
  if (!before || before.blocks.length < 3 || !source.startsWith(before.source)) {
    return parseFrom(source, 0, false);
  }
  const keep = before.blocks.length - 2;
  const from = before.starts[keep] ?? 0;
  const first = before.blocks[keep];
  const rest = parseFrom(source, from, first?.kind === "para" && first.cont === true);
  return {
    source,
    blocks: before.blocks.slice(0, keep).concat(rest.blocks),
    starts: before.starts.slice(0, keep).concat(rest.starts),
  };
}

/** Parses `source` from offset `from` (the start of a line); `cont` when a paragraph cut at
 * `PARA_LINES` continues there. */
function parseFrom(source: string, from: number, cont: boolean): Parsed {
  const lines = source.slice(from).split("\n");
  const blocks: Block[] = [];
  const starts: number[] = [];
  let para: string[] = [];
  let paraStart = from;
  // Where the line `next` returns last starts, and where the one after it starts.
  let lineStart = from;
  let offset = from;
  const open = (start: number) => {
    starts.push(start);
  };
  const flush = (continues = false) => {
    if (para.length > 0) {
      const inlines = parseInline(para.join(" "));
      open(paraStart);
      blocks.push(cont ? { kind: "para", inlines, cont: true } : { kind: "para", inlines });
    }
    para = [];
    cont = continues;
  };
  let i = 0;
  const next = (): string | undefined => {
    const line = lines[i++];
    lineStart = offset;
    if (line !== undefined) offset += line.length + 1;
    return line;
  };
  for (let line = next(); line !== undefined; line = next()) {
    const fence = /^\s*(```|~~~)\s*([\w+-]*)/.exec(line);
    if (fence) {
      flush();
      open(lineStart);
      const marker = fence[1] ?? "```";
      const code: string[] = [];
      for (let inner = next(); inner !== undefined && !inner.trimStart().startsWith(marker); inner = next()) {
        code.push(inner);
      }
      blocks.push({ kind: "code", lang: (fence[2] ?? "").toLowerCase(), text: code.join("\n") });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      open(lineStart);
      blocks.push({ kind: "heading", level: (heading[1] ?? "#").length, inlines: parseInline(heading[2] ?? "") });
      continue;
    }
    const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (item) {
      flush();
      const ordered = /\d/.test(item[1] ?? "");
      const inlines = parseInline(item[2] ?? "");
      const last = blocks.at(-1);
      if (last && last.kind === "list" && last.ordered === ordered) last.items.push(inlines);
      else {
        open(lineStart);
        blocks.push({ kind: "list", ordered, items: [inlines] });
      }
      continue;
    }
    const quote = /^>\s?(.*)$/.exec(line);
    if (quote) {
      flush();
      open(lineStart);
      blocks.push({ kind: "quote", inlines: parseInline(quote[1] ?? "") });
      continue;
    }
    if (line.trim() === "") flush();
    else {
      if (para.length === 0) paraStart = lineStart;
      para.push(line.trim());
      if (para.length >= PARA_LINES) flush(true);
    }
  }
  flush();
  return { source, blocks, starts };
}

const INLINE = /`([^`]+)`|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\[([^\]]+)\]\(([^)\s]+)\)/g;

export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > at) out.push({ kind: "text", text: text.slice(at, m.index) });
    const [, code, bold1, bold2, em1, em2, label, href] = m;
    if (code !== undefined) out.push({ kind: "code", text: code });
    else if (bold1 !== undefined || bold2 !== undefined) out.push({ kind: "strong", text: bold1 ?? bold2 ?? "" });
    else if (em1 !== undefined || em2 !== undefined) out.push({ kind: "em", text: em1 ?? em2 ?? "" });
    else out.push({ kind: "link", text: label ?? "", href: href ?? "" });
    at = m.index + m[0].length;
  }
  if (at < text.length) out.push({ kind: "text", text: text.slice(at) });
  return out;
}

export type Token = { cls: "" | "kw" | "str" | "com" | "num"; text: string };

const KEYWORDS = new Set(
  (
    "as async await break case catch class const continue def default do elif else enum export extends false fn for " +
    "from func function go if impl import in interface let loop match mod mut new nil None null pub return self Self " +
    "static struct super switch this throw true True False try type typeof use var void while with yield"
  ).split(" "),
);

const HASH_COMMENTS = new Set(["sh", "bash", "shell", "zsh", "python", "py", "ruby", "rb", "toml", "yaml", "yml"]);

/** Code split into tokens to colour: keywords, strings, comments, numbers, the rest. */
export function highlight(code: string, lang: string): Token[] {
  const comment = HASH_COMMENTS.has(lang) ? String.raw`#[^\n]*` : String.raw`\/\/[^\n]*|\/\*[\s\S]*?\*\/`;
  const re = new RegExp(
    String.raw`(${comment})|("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|` + "`[^`]*`" + String.raw`)|(\b\d[\d_.]*\b)|([A-Za-z_]\w*)`,
    "g",
  );
  const out: Token[] = [];
  let at = 0;
  const push = (cls: Token["cls"], text: string) => {
    const last = out.at(-1);
    if (last && last.cls === cls) last.text += text;
    else out.push({ cls, text });
  };
  for (const m of code.matchAll(re)) {
    if (m.index > at) push("", code.slice(at, m.index));
    if (m[1] !== undefined) push("com", m[0]);
    else if (m[2] !== undefined) push("str", m[0]);
    else if (m[3] !== undefined) push("num", m[0]);
    else push(KEYWORDS.has(m[0]) ? "kw" : "", m[0]);
    at = m.index + m[0].length;
  }
  if (at < code.length) push("", code.slice(at));
  return out;
}
