import { describe, expect, it } from "vitest";

import type { SamError } from "../api";
import { whenToRetry } from "./retry";

const limited: SamError = {
  category: "transient",
  message: "Hetzner answered 429 rate_limit_exceeded: limit reached",
  next_step: "Hetzner's request budget (3600 an hour) is used up: SAM retries once it refills.",
  retryable: true,
  retry_after_secs: 240,
  step: null,
  log_ref: null,
};

describe("when to retry", () => {
  it("says how long to wait and until when, in minutes or seconds", () => {
    expect(whenToRetry(limited, 0)).toMatch(/^Try again in about 4 minutes \(after .+\)\.$/);
    expect(whenToRetry({ ...limited, retry_after_secs: 30 }, 0)).toMatch(/^Try again in about 30 seconds/);
  });

  it("says nothing when the error does not say", () => {
    expect(whenToRetry({ ...limited, retry_after_secs: null })).toBeNull();
    expect(whenToRetry({ ...limited, retry_after_secs: 0 })).toBeNull();
  });
});
