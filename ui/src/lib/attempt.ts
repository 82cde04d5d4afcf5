import { errorOf, type SamError } from "../api";

/**
 * Runs a form's action: `report` gets null before it starts and the error if it fails, `busy`
 * is true while it runs. The result, or undefined when the action failed.
 */
export async function attempt<T>(
  action: () => Promise<T>,
  report: (error: SamError | null) => void,
  busy?: (busy: boolean) => void,
): Promise<T | undefined> {
  busy?.(true);
  report(null);
  try {
    return await action();
  } catch (err) {
    report(errorOf(err));
    return undefined;
  } finally {
    busy?.(false);
  }
}
