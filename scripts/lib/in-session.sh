#!/usr/bin/env bash
# Runs "$@" inside the test session (already under dbus-run-session and Xvfb) after starting the
# session services the tests use: an unlocked gnome-keyring (Secret Service) and dunst
# (notifications). The keyring must be unlocked before anything touches org.freedesktop.secrets,
# or D-Bus auto-starts a locked one.
set -euo pipefail

session_home="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$session_home"' EXIT
export XDG_DATA_HOME="$session_home/data" XDG_CONFIG_HOME="$session_home/config"
export XDG_CACHE_HOME="$session_home/cache" XDG_STATE_HOME="$session_home/state"
mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"

eval "$(printf 'sam-test' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
dunst >/dev/null 2>&1 &

"$@"
