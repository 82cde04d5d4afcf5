import { describe, expect, it, vi } from "vitest";

import { Painter, type Painted } from "./painter";
import { Screen } from "./screen";

// The canvas is not what is under test: a renderer that records what it was asked to draw.
vi.mock("./renderer", () => ({
  Renderer: class {
    cell = { width: 8, height: 16, baseline: 12 };
    cursorOn = true;
    lastDrawMs = 0;
    lastDrawRows = 0;
    draw(): void {}
    fit(): { cols: number; rows: number } {
      return { cols: 80, rows: 24 };
    }
    setFontSize(): void {}
  },
}));

describe("Painter", () => {
  it("applies every frame from the core, the first one too", () => {
    const painted: Painted[] = [];
    const painter = new Painter(document.createElement("canvas"), new Screen(), {} as never, 14, (p) =>
      painted.push(p),
    );
    let applied = 0;
    painter.frame(() => {
      applied += 1;
      return true;
    });
    painter.frame(() => {
      applied += 1;
      return false;
    });
    painter.stop();
    // A regression: a pending full paint once made the first frame skip being applied.
    expect(applied).toBe(2);
    expect(painted.map((p) => p.full)).toEqual([true, false]);
  });
});
