#!/usr/bin/env bash
# SAM's Linux packages, built, checked and installed on this machine (run by scripts/test inside
# its test session: Xvfb, a D-Bus session, an unlocked keyring, XDG_* folders of its own).
#
# Builds the .deb and the .rpm (scripts/package --debug), lints both (lintian, rpmlint: no
# errors), installs the .deb with apt, validates its desktop entry and AppStream metadata, checks
# that the desktop names SAM as the handler of sam:// links, that `gio open sam://…` starts SAM
# with the link and hands a second link to the running SAM (one process), that the window shows
# and `sam --version` works; then removes the package and checks nothing of it is left.
# Prints `package checks: N passed` at the end.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$SAM_ROOT"

passed=0
fail() {
  echo "package test failed: $*" >&2
  exit 1
}
ok() {
  passed=$((passed + 1))
  echo "ok: $*"
}
# Waits up to SECONDS for COMMAND to succeed (a process of its own: nothing to subscribe to).
wait_for() {
  local seconds=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within $seconds s"
    sleep 0.2
  done
}

mapfile -t built < <("$SAM_ROOT/scripts/package" --debug)
deb=$(printf '%s\n' "${built[@]}" | grep '\.deb$')
rpm=$(printf '%s\n' "${built[@]}" | grep '\.rpm$')
if [ ! -f "$deb" ] || [ ! -f "$rpm" ]; then fail "scripts/package made no .deb and .rpm: ${built[*]}"; fi
ok "built $(basename "$deb") and $(basename "$rpm")"

# Lints. What lintian and rpmlint say beyond errors is explained in docs/packaging.md.
lintian --fail-on error --tag-display-limit 0 "$deb" || fail "lintian found errors in $deb"
ok "lintian: no errors"
rpmlint --rpmlintrc "$SAM_ROOT/packaging/linux/rpmlintrc" "$rpm" || fail "rpmlint found errors in $rpm"
ok "rpmlint: no errors"

# The same files in both packages.
deb_files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||; s|^|/|; /\/$/d' | sort)
rpm_files=$(rpm -qpl "$rpm" 2>/dev/null | sort)
for file in /usr/bin/sam-desktop /usr/bin/sam \
  /usr/share/metainfo/dev.simple-agent-manager.desktop.metainfo.xml; do
  grep -qx "$file" <<<"$deb_files" || fail "the .deb lacks $file"
  grep -qx "$file" <<<"$rpm_files" || fail "the .rpm lacks $file"
done
for size in 16 22 24 32 48 64 96 128 256 512; do
  icon="/usr/share/icons/hicolor/${size}x${size}/apps/sam-desktop.png"
  grep -qx "$icon" <<<"$deb_files" || fail "the .deb lacks $icon"
  grep -qx "$icon" <<<"$rpm_files" || fail "the .rpm lacks $icon"
done
ok "both packages hold the app, the sam tool, AppStream metadata and icons at 10 sizes"

# Installing replaces whatever SAM package is there: not on a machine whose SAM is someone's.
if dpkg-query -W -f '${Status}' sam 2>/dev/null | grep -q 'install ok installed'; then
  echo "SAM's package is installed on this machine: the install checks would replace it, so" \
    "they are skipped (remove it with: apt-get remove sam)" >&2
  echo "package checks: $passed passed, install checks skipped"
  exit 0
fi

work=$(mktemp -d)
app=""
cleanup() {
  [ -z "$app" ] || kill "$app" 2>/dev/null || true
  if dpkg-query -W -f '${Status}' sam 2>/dev/null | grep -q 'install ok installed'; then
    as_root apt-get purge -y -q sam >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; fail "apt-get could not install $deb"; }
dpkg -L sam | sort >"$work/files"
ok "installed with apt-get"

version=$(sam --version)
[[ "$version" == *"$(dpkg-query -W -f '${Version}' sam)"* ]] || fail "sam --version said: $version"
ok "sam --version: $version"

entry=$(grep '^/usr/share/applications/.*\.desktop$' "$work/files")
[ "$(wc -l <<<"$entry")" = 1 ] || fail "not one desktop entry: $entry"
desktop-file-validate "$entry" || fail "desktop-file-validate refused $entry"
grep -qx 'Exec=sam-desktop %u' "$entry" || fail "$entry does not pass links: $(grep '^Exec' "$entry")"
grep -qx 'MimeType=x-scheme-handler/sam;' "$entry" || fail "$entry does not claim sam://"
metainfo=/usr/share/metainfo/dev.simple-agent-manager.desktop.metainfo.xml
appstreamcli validate --no-net "$metainfo" || fail "appstreamcli refused the AppStream metadata"
grep -q "<release version=\"$(dpkg-query -W -f '${Version}' sam)\"" "$metainfo" ||
  fail "the AppStream metadata names no release of this version (packaging/linux/)"
ok "desktop entry and AppStream metadata valid"

handler=$(xdg-mime query default x-scheme-handler/sam)
[ "$handler" = "$(basename "$entry")" ] || fail "the handler of sam:// is '$handler'"
ok "xdg-mime: sam:// opens with $handler"

# A link starts SAM (with its own data folder, in this session), which shows its window.
export SAM_DATA_DIR="$work/data"
gio open 'sam://open?repo=https%3A%2F%2Fgithub.com%2Fexample%2Fone.git' >"$work/app.log" 2>&1
wait_for 60 "SAM starting with the link" \
  sh -c 'cat "$SAM_DATA_DIR"/logs/* | grep "SAM started with a sam:// link" | grep -q "sam://open"'
app=$(pgrep -x sam-desktop)
[ "$(wc -w <<<"$app")" = 1 ] || fail "not one SAM running: $app"
[ "$(readlink "/proc/$app/exe")" = /usr/bin/sam-desktop ] || fail "SAM runs from $(readlink "/proc/$app/exe")"
wait_for 60 "SAM's window" sh -c 'xwininfo -root -tree | grep -q "\"SAM\""'
ok "gio open started the installed SAM with the link, and its window shows"

# A second link goes to the running SAM; the process it started hands it over and exits.
gio open 'sam://open?repo=https%3A%2F%2Fgithub.com%2Fexample%2Ftwo.git' >"$work/second.log" 2>&1
wait_for 60 "the running SAM receiving the link" \
  sh -c 'cat "$SAM_DATA_DIR"/logs/* | grep "a sam:// link arrived" | grep -q "sam://open"'
wait_for 30 "the second SAM exiting" sh -c '[ "$(pgrep -x sam-desktop)" = "$1" ]' _ "$app"
ok "a second link reached the running SAM, and only it runs"
if ls "${XDG_DATA_HOME:-$HOME/.local/share}"/applications/*sam* >/dev/null 2>&1; then
  fail "the installed SAM wrote a handler of its own: $(ls "${XDG_DATA_HOME:-$HOME/.local/share}"/applications/)"
fi
ok "the installed SAM wrote no desktop entry of its own"

kill "$app"
wait_for 30 "SAM quitting" sh -c '! kill -0 "$1"' _ "$app"
app=""

as_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q sam >"$work/remove.log" 2>&1 ||
  { cat "$work/remove.log" >&2; fail "apt-get could not remove sam"; }
while read -r file; do
  if [ -f "$file" ] || [ -L "$file" ]; then fail "$file is left after removal"; fi
done <"$work/files"
[ -z "$(xdg-mime query default x-scheme-handler/sam)" ] || fail "sam:// still has a handler"
ok "removed: none of its files left, sam:// has no handler"

echo "package checks: $passed passed"
