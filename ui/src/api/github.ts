// GitHub beyond the token: how the user signed in and until when, the browser sign-in, the
// GitHub app SAM signs in as (the user's own, with its secret in the keyring), and the
// repository picker's repositories and branches.

import {
  commands,
  events,
  type AppSource,
  type GitHubAppInfo,
  type GitHubRepo,
  type GitHubSignInEnded,
  type GitHubStatus,
  type RepoList,
  type Session,
  type SignInMethod,
} from "../bindings";
import { unwrap } from "./index";

export type { AppSource, GitHubAppInfo, GitHubRepo, GitHubSignInEnded, GitHubStatus, RepoList, Session, SignInMethod };

/** The account, how it signed in and until when, and the app SAM signs in as. */
export async function githubStatus(): Promise<GitHubStatus> {
  return unwrap(await commands.githubStatus());
}

/**
 * Starts a sign-in in the browser (the core opens it); returns the address, to offer when no
 * browser appeared. The sign-in ends with `onGitHubSignInEnded`.
 */
export async function githubSignInBrowser(): Promise<string> {
  return unwrap(await commands.githubSignInBrowser());
}

/** Calls `ended` when a browser sign-in ends, with the account or the error; returns the unsubscribe. */
export async function onGitHubSignInEnded(ended: (outcome: GitHubSignInEnded) => void): Promise<() => void> {
  return events.gitHubSignInEnded.listen((event) => ended(event.payload));
}

/** Signs in as the user's own GitHub app from now on (the secret goes to the keyring). */
export async function githubSetApp(clientId: string, clientSecret: string): Promise<GitHubStatus> {
  return unwrap(await commands.githubSetApp(clientId, clientSecret));
}

/** Stops using the user's own GitHub app. */
export async function githubForgetApp(): Promise<GitHubStatus> {
  return unwrap(await commands.githubForgetApp());
}

/** The signed-in user's repositories matching `query`; `reload` asks GitHub again. */
export async function githubRepos(query: string, reload: boolean): Promise<RepoList> {
  return unwrap(await commands.githubRepos(query, reload));
}

/** The branches of `fullName` (`owner/repository`). */
export async function githubBranches(fullName: string): Promise<string[]> {
  return unwrap(await commands.githubBranches(fullName));
}
