#!/bin/bash
# selftests/host/dkms.sh KERNEL: dkms.conf with Debian's dkms, on the host,
# for test kernel KERNEL: `make install-dkms` into a scratch tree, `dkms add`
# and `dkms build -k RELEASE --kernelsourcedir HEADERS` with a scratch
# source tree and dkms tree (nothing outside build/dkms/ is written; dkms
# finds no sign-file for the test kernels, so it neither signs nor makes a
# key), then a test VM that loads the module dkms built (instead of
# build/KERNEL/kmod/tether.ko) and runs tether_info and the examples on it.
# Prints TAP; scripts/check runs it for each kernel.
set -u
. "$(dirname "$0")/../../scripts/lib.sh"
k=${1:?usage: dkms.sh KERNEL}
echo "TAP version 13"
n=0 failed=0
result() { # result NAME STATUS [OUTPUT]
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n dkms.$1"
	else
		failed=1
		echo "not ok $n dkms.$1"
		[ -z "${3:-}" ] || sed 's/^/# /' <<<"$3" | tail -n 40
	fi
}
finish() { echo "1..$n"; exit $failed; }

command -v dkms >/dev/null || { result found 1 "dkms is not installed (scripts/deps)"; finish; }
rel=$(kernel_var "$k" release) kdir=$(kernel_var "$k" kdir)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$TETHER_TOP/dkms.conf")
w=$TETHER_BUILD/dkms/$k
rm -rf "$w"
mkdir -p "$w/tree"
opts=(-m tether -v "$ver" --sourcetree "$w/stage/usr/src" --dkmstree "$w/tree")

out=$(make -s -C "$TETHER_TOP" install-dkms DESTDIR="$w/stage" PREFIX=/usr 2>&1) &&
	[ -f "$w/stage/usr/src/tether-$ver/dkms.conf" ] &&
	out=$(dkms add "${opts[@]}" 2>&1) &&
	out=$(dkms status "${opts[@]}" 2>&1) && grep -q "^tether/$ver: added" <<<"$out"
result add $? "$out"

out=$(dkms build "${opts[@]}" -k "$rel" --kernelsourcedir "$kdir" 2>&1)
rc=$?
ko=$w/tree/tether/$ver/$rel/$(uname -m)/module/tether.ko
[ $rc -eq 0 ] && [ -f "$ko" ] && grep -q "^tether/$ver, $rel, $(uname -m): built" <(dkms status "${opts[@]}" 2>&1)
result build $? "$out
$(cat "$w/tree/tether/$ver/$rel/$(uname -m)/log/make.log" 2>/dev/null)"

# the same sources as the tree's own build, for the same kernel
ref=$TETHER_BUILD/$k/kmod/tether.ko
out="dkms: $(modinfo -F vermagic "$ko" 2>&1) $(modinfo -F srcversion "$ko" 2>&1)
tree: $(modinfo -F vermagic "$ref" 2>&1) $(modinfo -F srcversion "$ref" 2>&1)"
[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$rel" ] &&
	[ "$(modinfo -F srcversion "$ko")" = "$(modinfo -F srcversion "$ref")" ]
result module $? "$out"

# the module dkms built, the only one loaded in a VM (--no-tether), serves
# tether_info and the examples
log=$TETHER_BUILD/vm/$k-dkms.log
mkdir -p "$(dirname "$log")"
[ "$k" = debug ] && limit=3600 || limit=900
"$TETHER_TOP/scripts/vm" -k "$k" -t "$limit" -o "$TETHER_BUILD/vm/$k-dkms" --no-tether --insmod "$ko" -- \
	bash -c "grep -q '^tether ' /proc/modules && echo tether-loaded &&
		$TETHER_BUILD/tools/tether_info && $TETHER_TOP/selftests/examples.sh" \
	2>&1 | tr -d '\r' >"$log"
rc=${PIPESTATUS[0]}
[ $rc -eq 0 ] && grep -qx tether-loaded "$log" &&
	grep -q '^/dev/tether: ABI version' "$log"
result loads $? "$(cat "$log")"

out=$(dkms remove "${opts[@]}" --all 2>&1) && [ -z "$(ls -A "$w/tree")" ]
result remove $? "$out
$(find "$w/tree" | head)"
finish
