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
# Without npm on the machine, Node.js and npm come from the registry (npm_config_registry, else
# registry.npmjs.org) with curl, checked against the registry's checksums.
# Exit status: 0 ready; 3 no npm, and no curl (or no Node.js for this machine) to fetch one
#   with; 4 npm could not install the package; 5 Node.js (or npm) could not be installed;
#   6 the package has no program; 7 PREFIX cannot be written.
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
# npm's own caches and logs stay in the prefix, away from the user's.
export npm_config_cache="$prefix/.npm" npm_config_update_notifier=false npm_config_fund=false \
  npm_config_audit=false
registry=${npm_config_registry:-https://registry.npmjs.org}
registry=${registry%/}

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) arch="" ;;
esac
# The Node.js version asked for, or the long-term one when any would do.
wanted=$node_min
[ "$wanted" -gt 0 ] || wanted=22

fetch() { curl -fsSL --retry 3 --connect-timeout 20 "$@"; }

# DIR PACKAGE VERSION: unpacks a package's tarball from the registry into $boot/DIR, checked
# against the registry's checksum of it.
unpack() {
  doc=$(fetch "$registry/$2/$3") || return 1
  url=$(printf '%s' "$doc" | sed -n 's/.*"tarball": *"\([^"]*\)".*/\1/p')
  sum=$(printf '%s' "$doc" | sed -n 's/.*"shasum": *"\([0-9a-f]*\)".*/\1/p')
  [ -n "$url" ] && [ -n "$sum" ] || return 1
  fetch -o "$boot/$1.tgz" "$url" || return 1
  echo "$sum  $boot/$1.tgz" | sha1sum -c --quiet >/dev/null 2>&1 || {
    say "the download of $2 $3 does not match the registry's checksum"
    return 1
  }
  rm -rf "$boot/$1" && mkdir -p "$boot/$1" &&
    tar -xzf "$boot/$1.tgz" -C "$boot/$1" --strip-components=1 && rm -f "$boot/$1.tgz"
}

# A machine without npm (a fresh server) gets Node.js and npm from the registry itself: the
# newest node-linux-<arch> of the version wanted, and npm's latest, into the prefix.
if ! command -v npm >/dev/null 2>&1; then
  boot="$prefix/node-$wanted-boot"
  if ! [ -x "$boot/node/bin/node" ] || ! [ -f "$boot/npm/bin/npm-cli.js" ]; then
    if [ -z "$arch" ]; then
      say "npm is not installed on this machine, and there is no Node.js for $(uname -m)"
      exit 3
    fi
    if ! command -v curl >/dev/null 2>&1; then
      say "npm is not installed on this machine, and there is no curl to fetch it with"
      exit 3
    fi
    say "installing Node.js $wanted and npm (this machine has no npm)"
    mkdir -p "$boot"
    version=$(fetch -H 'Accept: application/vnd.npm.install-v1+json' "$registry/node-linux-$arch" |
      grep -o "\"$wanted\\.[0-9]*\\.[0-9]*\"" | tr -d '"' | sort -uV | tail -n 1) || version=""
    [ -n "$version" ] || { say "the registry has no Node.js $wanted for $arch"; exit 5; }
    unpack node "node-linux-$arch" "$version" || { say "Node.js $version could not be fetched"; exit 5; }
    npm_version=$(fetch "$registry/-/package/npm/dist-tags" |
      sed -n 's/.*"latest": *"\([^"]*\)".*/\1/p') || npm_version=""
    [ -n "$npm_version" ] || { say "the registry does not say which npm is current"; exit 5; }
    unpack npm npm "$npm_version" || { say "npm $npm_version could not be fetched"; exit 5; }
  fi
  mkdir -p "$boot/bin"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$boot/node/bin/node" "$boot/npm/bin/npm-cli.js" >"$boot/bin/npm"
  chmod +x "$boot/bin/npm" "$boot/node/bin/node"
  PATH="$boot/node/bin:$boot/bin:$PATH"
  export PATH
  # Node.js trusts its own certificate authorities; the machine's may add a proxy's.
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
fi

# Node.js: the machine's when it is new enough, else one from npm's node-linux-<arch> package.
node_dir=""
if command -v node >/dev/null 2>&1 && new_enough node; then
  node_dir=$(dirname "$(command -v node)")
else
  [ -n "$arch" ] || { say "no Node.js $node_min for $(uname -m)"; exit 5; }
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
