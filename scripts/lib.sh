# shellcheck shell=bash
# Common helpers for the Spice scripts. Sourced, never executed.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LINUX=${LINUX:-$TOP/linux}
BUILD=${BUILD:-$TOP/build}
SPICE_NAME="Spice Developers"
SPICE_EMAIL="spice-devel@example.org"
BASE_TAG=spice-base
TARBALL=${SPICE_TARBALL:-/usr/src/linux-source-6.12.tar.xz}

die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
info() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# Hash of the series as it is in patches/: its names and contents.
patches_hash() {
	(cd "$TOP/patches" && for p in *.patch; do
		[ -f "$p" ] || continue
		case $p in 0000-cover-letter.patch) continue ;; esac
		printf '%s\n' "$p"; cat "$p"
	done) | sha256sum | cut -d' ' -f1
}

linux_git() { git -C "$LINUX" "$@"; }

kernel_version() {
	make -s -C "$LINUX" kernelversion 2>/dev/null
}
