#!/usr/bin/env bash
# The execution environment (execution-environment.yml).
#   create  the collection tarball and ansible-builder's build context (.cache/ee/context)
#   build   create, the base image (Debian 12 + python3 + pip, debootstrap; once per recipe),
#           then the EE image localhost/tenrec-ee:latest with ansible-builder and podman
# Usage: scripts/ee.sh create|build
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$here/scripts/env.sh"
cd "$here"
out=.cache/ee
base=localhost/tenrec-ee-base:bookworm
mirror=${TENREC_DEBIAN_MIRROR:-http://deb.debian.org/debian}

create() {
  mkdir -p "$out"
  rm -f "$out"/tenrec-dataplane-[0-9]*.tar.gz
  ansible-galaxy collection build --force --output-path "$out" . >/dev/null
  # execution-environment.yml names the tarball without its version. A rebuild of the same checkout
  # differs only in its time stamps: the old tarball is kept then, so podman's layer cache still holds.
  local new tarball="$out/tenrec-dataplane.tar.gz"
  new=$(ls "$out"/tenrec-dataplane-*.tar.gz)
  if [ -f "$tarball" ] && cmp -s <(tar -tzf "$tarball") <(tar -tzf "$new") &&
     cmp -s <(tar -xOzf "$tarball") <(tar -xOzf "$new"); then
    rm -f "$new"
  else
    mv "$new" "$tarball"
  fi
  ansible-builder create -f execution-environment.yml -c "$out/context" --output-filename Containerfile
}

base_image() {
  local recipe
  recipe=$(sed -n '/^base_image() {$/,/^}$/p' "$0" | sha256sum | cut -c1-16)
  if [ "$(podman image inspect --format '{{index .Labels "tenrec.recipe"}}' "$base" 2>/dev/null)" = "$recipe" ]; then
    echo "ee: base image $base is up to date (recipe $recipe)"
    return
  fi
  local root
  root=$(mktemp -d /var/tmp/tenrec-ee-rootfs.XXXXXX)
  echo "ee: debootstrap bookworm into $root ..."
  debootstrap --variant=minbase --include=python3,python3-pip,openssh-client,ca-certificates,git \
    bookworm "$root" "$mirror" >/var/tmp/tenrec-ee-debootstrap.log 2>&1 ||
    { tail -20 /var/tmp/tenrec-ee-debootstrap.log; rm -rf "$root"; exit 1; }
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
         "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | podman import --change "LABEL tenrec.recipe=$recipe" - "$base" >/dev/null
  rm -rf "$root"
  echo "ee: built $base"
}

# One at a time: scripts/test.sh builds the image in one lane while the site scenario's EE test may
# build it in the other; the second build waits, then finds podman's cache filled.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

case "${1:-}" in
  create) create ;;
  build)
    create
    base_image
    # Where PyPI is reached through a TLS-inspecting proxy, its CA is in this machine's bundle only:
    # the build steps see that bundle (TENREC_EE_CA_BUNDLE, empty for none); the image keeps its own.
    ca=${TENREC_EE_CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}
    podman build ${ca:+--volume "$ca:/etc/ssl/certs/ca-certificates.crt:ro"} \
      -f "$out/context/Containerfile" -t localhost/tenrec-ee:latest "$out/context"
    ;;
  *) echo "usage: $0 create|build" >&2; exit 2 ;;
esac
