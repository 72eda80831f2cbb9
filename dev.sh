#!/usr/bin/env bash
# ebpf-jsonl's one entry point for people and CI (run as root on Debian 12 or Ubuntu 22.04+):
#   ./dev.sh run exec [FLAGS]   install what is missing, build (release), run ebpf-jsonl
#   ./dev.sh test               install what is missing, then fmt, clippy, the portable build,
#                               the whole test suite and the kernel matrix (what CI runs)
#   ./dev.sh bench [ARGS]       install what is missing, then benches/ (exec_storm, xdp, writer, syscalls),
#                               the exec storm and the writer also with the portable build
#                               (ARGS go to the exec storm: --seconds N --rounds N)
#   ./dev.sh bench-portable [ARGS]
#                               only what the portable build costs: the exec storm with it beside
#                               ours (ARGS as for bench) and the writer built both ways
#   ./dev.sh deps               only install what is missing
#   ./dev.sh kernels [--binary PATH] [--arm64-binary PATH] [SUITE...]
#                               boot Debian's kernels in qemu (bullseye 5.10, bookworm 6.1,
#                               trixie 6.12, sid; opt-in: arm64, trixie's arm64 kernel with the
#                               arm64 build) and run a smoke subset of ebpf-jsonl in each
#                               (./dev.sh test runs the four x86 ones; README "Kernels")
#   ./dev.sh build-portable     the binary for any x86_64 distro: target/portable/ebpf-jsonl, glibc 2.28
#                               or newer (Debian 11, Ubuntu 20.04, RHEL 8), libelf and zlib linked in
#                               (cargo-zigbuild from crates.io, zig from PyPI's ziglang; README "Install")
#   ./dev.sh deb                the Debian package of that binary: target/debian/ebpf-jsonl_VERSION_ARCH.deb
#                               (dpkg-deb; dev.sh's DEB_FILES; README "Install")
#   ./dev.sh build-arm64 [CARGO BUILD FLAGS]
#                               cross-build for aarch64-unknown-linux-gnu (Debian's cross gcc,
#                               arm64 libelf/zlib via dpkg --add-architecture arm64, rustup's
#                               aarch64 std): target/aarch64-unknown-linux-gnu/release/ebpf-jsonl
set -euo pipefail
cd "$(dirname "$0")"
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"

say() { echo "dev.sh: $*" >&2; }

# Debian packages (PKG or PKG:ARCH), each with a command, a file, or (after !) a shell test that shows it is there.
BUILD_PKGS=(clang:clang make:make gcc:cc pkg-config:pkg-config
            libelf-dev:/usr/include/libelf.h zlib1g-dev:/usr/include/zlib.h)
# (perl's threads module, used to exec from a non-leader thread, is in `perl`, not `perl-base`)
# The validators tests/examples/ runs on examples/ and shellcheck for the scripts.
TEST_PKGS=(iproute2:ip "perl:!perl -Mthreads -e1" util-linux:setpriv jq:jq
           systemd:systemd-analyze logrotate:/usr/sbin/logrotate yamllint:yamllint
           shellcheck:shellcheck "python3-venv:!python3 -c 'import ensurepip, venv'"
           debootstrap:debootstrap binutils:objdump)  # (tests/package/: Debian roots, the package's Depends)
# PyPI packages for the tests, pinned with their dependencies, in a venv of their own
# (tests/examples/validators.rs looks there): kubernetes-validate bundles Kubernetes'
# schemas, so it validates offline.
PY_VENV=${XDG_CACHE_HOME:-$HOME/.cache}/ebpf-jsonl/venv
PY_PKGS=(kubernetes-validate==1.37.0 attrs==26.1.0 importlib_resources==7.1.0
         jsonschema==4.26.0 jsonschema-specifications==2025.9.1 packaging==26.4
         PyYAML==6.0.4 referencing==0.37.0 rpds-py==2026.9.1 typing_extensions==4.16.0)
# The arm64 cross-build: a cross linker/C compiler (libbpf is compiled from source) and the arm64
# libraries it links, from the arm64 architecture added to dpkg (see build_arm64).
ARM64_PKGS=(gcc-aarch64-linux-gnu:aarch64-linux-gnu-gcc libc6-dev-arm64-cross:/usr/aarch64-linux-gnu/include/stdio.h
            libelf-dev:arm64:/usr/lib/aarch64-linux-gnu/libelf.so
            zlib1g-dev:arm64:/usr/lib/aarch64-linux-gnu/libz.so)
BENCH_PKGS=(libbpf-tools:/usr/sbin/execsnoop bpftrace:bpftrace)

install() {
    local missing=() entry pkg probe
    for entry in "$@"; do
        pkg=${entry%:*} probe=${entry##*:}  # pkg may name an arch (libelf-dev:arm64)
        if [[ $probe == /* ]]; then [ -e "$probe" ] && continue
        elif [[ $probe == !* ]]; then eval "${probe#!}" >/dev/null 2>&1 && continue
        else command -v "$probe" >/dev/null 2>&1 && continue; fi
        missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        say "missing packages: ${missing[*]}; install them with your package manager and rerun"
        exit 1
    fi
    if [ "$(id -u)" != 0 ]; then
        say "missing packages: ${missing[*]}; rerun as root (sudo ./dev.sh ...) to install them"
        exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# (Re)creates the venv when PY_PKGS changed since it was made.
install_py() {
    [ "$(cat "$PY_VENV/pinned" 2>/dev/null)" = "${PY_PKGS[*]}" ] && return 0
    say "installing ${PY_PKGS[*]} into $PY_VENV"
    python3 -m venv --clear "$PY_VENV"
    "$PY_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps "${PY_PKGS[@]}"
    echo "${PY_PKGS[*]}" >"$PY_VENV/pinned"
}

# The Rust target and the environment cargo needs to cross-build for arm64 on Debian/Ubuntu.
ARM64_TARGET=aarch64-unknown-linux-gnu
build_arm64() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        [ "$(id -u)" = 0 ] || { say "arm64 is not a dpkg architecture here; rerun as root (sudo ./dev.sh build-arm64) to add it"; exit 1; }
        say "dpkg --add-architecture arm64 (for libelf-dev:arm64, zlib1g-dev:arm64)"
        dpkg --add-architecture arm64
        apt-get update -qq >/dev/null
    fi
    install "${BUILD_PKGS[@]}" "${ARM64_PKGS[@]}"
    need_cargo
    if ! rustup target list --installed 2>/dev/null | grep -qx "$ARM64_TARGET"; then
        command -v rustup >/dev/null || { say "rustup not found: install the $ARM64_TARGET standard library for your Rust toolchain, then rerun"; exit 1; }
        say "rustup target add $ARM64_TARGET"
        rustup target add "$ARM64_TARGET" || { say "rustup target add $ARM64_TARGET failed (rustup's dist server unreachable?)"; exit 1; }
    fi
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    # pkg-config finds the arm64 libelf/zlib, never the host's
    export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
    cargo build --release --target "$ARM64_TARGET" "$@"
    file "target/$ARM64_TARGET/release/ebpf-jsonl" >&2 2>/dev/null || true
}

# The portable build: zig's C compiler and linker against glibc 2.28's symbols (cargo-zigbuild),
# libbpf compiled by zig, Debian's libelf.a and libz.a linked in (feature `static`).
PORTABLE_GLIBC=2.28
PORTABLE_TARGET=x86_64-unknown-linux-gnu
ZIGLANG_VERSION=0.17.1
ZIGBUILD_VERSION=0.24.1
ZIG_VENV=${XDG_CACHE_HOME:-$HOME/.cache}/ebpf-jsonl/zig-$ZIGLANG_VERSION
PORTABLE_PKGS=("python3-venv:!python3 -c 'import ensurepip, venv'" binutils:objdump)
# zig (PyPI's ziglang, in a venv of its own) and cargo-zigbuild (crates.io), pinned.
install_zig() {
    install "${BUILD_PKGS[@]}" "${PORTABLE_PKGS[@]}"
    need_cargo
    if [ ! -x "$ZIG_VENV/bin/python3" ] || ! "$ZIG_VENV/bin/python3" -m ziglang version >/dev/null 2>&1; then
        say "installing ziglang==$ZIGLANG_VERSION (PyPI) into $ZIG_VENV"
        python3 -m venv --clear "$ZIG_VENV"
        "$ZIG_VENV/bin/pip" install --quiet --disable-pip-version-check "ziglang==$ZIGLANG_VERSION"
    fi
    if [ "$(cargo-zigbuild --version 2>/dev/null)" != "cargo-zigbuild $ZIGBUILD_VERSION" ]; then
        say "cargo install cargo-zigbuild@$ZIGBUILD_VERSION"
        cargo install --quiet --locked "cargo-zigbuild@$ZIGBUILD_VERSION"
    fi
}

zigbuild() {
    install_zig
    # zig's compiler searches only its own glibc 2.28 headers: give libbpf libelf's and zlib's
    # headers alone, and the linker Debian's static libelf and zlib alone (not the host's libc).
    local shim=target/portable/shim multiarch lib h f
    multiarch=$(gcc -print-multiarch)
    lib=/usr/lib/$multiarch
    mkdir -p "$shim/include" "$shim/lib"
    for h in libelf.h gelf.h nlist.h zlib.h zconf.h; do
        f=$(first_of "/usr/include/$h" "/usr/include/$multiarch/$h")
        [ -n "$f" ] || { say "$h not found (libelf-dev, zlib1g-dev)"; exit 1; }
        ln -sfn "$f" "$shim/include/$h"
    done
    for f in libelf.a libz.a; do
        [ -e "$lib/$f" ] || { say "$lib/$f not found (libelf-dev, zlib1g-dev)"; exit 1; }
        ln -sfn "$lib/$f" "$shim/lib/$f"
    done
    PATH="$ZIG_VENV/bin:$PATH" \
        LIBBPF_SYS_EXTRA_CFLAGS="-I$PWD/$shim/include" LIBBPF_SYS_LIBRARY_PATH="$PWD/$shim/lib" \
        cargo zigbuild --release --features static --target "$PORTABLE_TARGET.$PORTABLE_GLIBC" "$@"
}

build_portable() {
    zigbuild --quiet
    local out=target/$PORTABLE_TARGET/release/ebpf-jsonl
    # What it needs of the system: glibc's libraries alone, no symbol newer than the floor.
    local needed newest
    needed=$(objdump -p "$out" | awk '$1 == "NEEDED" { print $2 }' | grep -v -E '^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64)\.so\.' || true)
    [ -z "$needed" ] || { say "$out links $needed dynamically: not portable"; exit 1; }
    newest=$(glibc_floor "$out")
    if [ "$(printf '%s\n%s\n' "$newest" "$PORTABLE_GLIBC" | sort -V | tail -n 1)" != "$PORTABLE_GLIBC" ]; then
        say "$out needs glibc $newest, newer than $PORTABLE_GLIBC"; exit 1
    fi
    # Without the debug info (line tables) the release profile keeps: a third of the size.
    objcopy --strip-debug "$out" target/portable/ebpf-jsonl.tmp
    mv target/portable/ebpf-jsonl.tmp target/portable/ebpf-jsonl
    say "target/portable/ebpf-jsonl: $(stat -c %s target/portable/ebpf-jsonl) bytes, glibc >= $newest, links only glibc"
}

# The Debian package of the portable binary, so it runs wherever it installs: a tree under
# target/deb-root put together from this list (path in the package, mode, what it is made of:
# a file of the tree, or one dev.sh generates under target/deb-assets), then dpkg-deb --build.
DEB_FILES=("usr/bin/ebpf-jsonl 0755 target/portable/ebpf-jsonl"
           "usr/share/man/man1/ebpf-jsonl.1.gz 0644 target/deb-assets/ebpf-jsonl.1.gz"
           "usr/share/bash-completion/completions/ebpf-jsonl 0644 target/deb-assets/ebpf-jsonl.bash"
           "usr/share/zsh/vendor-completions/_ebpf-jsonl 0644 target/deb-assets/_ebpf-jsonl"
           "usr/share/fish/vendor_completions.d/ebpf-jsonl.fish 0644 target/deb-assets/ebpf-jsonl.fish"
           "lib/systemd/system/ebpf-jsonl-exec.service 0644 examples/systemd/ebpf-jsonl-exec.service"
           "lib/systemd/system/ebpf-jsonl-xdp.service 0644 examples/systemd/ebpf-jsonl-xdp.service"
           "etc/logrotate.d/ebpf-jsonl 0644 examples/systemd/ebpf-jsonl.logrotate"
           "usr/share/doc/ebpf-jsonl/README.md 0644 README.md"
           "usr/share/doc/ebpf-jsonl/copyright 0644 target/deb-assets/copyright")
DEB_MAINTAINER="ebpf-jsonl developers <maintainers@users.noreply.r-seed-d715e1a1.example>"
build_deb() {
    build_portable
    install dpkg-dev:dpkg-deb
    umask 022
    local bin=target/portable/ebpf-jsonl gen=target/deb-assets root=target/deb-root
    local entry path mode from shell version arch depends size deb
    rm -rf "$gen" "$root"
    mkdir -p "$gen" "$root/DEBIAN"
    "$bin" man | gzip -9n >"$gen/ebpf-jsonl.1.gz"
    for shell in bash fish; do "$bin" completions "$shell" >"$gen/ebpf-jsonl.$shell"; done
    "$bin" completions zsh >"$gen/_ebpf-jsonl"
    deb_copyright >"$gen/copyright"
    for entry in "${DEB_FILES[@]}"; do
        read -r path mode from <<<"$entry"
        command install -D -m "$mode" "$from" "$root/$path"  # (not dev.sh's install)
    done
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
    arch=$(dpkg --print-architecture)
    # Computed from the binary: the newest glibc symbol version it needs (dpkg-shlibdeps would
    # take the build host's minimums, made for programs built against its own headers: 2.34 on
    # Debian 12, which Debian 11 and Ubuntu 20.04 can't meet), and nothing else is linked.
    depends="libc6 (>= $(glibc_floor "$bin"))"
    size=$(du -s -k --apparent-size --exclude=DEBIAN "$root" | cut -f1)
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
    echo /etc/logrotate.d/ebpf-jsonl >"$root/DEBIAN/conffiles"
    {
        echo "Package: ebpf-jsonl"
        echo "Version: $version"
        echo "Architecture: $arch"
        echo "Maintainer: $DEB_MAINTAINER"
        echo "Installed-Size: $size"
        echo "Depends: $depends"
        echo "Section: admin"
        echo "Priority: optional"
        echo "Description: $(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
        fold -s -w 78 <<'EOF_DESC' | sed -e 's/ *$//' -e 's/^/ /'
Loads eBPF programs into the running kernel and prints what they see as one JSON object per line: `ebpf-jsonl exec` a record per process execution (and exit, and failed exec), `ebpf-jsonl xdp IFACE` per-flow packet counts; `ebpf-jsonl check` says whether this host can run them. The systemd units ebpf-jsonl-exec.service and ebpf-jsonl-xdp.service are installed but neither enabled nor started: `systemctl enable --now` the one you want.
EOF_DESC
    } >"$root/DEBIAN/control"
    # One package in target/debian, so ./target/debian/ebpf-jsonl_*.deb names it alone.
    mkdir -p target/debian
    rm -f target/debian/ebpf-jsonl_*.deb
    deb=target/debian/ebpf-jsonl_${version}_$arch.deb
    dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
    say "$deb: $(stat -c %s "$deb") bytes, Installed-Size $size KiB, Depends: $depends"
}

# The package's debian/copyright (machine-readable format 1.0): the licence and both texts.
deb_copyright() {
    local license
    printf '%s\n' "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" \
        "Upstream-Name: ebpf-jsonl" "" "Files: *" "Copyright: 2026 The ebpf-jsonl developers" \
        "License: MIT or Apache-2.0"
    for license in MIT APACHE; do
        printf '\nLicense: %s\n' "$([ $license = MIT ] && echo MIT || echo Apache-2.0)"
        # each line indented by one space, an empty one as " ."
        sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "LICENSE-$license"
    done
}

# The newest glibc symbol version a binary needs.
glibc_floor() { objdump -T "$1" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1; }

# The writer bench built as usual and as the portable build is (zig, glibc 2.28, static libelf),
# run alternately 5 times: per-round ratios of the pipeline's records/s, portable / usual.
bench_writer_portable() {
    local rounds=5 usual portable kind
    usual=$(cargo build --release --bench writer --message-format=json-render-diagnostics \
            | jq -r 'select(.target.name == "writer" and .executable != null) | .executable')
    portable=$(zigbuild --bench writer --message-format=json-render-diagnostics \
               | jq -r 'select(.target.name == "writer" and .executable != null) | .executable')
    local out=target/portable/writer-rounds.txt
    : >"$out"
    for _ in $(seq "$rounds"); do
        "$usual" --rounds 1 | sed -n 's/^| \([^|]*\) | [0-9]* | \([0-9]*\) | .*/usual\t\1\t\2/p' >>"$out"
        "$portable" --rounds 1 | sed -n 's/^| \([^|]*\) | [0-9]* | \([0-9]*\) | .*/portable\t\1\t\2/p' >>"$out"
    done
    echo
    echo "Writer, portable build / usual build: pipeline records/s, $rounds alternating rounds, per-round ratio median (min–max)"
    echo "| records | usual rec/s (median) | portable / usual |"
    echo "|---|---|---|"
    while IFS= read -r kind; do
        awk -F'\t' -v k="$kind" '
            $2 == k && $1 == "usual" { u[++nu] = $3 }
            $2 == k && $1 == "portable" { p[++np] = $3 }
            function med(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            END {
                for (i = 1; i <= np; i++) { r[i] = p[i] / u[i]; lo = (i == 1 || r[i] < lo) ? r[i] : lo; hi = (i == 1 || r[i] > hi) ? r[i] : hi }
                printf "| %s | %.0f | %.2f (%.2f–%.2f) |\n", k, med(u, nu), med(r, np), lo, hi
            }' "$out"
    done < <(cut -f2 "$out" | awk '!seen[$0]++')
}

# The first of its arguments that exists.
first_of() { local f; for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; return 0; }

need_cargo() {
    if ! command -v cargo >/dev/null; then
        say "cargo not found: install Rust 1.85 or newer (https://rustup.rs: curl -sSf https://sh.rustup.rs | sh -s -- -y), then rerun"
        exit 1
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
deps)
    install "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    install_py
    install_zig
    ;;
run)
    install "${BUILD_PKGS[@]}"
    need_cargo
    cargo build --release --quiet
    exec ./target/release/ebpf-jsonl "$@"
    ;;
test)
    install "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    install_py
    need_cargo
    cargo fmt --check
    cargo clippy --workspace --all-targets --quiet -- -D warnings
    build_portable
    cargo test --workspace
    # The kernel matrix (README "Kernels"): Debian's 5.10, 6.1, 6.12 and newest kernels in qemu,
    # with the portable binary (the one users install).
    tests/kernels/matrix.sh --binary target/portable/ebpf-jsonl
    ;;
bench)
    install "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${BENCH_PKGS[@]}"
    need_cargo
    build_portable
    cargo bench --bench exec_storm -- "$@" --portable target/portable/ebpf-jsonl
    cargo bench --bench xdp
    cargo bench --bench writer
    bench_writer_portable
    cargo bench --bench syscalls
    ;;
build-portable)
    build_portable
    ;;
deb)
    build_deb
    ;;
bench-portable)
    install "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"
    build_portable
    cargo bench --bench exec_storm -- "$@" --portable target/portable/ebpf-jsonl
    bench_writer_portable
    ;;
build-arm64)
    build_arm64 "$@"
    ;;
kernels)
    case " $* " in
    *" --binary"*) ;;
    *) install "${BUILD_PKGS[@]}"; need_cargo ;;
    esac
    exec tests/kernels/matrix.sh "$@"
    ;;
*)
    sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2  # the header, whatever its length
    exit 2
    ;;
esac
