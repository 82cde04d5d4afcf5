// The coding agents' catalogue: built-in agents and the user's own (any program that speaks ACP).

import { commands, type Distribution, type Entry } from "../bindings";
import { unwrap } from "./index";

export type { Distribution, Entry };

export async function agentsCatalog(): Promise<Entry[]> {
  return unwrap(await commands.agentsCatalog());
}

export async function addAgent(id: string, name: string, command: string, keyEnv: string[]): Promise<Entry[]> {
  return unwrap(await commands.agentsAdd(id, name, command, keyEnv));
}

export async function removeAgent(id: string): Promise<Entry[]> {
  return unwrap(await commands.agentsRemove(id));
}

/** The agents whose API key SAM keeps in the keyring (never the keys themselves). */
export async function keyedAgents(): Promise<string[]> {
  return unwrap(await commands.agentsKeyed());
}

/** Keeps `agent`'s API key in the keyring; returns the keyed agents. */
export async function setAgentKey(agent: string, key: string): Promise<string[]> {
  return unwrap(await commands.agentsSetKey(agent, key));
}

/** Forgets `agent`'s API key; returns the keyed agents. */
export async function removeAgentKey(agent: string): Promise<string[]> {
  return unwrap(await commands.agentsRemoveKey(agent));
}

/** How an agent starts, in one line: "npm @scope/pkg@1.2.3 (--acp), Node.js 22 or later", "my-agent --acp". */
export function howItStarts(distribution: Distribution): string {
  if ("npx" in distribution && distribution.npx) {
    const { package: pkg, args, nodeMin } = distribution.npx;
    let how = `npm ${pkg}`;
    if (args && args.length > 0) how += ` (${args.join(" ")})`;
    if (nodeMin) how += `, Node.js ${nodeMin} or later`;
    return how;
  }
  if ("command" in distribution && distribution.command) {
    return [distribution.command.command, ...(distribution.command.args ?? [])].join(" ");
  }
  return "";
}
