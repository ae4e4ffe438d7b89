# shellcheck shell=bash
# scripts/lib.sh: shared settings for the tether scripts (sourced, not run).
# Defines where the kernel cache lives and how a kernel name maps to its files.

TETHER_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TETHER_CACHE_DIR=${TETHER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tether}
TETHER_BUILD=${TETHER_BUILD:-$TETHER_TOP/build}
# The prebuilt debug kernel: a folder with bzImage and build.tar.xz.
TETHER_DEBUG_KERNEL=${TETHER_DEBUG_KERNEL:-$TETHER_TOP/../shared/kernels/debug-6.12}

die() { echo "${0##*/}: $*" >&2; exit 1; }
note() { echo "${0##*/}: $*" >&2; }

# kernel_dir NAME: the cache folder of test kernel NAME (6.1, 6.12, debug).
kernel_dir() { echo "$TETHER_CACHE_DIR/kernels/$1"; }

# kernel_ready NAME: true when NAME has been fetched and prepared by scripts/deps.
kernel_ready() { [ -f "$(kernel_dir "$1")/ready" ]; }

# kernel_var NAME VAR: one of release, image, kdir, modroot for kernel NAME.
kernel_var() {
	local f
	f="$(kernel_dir "$1")/$2"
	[ -f "$f" ] || die "kernel '$1' is not prepared (no $f); run scripts/deps"
	cat "$f"
}

# peers_dir: the folder of peer tarballs (fabtests, kdreg2): $TETHER_PEERS when
# set, else ../shared/peers beside the tree, else beside the main worktree
# (a git worktree's ../ is not the main tree's); prints nothing when absent.
peers_dir() {
	local common
	if [ -n "${TETHER_PEERS:-}" ]; then
		[ -d "$TETHER_PEERS" ] && echo "$TETHER_PEERS"
		return 0
	fi
	if [ -d "$TETHER_TOP/../shared/peers" ]; then
		(cd "$TETHER_TOP/../shared/peers" && pwd)
		return 0
	fi
	common=$(git -C "$TETHER_TOP" rev-parse --path-format=absolute --git-common-dir 2>/dev/null) || return 0
	[ -d "$common/../../shared/peers" ] && (cd "$common/../../shared/peers" && pwd)
	return 0
}
