// A workspace's permission rules (what its coding agents may do, or never do, without asking)
// and the audit log of every answer.

import { commands, type AuditRow, type NewPermissionRule, type PermissionRule, type RuleDecision } from "../bindings";
import { unwrap } from "./index";

export type { AuditRow, NewPermissionRule, PermissionRule, RuleDecision };

/** ACP's tool kinds, as rules name them. */
export const toolKinds = ["execute", "edit", "read", "delete", "move", "search", "fetch", "think", "switch_mode", "other"] as const;

/** What a rule's pattern is for a kind: a command prefix, a path glob, or none. */
export function patternFor(kind: string | null): "command" | "path" | null {
  if (kind === "execute") return "command";
  if (kind === "read" || kind === "edit" || kind === "delete" || kind === "move") return "path";
  return null;
}

/** A rule in words: "Allow Claude Code to execute commands starting with `cargo test`". */
export function ruleText(rule: NewPermissionRule, agentName: (id: string) => string): string {
  const verb = rule.decision === "allow" ? "Allow" : "Deny";
  const who = rule.agent ? agentName(rule.agent) : "any agent";
  const what = rule.tool_kind ?? "anything";
  const pattern = patternFor(rule.tool_kind);
  if (rule.pattern && pattern === "command") return `${verb} ${who}: ${what} commands starting with “${rule.pattern}”`;
  if (rule.pattern && pattern === "path") return `${verb} ${who}: ${what} files matching “${rule.pattern}”`;
  return `${verb} ${who}: ${what}`;
}

export async function rules(workspace: string): Promise<PermissionRule[]> {
  return unwrap(await commands.agentRules(workspace));
}

export async function addRule(workspace: string, rule: NewPermissionRule): Promise<PermissionRule> {
  return unwrap(await commands.agentRuleAdd(workspace, rule));
}

export async function removeRule(id: number): Promise<void> {
  unwrap(await commands.agentRuleRemove(id));
}

export async function auditLog(workspace: string): Promise<AuditRow[]> {
  return unwrap(await commands.agentAudit(workspace));
}
