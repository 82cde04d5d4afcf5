// Tokens for private git repositories, per host, and the GitHub sign-in. Tokens go to the
// keyring and never come back; only hosts and the account are listed.

import { commands, events, type GitHubAccount, type GitHubSignInCode, type SignOutReport } from "../bindings";
import { unwrap } from "./index";

export type { GitHubAccount, GitHubSignInCode, SignOutReport };

export async function gitTokenHosts(): Promise<string[]> {
  return unwrap(await commands.gitTokenHosts());
}

export async function setGitToken(host: string, token: string): Promise<string[]> {
  return unwrap(await commands.gitSetToken(host, token));
}

export async function removeGitToken(host: string): Promise<string[]> {
  return unwrap(await commands.gitRemoveToken(host));
}

/** Signs in with a code; `onCode` gets the code to enter at GitHub and the page for it. */
export async function githubSignIn(onCode: (code: GitHubSignInCode) => void): Promise<GitHubAccount> {
  const stop = await events.gitHubSignInCode.listen((event) => onCode(event.payload));
  try {
    return unwrap(await commands.githubSignIn());
  } finally {
    stop();
  }
}


/** Signs out: revokes the token at GitHub if it can, forgets it here and takes it back from workspaces. */
export async function githubSignOut(): Promise<SignOutReport> {
  return unwrap(await commands.githubSignOut());
}
