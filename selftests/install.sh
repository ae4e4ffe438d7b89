#!/bin/bash
# install: `make install` into a temporary DESTDIR, then the examples built
# against that tree alone (pkg-config, no path into the checkout) and run on
# /dev/tether; the node set-up files checked against udev and the loaded
# module; `make uninstall` removes every file it put there. Runs as root in
# the test VM (it changes /dev/tether's mode for a moment and restores it).
echo "TAP version 13"
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
result() { # result NAME STATUS [OUTPUT]
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n $1"
	else
		failed=1
		echo "not ok $n $1"
		[ -z "${3:-}" ] || sed 's/^/# /' <<<"$3"
	fi
}
# files D: every file and link under D, relative to it, sorted
files() { (cd "$1" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort); }

# pc D PREFIX-LIBDIR: pkg-config restricted to the staged tree (and the
# system's own .pc files, for libibverbs, which libtether.pc requires)
pc() {
	local d=$1 libdir=$2
	shift 2
	PKG_CONFIG_SYSROOT_DIR=$d PKG_CONFIG_PATH='' \
		PKG_CONFIG_LIBDIR="$d$libdir/pkgconfig:$(pkg-config --variable pc_path pkg-config)" \
		pkg-config "$@"
}

# build D LIBDIR NAME: examples/NAME.c, copied out of the checkout, built
# with only what pkg-config says; prints the compiler's output
build() {
	local d=$1 libdir=$2 name=$3 cflags libs
	cflags=$(pc "$d" "$libdir" --cflags libtether) || return 1
	libs=$(pc "$d" "$libdir" --libs libtether) || return 1
	if grep -qF "$top" <<<"$cflags $libs"; then
		echo "pkg-config names the checkout: $cflags $libs"
		return 1
	fi
	mkdir -p "$tmp/src"
	cp "$top/examples/$name.c" "$tmp/src/"
	# shellcheck disable=SC2086
	gcc -D_GNU_SOURCE -Wall -Wextra -Werror $cflags -o "$tmp/src/$name" "$tmp/src/$name.c" $libs 2>&1
}

# run D LIBDIR NAME WANT: runs the built example with the staged library
# (ldd must resolve libtether.so.1 inside D, unless the program uses only
# linux/tether.h and so does not need libtether); the output must match WANT
run() {
	local d=$1 libdir=$2 name=$3 want=$4 out
	out=$(LD_LIBRARY_PATH=$d$libdir ldd "$tmp/src/$name" 2>&1)
	if grep -q ' tether_' <(nm -u "$tmp/src/$name") &&
		! grep -q "libtether\.so\.1 => $d$libdir/libtether\.so\.1 " <<<"$out"; then
		echo "libtether.so.1 not from $d$libdir:"
		echo "$out"
		return 1
	fi
	out=$(LD_LIBRARY_PATH=$d$libdir "$tmp/src/$name" 2>&1) || { echo "$out"; return 1; }
	grep -Pzq "$want" <<<"$out" || { echo "$out"; return 1; }
}

d=$tmp/stage
out=$(make -s -C "$top" install DESTDIR="$d" PREFIX=/usr sysconfdir=/etc 2>&1)
result make_install $? "$out"

want="etc/modprobe.d/tether.conf
etc/modules-load.d/tether.conf
usr/include/linux/tether.h
usr/include/tether.h
usr/include/tether_fabric.h
usr/lib/libtether-fabric.so
usr/lib/libtether-fabric.so.1
usr/lib/libtether-fabric.so.1.0.0
usr/lib/libtether.a
usr/lib/libtether.so
usr/lib/libtether.so.1
usr/lib/libtether.so.1.0.0
usr/lib/pkgconfig/libtether.pc
usr/lib/udev/rules.d/60-tether.rules
usr/sbin/tether_info"
# the man pages: one file or link per exported symbol (of libtether and
# libtether-fabric) and per inline wrapper of tether.h (tether_query() and
# the like), tether(4), tether_info(8)
want=$( (echo "$want"
	sed -n 's|^[[:space:]]*\(tether_[a-z_]*\);$|usr/share/man/man3/\1.3|p' "$top/libprovider/libtether.map" \
		"$top/libprovider/fabric/libtether-fabric.map"
	sed -n 's|^static inline [a-z ]*[ *]\(tether_[a-z_]*\)(.*|usr/share/man/man3/\1.3|p' "$top/libprovider/tether.h"
	echo usr/share/man/man4/tether.4; echo usr/share/man/man8/tether_info.8) | LC_ALL=C sort)
got=$(files "$d")
[ "$got" = "$want" ] && [ "$(readlink "$d/usr/lib/libtether.so")" = libtether.so.1 ] &&
	[ "$(readlink "$d/usr/lib/libtether.so.1")" = libtether.so.1.0.0 ] &&
	objdump -p "$d/usr/lib/libtether.so.1.0.0" | grep -q 'SONAME *libtether\.so\.1$' &&
	[ "$(readlink "$d/usr/lib/libtether-fabric.so")" = libtether-fabric.so.1 ] &&
	[ "$(readlink "$d/usr/lib/libtether-fabric.so.1")" = libtether-fabric.so.1.0.0 ] &&
	objdump -p "$d/usr/lib/libtether-fabric.so.1.0.0" | grep -q 'SONAME *libtether-fabric\.so\.1$' &&
	objdump -T "$d/usr/lib/libtether-fabric.so.1.0.0" | grep -q 'TETHER_FABRIC_1\.0 *tether_fabric_import$' &&
	nm "$d/usr/lib/libtether.a" | grep -q ' T tether_open$' &&
	cmp -s "$top/include/uapi/linux/tether.h" "$d/usr/include/linux/tether.h"
result files $? "$(diff <(echo "$want") <(echo "$got"))"

# every man page name resolves to a page (rendering is selftests/host/man.sh's
# job, on the host: man -l is far too slow in the VM)
out=
for f in "$d"/usr/share/man/man*/*; do
	[ -e "$f" ] && grep -q '^\.TH ' "$f" || out+="${f#"$d"/} "
done
[ -z "$out" ] && [ -n "$(ls "$d"/usr/share/man/man3)" ]
result man_pages $? "not pages: $out"

out=$(pc "$d" /usr/lib --modversion libtether 2>&1) &&
	[ "$out" = "$(sed -n 's/^TETHER_VERSION := //p' "$top/Makefile")" ] &&
	out=$(pc "$d" /usr/lib --cflags --libs libtether 2>&1) &&
	grep -q -- "-I$d/usr/include" <<<"$out" && grep -q -- "-L$d/usr/lib -ltether" <<<"$out" &&
	grep -q -- "-libverbs" <<<"$out"
result pkg_config $? "$out"

declare -A expect=(
	[secure_event]='secured: valid=1\nevent: handle=1 cookie=42 reason=1 \(unmap=1\) valid=0'
	[cache_example]='hits 3 misses 3 invalidations 2'
	[section_views]='^hello\n$'
)
for name in secure_event cache_example section_views; do
	out=$(build "$d" /usr/lib "$name") && out=$(run "$d" /usr/lib "$name" "${expect[$name]}")
	result "example.$name" $? "$out"
done

out=$(LD_LIBRARY_PATH=$d/usr/lib "$d/usr/sbin/tether_info" 2>&1) &&
	grep -q '^/dev/tether: ABI version [0-9]' <<<"$out"
result tether_info $? "$out"

# udev: with an earlier rule (10-) that makes /dev/tether 0600, the staged
# rule, given to udev in /run/udev/rules.d, makes it 0666 (udevadm test
# applies permissions); without the staged rule it stays 0600, so it is the
# rule that sets the mode (udev alone would keep the kernel's 0666).
# The mode is restored after.
udev_mode() { # udev_mode WITH-RULE: the node's mode after udevadm test
	mkdir -p /run/udev/rules.d
	echo 'SUBSYSTEM=="misc", KERNEL=="tether", MODE="0600"' >/run/udev/rules.d/10-tether-test.rules
	rm -f /run/udev/rules.d/60-tether.rules
	[ "$1" = 0 ] || cp "$d/usr/lib/udev/rules.d/60-tether.rules" /run/udev/rules.d/
	udevadm test --action=add /sys/class/misc/tether >"$tmp/udev.log" 2>&1
	rm -f /run/udev/rules.d/60-tether.rules /run/udev/rules.d/10-tether-test.rules
	stat -c %a /dev/tether
}
with=$(udev_mode 1) without=$(udev_mode 0)
chmod 0666 /dev/tether
[ "$with" = 666 ] && [ "$without" = 600 ]
result udev_rule $? "mode $with with the rule, $without without; $(tail -n 5 "$tmp/udev.log")"

# modprobe.d: every parameter of the loaded module (loaded with defaults)
# is listed once, commented, with its current value, and nothing else; the
# lines parse as modprobe options once uncommented
conf=$d/etc/modprobe.d/tether.conf
listed=$(sed -n 's/^#options tether //p' "$conf" | LC_ALL=C sort)
live=$(for p in /sys/module/tether/parameters/*; do echo "${p##*/}=$(cat "$p")"; done | LC_ALL=C sort)
sed 's/^#options tether /options tether /' "$conf" >"$tmp/modprobe.conf"
parsed=$(modprobe -C "$tmp/modprobe.conf" -c 2>&1 | sed -n 's/^options tether //p' | LC_ALL=C sort)
[ -n "$live" ] && [ "$listed" = "$live" ] && [ "$parsed" = "$live" ] &&
	! grep -v '^#' "$conf" | grep -q '[^[:space:]]'
result modprobe_conf $? "$(diff <(echo "$live") <(echo "$listed")); parsed: $parsed"

out=$(grep -v '^#' "$d/etc/modules-load.d/tether.conf" | grep '[^[:space:]]')
[ "$out" = tether ]
result modules_load $? "$out"

out=$(make -s -C "$top" uninstall DESTDIR="$d" PREFIX=/usr sysconfdir=/etc 2>&1) && out=$(files "$d") && [ -z "$out" ]
result uninstall $? "$out"

# the directory variables are honoured one by one (the parts that use
# them; fewer make runs, which are slow over the VM's 9p root)
c=$tmp/custom
out=$(make -s -C "$top" install-lib install-headers install-tools DESTDIR="$c" prefix=/opt/tether libdir=/opt/tether/lib64 \
	includedir=/opt/tether/inc sbindir=/opt/tether/tools 2>&1) &&
	[ -f "$c/opt/tether/lib64/libtether.so.1.0.0" ] && [ -f "$c/opt/tether/inc/tether.h" ] &&
	[ -x "$c/opt/tether/tools/tether_info" ] &&
	grep -qx 'libdir=/opt/tether/lib64' "$c/opt/tether/lib64/pkgconfig/libtether.pc" &&
	out=$(build "$c" /opt/tether/lib64 secure_event) &&
	out=$(run "$c" /opt/tether/lib64 secure_event "${expect[secure_event]}") &&
	out=$(make -s -C "$top" uninstall DESTDIR="$c" prefix=/opt/tether libdir=/opt/tether/lib64 \
		includedir=/opt/tether/inc sbindir=/opt/tether/tools 2>&1) &&
	out=$(files "$c") && [ -z "$out" ]
result custom_dirs $? "$out"

echo "1..$n"
exit $failed
