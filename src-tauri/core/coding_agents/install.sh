#!/bin/sh
# Installs a coding agent distributed on npm on the workspace's machine, into PREFIX (a folder
# that outlives the session: SAM's data folder on this computer, the workspace's disk on a
# server), with a Node.js new enough for it, and says how to start it.
#
# Usage: install.sh PREFIX PACKAGE NODE_MIN
#   PACKAGE is what npm installs (name@version, or a tarball's path); NODE_MIN the Node.js major
#   version it needs at least (0: any).
# Output: progress lines "sam-install: …", npm's own lines, and last
#   "sam-install-ready<TAB>PATH<TAB>PROGRAM": PROGRAM is run with that PATH, this machine's with
#   the chosen Node.js's folder first, so that its "#!/usr/bin/env node" finds that Node.js.
# Exit status: 0 ready; 3 neither a new enough Node.js nor npm to install one with; 4 npm could
#   not install the package; 5 npm could not install Node.js; 6 the package has no program;
#   7 PREFIX cannot be written.
set -u
prefix=$1 package=$2 node_min=${3:-0}

say() { printf 'sam-install: %s\n' "$*"; }
major() { "$1" --version 2>/dev/null | sed -n 's/^v\([0-9][0-9]*\).*/\1/p'; }
new_enough() { v=$(major "$1"); [ "${v:-0}" -ge "$node_min" ]; }

if ! mkdir -p "$prefix" 2>/dev/null || ! [ -w "$prefix" ]; then
  say "cannot write $prefix"
  exit 7
fi
# A prefix inside the repository (a server's workspace disk is the repository) stays out of git.
case $prefix in
  /*) ;;
  *)
    top=${prefix%%/*}
    if [ -d .git/info ] && ! grep -qx "/$top/" .git/info/exclude 2>/dev/null; then
      printf '/%s/\n' "$top" >>.git/info/exclude
    fi
    ;;
esac
prefix=$(cd "$prefix" && pwd)
if ! command -v npm >/dev/null 2>&1; then
  say "npm is not installed on this machine"
  exit 3
fi
# npm's own caches and logs stay in the prefix, away from the user's.
export npm_config_cache="$prefix/.npm" npm_config_update_notifier=false npm_config_fund=false \
  npm_config_audit=false

# Node.js: the machine's when it is new enough, else one from npm's node-linux-<arch> package.
node_dir=""
if command -v node >/dev/null 2>&1 && new_enough node; then
  node_dir=$(dirname "$(command -v node)")
else
  case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) say "no Node.js $node_min for $(uname -m)"; exit 5 ;;
  esac
  # The version asked for, or the long-term one when any would do.
  wanted=$node_min
  [ "$wanted" -gt 0 ] || wanted=22
  node_prefix="$prefix/node-$wanted"
  node_dir="$node_prefix/node_modules/node-linux-$arch/bin"
  if ! [ -x "$node_dir/node" ] || ! new_enough "$node_dir/node"; then
    had=$(major node || true)
    say "installing Node.js $wanted (this machine has ${had:-none}${had:+ only})"
    npm install --prefix "$node_prefix" --no-save "node-linux-$arch@$wanted" || exit 5
  fi
  new_enough "$node_dir/node" || { say "the Node.js installed is older than $node_min"; exit 5; }
fi

# The package, once per version: a folder named after what was asked, marked when complete.
slot="$prefix/packages/$(printf '%s' "$package" | tr -c 'A-Za-z0-9._@-' '_')"
if ! [ -f "$slot/.sam-installed" ]; then
  say "installing $package"
  rm -rf "$slot"
  PATH="$node_dir:$PATH" npm install --prefix "$slot" "$package" || exit 4
  touch "$slot/.sam-installed"
fi

# Its program: the package's only bin, or the one named after it (what npx runs).
name=$(cd "$slot" && PATH="$node_dir:$PATH" node -e '
  const deps = require("./package.json").dependencies || {};
  const name = Object.keys(deps)[0] || "";
  const pkg = require("./node_modules/" + name + "/package.json");
  const bins = typeof pkg.bin === "string" ? { [name.split("/").pop()]: pkg.bin } : pkg.bin || {};
  const keys = Object.keys(bins);
  process.stdout.write(keys.length === 1 ? keys[0] : keys.find((k) => k === name.split("/").pop()) || "");
') || name=""
if [ -z "$name" ] || ! [ -x "$slot/node_modules/.bin/$name" ]; then
  say "$package has no program to run"
  exit 6
fi
printf 'sam-install-ready\t%s\t%s\n' "$node_dir:$PATH" "$slot/node_modules/.bin/$name"
