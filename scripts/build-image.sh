#!/usr/bin/env bash
# Build the lab host image: Debian 12 with systemd as PID 1, python3 and sshd, from debootstrap.
# Built once; skipped when the image exists and its recipe (this file) has not changed.
# Usage: scripts/build-image.sh [--force]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"

image=${TENREC_LAB_IMAGE:-localhost/tenrec-lab-debian12:latest}
mirror=${TENREC_DEBIAN_MIRROR:-http://deb.debian.org/debian}
recipe=$(sha256sum "$0" | cut -c1-16)

if [ "${1:-}" != "--force" ] &&
   [ "$(podman image inspect --format '{{index .Labels "tenrec.recipe"}}' "$image" 2>/dev/null)" = "$recipe" ]; then
  echo "lab image $image is up to date (recipe $recipe)"
  exit 0
fi

root=$(mktemp -d /var/tmp/tenrec-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm into $root ..."
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,ca-certificates,iproute2,procps,iputils-ping,less,gnupg \
  bookworm "$root" "$mirror" >/var/tmp/tenrec-debootstrap.log 2>&1 ||
  { tail -20 /var/tmp/tenrec-debootstrap.log; exit 1; }

cat >"$root/etc/apt/sources.list" <<SRC
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
SRC
# A container has no console, udev or time to set: mask what only fails there.
for unit in getty@tty1.service console-getty.service systemd-udevd.service \
            systemd-udev-trigger.service systemd-timesyncd.service \
            systemd-networkd-wait-online.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
# Keep apt lean inside lab hosts: no recommends, no docs.
cat >"$root/etc/apt/apt.conf.d/90tenrec-lab" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' \
  >"$root/etc/dpkg/dpkg.cfg.d/90tenrec-nodoc"
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
# Empty package lists must look stale, so the first apt task refreshes them.
touch -d @0 "$root/var/lib/apt/lists"
: >"$root/etc/machine-id"

echo "podman import as $image ..."
tar -C "$root" -c . | podman import --quiet \
  --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL tenrec.recipe=$recipe" - "$image" >/dev/null
echo "lab image $image built (recipe $recipe)"
