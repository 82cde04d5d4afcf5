#!/bin/sh
# SAM's first-boot script on a Hetzner server, run once by cloud-init's runcmd as root.
#
# It reads its settings from the root-only env file given as $1 (default
# /etc/sam-agent/boot.env), then: download (or receive from the app, see receive-agent.py) and
# verify the agent, install it, mount the workspace
# disk, block the metadata address, turn SSH off if no key was given, arm the idle backstop,
# start the agent. Each phase logs one line, `sam-boot: <phase>: ok` or
# `sam-boot: <phase>: FAILED: <reason>`, to stdout and to /var/log/sam-boot.log.
#
# Every absolute path it reads or writes is prefixed with $SAM_BOOT_ROOT (empty on a server), so
# a test can run it in a folder with stand-ins for the system commands on PATH (and a test
# receives the agent on $SAM_RECEIVE_PORT instead of 443).
set -eu

root=${SAM_BOOT_ROOT:-}
env_file=${1:-$root/etc/sam-agent/boot.env}
log_file=$root/var/log/sam-boot.log
agent_bin=$root/usr/local/bin/sam-agent
lib_dir=$root/usr/local/lib/sam-agent
unit_dir=$root/etc/systemd/system
state_dir=$root/var/lib/sam-agent
download_dir=$root/var/lib/sam-boot
# The agent's activity stamp; its postpone command touches it.
stamp=/var/lib/sam-agent/active
# The file whose creation asks root to power the server off; the agent's power-off command.
poweroff_request=/var/lib/sam-agent/poweroff-requested
# Capabilities the agent needs: bind 443, start shells as the workspace user, manage files in
# the workspace and signal its processes.
agent_caps=cap_net_bind_service,cap_setuid,cap_setgid,cap_chown,cap_dac_override,cap_fowner,cap_kill

mkdir -p "$root/var/log"
umask 022

phase=start
logged=

log() {
    echo "sam-boot: $1: $2"
    echo "sam-boot: $1: $2" >>"$log_file"
}

ok() {
    log "$phase" "ok${1:+: $1}"
}

fail() {
    log "$phase" "FAILED: $1"
    logged=1
    exit 1
}

# A command that failed without a reason of our own still leaves a FAILED line.
on_exit() {
    status=$?
    if [ "$status" -ne 0 ] && [ -z "$logged" ]; then
        log "$phase" "FAILED: exit status $status"
    fi
}
trap on_exit EXIT

# --- read-config ------------------------------------------------------------------------------
# The file is parsed, never sourced: nothing in it runs.
phase=read-config
agent_url=
agent_sha256=
agent_delivery=download
volume_device=
idle_limit_secs=
workspace_user=dev
agent_user=sam-agent
ssh=off
[ -r "$env_file" ] || fail "cannot read $env_file"
while IFS= read -r line || [ -n "$line" ]; do
    case $line in
    '' | '#'*) ;;
    SAM_AGENT_URL=*) agent_url=${line#*=} ;;
    SAM_AGENT_SHA256=*) agent_sha256=${line#*=} ;;
    SAM_AGENT_DELIVERY=*) agent_delivery=${line#*=} ;;
    SAM_VOLUME_DEVICE=*) volume_device=${line#*=} ;;
    SAM_IDLE_LIMIT_SECS=*) idle_limit_secs=${line#*=} ;;
    SAM_WORKSPACE_USER=*) workspace_user=${line#*=} ;;
    SAM_AGENT_USER=*) agent_user=${line#*=} ;;
    SAM_SSH=*) ssh=${line#*=} ;;
    *) fail "unknown setting ${line%%=*}" ;;
    esac
done <"$env_file"
case $agent_delivery in
download) [ -n "$agent_url" ] || fail "SAM_AGENT_URL is missing" ;;
push) ;;
*) fail "unknown SAM_AGENT_DELIVERY $agent_delivery" ;;
esac
[ -n "$agent_sha256" ] || fail "SAM_AGENT_SHA256 is missing"
ok

mkdir -p "$download_dir"
chmod 0700 "$download_dir"
download=$download_dir/sam-agent.download
rm -f "$download"
if [ "$agent_delivery" = push ]; then
    # --- receive-agent: the app sends its own agent (a build that publishes none) -------------
    # The first stage keeps only the binary whose SHA-256 is pinned above and runs nothing.
    phase=receive-agent
    command -v python3 >/dev/null 2>&1 || fail "python3 is missing, so the agent cannot be received"
    python3 "$lib_dir/receive-agent.py" "$agent_sha256" "$download" "${SAM_RECEIVE_PORT:-443}" 900 \
        2>>"$log_file" ||
        fail "no agent with the pinned checksum arrived within 15 minutes"
    ok
else
    # --- download-agent -----------------------------------------------------------------------
    phase="download-agent"
    curl --fail --silent --show-error --location --globoff --proto '=http,https' \
        --retry 10 --retry-delay 3 --retry-connrefused --connect-timeout 10 --max-time 300 \
        --output "$download" "$agent_url" 2>>"$log_file" ||
        fail "cannot download $agent_url (curl exit status $?)"
    ok
fi

# --- verify-agent: nothing is installed or started unless the checksum matches -----------------
phase=verify-agent
if ! echo "$agent_sha256  $download" | sha256sum -c --status - 2>/dev/null; then
    actual=$(sha256sum "$download" | cut -d ' ' -f 1)
    rm -f "$download"
    fail "checksum mismatch (expected $agent_sha256, got $actual)"
fi
ok

# --- install-agent ----------------------------------------------------------------------------
# File capabilities, not systemd's AmbientCapabilities: ambient capabilities are inherited by
# every program the agent starts, and Linux keeps them across the agent's switch to the
# workspace user, so that user's shells would hold CAP_SETUID (root). File capabilities belong
# to the agent's own process only; its children start with none.
phase=install-agent
mkdir -p "$(dirname "$agent_bin")"
install -m 0755 "$download" "$agent_bin"
rm -f "$download"
# A binary built against a newer C library than the server's does not start: say so now.
if ! version=$("$agent_bin" --version 2>&1); then
    fail "the agent does not run on this server: $(echo "$version" | head -n 1)"
fi
if ! command -v setcap >/dev/null 2>&1; then
    apt-get install -y -q libcap2-bin >>"$log_file" 2>&1 || fail "setcap is missing (install libcap2-bin)"
fi
setcap "$agent_caps=ep" "$agent_bin" || fail "setcap refused the agent binary"
ok

# --- mount-workspace --------------------------------------------------------------------------
phase=mount-workspace
mkdir -p "$root/workspace"
if [ -n "$volume_device" ]; then
    # Hetzner attaches the volume while the server boots; give it a minute to appear.
    waited=0
    while [ ! -e "$root$volume_device" ]; do
        [ "$waited" -lt 60 ] || fail "$volume_device did not appear within 60 s"
        sleep 1
        waited=$((waited + 1))
    done
    # A new volume is formatted once; an existing file system (the workspace) is never touched.
    fs_type=$(blkid -o value -s TYPE "$volume_device" || true)
    if [ -z "$fs_type" ]; then
        mkfs.ext4 -q -L sam-workspace "$volume_device" || fail "mkfs.ext4 $volume_device failed"
    fi
    if ! grep -q "[[:space:]]/workspace[[:space:]]" "$root/etc/fstab" 2>/dev/null; then
        echo "$volume_device /workspace ext4 defaults,nofail,discard 0 2" >>"$root/etc/fstab"
    fi
    mount "$root/workspace" || fail "cannot mount $volume_device at /workspace"
fi
chown "$workspace_user:$workspace_user" "$root/workspace"
ok

# --- block-metadata ---------------------------------------------------------------------------
# Only the agent may reach the metadata service (it holds user_data, and so the enrollment
# secret). A unit re-applies the rule on every boot; runcmd runs only once.
phase=block-metadata
mkdir -p "$unit_dir" "$lib_dir"
if command -v nft >/dev/null 2>&1; then
    cat >"$lib_dir/metadata.nft" <<EOF
table inet sam_metadata
delete table inet sam_metadata
table inet sam_metadata {
    chain output {
        type filter hook output priority 0; policy accept;
        ip daddr 169.254.169.254 meta skuid != "$agent_user" reject
    }
}
EOF
    block_command="$(command -v nft) -f /usr/local/lib/sam-agent/metadata.nft"
elif command -v iptables >/dev/null 2>&1; then
    block_command="/bin/sh -c 'iptables -C OUTPUT -d 169.254.169.254 -m owner ! --uid-owner $agent_user -j REJECT 2>/dev/null || iptables -I OUTPUT -d 169.254.169.254 -m owner ! --uid-owner $agent_user -j REJECT'"
else
    fail "neither nft nor iptables is installed"
fi
cat >"$unit_dir/sam-metadata-block.service" <<EOF
[Unit]
Description=SAM: only the agent may reach the cloud metadata address
Before=sam-agent.service
After=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$block_command

[Install]
WantedBy=multi-user.target
EOF
# `enable` reloads systemd's configuration itself, so no separate daemon-reload: each reload
# costs a second or more on a small server, and the boot path is what the user waits for.
systemctl enable --now sam-metadata-block.service || fail "the metadata rule did not load"
ok

# --- ssh --------------------------------------------------------------------------------------
phase=ssh
if [ "$ssh" = on ]; then
    ok "kept for the workspace user's keys"
else
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
    ok "turned off (no key given)"
fi

# --- arm-backstop: powers off an idle server even if the agent died ----------------------------
phase=arm-backstop
mkdir -p "$state_dir"
chmod 0700 "$state_dir"
# A fresh server gets the full idle period.
touch "$root$stamp"
chown "$agent_user:$agent_user" "$state_dir" "$root$stamp"
# The agent's own backstop cannot power the server off (it holds no such privilege); it asks by
# creating $poweroff_request, and this root path unit does it: the request file is the whole
# interface, and the only thing it can do is power off. The request is removed first, so a server
# powered on again does not power off at once.
cat >"$unit_dir/sam-poweroff.path" <<EOF
[Unit]
Description=SAM: the agent asked to power the server off

[Path]
PathExists=$poweroff_request

[Install]
WantedBy=multi-user.target
EOF
cat >"$unit_dir/sam-poweroff.service" <<EOF
[Unit]
Description=SAM: power off, as the agent's idle backstop asked

[Service]
Type=oneshot
ExecStartPre=/bin/rm -f $poweroff_request
ExecStart=/bin/systemctl poweroff
EOF
backstop_units=sam-poweroff.path
if [ -n "$idle_limit_secs" ]; then
    cat >"$lib_dir/backstop-check" <<'EOF'
#!/bin/sh
# Usage: backstop-check STAMP LIMIT_SECS. Powers the server off when STAMP (touched by the
# agent while the workspace is active) is older than LIMIT_SECS, or missing.
set -eu
now=$(date +%s)
last=$(stat -c %Y "$1" 2>/dev/null || echo 0)
if [ $((now - last)) -ge "$2" ]; then
    echo "sam-backstop: idle for $((now - last)) s (limit $2 s): powering off"
    systemctl poweroff
fi
EOF
    chmod 0755 "$lib_dir/backstop-check"
    cat >"$unit_dir/sam-backstop.service" <<EOF
[Unit]
Description=SAM idle backstop: power off when the workspace has been idle too long

[Service]
Type=oneshot
ExecStart=/usr/local/lib/sam-agent/backstop-check $stamp $idle_limit_secs
EOF
    cat >"$unit_dir/sam-backstop.timer" <<EOF
[Unit]
Description=SAM idle backstop, every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=5s

[Install]
WantedBy=timers.target
EOF
    backstop_units="$backstop_units sam-backstop.timer"
fi
# shellcheck disable=SC2086 # the unit names are words
systemctl enable --now $backstop_units || fail "the backstop units did not start ($backstop_units)"
if [ -n "$idle_limit_secs" ]; then
    ok "power off after $idle_limit_secs s without activity"
else
    ok "no idle timeout"
fi

# --- start-agent ------------------------------------------------------------------------------
phase=start-agent
cat >"$unit_dir/sam-agent.service" <<EOF
[Unit]
Description=SAM workspace agent
Wants=network-online.target
After=network-online.target sam-metadata-block.service

[Service]
User=$agent_user
Group=$agent_user
# The binary carries file capabilities ($agent_caps): bind 443 and start shells and jobs as
# $workspace_user. They make the agent root-equivalent; its children get none of them, and
# $workspace_user cannot signal, trace or read a process of another user.
ExecStart=/usr/local/bin/sam-agent --config /etc/sam-agent/config.json
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
systemctl enable --now sam-agent.service || fail "systemctl could not start sam-agent"
ok

# --- slow steps -------------------------------------------------------------------------------
# The agent is up: terminals work from here on. Later slow steps (Docker, the dev container)
# go below, each as its own phase.

phase="done"
ok
