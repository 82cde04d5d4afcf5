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
  --include=systemd-sysv,udev,kmod,ifupdown,isc-dhcp-client,iproute2,ca-certificates,curl,git,sudo,e2fsprogs,nftables,libcap2-bin,openssh-client \
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

# The disk, its network, and cloud-init reading a NoCloud seed (the tests write it per server).
echo "/dev/vda / ext4 defaults 0 1" >"$rootfs/etc/fstab"
printf 'auto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n' \
  >"$rootfs/etc/network/interfaces"
echo "sam-vm" >"$rootfs/etc/hostname"
cat >"$rootfs/etc/cloud/cloud.cfg.d/90-sam.cfg" <<'EOF'
datasource_list: [ NoCloud, None ]
EOF

mkdir -p "$work/out"
kernels=("$rootfs"/boot/vmlinuz-*)
initrds=("$rootfs"/boot/initrd.img-*)
cp "${kernels[0]}" "$work/out/vmlinuz"
cp "${initrds[0]}" "$work/out/initrd.img"
mkfs.ext4 -q -L sam-root -d "$rootfs" "$work/out/disk.img" 3G >&2
touch "$work/out/ready"

mkdir -p "$cache"
rm -rf "$image"
mv "$work/out" "$image"
# Images of earlier recipes are not needed any more.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name 'debian12-*' ! -path "$image" -exec rm -rf {} +
say "VM image ready: $image"
echo "$image"
