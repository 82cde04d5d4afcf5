// The Hetzner account: whether SAM has a token (the token itself never comes back) and entering
// one; the catalogue with prices; the location and server type preferences; what the reconciler
// found on the account and deleting it.

import {
  commands,
  type Catalog,
  type CatalogServerType,
  type HetznerAccount,
  type Offer,
  type Preferences,
  type Report,
  type Resource,
  type Spend,
  type WorkspaceSpend,
} from "../bindings";
import { unwrap } from "./index";

export type { Catalog, CatalogServerType, HetznerAccount, Offer, Preferences, Report, Resource, Spend, WorkspaceSpend };

/** What each workspace has cost so far and this month, and this month's total. */
export async function spend(): Promise<Spend> {
  return unwrap(await commands.spend());
}

export async function hetznerAccount(): Promise<HetznerAccount> {
  return unwrap(await commands.hetznerAccount());
}

/** Checks the token with Hetzner and keeps it in the system keyring. */
export async function setHetznerToken(token: string): Promise<HetznerAccount> {
  return unwrap(await commands.hetznerSetToken(token));
}

/** Locations, server types and the disk, with prices, from Hetzner's API. */
export async function hetznerCatalog(): Promise<Catalog> {
  return unwrap(await commands.hetznerCatalog());
}

export async function hetznerPreferences(): Promise<Preferences> {
  return unwrap(await commands.hetznerPreferences());
}

/** Checks the preferences against the catalogue and saves them. */
export async function setHetznerPreferences(preferences: Preferences): Promise<Preferences> {
  return unwrap(await commands.hetznerSetPreferences(preferences));
}

/** Asks Hetzner now what is on the account that SAM does not know. */
export async function hetznerResources(): Promise<Report> {
  return unwrap(await commands.hetznerResources());
}

/** The periodic sweep's latest report, without asking Hetzner. */
export async function lastHetznerResources(): Promise<Report | null> {
  return unwrap(await commands.hetznerLastResources());
}

/** Deletes a listed resource; another installation's only with `foreign`. */
export async function deleteHetznerResource(resource: Resource, foreign: boolean): Promise<void> {
  unwrap(await commands.hetznerDeleteResource(resource.kind, resource.id, foreign));
}

/** The offer of `serverType` in `location`, if Hetzner has one. */
export function offerOf(catalog: Catalog, serverType: string, location: string): Offer | undefined {
  return catalog.server_types.find((t) => t.name === serverType)?.offers.find((o) => o.location === location);
}

/** Whether idle servers delete themselves instead of powering off. */
export async function selfDelete(): Promise<boolean> {
  return unwrap(await commands.hetznerSelfDelete());
}

/** Lets idle servers delete themselves with the token held in memory, or stops it. */
export async function setSelfDelete(on: boolean): Promise<void> {
  unwrap(await commands.hetznerSetSelfDelete(on));
}

/** The SSH public keys new servers get for the workspace user `dev`. */
export async function sshKeys(): Promise<string[]> {
  return unwrap(await commands.hetznerSshKeys());
}

export async function addSshKey(key: string): Promise<string[]> {
  return unwrap(await commands.hetznerAddSshKey(key));
}

/** Removes a key by its number (from 1), its comment or the key itself. */
export async function removeSshKey(key: string): Promise<string[]> {
  return unwrap(await commands.hetznerRemoveSshKey(key));
}
