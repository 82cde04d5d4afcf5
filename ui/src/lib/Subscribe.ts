import { onWorkspacesChanged } from "../api";

/**
 * Runs `refresh` now and whenever workspaces change; returns a cleanup for `$effect`.
 * A listener that fails to attach (no backend events, as in some tests) leaves the first load.
 */
export function refreshOnChange(refresh: () => void): () => void {
  refresh();
  return attach(onWorkspacesChanged(refresh));
}

/**
 * Keeps the listener that `listening` attaches until the returned cleanup runs (for `$effect`).
 * A listener that fails to attach (no backend events, as in some tests) is left out.
 */
export function attach(listening: Promise<() => void>): () => void {
  let unsubscribe: (() => void) | undefined;
  let active = true;
  listening
    .then((stop) => {
      if (active) unsubscribe = stop;
      else stop();
    })
    .catch(() => {});
  return () => {
    active = false;
    unsubscribe?.();
  };
}
