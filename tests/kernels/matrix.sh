#!/usr/bin/env bash
# Boots Debian's own kernels in qemu (TCG) and runs a smoke subset of ebpf-jsonl in each
# (tests/kernels/guest-init.sh): one line per kernel per check, exit 0 only if all pass.
#
#   tests/kernels/matrix.sh [--binary PATH] [--arm64-binary PATH] [SUITE...] [CHECK...]
#                                                         (run through ./dev.sh kernels)
#
# SUITE is a Debian suite whose linux-image-amd64 is booted: bullseye (5.10), bookworm (6.1),
# bookworm-backports / trixie (6.12), sid (newest); default: bullseye bookworm trixie sid.
# `arm64` (opt-in) boots trixie's linux-image-arm64 in qemu-system-aarch64 with the arm64 build.
# CHECK names the guest's checks to run (default: all): exec (with cgroup and paths), exits (with
# failed), limits, xdp, egress, check (which agrees with the others: name it with them).
# Without --binary, target/release/ebpf-jsonl is built from the current tree; without
# --arm64-binary, target/aarch64-unknown-linux-gnu/release/ebpf-jsonl (./dev.sh build-arm64).
#
# Everything comes from Debian's suites through apt, with the mirror the host's own apt sources
# name, and a private sources list, lists and cache dir (the host's apt state is not touched).
# The guest's root is an initramfs made of bookworm packages unpacked with dpkg-deb (no
# debootstrap, no loop devices, no mounts on the host). Downloads are cached under
# $EBPF_JSONL_KERNELS_CACHE (default ~/.cache/ebpf-jsonl-kernels); rerun, it only boots.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

say() { echo "kernels: $*" >&2; }
die() { say "$*"; exit 1; }
# The first of its arguments that exists (an unmatched glob stays as itself, and does not).
first_existing() { local f; for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; return 0; }

BINARY=
ARM64_BINARY=
SUITES=()
CHECKS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) [ $# -ge 2 ] || { say "--binary needs a path"; exit 2; }; BINARY=$2; shift 2 ;;
    --binary=*) BINARY=${1#--binary=}; shift ;;
    --arm64-binary) [ $# -ge 2 ] || { say "--arm64-binary needs a path"; exit 2; }; ARM64_BINARY=$2; shift 2 ;;
    --arm64-binary=*) ARM64_BINARY=${1#--arm64-binary=}; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    -*) say "unknown option $1 (use --binary PATH and suite names)"; exit 2 ;;
    exec|cgroup|paths) CHECKS+=(exec); shift ;;
    exits|failed) CHECKS+=(exits); shift ;;
    limits|xdp|egress|check) CHECKS+=("$1"); shift ;;
    *) SUITES+=("$1"); shift ;;
    esac
done
[ ${#SUITES[@]} -gt 0 ] || SUITES=(bullseye bookworm trixie sid)
for s in "${SUITES[@]}"; do
    case "$s" in
    bullseye|bookworm|bookworm-backports|trixie|sid|unstable|arm64) ;;
    *) say "unknown suite or check $s: use bullseye, bookworm, bookworm-backports, trixie, sid or arm64, and exec, exits, limits, xdp, egress or check"; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { say "run as root (apt-get for qemu, dpkg-deb ownership in the image)"; exit 3; }

CACHE=${EBPF_JSONL_KERNELS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ebpf-jsonl-kernels}
mkdir -p "$CACHE"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING is missing: apt-get install debian-archive-keyring"

# The Debian mirror the host's apt already uses (its first .../debian URI).
mirror() {
    if [ -n "${EBPF_JSONL_DEBIAN_MIRROR:-}" ]; then echo "$EBPF_JSONL_DEBIAN_MIRROR"; return; fi
    local f u
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        u=$(sed -n -E \
            -e 's,^[[:space:]]*URIs:[[:space:]]*([^[:space:]]*/debian)/?([[:space:]].*)?$,\1,p' \
            -e 's,^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]*/debian)/?[[:space:]].*$,\2,p' \
            "$f" | head -n 1)
        if [ -n "$u" ]; then echo "$u"; return; fi
    done
    die "no Debian mirror (a .../debian URI) in /etc/apt's sources: set EBPF_JSONL_DEBIAN_MIRROR=URL"
}
MIRROR=$(mirror)

# apt with a private sources list, lists and cache for one set of suites: apt_for NAME SUITE...
# sets APT_OPTS; `apt-get update` at most once a day. With APT_ARCH=arm64 in its environment:
# that architecture's packages, the host's dpkg status ignored (its versions are not the suite's).
apt_for() {
    local name=$1; shift
    local d=$CACHE/apt/$name s
    mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/debs"
    : >"$d/sources.list.new"
    for s in "$@"; do
        echo "deb [signed-by=$KEYRING] $MIRROR $s main" >>"$d/sources.list.new"
    done
    if ! cmp -s "$d/sources.list.new" "$d/sources.list"; then
        mv "$d/sources.list.new" "$d/sources.list"; rm -f "$d/updated"
    else
        rm -f "$d/sources.list.new"
    fi
    APT_OPTS=(-o "Dir::Etc::sourcelist=$d/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache"
              -o "Dir::Cache::archives=$d/cache/archives" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root"
              # one architecture (amd64 unless APT_ARCH names another), whatever foreign
              # architectures the host's dpkg has (arm64 cross builds)
              -o "APT::Architecture=${APT_ARCH:-amd64}" -o "APT::Architectures=${APT_ARCH:-amd64}")
    if [ -n "${APT_ARCH:-}" ]; then
        APT_OPTS+=(-o "Dir::State::status=/dev/null")
    fi
    APT_DEBS=$d/debs
    if [ -z "$(find "$d/updated" -mmin -1440 2>/dev/null)" ]; then
        say "apt-get update ($*)"
        apt-get "${APT_OPTS[@]}" update -qq >/dev/null || die "apt-get update for $* failed"
        touch "$d/updated"
    fi
}

# Downloads PKG (the candidate version) into $APT_DEBS unless cached; prints the .deb's path.
# The host's dpkg status is left out: a newer version installed on the host (from -security,
# say) would otherwise be the candidate, and the suite has no source to download it from.
deb_of() {
    local pkg=$1 info ver arch f
    local APT_OPTS=("${APT_OPTS[@]}" -o "Dir::State::status=/dev/null")
    info=$(apt-cache "${APT_OPTS[@]}" show --no-all-versions "$pkg" 2>/dev/null) \
        || die "package $pkg not found in $(tr '\n' ' ' <"$CACHE/apt/$(basename "$(dirname "$APT_DEBS")")/sources.list")"
    ver=$(sed -n 's/^Version: //p' <<<"$info" | head -n 1)
    arch=$(sed -n 's/^Architecture: //p' <<<"$info" | head -n 1)
    f=$APT_DEBS/${pkg}_${ver//:/%3a}_${arch}.deb
    if [ ! -s "$f" ]; then
        say "downloading $pkg $ver"
        (cd "$APT_DEBS" && apt-get "${APT_OPTS[@]}" download -qq "$pkg" >/dev/null) \
            || die "apt-get download $pkg failed"
        [ -s "$f" ] || die "apt-get download $pkg did not leave $f"
    fi
    echo "$f"
}

# The host side: qemu-system-x86 (bookworm's 7.2 conflicts with the newer qemu-utils some hosts
# have; bookworm-backports' installs cleanly) and cpio.
host_tools() {
    local missing=()
    command -v cpio >/dev/null || missing+=(cpio)
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    if [[ " ${SUITES[*]} " == *" arm64 "* ]]; then
        command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    # shellcheck source=/dev/null # the host's, read when it runs
    . /etc/os-release
    { [ "${ID:-}" = debian ] && [ -n "${VERSION_CODENAME:-}" ]; } \
        || die "missing ${missing[*]} on the host: install them (qemu-system-x86 7.2 or newer, cpio) and rerun"
    local base=$VERSION_CODENAME suites target=()
    suites=("$base" "$base-updates")
    # bookworm's own qemu-system-x86 (7.2) may conflict with a newer qemu-utils: take backports'
    if [ "$base" = bookworm ]; then suites+=(bookworm-backports); target=(-t bookworm-backports); fi
    apt_for "host-$base" "${suites[@]}"
    say "installing ${missing[*]} on the host"
    DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
        "${target[@]}" "${missing[@]}" >/dev/null \
        || die "installing ${missing[*]} failed"
}

# The guest's userland: busybox, bash, iproute2, jq and the libraries ebpf-jsonl links, unpacked
# from bookworm's packages (`cargo build --release` links bookworm's glibc, libelf and zlib; the
# portable build, which CI boots, needs only glibc 2.28 or newer).
USERLAND_PKGS=(libc6 libgcc-s1 libelf1 zlib1g busybox-static bash libtinfo6 iproute2 libbpf1
               libmnl0 libbsd0 libmd0 libcap2 libxtables12 jq libjq1 libonig5)
# userland [arm64]: the host's architecture's, or arm64's (not run here: no chroot check).
userland() {
    local arch=${1:-}
    local out=$CACHE/userland-bookworm${arch:+-$arch}
    local stamp="${USERLAND_PKGS[*]}"
    if [ -f "$out.stamp" ] && [ "$(cat "$out.stamp")" = "$stamp" ]; then return 0; fi
    if [ -n "$arch" ]; then APT_ARCH=$arch apt_for "bookworm-$arch" bookworm; else apt_for bookworm bookworm; fi
    rm -rf "$out"; mkdir -p "$out"
    local p deb
    for p in "${USERLAND_PKGS[@]}"; do
        deb=$(deb_of "$p")
        dpkg-deb -x "$deb" "$out"
    done
    rm -rf "$out/usr/share/doc" "$out/usr/share/man" "$out/usr/share/locale" "$out/usr/share/info"
    for p in /bin/bash /sbin/ip /sbin/tc /usr/bin/jq; do
        [ -n "$arch" ] && { [ -x "$out$p" ] || die "$p missing from the $arch userland"; continue; }
        chroot "$out" "$p" --version >/dev/null 2>&1 || chroot "$out" "$p" -V >/dev/null 2>&1 \
            || die "$p does not run in the unpacked userland (a library missing from USERLAND_PKGS?)"
    done
    echo "$stamp" >"$out.stamp"
}

# One suite's kernel: vmlinuz and the modules the smoke needs (decompressed, with their
# dependencies, in load order) as a cpio to append to the initramfs. Sets K_DIR. sch_ingress
# (clsact) and cls_bpf: the egress check's hook before TCX; a module a kernel has built in is
# skipped.
MODULES=(veth sch_ingress cls_bpf)
# `arm64` is trixie's linux-image-arm64.
kernel() {
    local suite=$1 flavour=amd64
    if [ "$suite" = arm64 ]; then
        flavour=arm64
        APT_ARCH=arm64 apt_for arm64 trixie
    else
        apt_for "$suite" "$suite"
    fi
    local img dep
    img=$(apt-cache "${APT_OPTS[@]}" depends "linux-image-$flavour" 2>/dev/null \
          | sed -n -E 's/^[[:space:]]*Depends: (linux-image-[0-9][^[:space:]]*)$/\1/p' | head -n 1)
    [ -n "$img" ] || die "$suite: linux-image-$flavour does not name a kernel package"
    K_DIR=$CACHE/kernels/$suite/$img
    # ready holds the modules it was made with
    [ -f "$K_DIR/ready" ] && [ "$(cat "$K_DIR/ready")" = "${MODULES[*]}" ] && return 0
    rm -rf "$K_DIR"; mkdir -p "$K_DIR/x" "$K_DIR/mods"
    local pkgs=("$img")
    # sid splits the kernel into linux-binary-*, linux-modules-* (depended on by the image).
    for dep in $(apt-cache "${APT_OPTS[@]}" depends "$img" 2>/dev/null \
                 | sed -n -E 's/^[[:space:]]*Depends: (linux-(binary|modules|image)-[0-9][^[:space:]]*)$/\1/p'); do
        pkgs+=("$dep")
    done
    for dep in "${pkgs[@]}"; do dpkg-deb -x "$(deb_of "$dep")" "$K_DIR/x"; done
    local vmlinuz moddir
    vmlinuz=$(first_existing "$K_DIR"/x/boot/vmlinuz-* "$K_DIR"/x/usr/lib/modules/*/vmlinuz)
    [ -n "$vmlinuz" ] || die "$suite: no vmlinuz in ${pkgs[*]}"
    cp "$vmlinuz" "$K_DIR/vmlinuz"
    moddir=$(first_existing "$K_DIR"/x/lib/modules/*/ "$K_DIR"/x/usr/lib/modules/*/)
    [ -n "$moddir" ] || die "$suite: no lib/modules in ${pkgs[*]}"
    local order=() seen=" "
    # a module's dependencies, from its .modinfo strings (no kmod needed on the host)
    module_depends() {
        case "$1" in
        *.ko.xz) xz -dc "$1" ;; *.ko.zst) zstd -qdc "$1" ;; *.ko.gz) gzip -dc "$1" ;; *) cat "$1" ;;
        esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' '
    }
    add_module() {
        local name=$1 f d
        [[ $seen == *" $name "* ]] && return 0
        seen+="$name "
        f=$(find "$moddir" \( -name "$name.ko" -o -name "$name.ko.*" -o -name "${name//_/-}.ko" \
                              -o -name "${name//_/-}.ko.*" \) | head -n 1)
        if [ -z "$f" ]; then
            grep -q -E "/${name//_/[-_]}[.]ko" "$moddir/modules.builtin" 2>/dev/null && return 0
            die "$suite: module $name not found, nor built in"
        fi
        for d in $(module_depends "$f"); do add_module "$d"; done
        order+=("$f")
    }
    local m i=0 f
    for m in "${MODULES[@]}"; do add_module "$m"; done
    mkdir -p "$K_DIR/mods/modules"
    for f in "${order[@]}"; do
        i=$((i + 1))
        local dst
        dst=$K_DIR/mods/modules/$(printf %02d "$i")-$(basename "${f%%.ko*}").ko
        case "$f" in
        *.ko.xz) xz -dc "$f" >"$dst" ;;
        *.ko.zst) zstd -qdc "$f" >"$dst" ;;
        *.ko.gz) gzip -dc "$f" >"$dst" ;;
        *) cp "$f" "$dst" ;;
        esac
    done
    (cd "$K_DIR/mods" && find . | cpio -o -H newc --quiet | gzip -1) >"$K_DIR/modules.cpio.gz"
    rm -rf "$K_DIR/x"
    echo "${MODULES[*]}" >"$K_DIR/ready"
}

host_tools
if [ -z "$BINARY" ]; then
    say "building target/release/ebpf-jsonl"
    cargo build --release --quiet || die "cargo build --release failed"
    BINARY=$ROOT/target/release/ebpf-jsonl
fi
[ -x "$BINARY" ] || die "$BINARY is not an executable"
userland

RUN=$(mktemp -d "${TMPDIR:-/tmp}/ebpf-jsonl-kernels.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
# base_cpio NAME USERLAND BINARY: the guest's root (userland, binary, /init) as $RUN/NAME.cpio.gz
base_cpio() {
    rm -rf "$RUN/root"
    mkdir -p "$RUN/root/usr/local/bin"
    cp -a "$2/." "$RUN/root/"
    cp "$3" "$RUN/root/usr/local/bin/ebpf-jsonl"
    cp tests/kernels/guest-init.sh "$RUN/root/init"
    chmod 755 "$RUN/root/init"
    (cd "$RUN/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$RUN/$1.cpio.gz"
}
base_cpio base "$CACHE/userland-bookworm" "$BINARY"
if [[ " ${SUITES[*]} " == *" arm64 "* ]]; then
    if [ -z "$ARM64_BINARY" ]; then
        say "building target/aarch64-unknown-linux-gnu/release/ebpf-jsonl (./dev.sh build-arm64)"
        ./dev.sh build-arm64 --quiet || die "./dev.sh build-arm64 failed"
        ARM64_BINARY=$ROOT/target/aarch64-unknown-linux-gnu/release/ebpf-jsonl
    fi
    [ -x "$ARM64_BINARY" ] || die "$ARM64_BINARY is not an executable"
    userland arm64
    base_cpio base-arm64 "$CACHE/userland-bookworm-arm64" "$ARM64_BINARY"
fi
LOGS=$CACHE/logs
mkdir -p "$LOGS"

failed=0
for suite in "${SUITES[@]}"; do
    kernel "$suite"
    label="$suite $(basename "$K_DIR" | sed 's/^linux-image-//')"
    base=base qemu=(qemu-system-x86_64 -cpu max) console=ttyS0
    if [ "$suite" = arm64 ]; then
        # pauth-impdef: TCG's cheap pointer authentication (the architected one is slow)
        base=base-arm64 qemu=(qemu-system-aarch64 -M virt -cpu "max,pauth-impdef=on") console=ttyAMA0
    fi
    cat "$RUN/$base.cpio.gz" "$K_DIR/modules.cpio.gz" >"$RUN/initrd"
    log=$LOGS/$suite.console.log results=$RUN/$suite.results
    : >"$results"
    say "$label: booting (TCG: ~20 s, minutes when a program hits the verifier's limit; console in $log)"
    start=$SECONDS
    rc=0
    timeout 1500 "${qemu[@]}" -accel tcg -m 2G -smp 2 -nodefaults -nographic \
        -no-reboot -monitor none -nic none \
        -serial "file:$log" -serial "file:$results" \
        -kernel "$K_DIR/vmlinuz" -initrd "$RUN/initrd" \
        -append "console=$console rdinit=/init panic=-1 loglevel=4${CHECKS:+ ebpf_jsonl.checks=$(IFS=,; echo "${CHECKS[*]}")}" </dev/null >/dev/null 2>"$RUN/qemu.err" \
        || rc=$?
    tr -d '\r' <"$results" >"$LOGS/$suite.results"
    n=0
    while read -r tag check verdict detail; do
        [ "$tag" = CHECK ] || continue
        n=$((n + 1))
        printf '%-40s %-24s %s%s\n' "$label" "$check" "$verdict" "${detail:+  $detail}"
        [ "$verdict" = PASS ] || failed=1
    done <"$LOGS/$suite.results"
    if ! grep -qx DONE "$LOGS/$suite.results"; then
        printf '%-40s %-24s %s\n' "$label" "boot+run" \
            "FAIL  the VM did not finish (qemu exit $rc after $((SECONDS - start)) s; see $log) $(head -c 300 "$RUN/qemu.err")"
        failed=1
    elif [ $n -eq 0 ]; then
        printf '%-40s %-24s %s\n' "$label" "boot+run" "FAIL  no checks reported"; failed=1
    else
        say "$label: done in $((SECONDS - start)) s"
    fi
done
exit $failed
