import { onWorkspacesChanged } from "../api";

/**
 * Runs `refresh` now and whenever workspaces change; returns a cleanup for `$effect`.
 * A listener that fails to attach (no backend events, as in some tests) leaves the first load.
 */
export function refreshOnChange(refresh: () => void): () => void {
  let unsubscribe: (() => void) | undefined;
  let active = true;
  refresh();
  onWorkspacesChanged(refresh)
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
