#!/bin/sh
# dunst's menu command in the test session (scripts/lib/in-session.sh): dunst writes one line per
# action of the notifications on screen to our standard input, like
#   #Keep running 1 h (demo is idle and will stop soon) [3,keep-running]
# and runs the line we print. Tests write a fixed string to "$SAM_DUNST_DIR/choose"; the first
# line containing it is picked, and every offer is kept in "$SAM_DUNST_DIR/offered".
set -eu
offered="$(cat)"
printf '%s\n' "$offered" >> "$SAM_DUNST_DIR/offered"
printf '%s\n' "$offered" | grep -F -m1 -- "$(cat "$SAM_DUNST_DIR/choose")" || true
