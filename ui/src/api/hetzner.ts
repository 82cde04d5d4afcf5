// The Hetzner account: whether SAM has a token (the token itself never comes back), and entering one.

import { commands, type HetznerAccount } from "../bindings";
import { unwrap } from "./index";

export type { HetznerAccount };

export async function hetznerAccount(): Promise<HetznerAccount> {
  return unwrap(await commands.hetznerAccount());
}

/** Checks the token with Hetzner and keeps it in the system keyring. */
export async function setHetznerToken(token: string): Promise<HetznerAccount> {
  return unwrap(await commands.hetznerSetToken(token));
}
