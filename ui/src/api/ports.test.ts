import { describe, expect, it } from "vitest";
import { parsePort } from "./ports";

describe("parsePort", () => {
  it("takes port numbers a person types", () => {
    expect(parsePort("3000")).toBe(3000);
    expect(parsePort(" 8080 ")).toBe(8080);
    expect(parsePort("1")).toBe(1);
    expect(parsePort("65535")).toBe(65535);
  });

  it("refuses what is not a port", () => {
    for (const bad of ["", "0", "65536", "-1", "3000a", "30 00", "1e3", "0x10", "123456"]) {
      expect(parsePort(bad), bad).toBeNull();
    }
  });
});
