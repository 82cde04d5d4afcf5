// Failures with no place on screen: a listener that could not attach, a terminal detached as its
// view goes away. Everything a user asked for shows its failure where they asked; these go to
// the console instead of vanishing, so a developer reading the webview's log can see them.

import { errorOf } from "../api";

// What was said already: the same failure from a poll or a remount is said once. Bounded, so a
// long session with ever-new failures does not keep them all.
const said = new Set<string>();
const MEMORY = 200;

/**
 * Logs that SAM could not do `what` (worded to follow "SAM could not …"), with the error's
 * message and next step, unless the same failure was logged before.
 */
export function reportError(what: string, err: unknown): void {
  const error = errorOf(err);
  const line = `SAM could not ${what}: ${error.message} ${error.next_step}`;
  if (said.has(line)) return;
  if (said.size >= MEMORY) said.clear();
  said.add(line);
  console.warn(line);
}
