#!/usr/bin/env bash
# Builds the Debian 12 server image the VM tests boot under QEMU (software emulation), once:
# a root file system from Debian's packages (debootstrap) with systemd, cloud-init and the
# cloud kernel, as a raw ext4 disk, with the kernel and initramfs beside it for direct boot.
#
#   scripts/lib/vm-image.sh            prints the folder holding disk.img, vmlinuz, initrd.img
#
# The image is cached outside the checkout in $SAM_VM_CACHE (default ~/.cache/sam-vm), in a
# folder named after this script's hash: a change to the recipe builds a new image, and an
# unchanged one is reused. Needs root (debootstrap, chroot) and the packages debootstrap and
# e2fsprogs; the mirror is the one apt uses on this machine.

set -euo pipefail

SAM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache="${SAM_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sam-vm}"
recipe=$(sha256sum "$SAM_ROOT/scripts/lib/vm-image.sh" | cut -c1-16)
image="$cache/debian12-$recipe"

# One build at a time: a second caller waits, then finds the image ready.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

if [ -f "$image/ready" ]; then
  echo "$image"
  exit 0
fi

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The mirror apt is configured with (deb822 or one-line sources), else Debian's.
mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -v security | head -n1 | sed 's/^URIs: *//') || true
  if [ -z "$uri" ]; then
    uri=$(grep -hoE '^deb +(\[[^]]*\] +)?[^ ]+' /etc/apt/sources.list 2>/dev/null |
      grep -v security | head -n1 | awk '{print $NF}') || true
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sam-vm-image.XXXXXX")
rootfs="$work/rootfs"
cleanup() {
  umount "$rootfs/proc" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "building the VM image (Debian 12, once per recipe) in $image"
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,iproute2,ca-certificates,curl,git,sudo,e2fsprogs,nftables,libcap2-bin,openssh-client,openssh-sftp-server,procps \
  bookworm "$rootfs" "$(mirror)" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}

mount -t proc proc "$rootfs/proc"
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# No service starts inside the image build's chroot.
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  initramfs-tools linux-image-cloud-amd64 cloud-init >"$work/packages.log" 2>&1 || {
  tail -n 30 "$work/packages.log" >&2
  exit 1
}
rm -f "$rootfs/usr/sbin/policy-rc.d"
chroot "$rootfs" apt-get clean
umount "$rootfs/proc"

# The disk, its network, and cloud-init: a NoCloud seed when the kernel command line names one
# (scripts/lib/vm-boot.sh), else Hetzner's metadata service (fake-hetzner's VM servers present
# themselves as Hetzner in SMBIOS, as Hetzner's servers do).
echo "/dev/vda / ext4 defaults 0 1" >"$rootfs/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n' \
  >"$rootfs/etc/network/interfaces"
echo "sam-vm" >"$rootfs/etc/hostname"
cat >"$rootfs/etc/cloud/cloud.cfg.d/90-sam.cfg" <<'EOF'
datasource_list: [ NoCloud, Hetzner, None ]
EOF

# The tests' root console, which no real server has: a root shell reading one command per line
# from the virtio port org.sam.test.root (a Unix socket on the host) and answering with the
# command's output and `@@sam-exit STATUS`. The tests use it to look inside (as root, and as
# the workspace user through runuser) and to break things on purpose (kill the agent).
cat >"$rootfs/usr/local/sbin/sam-test-console" <<'EOF'
#!/bin/sh
# The port is opened once and kept open: the guest kernel throws away what arrived for a port
# that is closed, so a console that reopened it could lose a command. While no host program is
# connected to its socket, a read ends at once (end of file): look again soon. What it does is
# said on the machine's serial console, for when a test cannot reach it.
port=/dev/virtio-ports/org.sam.test.root
say() { echo "sam-test-console: $*"; }
[ -c "$port" ] || { say "no port $port yet"; exit 1; }
exec 3<>"$port"
say "listening"
connected=no
while :; do
  if IFS= read -r line <&3; then
    [ "$connected" = yes ] || say "a host connected"
    connected=yes
    sh -c "$line" </dev/null >&3 2>&1 3>&-
    status=$?
    echo "@@sam-exit $status" >&3
    say "ran a command (exit status $status)"
  else
    [ "$connected" = no ] || say "the host left"
    connected=no
    sleep 0.2
  fi
done
EOF
chmod 0755 "$rootfs/usr/local/sbin/sam-test-console"
# Started at every boot, and again a second after it ends (while the port is not there yet, it
# ends at once). Not from a udev rule on the port: a device udev has seen in the initramfs does
# not always pull in its SYSTEMD_WANTS at the switch to the real root, and the console was then
# missing for the whole boot.
cat >"$rootfs/etc/systemd/system/sam-test-console.service" <<'EOF'
[Unit]
Description=Root console for SAM's VM tests (test image only)
StartLimitIntervalSec=0

[Service]
ExecStart=/usr/local/sbin/sam-test-console
StandardOutput=journal+console
Restart=always
RestartSec=1

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$rootfs/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/sam-test-console.service \
  "$rootfs/etc/systemd/system/multi-user.target.wants/sam-test-console.service"

mkdir -p "$work/out"
kernels=("$rootfs"/boot/vmlinuz-*)
initrds=("$rootfs"/boot/initrd.img-*)
cp "${kernels[0]}" "$work/out/vmlinuz"
cp "${initrds[0]}" "$work/out/initrd.img"
mkfs.ext4 -q -L sam-root -d "$rootfs" "$work/out/disk.img" 3G >&2
touch "$work/out/ready"

rm -rf "$image"
mv "$work/out" "$image"
# Images of earlier recipes are not needed any more.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'debian12-*' ! -path "$image" -exec rm -rf {} +
say "VM image ready: $image"
echo "$image"
