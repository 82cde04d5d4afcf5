// Tokens for private git repositories, per host. The tokens go to the keyring and never come
// back; only the hosts are listed.

import { commands } from "../bindings";
import { unwrap } from "./index";

export async function gitTokenHosts(): Promise<string[]> {
  return unwrap(await commands.gitTokenHosts());
}

export async function setGitToken(host: string, token: string): Promise<string[]> {
  return unwrap(await commands.gitSetToken(host, token));
}

export async function removeGitToken(host: string): Promise<string[]> {
  return unwrap(await commands.gitRemoveToken(host));
}
