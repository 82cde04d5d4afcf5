# Installs what SAM needs on a Debian 12 / Ubuntu machine, skipping whatever is already there.
# Sourced by scripts/run-app and scripts/test; every function is idempotent.

set -euo pipefail

SAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export SAM_ROOT

# Needed to compile the app (WebKitGTK brings GTK 3, libsoup 3 and JavaScriptCore).
APT_BUILD=(build-essential pkg-config curl ca-certificates libwebkit2gtk-4.1-dev libssl-dev)
# Loaded at run time: the tray's indicator library is dlopen'ed, not linked.
APT_RUN=(libayatana-appindicator3-1 fonts-dejavu-core)
# The test bench: X server, WebDriver, D-Bus session, Secret Service, notification daemon.
# (Never dbus-x11: it makes GTK auto-launch stray session buses.)
APT_TEST=(xvfb xauth webkit2gtk-driver dbus gnome-keyring dunst libnotify-bin libglib2.0-bin
  xdg-utils imagemagick vim-tiny procps iproute2 python3 xclip cloud-init openssh-client
  openssh-sftp-server)
# The lint tools: a venv for PyPI tools, and ShellCheck, which actionlint runs on `run:` steps.
APT_LINT=(python3-venv shellcheck)
# Building the Linux packages (scripts/package): the tray library's headers, which Tauri's
# bundler looks for, and help2man for the sam tool's manual page.
APT_PACKAGE_BUILD=(libayatana-appindicator3-dev help2man)
# Checking them (scripts/lib/package-test.sh): the linters, rpm to read an .rpm, the desktop
# entry and AppStream validators, xwininfo to see the installed app's window.
APT_PACKAGE=("${APT_PACKAGE_BUILD[@]}" lintian rpmlint rpm desktop-file-utils appstream x11-utils)
# The Windows check: a C compiler for the crates that build C code (ring).
APT_WINDOWS=(gcc-mingw-w64-x86-64)
# The VM tier (tests/vm): QEMU and the image builder. qemu-utils (qemu-img) goes in a second
# step: a machine with a newer qemu-utils from backports loses it when qemu-system-x86 comes in,
# and asking for both at once is refused as held broken packages.
APT_VM=(qemu-system-x86 debootstrap e2fsprogs)
APT_VM_UTILS=(qemu-utils)

# Lint tools from PyPI live here, outside the checkout, shared by every worktree.
SAM_TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/sam-tools"
SAM_REAL_AGENTS="${XDG_CACHE_HOME:-$HOME/.cache}/sam-real-agents"

# The oldest Node.js that Vite 8 supports.
NODE_MIN_MAJOR=20
NODE_MIN_MINOR=19

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_apt() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

ensure_rust() {
  if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null; then
    say "installing Rust (rustup, stable)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
      sh -s -- -y --profile minimal --component clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if command -v rustup >/dev/null; then
    for component in clippy rustfmt; do
      rustup component list --installed 2>/dev/null | grep -q "^$component" ||
        rustup component add "$component"
    done
  fi
}

node_is_recent() {
  command -v node >/dev/null || return 1
  local version major minor
  version="$(node --version)"
  version="${version#v}"
  major="${version%%.*}"
  minor="${version#*.}"
  minor="${minor%%.*}"
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}

ensure_node() {
  node_is_recent && return
  command -v npm >/dev/null || ensure_apt nodejs npm
  if ! node_is_recent; then
    say "installing Node.js 22 from the npm registry (the distribution's is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR)"
    as_root npm install -g --no-fund --no-audit node@22
    hash -r
  fi
}

# Installs the UI's npm packages when package-lock.json changed since the last install.
ensure_ui_deps() {
  local stamp="$SAM_ROOT/ui/node_modules/.sam-lock-sha256" want
  want="$(sha256sum "$SAM_ROOT/ui/package-lock.json" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing the UI's npm packages"
    (cd "$SAM_ROOT/ui" && npm ci --no-fund --no-audit)
    echo "$want" >"$stamp"
  fi
}

# Installs the real coding-agent adapters the tests run against local fakes of their vendors
# (tests/core/real_agents.rs) into $SAM_REAL_AGENTS, once per version, and exports where.
ensure_real_agents() {
  local want="@agentclientprotocol/codex-acp@2.6.0"
  local stamp="$SAM_REAL_AGENTS/.sam-installed"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing $want (a real coding agent, for tests)"
    rm -rf "$SAM_REAL_AGENTS"
    mkdir -p "$SAM_REAL_AGENTS"
    npm install --prefix "$SAM_REAL_AGENTS" --no-fund --no-audit --no-save "$want"
    echo "$want" >"$stamp"
  fi
  export SAM_REAL_AGENTS
}

# Installs the PyPI lint tools (scripts/lib/tools-requirements.txt) into a venv under $SAM_TOOLS
# when the requirements changed since the last install, and puts the venv's bin/ first on PATH.
ensure_tools() {
  local requirements="$SAM_ROOT/scripts/lib/tools-requirements.txt"
  local stamp="$SAM_TOOLS/.sam-requirements-sha256" want
  want="$(sha256sum "$requirements" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing lint tools into $SAM_TOOLS"
    rm -rf "$SAM_TOOLS"
    python3 -m venv "$SAM_TOOLS"
    "$SAM_TOOLS/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
      --only-binary=:all: -r "$requirements"
    echo "$want" >"$stamp"
  fi
  export PATH="$SAM_TOOLS/bin:$PATH"
}

build_ui() {
  say "building the UI"
  (cd "$SAM_ROOT/ui" && npm run --silent build)
}
