// A request, from anywhere on the workspace page, for the terminal panel to show one tab (a
// coding agent's command opened from its tool call): the panel lists its tabs again and makes
// that one active. `seq` changes with every request, so asking twice for one tab works.

export const wanted = $state({ stream: -1, seq: 0 });

/** Asks the terminal panel to show the tab of `stream`. */
export function showTab(stream: number): void {
  wanted.stream = stream;
  wanted.seq += 1;
}
