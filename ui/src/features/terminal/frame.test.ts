/// <reference types="node" />
import { readFileSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { dispatch } from "../../api/terminal";
import { decodeFrame, FrameError } from "./frame";
import { Screen } from "./screen";

// Vitest runs from ui/.
const fixtures = "src/features/terminal/fixtures/";
// Written by the Rust test `terminal_golden::the_windows_decoder_fixture_is_current`.
const bytes = new Uint8Array(readFileSync(`${fixtures}colors.frame`));
const expected: unknown = JSON.parse(readFileSync(`${fixtures}colors.frame.json`, "utf8"));

describe("frame decoding", () => {
  it("reads the engine's frames exactly as the Rust decoder does", () => {
    expect(decodeFrame(bytes)).toEqual(expected);
  });

  it("rejects malformed frames with a typed error", () => {
    expect(() => decodeFrame(bytes.subarray(0, bytes.length - 1))).toThrow(FrameError);
    expect(() => decodeFrame(new Uint8Array([...bytes, 0]))).toThrow(/after the end/);
    const wrongVersion = bytes.slice();
    wrongVersion[0] = 9;
    expect(() => decodeFrame(wrongVersion)).toThrow(/version 9/);
    for (let cut = 0; cut < bytes.length; cut += 7) {
      expect(() => decodeFrame(bytes.subarray(0, cut))).toThrow(FrameError);
    }
  });

  it("rebuilds the screen's text, wide characters and links included", () => {
    const screen = new Screen();
    expect(screen.apply(decodeFrame(bytes))).toBe(true);
    expect(screen.rowText(0)).toBe("00 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15");
    expect(screen.rowText(3)).toBe("bold dim italic under inverse strike");
    expect(screen.rowText(4)).toBe("link 日e\u0301");
    expect(screen.linkAt(4, 2)).toBe("https://example.com/");
    expect(screen.linkAt(4, 5)).toBeNull();
  });

  it("splits channel messages into frames and notices", () => {
    const frames: Uint8Array[] = [];
    const notices: unknown[] = [];
    const handlers = { frame: (f: Uint8Array) => frames.push(f), notice: (n: unknown) => notices.push(n) };
    dispatch(new Uint8Array([0, ...bytes]), handlers);
    dispatch(new Uint8Array([1, ...new TextEncoder().encode('{"type":"bell"}')]), handlers);
    expect(frames[0]).toEqual(bytes);
    expect(notices).toEqual([{ type: "bell" }]);
  });
});
