#!/usr/bin/env bash
# lab/guest/build.sh OUTDIR
#
# Builds the lab's tiny OpenStack guest image from Debian 12 packages only
# (the lab reaches the Debian mirror and PyPI, nothing else; CirrOS is out of
# reach). Writes:
#   OUTDIR/vmlinuz     the Debian kernel (linux-image-6.1.0-*-amd64)  -> Glance AKI
#   OUTDIR/initrd.img  gzip'd newc cpio: busybox-static, the virtio modules
#                      that are not built in, and /init                -> Glance ARI
#   OUTDIR/root.img    1 MiB of zeros (the AMI; the guest never reads it)
#   OUTDIR/.recipe     sha256 of this script; when it already matches and the
#                      three files exist, the script does nothing and exits 0
#
# /init prints its progress on the first serial port (ttyS0, what nova logs to console.log), every
# line prefixed "tenrec-guest: ":
#   dhcp eth0 <ip>/<prefix> router <router|none>   |  dhcp failed
#   metadata uuid <uuid>                           |  metadata failed
#   ping <ip> ok                                   |  ping <ip> failed   (one per peer=<ip> line of user_data)
#   ready
# then it sleeps forever (the kernel keeps answering ping). Timeouts (seconds)
# can be overridden on the kernel cmdline: tenrec.dhcp_timeout=60
# tenrec.metadata_timeout=120 tenrec.ping_timeout=240.
#
# Needs root on Debian 12 with apt sources for bookworm; host tools: apt-get,
# apt-cache, dpkg, gzip, xz (xz-utils), cpio (installed here if missing),
# coreutils, findutils, sed, gawk/mawk.
set -euo pipefail

# Kernel config symbols whose drivers the guest needs; =y needs nothing, =m
# puts the module (and the modules it depends on) into the initrd.
NEEDED_CONFIG=(
  "CONFIG_PACKET af_packet"          # udhcpc's raw socket
  "CONFIG_VIRTIO_PCI virtio_pci"     # virtio devices on the PCI bus
  "CONFIG_FAILOVER failover"
  "CONFIG_NET_FAILOVER net_failover"
  "CONFIG_VIRTIO_NET virtio_net"     # the NIC
  "CONFIG_VIRTIO_BLK virtio_blk"     # the root disk
)
BUSYBOX_APPLETS=(sh mount insmod ip udhcpc wget ping sed grep tr head cat sleep mkdir ln timeout)

log() { printf 'build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
outdir=$1
script=$(readlink -f "${BASH_SOURCE[0]}")
recipe=$(sha256sum "$script" | awk '{print $1}')

if [[ -f $outdir/.recipe && $(<"$outdir/.recipe") == "$recipe" &&
      -s $outdir/vmlinuz && -s $outdir/initrd.img && -s $outdir/root.img ]]; then
  log "$outdir is up to date (recipe $recipe)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || die "run as root"

apt_updated=no
apt_update_once() {
  if [[ $apt_updated == no ]]; then
    log "apt-get update"
    apt-get update -qq >&2
    apt_updated=yes
  fi
}
have_candidate() {
  local cand
  cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  [[ -n $cand && $cand != "(none)" ]]
}
ensure_candidate() { have_candidate "$1" || apt_update_once; have_candidate "$1" || die "no apt candidate for $1"; }
ensure_tool() { # ensure_tool COMMAND PACKAGE
  command -v "$1" >/dev/null && return 0
  log "installing $2 (for $1)"
  ensure_candidate "$2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2
}
download() { # download PACKAGE... into the current directory
  apt-get download -q -o APT::Sandbox::User=root "$@" >&2 && return 0
  [[ $apt_updated == yes ]] && return 1
  apt_update_once
  apt-get download -q -o APT::Sandbox::User=root "$@" >&2
}

for t in apt-get apt-cache dpkg sha256sum find sed awk; do
  command -v "$t" >/dev/null || die "missing host tool: $t"
done
ensure_tool gzip gzip
ensure_tool xz xz-utils
ensure_tool cpio cpio

work=$(mktemp -d /tmp/tenrec-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- fetch and unpack the packages -----------------------------------------
ensure_candidate linux-image-amd64
ensure_candidate busybox-static
kpkg=$(apt-cache depends linux-image-amd64 |
       awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ {print $2; exit}')
[[ -n $kpkg ]] || die "cannot resolve the kernel package behind linux-image-amd64"
log "packages: $kpkg busybox-static"
(cd "$work" && download "$kpkg" busybox-static) || die "apt-get download failed"
mkdir "$work/kernel" "$work/busybox"
dpkg -x "$work/${kpkg}"_*.deb "$work/kernel"
dpkg -x "$work"/busybox-static_*.deb "$work/busybox"

kver=${kpkg#linux-image-}
moddir=$work/kernel/lib/modules/$kver
config=$work/kernel/boot/config-$kver
[[ -f $work/kernel/boot/vmlinuz-$kver ]] || die "no vmlinuz-$kver in $kpkg"
[[ -f $config && -d $moddir/kernel ]] || die "no config or modules for $kver in $kpkg"
bb=$work/busybox/bin/busybox
[[ -x $bb ]] || die "no /bin/busybox in busybox-static"
applets=$("$bb" --list)
for a in "${BUSYBOX_APPLETS[@]}"; do
  grep -qx "$a" <<<"$applets" || die "busybox-static lacks the $a applet"
done

# --- pick the modules, in load order ---------------------------------------
# The package ships no modules.dep (its postinst runs depmod, and the host may
# have no kmod), so dependencies come from each module's own .modinfo
# "depends=" string. Modules are decompressed into the initramfs as plain .ko
# (busybox insmod loads only those).
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules}
declare -A modpath=() seen=()
while IFS= read -r file; do
  name=${file##*/}; name=${name%%.ko*}; name=${name//-/_}
  modpath[$name]=$file
done < <(find "$moddir/kernel" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.gz' -o -name '*.ko.zst')

order=()
add_module() { # depth-first: dependencies before the module itself
  local name=${1//-/_} src dst dep deps
  [[ -n ${seen[$name]:-} ]] && return 0
  seen[$name]=1
  src=${modpath[$name]:-}
  [[ -n $src ]] || die "module $name not found in $kpkg"
  dst=$root/lib/modules/$name.ko
  case $src in
    *.ko) cp "$src" "$dst" ;;
    *.ko.xz) xz -dc "$src" >"$dst" ;;
    *.ko.gz) gzip -dc "$src" >"$dst" ;;
    *.ko.zst) command -v zstd >/dev/null || die "$src is zstd-compressed; install zstd"
              zstd -qdc "$src" >"$dst" ;;
    *) die "unknown module format: $src" ;;
  esac
  deps=$(tr '\0' '\n' <"$dst" | sed -n 's/^depends=//p')
  deps=${deps%%$'\n'*}
  for dep in ${deps//,/ }; do
    add_module "$dep"
  done
  order+=("$name")
}
for entry in "${NEEDED_CONFIG[@]}"; do
  read -r sym mod <<<"$entry"
  val=$(sed -n "s/^$sym=//p" "$config")
  case $val in
    y) log "$sym=y (built in)" ;;
    m) add_module "$mod" ;;
    *) die "$sym is not set in $kver's config" ;;
  esac
done
printf '%s\n' "${order[@]}" >"$root/etc/modules.order"
log "modules (load order): ${order[*]:-none}"

# --- the initramfs tree -----------------------------------------------------
cp "$bb" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"   # /init's interpreter, before busybox --install
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || log "mknod dev/console failed; /init reopens it after mounting devtmpfs"

cat >"$root/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc -s hook: configure eth0 from the lease and record it for /init.
case "$1" in
  deconfig)
    ip addr flush dev "$interface" 2>/dev/null
    ip link set "$interface" up
    ;;
  bound|renew)
    prefix=$mask
    if [ -z "$prefix" ]; then   # count the bits of the dotted netmask
      prefix=0
      for o in $(echo "$subnet" | tr . ' '); do
        case $o in 255) prefix=$((prefix+8));; 254) prefix=$((prefix+7));; 252) prefix=$((prefix+6));;
          248) prefix=$((prefix+5));; 240) prefix=$((prefix+4));; 224) prefix=$((prefix+3));;
          192) prefix=$((prefix+2));; 128) prefix=$((prefix+1));; esac
      done
    fi
    ip addr flush dev "$interface"
    ip addr add "$ip/$prefix" dev "$interface"
    [ -n "$mtu" ] && ip link set "$interface" mtu "$mtu"
    gw=""
    # option 121 (RFC 3442): "dest/len gw dest/len gw ..."; OVN hands the
    # metadata route 169.254.169.254/32 this way.
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      if [ "$2" = "0.0.0.0" ]; then
        ip route replace "$1" dev "$interface"
      else
        ip route replace "$1" via "$2" dev "$interface"
      fi
      case $1 in 0.0.0.0/0) gw=$2;; esac
      shift 2
    done
    if [ -z "$staticroutes" ]; then
      ip route replace 169.254.169.254 dev "$interface"
    fi
    if [ -z "$gw" ] && [ -n "$router" ]; then
      set -- $router
      gw=$1
      ip route replace default via "$gw" dev "$interface"
    fi
    echo "$ip/$prefix router ${gw:-none}" >/run/dhcp.lease
    ;;
esac
exit 0
EOF

cat >"$root/init" <<'EOF'
#!/bin/sh
# tenrec lab guest /init (built by lab/guest/build.sh). Never exits.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox --install -s
# The first serial port is what nova logs (console.log); /dev/console follows the last console= of
# the cmdline, which nova makes hvc0 (a virtio console this guest has no driver for).
if [ -c /dev/ttyS0 ]; then exec </dev/null >/dev/ttyS0 2>&1; else exec </dev/console >/dev/console 2>&1; fi
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

say() { echo "tenrec-guest: $*"; }
now() { read -r up _ </proc/uptime; echo "${up%%.*}"; }
param() { # param NAME DEFAULT: tenrec.NAME=<digits> from the kernel cmdline
  v=$(tr ' ' '\n' </proc/cmdline | sed -n "s/^tenrec\.$1=\([0-9][0-9]*\)$/\1/p" | tail -n 1)
  echo "${v:-$2}"
}
dhcp_timeout=$(param dhcp_timeout 60)
metadata_timeout=$(param metadata_timeout 120)
ping_timeout=$(param ping_timeout 240)
# busybox-static's wget crashes (static NSS) resolving the service name "http" and with -T:
# an explicit port, and timeout(1) for the time limit
md=http://169.254.169.254:80/openstack/latest

# 1. modules, lo, eth0
echo 4 >/proc/sys/kernel/printk   # keep kernel chatter from splitting our lines
# virtio_net csum=0 gso=0: the guest checksums and segments its own packets. The lab's computes run
# Open vSwitch's userspace datapath, which hands the guest's partially checksummed TCP/UDP frames
# to the metadata namespace's veth as they are (ICMP, fully checksummed, passes either way).
for m in $(cat /etc/modules.order); do
  opts=""
  [ "$m" = virtio_net ] && opts="csum=0 gso=0"
  # shellcheck disable=SC2086
  insmod "/lib/modules/$m.ko" $opts || say "module $m failed"
done
ip link set lo up
t=0
while [ ! -e /sys/class/net/eth0 ] && [ $t -lt 20 ]; do sleep 0.5; t=$((t+1)); done
ip link set eth0 up || say "no eth0"

# 2. DHCP
end=$(( $(now) + dhcp_timeout ))
while :; do
  udhcpc -i eth0 -s /etc/udhcpc.script -O staticroutes -t 3 -T 2 -A 1 -n -q >/dev/null 2>&1 && [ -s /run/dhcp.lease ] && break
  [ "$(now)" -ge "$end" ] && break
  sleep 1
done
if [ -s /run/dhcp.lease ]; then
  say "dhcp eth0 $(cat /run/dhcp.lease)"
  dhcp=ok
else
  say "dhcp failed"
  dhcp=failed
fi

# 3. metadata
uuid=""
if [ "$dhcp" = ok ]; then
  end=$(( $(now) + metadata_timeout ))
  while :; do
    if timeout 10 wget -q -O /tmp/meta_data.json "$md/meta_data.json" 2>/dev/null; then
      uuid=$(grep -o '"uuid": *"[^"]*"' /tmp/meta_data.json | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
      [ -n "$uuid" ] && break
    fi
    [ "$(now)" -ge "$end" ] && break
    sleep 2
  done
fi
if [ -n "$uuid" ]; then say "metadata uuid $uuid"; else say "metadata failed"; fi

# 4. user_data peers (404 means none)
peers=""
if [ -n "$uuid" ]; then
  for _ in 1 2 3; do
    if timeout 10 wget -q -O /tmp/user_data "$md/user_data" 2>/tmp/user_data.err; then
      peers=$(tr -d '\r' </tmp/user_data | sed -n 's/^[[:space:]]*peer=\([0-9][0-9.]*\)[[:space:]]*$/\1/p')
      break
    fi
    grep -q 404 /tmp/user_data.err && break
    sleep 2
  done
fi
for p in $peers; do
  (
    end=$(( $(now) + ping_timeout ))
    while :; do
      if ping -c 1 -W 2 "$p" >/dev/null 2>&1; then say "ping $p ok"; break; fi
      if [ "$(now)" -ge "$end" ]; then say "ping $p failed"; break; fi
      sleep 1
    done
  ) &
done
wait

# 5. done; keep the kernel (and its ICMP echo replies) alive
say "ready"
while :; do sleep 3600; done
EOF
chmod 755 "$root/init" "$root/etc/udhcpc.script"

# --- write the outputs ------------------------------------------------------
out=$work/out
mkdir "$out"
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$out/initrd.img"
truncate -s 1M "$out/root.img"

mkdir -p "$outdir"
rm -f "$outdir/.recipe"
for f in vmlinuz initrd.img root.img; do
  mv -f "$out/$f" "$outdir/$f"
done
echo "$recipe" >"$outdir/.recipe"
log "built $outdir from $kpkg: vmlinuz $(stat -c %s "$outdir/vmlinuz") bytes, initrd.img $(stat -c %s "$outdir/initrd.img") bytes"
