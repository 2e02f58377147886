#!/usr/bin/env bash
# Type-checks husky (lib + bin, not tests) for the non-host targets it must keep compiling on:
#   x86_64-pc-windows-gnu, aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf.
#
# rustup on these machines cannot add targets, so this uses Debian's rustc-web toolchain
# (/usr/bin/cargo + /usr/bin/rustc, 1.96 from bookworm-security) and rebuilds std from
# rust-web-src with -Zbuild-std (RUSTC_BOOTSTRAP=1 on the stable compiler). The cross gcc's are
# the linkers and the C compilers for any build script that compiles C. Recipe: stack.md §9.
#
# Usage:
#   scripts/cross-check.sh                 install what is missing (apt), then check every target
#   scripts/cross-check.sh TARGET...       check only these targets
#   scripts/cross-check.sh --install-only  install what is missing, check nothing (.ci/run step 1)
#
# Artifacts go to target/cross (so the host build in target/ is never invalidated). It prints
# each target and its wall time, checks every target even after a failure, and exits non-zero
# if any target failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

ALL_TARGETS=(x86_64-pc-windows-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
APT_PACKAGES=(
    rustc-web cargo-web rust-web-src
    gcc-mingw-w64-x86-64
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
)
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
DEB_RUSTDOC=/usr/bin/rustdoc

log() { printf 'cross-check: %s\n' "$*"; }

# Installs the Debian packages above that are not installed yet; runs `apt-get update` once, and
# only when something is missing. Uses sudo only when not root.
install_deps() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages present: ${APT_PACKAGES[*]}"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            log "missing Debian packages and not root (no sudo): ${missing[*]}" >&2
            log "install them with: apt-get install --no-install-recommends ${missing[*]}" >&2
            return 1
        fi
    fi
    log "installing: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The environment of the Debian toolchain: its cargo/rustc first on PATH and named explicitly,
# whatever rustup put in front; nothing from the caller's cargo that would redirect the build.
use_debian_toolchain() {
    export PATH="/usr/bin:/bin:${PATH}"
    export CARGO="$DEB_CARGO" RUSTC="$DEB_RUSTC" RUSTDOC="$DEB_RUSTDOC"
    export RUSTC_BOOTSTRAP=1 # -Z flags on the stable toolchain
    unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_TARGET CARGO_TARGET_DIR

    export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
    export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
    export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
    export CC_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-gcc
    export AR_armv7_unknown_linux_gnueabihf=arm-linux-gnueabihf-ar
}

main() {
    local install_only=0 targets=()
    for arg in "$@"; do
        case "$arg" in
            --install-only) install_only=1 ;;
            -h | --help)
                sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
                return 0
                ;;
            -*) log "unknown option: $arg" >&2; return 2 ;;
            *) targets+=("$arg") ;;
        esac
    done
    [ "${#targets[@]}" -gt 0 ] || targets=("${ALL_TARGETS[@]}")

    install_deps
    [ "$install_only" -eq 0 ] || return 0

    use_debian_toolchain
    log "toolchain: $("$DEB_CARGO" --version), $("$DEB_RUSTC" --version)"

    cd "$ROOT"
    local failed=() summary=() target start secs
    for target in "${targets[@]}"; do
        log "== checking ${target} (lib + bins) =="
        start=$(date +%s)
        if "$DEB_CARGO" check --locked --lib --bins \
            --target "$target" --target-dir target/cross -Zbuild-std=std; then
            secs=$(($(date +%s) - start))
            summary+=("ok      ${target} (${secs} s)")
        else
            secs=$(($(date +%s) - start))
            summary+=("FAILED  ${target} (${secs} s)")
            failed+=("$target")
        fi
        log "${summary[-1]}"
    done

    log "summary:"
    printf '  %s\n' "${summary[@]}"
    if [ "${#failed[@]}" -gt 0 ]; then
        log "failed targets: ${failed[*]}" >&2
        return 1
    fi
}

main "$@"
