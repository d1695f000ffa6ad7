#!/usr/bin/env bash
# Builds a small disk that really boots, as a physical machine's disk would (root only):
#
#   p2v_image.sh OUT_DIR      -> OUT_DIR/boot.img (cached: kept if already there)
#
# 64 MiB, an MBR with syslinux's boot code, one bootable ext4 partition holding extlinux,
# Debian's cloud kernel and a busybox initramfs whose init prints "3RC-P2V-GUEST: init" on the
# serial console. Everything comes from Debian packages: the kernel and busybox are downloaded
# (apt-get download) and unpacked (dpkg-deb -x), nothing is installed; sfdisk, mkfs.ext4 and
# extlinux come from .ci/deps. The partition is mounted in a private mount namespace only.
set -euo pipefail
out=${1:?usage: p2v_image.sh OUT_DIR}
[ "$(id -u)" -eq 0 ] || { echo "p2v_image: needs root (loop mount for extlinux)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -s "$out/boot.img" ] && exit 0
work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "p2v_image: no linux-image-cloud-amd64 in the package lists (apt-get update?)" >&2; exit 1; }
apt-get download -q -o APT::Sandbox::User=root "$kernel_pkg" busybox-static >/dev/null
dpkg-deb -x linux-image-*.deb pkg
dpkg-deb -x busybox-static_*.deb pkg

mkdir -p initrd/bin initrd/proc initrd/sys initrd/dev root/boot/extlinux
cp pkg/bin/busybox initrd/bin/busybox
ln -s busybox initrd/bin/sh
cat > initrd/init <<'INIT'
#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "3RC-P2V-GUEST: init running, kernel $(/bin/busybox uname -r)"
while true; do /bin/busybox sleep 5; echo "3RC-P2V-GUEST: alive"; done
INIT
chmod +x initrd/init
(cd initrd && find . | "$work/pkg/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1) > root/boot/initrd.img
cp pkg/boot/vmlinuz-* root/boot/vmlinuz
cat > root/boot/extlinux/extlinux.conf <<'CONF'
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  LINUX /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND console=ttyS0 panic=-1
CONF

# The partition: 63 MiB of ext4 (no 64bit/metadata_csum: extlinux 6.04 reads it).
truncate -s 63M part.img
mkfs.ext4 -q -F -L p2vroot -O ^64bit,^metadata_csum part.img
mkdir mnt
unshare -m --propagation private sh -c 'mount -o loop part.img mnt && cp -r root/boot mnt/ && extlinux --install mnt/boot/extlinux >/dev/null 2>&1; rc=$?; umount mnt; exit $rc'

truncate -s 64M disk.img
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q disk.img
dd if=part.img of=disk.img bs=1M seek=1 conv=notrunc status=none
dd if=/usr/lib/syslinux/mbr/mbr.bin of=disk.img bs=440 count=1 conv=notrunc status=none
mv disk.img "$out/boot.img"
