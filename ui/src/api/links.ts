// sam:// links: "open this repository" (the create form, prefilled) and links SAM could not
// follow. One that started the app waits in the core until the window asks for it.

import { commands, events, type LinkProblem, type OpenRepoLink, type StartupLink } from "../bindings";
import { unwrap } from "./index";

export type { LinkProblem, OpenRepoLink, StartupLink };

/** The link the app was started with, once; null afterwards or when there was none. */
export async function takeStartupLink(): Promise<StartupLink | null> {
  return unwrap(await commands.takeStartupLink());
}

/** Calls `open` when a sam://open link arrives; returns the unsubscribe. */
export async function onOpenRepoLink(open: (link: OpenRepoLink) => void): Promise<() => void> {
  return events.openRepoLink.listen((event) => open(event.payload));
}

/** Calls `problem` when a link arrives that SAM cannot follow; returns the unsubscribe. */
export async function onLinkProblem(problem: (link: LinkProblem) => void): Promise<() => void> {
  return events.linkProblem.listen((event) => problem(event.payload));
}
