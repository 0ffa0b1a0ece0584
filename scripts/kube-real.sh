#!/usr/bin/env bash
# A real kube-apiserver v1.20.2 and etcd 3.4 for the integration tests (tests/integration/real_kubeapi.py),
# built once per machine into a cache outside the clone.
#
#   scripts/kube-real.sh build   build unless cached; print the cache dir (on stdout, progress on stderr)
#   scripts/kube-real.sh path    print the cache dir
#
# Cache: ${TENREC_KUBE_CACHE:-/var/cache/tenrec/kube-real-v1.20.2} holding bin/kube-apiserver, bin/etcd
# and .complete (written last: without it the build is redone from scratch). Two builds at once are
# serialized by a flock on "$cache.lock".
#
# How (see LAB-NOTES.md "Kubernetes API"): apt, through a private sources list and state directory made
# from the machine's own Debian mirror (nothing is installed on the system), fetches bookworm's
# `kubernetes` source package (1.20.2 with vendor/), bullseye's golang-1.15 (Go 1.19 builds of 1.20
# crash at runtime) and bookworm's etcd-server; the .debs are unpacked with dpkg -x and
# ./cmd/kube-apiserver is built with GOFLAGS=-mod=vendor, after generating the one generated file the
# tarball lacks (pkg/generated/openapi, with the vendored openapi-gen). The Debian patches of the package touch
# kubectl's printers only, so the upstream (orig) tree is built as it is. The work dir "$cache/build"
# is removed after success. Needs root (or write access to the cache), apt and ~2 GB of disk.
# Environment: TENREC_KUBE_CACHE (cache dir), TENREC_DEBIAN_MIRROR (mirror URI, default: the first
# non-security Debian URI in /etc/apt/sources.list{,.d/*}).
set -euo pipefail

K8S_VERSION=1.20.2
K8S_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56  # the v1.20.2 tag, reported by /version
K8S_SOURCE=kubernetes/bookworm
GO_PACKAGES=(golang-1.15-go/bullseye golang-1.15-src/bullseye)
GO_VERSION=1.15
ETCD_PACKAGE=etcd-server/bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

CACHE=${TENREC_KUBE_CACHE:-/var/cache/tenrec/kube-real-v$K8S_VERSION}

log() { printf 'kube-real: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# step NAME COMMAND...: run COMMAND, then print how long it took.
step() {
    local name=$1 start
    shift
    start=$EPOCHREALTIME
    log "$name ..."
    "$@"
    log "$name: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
}

complete() {
    [[ -f $CACHE/.complete && -x $CACHE/bin/kube-apiserver && -x $CACHE/bin/etcd ]]
}

# The Debian mirror this machine's apt uses (deb822 .sources first, then one-line .list files).
mirror() {
    if [[ -n ${TENREC_DEBIAN_MIRROR:-} ]]; then
        echo "$TENREC_DEBIAN_MIRROR"
        return
    fi
    local files=() file uri
    for file in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] && files+=("$file")
    done
    [[ ${#files[@]} -gt 0 ]] || die "no apt sources in /etc/apt; set TENREC_DEBIAN_MIRROR"
    while read -r uri; do
        case $uri in
            *security*) ;;
            *debian*) echo "${uri%/}"; return ;;
        esac
    done < <(awk '
            FILENAME ~ /\.sources$/ && tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }
            FILENAME !~ /\.sources$/ && $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }
        ' "${files[@]}" 2>/dev/null)
    die "no Debian mirror found in /etc/apt/sources.list{,.d/*}; set TENREC_DEBIAN_MIRROR"
}

APT_OPTS=()

apt_setup() {
    local work=$1 uri
    uri=$(mirror)
    log "mirror: $uri"
    mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts" "$work/dl"
    cat >"$work/apt/sources.list" <<EOF
deb [signed-by=$KEYRING] $uri bookworm main
deb-src [signed-by=$KEYRING] $uri bookworm main
deb [signed-by=$KEYRING] $uri bullseye main
EOF
    APT_OPTS=(
        -o "Dir::Etc::sourcelist=$work/apt/sources.list"
        -o "Dir::Etc::sourceparts=$work/apt/parts"
        -o "Dir::Etc::preferencesparts=$work/apt/parts"
        -o "Dir::State::Lists=$work/apt/lists"
        -o "Dir::Cache=$work/apt/cache"
        -o "APT::Sandbox::User=root"
        -o "Acquire::Languages=none"
        -o "Debug::NoLocking=true"
    )
    apt-get "${APT_OPTS[@]}" -q update >&2
}

fetch() {
    local work=$1
    (cd "$work/dl" && apt-get "${APT_OPTS[@]}" -q source --download-only "$K8S_SOURCE" >&2 \
        && apt-get "${APT_OPTS[@]}" -q download "${GO_PACKAGES[@]}" "$ETCD_PACKAGE" >&2)
}

unpack() {
    local work=$1 deb orig
    mkdir -p "$work/root" "$work/src"
    for deb in "$work"/dl/*.deb; do
        dpkg -x "$deb" "$work/root"
    done
    orig=$(find "$work/dl" -maxdepth 1 -name 'kubernetes_*.orig.tar.*' | head -n1)
    [[ -n $orig ]] || die "no kubernetes orig tarball in $work/dl"
    tar -xf "$orig" -C "$work/src" --strip-components=1
    [[ -f $work/src/vendor/modules.txt ]] || die "the kubernetes source has no vendor/"
}

# go_env WORK COMMAND...: run COMMAND with the unpacked Go toolchain, offline, caches under WORK.
go_env() {
    local work=$1 goroot=$1/root/usr/lib/go-$GO_VERSION
    shift
    [[ -x $goroot/bin/go ]] || die "no Go toolchain at $goroot"
    env GOROOT="$goroot" PATH="$goroot/bin:$PATH" GOPATH="$work/gopath" GOCACHE="$work/gocache" GOENV=off \
        GOPROXY=off GOFLAGS=-mod=vendor GO111MODULE=on CGO_ENABLED=0 HOME="$work" nice -n 10 "$@"
}

# pkg/generated/openapi/zz_generated.openapi.go is not in the source tarball (make generates it):
# generate it as build/root/Makefile.generated_files does, without make and rsync. openapi-gen
# (gengo) runs in GOPATH mode, as hack/run-in-gopath.sh runs it.
generate_openapi() {
    local work=$1 src=$1/src dirs
    (cd "$src" && go_env "$work" go build -o "$work/openapi-gen" ./vendor/k8s.io/kube-openapi/cmd/openapi-gen)
    dirs=$(set +o pipefail; cd "$src" && find -H . \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune -o -type f -name '*.go' -print \
        | sed 's|^\./staging/src|vendor|; s|^\./||' | xargs grep -l '^// *+k8s:' \
        | grep -v -e '^vendor/k8s.io/code-generator/' -e '^vendor/k8s.io/sample-apiserver/' \
        | xargs grep -l '+k8s:openapi-gen=' | xargs -n1 dirname | LC_ALL=C sort -u \
        | sed 's|^|k8s.io/kubernetes/|' | paste -sd, -)
    [[ -n $dirs ]] || die "no +k8s:openapi-gen packages found"
    mkdir -p "$work/gopath/src/k8s.io"
    ln -sfn "$src" "$work/gopath/src/k8s.io/kubernetes"
    (cd "$work/gopath/src/k8s.io/kubernetes" && go_env "$work" env GO111MODULE=off GOFLAGS= "$work/openapi-gen" \
        -i "$dirs" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
        -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$work/openapi-violations.report")
    [[ -s $src/pkg/generated/openapi/zz_generated.openapi.go ]] || die "openapi-gen wrote nothing"
}

build_apiserver() {
    local work=$1 pkg ldflags=(-s -w) var minor=${K8S_VERSION#*.}
    minor=${minor%%.*}
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        for var in "gitVersion=v$K8S_VERSION" "gitMajor=${K8S_VERSION%%.*}" "gitMinor=$minor" "gitCommit=$K8S_COMMIT" \
                   gitTreeState=clean "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
            ldflags+=("-X" "$pkg.$var")
        done
    done
    mkdir -p "$CACHE/bin"
    (cd "$work/src" && go_env "$work" go build -trimpath -ldflags "${ldflags[*]}" \
        -o "$CACHE/bin/kube-apiserver" ./cmd/kube-apiserver)
}

install_etcd() {
    local work=$1
    install -m 0755 "$work/root/usr/bin/etcd" "$CACHE/bin/etcd"
}

check() {
    "$CACHE/bin/kube-apiserver" --version >&2
    "$CACHE/bin/etcd" --version >&2
}

build() {
    local work=$CACHE/build start=$EPOCHREALTIME
    mkdir -p "$(dirname "$CACHE")"
    exec 9>"$CACHE.lock"
    if ! flock -n 9; then
        log "waiting for another build (lock $CACHE.lock) ..."
        flock 9
    fi
    if complete; then
        echo "$CACHE"
        return
    fi
    log "building kube-apiserver v$K8S_VERSION and etcd into $CACHE"
    rm -rf "$work" "${CACHE:?}/bin" "$CACHE/.complete"
    mkdir -p "$work"
    step "apt indexes (private sources list)" apt_setup "$work"
    step "download kubernetes source, Go $GO_VERSION, etcd" fetch "$work"
    step "unpack" unpack "$work"
    step "generate pkg/generated/openapi (openapi-gen)" generate_openapi "$work"
    step "go build ./cmd/kube-apiserver" build_apiserver "$work"
    step "install etcd" install_etcd "$work"
    step "check the binaries" check
    step "remove the work dir" rm -rf "$work"
    printf 'kube-apiserver v%s (%s) + %s, built %s\n' "$K8S_VERSION" "$K8S_SOURCE" "$ETCD_PACKAGE" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$CACHE/.complete"
    log "done in $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }'): $(du -sh "$CACHE" | cut -f1)"
    echo "$CACHE"
}

case ${1:-} in
    build) build ;;
    path) echo "$CACHE" ;;
    *) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
