// A yes/no setting kept by the core: read once, written on change, with the failure to show.

import { errorOf, type SamError } from "../api";

export class BooleanSetting {
  value = $state<boolean | null>(null);
  error = $state<SamError | null>(null);

  readonly #read: () => Promise<boolean>;
  readonly #write: (on: boolean) => Promise<void>;

  constructor(read: () => Promise<boolean>, write: (on: boolean) => Promise<void>) {
    this.#read = read;
    this.#write = write;
  }

  /** Reads the current value (call from an `$effect`). */
  load(): void {
    this.#read()
      .then((found) => (this.value = found))
      .catch((err: unknown) => (this.error = errorOf(err)));
  }

  /** Writes `on`; the shown value follows only once the core took it. */
  async set(on: boolean): Promise<void> {
    this.error = null;
    try {
      await this.#write(on);
      this.value = on;
    } catch (err) {
      this.error = errorOf(err);
    }
  }
}
