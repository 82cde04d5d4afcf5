// Resolves frame colours with the app's theme. Mirrors src-tauri/core/terminal/theme.rs, which
// answers programs' colour queries with the same values.

import type { Color } from "./frame";

export interface TerminalTheme {
  foreground: string;
  background: string;
  cursor: string;
  selection: string;
  ansi: string[];
}

export const DARK: TerminalTheme = {
  foreground: "#d8dee9",
  background: "#1b1e24",
  cursor: "#d8dee9",
  selection: "rgba(97, 175, 239, 0.35)",
  ansi: [
    "#3b4252", "#e06c75", "#98c379", "#e5c07b", "#61afef", "#c678dd", "#56b6c2", "#d8dee9",
    "#5c6370", "#ef7b84", "#a8d389", "#f0d08b", "#71bfff", "#d688ed", "#66c6d2", "#ffffff",
  ],
};

export const LIGHT: TerminalTheme = {
  foreground: "#24292f",
  background: "#ffffff",
  cursor: "#24292f",
  selection: "rgba(9, 105, 218, 0.25)",
  ansi: [
    "#24292f", "#cf222e", "#116329", "#4d2d00", "#0969da", "#8250df", "#1b7c83", "#6e7781",
    "#57606a", "#a40e26", "#1a7f37", "#633c01", "#218bff", "#a475f9", "#3192aa", "#8c959f",
  ],
};

const NAMED_BACKGROUND = 257;
const NAMED_CURSOR = 258;
const NAMED_DIM_BLACK = 259;
const NAMED_DIM_WHITE = 266;

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** The xterm 256-colour palette entry `index` (16–255; 0–15 come from the theme). */
function xterm(index: number): string {
  if (index < 232) {
    const cube = index - 16;
    const level = (n: number): number => (n === 0 ? 0 : 55 + n * 40);
    return `#${hex(level(Math.floor(cube / 36)))}${hex(level(Math.floor(cube / 6) % 6))}${hex(level(cube % 6))}`;
  }
  const gray = 8 + (index - 232) * 10;
  return `#${hex(gray)}${hex(gray)}${hex(gray)}`;
}

function ansi(theme: TerminalTheme, index: number): string {
  return theme.ansi[index] ?? theme.foreground;
}

/** A CSS colour for a frame colour; `role` decides what "default" means. */
export function resolve(color: Color, theme: TerminalTheme, role: "fg" | "bg"): string {
  switch (color.kind) {
    case "default":
      return role === "fg" ? theme.foreground : theme.background;
    case "rgb":
      return `#${hex(color.r)}${hex(color.g)}${hex(color.b)}`;
    case "indexed":
      return color.index < 16 ? ansi(theme, color.index) : xterm(color.index);
    case "named": {
      const i = color.index;
      if (i < 16) return ansi(theme, i);
      if (i === NAMED_BACKGROUND) return theme.background;
      if (i === NAMED_CURSOR) return theme.cursor;
      if (i >= NAMED_DIM_BLACK && i <= NAMED_DIM_WHITE) return ansi(theme, i - NAMED_DIM_BLACK);
      // The foreground and its bright and dim variants (and anything newer) draw as text.
      return theme.foreground;
    }
  }
}
