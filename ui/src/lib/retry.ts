import type { SamError } from "../api";

/**
 * When a retry can help, in words, for an error that says (a spent rate limit): "Try again in
 * about 4 minutes (after 14:05)." Null when the error does not say.
 */
export function whenToRetry(error: SamError, now: number = Date.now()): string | null {
  const secs = error.retry_after_secs;
  if (secs === null || secs === undefined || secs <= 0) return null;
  const at = new Date(now + secs * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const wait = secs < 90 ? `${Math.ceil(secs)} seconds` : `${Math.round(secs / 60)} minutes`;
  return `Try again in about ${wait} (after ${at}).`;
}
