// A coding agent session's transcript folded into what the session view shows: the person's
// prompts, the agent's messages and thoughts (consecutive chunks joined), tool calls (updated in
// place by id, with their diffs, locations and output), plans, permission requests with their
// answers, and the ends of turns. Entries are applied in order, once each (by `seq`).

import type { AgentEventRow } from "../../api/sessions";

export interface Diff {
  path: string;
  oldText: string | null;
  newText: string;
}

export interface PermissionOption {
  optionId: string;
  name: string;
  kind: string;
}

export interface PlanEntry {
  content: string;
  status: string;
  priority: string;
}

export type Item =
  | { kind: "prompt"; seq: number; text: string }
  | { kind: "message"; seq: number; text: string }
  | { kind: "thought"; seq: number; text: string }
  | {
      kind: "tool";
      seq: number;
      id: string;
      title: string;
      toolKind: string;
      status: string;
      locations: string[];
      diffs: Diff[];
      output: string;
      /** Terminal ids (`sam-<stream>`) of the commands it runs. */
      terminals: string[];
    }
  | { kind: "plan"; seq: number; entries: PlanEntry[] }
  | {
      kind: "permission";
      seq: number;
      request: number;
      title: string;
      detail: string;
      options: PermissionOption[];
      answer: string | null;
      by: string | null;
    }
  | { kind: "turn"; seq: number; stopReason: string }
  | { kind: "ended"; seq: number; reason: string }
  | { kind: "note"; seq: number; text: string };

export interface Mode {
  id: string;
  name: string;
  description: string;
}

/** One of a session's configuration options other than its mode (a model, say): a select. */
export interface ConfigOption {
  id: string;
  name: string;
  value: string;
  values: { value: string; name: string }[];
}

export interface Command {
  name: string;
  description: string;
}

export interface Transcript {
  items: Item[];
  /** The last entry applied. */
  seq: number;
  mode: string | null;
  modes: Mode[];
  commands: Command[];
  /** Whether the agent accepts images in prompts. */
  images: boolean;
  /** The agent's options other than its mode, as it last reported them. */
  configOptions: ConfigOption[];
  /** Whether the agent can load its sessions again (ACP's `session/load`), so an ended session can be resumed. */
  loadable: boolean;
  agentName: string | null;
  /** The context window's use and the session's cost, when the agent reports them. */
  usage: Usage | null;
}

export interface Usage {
  used: number;
  size: number;
  cost: { amount: number; currency: string } | null;
}

export function emptyTranscript(): Transcript {
  return {
    items: [],
    seq: 0,
    mode: null,
    modes: [],
    commands: [],
    images: false,
    loadable: false,
    configOptions: [],
    agentName: null,
    usage: null,
  };
}

type Json = Record<string, unknown>;

const obj = (value: unknown): Json => (value && typeof value === "object" ? (value as Json) : {});
const str = (value: unknown): string => (typeof value === "string" ? value : "");
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** The text of an ACP content block (`text`, or a short stand-in for other kinds). */
export function contentText(block: unknown): string {
  const b = obj(block);
  switch (b.type) {
    case "text":
      return str(b.text);
    case "resource_link":
      return `[${str(b.name) || str(b.uri)}]`;
    case "image":
      return "[image]";
    case "resource":
      return str(obj(b.resource).text);
    default:
      return "";
  }
}

/** Applies `rows` (in order; ones applied already are skipped). */
export function apply(t: Transcript, rows: AgentEventRow[]): void {
  for (const row of joinChunks(rows.filter((row) => row.seq > t.seq))) {
    t.seq = row.seq;
    applyOne(t, row);
  }
}

/** The text of a message or thought chunk row, with its kind; null for any other row. */
function chunkOf(row: AgentEventRow): { kind: string; text: string } | null {
  if (row.kind !== "update") return null;
  const u = obj(obj(row.body).update);
  const kind = str(u.sessionUpdate);
  const content = obj(u.content);
  if ((kind !== "agent_message_chunk" && kind !== "agent_thought_chunk") || content.type !== "text") return null;
  return { kind, text: str(content.text) };
}

/**
 * Runs of consecutive text chunks of one kind joined into one row (with the last one's `seq`):
 * a flood of chunks becomes one change to the view's state rather than thousands.
 */
function joinChunks(rows: AgentEventRow[]): AgentEventRow[] {
  const out: AgentEventRow[] = [];
  let run: { kind: string; texts: string[]; last: AgentEventRow } | null = null;
  const close = () => {
    if (!run) return;
    const { kind, texts, last } = run;
    const body = obj(last.body);
    out.push(
      texts.length === 1
        ? last
        : { ...last, body: { ...body, update: { sessionUpdate: kind, content: { type: "text", text: texts.join("") } } } },
    );
    run = null;
  };
  for (const row of rows) {
    const chunk = chunkOf(row);
    if (chunk && run && run.kind === chunk.kind) {
      run.texts.push(chunk.text);
      run.last = row;
    } else {
      close();
      if (chunk) run = { kind: chunk.kind, texts: [chunk.text], last: row };
      else out.push(row);
    }
  }
  close();
  return out;
}

function applyOne(t: Transcript, row: AgentEventRow): void {
  const body = obj(row.body);
  switch (row.kind) {
    case "started":
      started(t, body);
      break;
    case "prompt":
      t.items.push({ kind: "prompt", seq: row.seq, text: str(body.text) });
      break;
    case "update":
      update(t, row.seq, obj(body.update));
      break;
    case "permission":
      t.items.push(permission(row.seq, body));
      break;
    case "answered": {
      const item = t.items.find((i) => i.kind === "permission" && i.request === body.id);
      if (item && item.kind === "permission") {
        item.answer = str(body.answer) || null;
        item.by = str(body.answered_by) || null;
      }
      break;
    }
    case "turn":
      t.items.push({ kind: "turn", seq: row.seq, stopReason: str(body.stopReason) });
      break;
    case "ended":
      t.items.push({ kind: "ended", seq: row.seq, reason: str(body.reason) });
      break;
    case "malformed":
      t.items.push({ kind: "note", seq: row.seq, text: `Not understood: ${str(body.detail)}` });
      break;
    case "resumed": {
      const replayed = typeof body.replayed === "number" ? body.replayed : 0;
      t.items.push({
        kind: "note",
        seq: row.seq,
        text: `The coding agent took the session up again in a new process (it replayed ${replayed} updates of its history, shown once above).`,
      });
      const modes = obj(obj(body.session).modes);
      if (typeof modes.currentModeId === "string") t.mode = modes.currentModeId;
      break;
    }
    case "config":
      if (Array.isArray(body.configOptions)) t.configOptions = configOptions(body.configOptions);
      break;
    case "mode":
      if (typeof body.currentModeId === "string") t.mode = body.currentModeId;
      if (typeof body.note === "string") t.items.push({ kind: "note", seq: row.seq, text: body.note });
      break;
  }
}

function started(t: Transcript, body: Json): void {
  const initialize = obj(body.initialize);
  const capabilities = obj(obj(initialize.agentCapabilities).promptCapabilities);
  t.images = capabilities.image === true;
  t.loadable = obj(initialize.agentCapabilities).loadSession === true;
  const info = obj(initialize.agentInfo);
  t.agentName = str(info.title) || str(info.name) || null;
  const modes = obj(obj(body.session).modes);
  t.configOptions = configOptions(obj(body.session).configOptions);
  t.mode = str(modes.currentModeId) || null;
  t.modes = list(modes.availableModes).map((m) => ({
    id: str(obj(m).id),
    name: str(obj(m).name),
    description: str(obj(m).description),
  }));
}

/** Select options other than the mode (the mode has its own menu), values flattened from groups. */
function configOptions(value: unknown): ConfigOption[] {
  return list(value)
    .map(obj)
    .filter((o) => o.type === "select" && o.category !== "mode")
    .map((o) => ({
      id: str(o.id),
      name: str(o.name) || str(o.id),
      value: str(o.currentValue),
      values: list(o.options).flatMap((entry) => {
        const e = obj(entry);
        const inner = list(e.options).map(obj);
        const all = inner.length > 0 ? inner : [e];
        return all.map((v) => ({ value: str(v.value), name: str(v.name) || str(v.value) }));
      }),
    }));
}

function update(t: Transcript, seq: number, u: Json): void {
  switch (u.sessionUpdate) {
    case "config_option_update":
      t.configOptions = configOptions(u.configOptions);
      break;
    case "agent_message_chunk":
      appendText(t, "message", seq, contentText(u.content));
      break;
    case "agent_thought_chunk":
      appendText(t, "thought", seq, contentText(u.content));
      break;
    case "user_message_chunk":
      t.items.push({ kind: "prompt", seq, text: contentText(u.content) });
      break;
    case "tool_call":
    case "tool_call_update":
      tool(t, seq, u);
      break;
    case "plan":
      t.items.push({
        kind: "plan",
        seq,
        entries: list(u.entries).map((e) => ({
          content: str(obj(e).content),
          status: str(obj(e).status),
          priority: str(obj(e).priority),
        })),
      });
      break;
    case "available_commands_update":
      t.commands = list(u.availableCommands).map((c) => ({
        name: str(obj(c).name),
        description: str(obj(c).description),
      }));
      break;
    case "usage_update": {
      const cost = obj(u.cost);
      t.usage = {
        used: typeof u.used === "number" ? u.used : 0,
        size: typeof u.size === "number" ? u.size : 0,
        cost:
          typeof cost.amount === "number" && typeof cost.currency === "string"
            ? { amount: cost.amount, currency: cost.currency }
            : null,
      };
      break;
    }
    case "current_mode_update":
      t.mode = str(u.currentModeId) || t.mode;
      break;
  }
}

function appendText(t: Transcript, kind: "message" | "thought", seq: number, text: string): void {
  const last = t.items.at(-1);
  if (last && last.kind === kind) last.text += text;
  else t.items.push({ kind, seq, text });
}

function tool(t: Transcript, seq: number, u: Json): void {
  const id = str(u.toolCallId);
  let item = t.items.find((i) => i.kind === "tool" && i.id === id);
  if (!item || item.kind !== "tool") {
    item = { kind: "tool", seq, id, title: "", toolKind: "other", status: "pending", locations: [], diffs: [], output: "", terminals: [] };
    t.items.push(item);
  }
  if (typeof u.title === "string") item.title = u.title;
  if (typeof u.kind === "string") item.toolKind = u.kind;
  if (typeof u.status === "string") item.status = u.status;
  if (Array.isArray(u.locations)) {
    item.locations = u.locations.map((l) => {
      const at = obj(l);
      return typeof at.line === "number" ? `${str(at.path)}:${at.line}` : str(at.path);
    });
  }
  if (Array.isArray(u.content)) {
    item.diffs = [];
    item.output = "";
    item.terminals = [];
    for (const part of u.content) {
      const p = obj(part);
      if (p.type === "terminal") {
        item.terminals.push(str(p.terminalId));
      } else if (p.type === "diff") {
        item.diffs.push({ path: str(p.path), oldText: typeof p.oldText === "string" ? p.oldText : null, newText: str(p.newText) });
      } else if (p.type === "content") {
        item.output += contentText(p.content);
      }
    }
  }
}

function permission(seq: number, row: Json): Item {
  const request = obj(row.request);
  const call = obj(request.toolCall);
  const input = obj(call.rawInput);
  const detail = str(input.command) || str(input.path) || str(input.file_path) || "";
  return {
    kind: "permission",
    seq,
    request: typeof row.id === "number" ? row.id : 0,
    title: str(call.title) || "The agent asks to act",
    detail,
    options: list(request.options).map((o) => ({
      optionId: str(obj(o).optionId),
      name: str(obj(o).name),
      kind: str(obj(o).kind),
    })),
    answer: str(row.answer) || null,
    by: str(row.answered_by) || null,
  };
}

type DiffLine = { sign: " " | "-" | "+"; text: string };

/** Lines of a diff: unchanged, removed and added, by a longest common subsequence of lines. */
export function diffLines(oldText: string | null, newText: string): DiffLine[] {
  const a = oldText === null || oldText === "" ? [] : oldText.replace(/\n$/, "").split("\n");
  const b = newText === "" ? [] : newText.replace(/\n$/, "").split("\n");
  const removed = (text: string): DiffLine => ({ sign: "-", text });
  const added = (text: string): DiffLine => ({ sign: "+", text });
  // Large files: no alignment, everything old out and new in (quadratic tables cost too much).
  if (a.length * b.length > 4_000_000) return [...a.map(removed), ...b.map(added)];
  // lcs[i * width + j]: the longest common run of a[i..] and b[j..].
  const width = b.length + 1;
  const lcs = new Uint32Array((a.length + 1) * width);
  const at = (i: number, j: number) => lcs[i * width + j] ?? 0;
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    if (x !== undefined && y !== undefined && x === y) {
      out.push({ sign: " ", text: x });
      i++;
      j++;
    } else if (y !== undefined && (x === undefined || at(i, j + 1) > at(i + 1, j))) {
      out.push(added(y));
      j++;
    } else {
      out.push(removed(x ?? ""));
      i++;
    }
  }
  return out;
}

/** Who holds the brake, for the session header: whether the current mode lets the agent act
 * without asking (`actsAloneIn`, from the catalogue), and that in words. */
export function brake(mode: string | null, actsAloneIn: string[]): { alone: boolean; text: string } {
  if (mode && actsAloneIn.includes(mode)) {
    return { alone: true, text: `its mode "${mode}" lets it do some things without asking you` };
  }
  if (mode && actsAloneIn.length > 0) {
    return { alone: false, text: `it asks you before it acts (mode "${mode}")` };
  }
  return { alone: false, text: "SAM never answers for you; what the agent asks about is its own choice" };
}

/** The usage in a few words: "context 12% of 200000 tokens · 0.42 USD". */
export function usageText(usage: Usage): string {
  const share = usage.size > 0 ? `context ${Math.round((usage.used / usage.size) * 100)}% of ${usage.size} tokens` : `${usage.used} tokens`;
  return usage.cost ? `${share} · ${usage.cost.amount.toFixed(2)} ${usage.cost.currency}` : share;
}

/** The workspace stream a terminal id of SAM's names (`sam-<stream>`), or null. */
export function terminalStream(terminalId: string): number | null {
  const match = /^sam-(\d+)$/.exec(terminalId);
  return match ? Number(match[1]) : null;
}
