#!/usr/bin/env bash
# Boots one server of the VM tier under QEMU (software emulation) and waits for it to power off:
# a copy-on-write disk over the cached image (scripts/lib/vm-image.sh), cloud-init fed USER_DATA
# through a NoCloud seed served on loopback (the guest reaches the host as 10.0.2.2), and the
# serial console written to LOG.
#
#   scripts/lib/vm-boot.sh USER_DATA LOG [SECONDS]
#
# Exits 0 once the guest powered itself off, 1 when it did not within SECONDS (default 300; the
# machine is then killed). A user_data that ends in `poweroff` is a complete boot check.

set -euo pipefail

SAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
user_data=${1:?usage: vm-boot.sh USER_DATA LOG [SECONDS]}
log=${2:?usage: vm-boot.sh USER_DATA LOG [SECONDS]}
seconds=${3:-300}

image=$("$SAM_ROOT/scripts/lib/vm-image.sh")
work=$(mktemp -d "${TMPDIR:-/tmp}/sam-vm-boot.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The seed: NoCloud over HTTP, from a server on a free loopback port.
mkdir -p "$work/seed"
cp "$user_data" "$work/seed/user-data"
printf 'instance-id: sam-vm-%s\nlocal-hostname: sam-vm\n' "$RANDOM" >"$work/seed/meta-data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/seed" >"$work/seed.log" 2>&1 &
pids+=($!)

qemu-img create -q -f qcow2 -b "$image/disk.img" -F raw "$work/disk.qcow2"
qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 1024 -smp 2 \
  -display none -serial "file:$log" -monitor none -no-reboot \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
  -drive "file=$work/disk.qcow2,if=virtio,format=qcow2" \
  -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
  -append "console=ttyS0 root=/dev/vda rw net.ifnames=0 ds=nocloud-net;s=http://10.0.2.2:$port/" &
qemu=$!
pids+=("$qemu")

waited=0
while kill -0 "$qemu" 2>/dev/null; do
  if [ "$waited" -ge "$seconds" ]; then
    echo "vm-boot: the machine did not power off within $seconds s; its console is in $log" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
wait "$qemu"
echo "vm-boot: powered off after $waited s" >&2
