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
# dunst with a menu command tests can steer and a log of what it received (see the scripts).
lib="$(cd "$(dirname "$0")" && pwd)"
export SAM_DUNST_DIR="$session_home/dunst"
mkdir -p "$SAM_DUNST_DIR"
: > "$SAM_DUNST_DIR/choose"
cat > "$SAM_DUNST_DIR/dunstrc" <<CONFIG
[global]
dmenu = $lib/dunst-menu.sh
[log-everything]
summary = "*"
script = $lib/dunst-log.sh
CONFIG
dunst -config "$SAM_DUNST_DIR/dunstrc" >"$SAM_DUNST_DIR/dunst.log" 2>&1 &
# Until dunst holds its name, a notification would make D-Bus start another one (without the
# display, which the bus was started before).
for _ in $(seq 100); do
  dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
    string:org.freedesktop.Notifications 2>/dev/null | grep -q 'boolean true' && break
  sleep 0.1
done

"$@"
