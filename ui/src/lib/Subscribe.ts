import { onWorkspacesChanged } from "../api";
import { reportError } from "./report";

/**
 * Runs `refresh` now and whenever workspaces change; returns a cleanup for `$effect`.
 * A listener that fails to attach leaves the first load, and is logged.
 */
export function refreshOnChange(refresh: () => void): () => void {
  refresh();
  return attach(onWorkspacesChanged(refresh), "listen for changes to workspaces");
}

/**
 * Keeps the listener that `listening` attaches until the returned cleanup runs (for `$effect`).
 * A listener that fails to attach has nowhere on screen to say so: it is logged as failing to
 * `what` (worded to follow "SAM could not …").
 */
export function attach(listening: Promise<() => void>, what: string): () => void {
  let unsubscribe: (() => void) | undefined;
  let active = true;
  listening
    .then((stop) => {
      if (active) unsubscribe = stop;
      else stop();
    })
    .catch((err: unknown) => reportError(what, err));
  return () => {
    active = false;
    unsubscribe?.();
  };
}
