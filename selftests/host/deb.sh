#!/bin/bash
# selftests/host/deb.sh: the Debian packages build from a copy of the tree
# (dpkg-buildpackage -us -uc -b, in build/deb/), lintian reports no error,
# each package holds what it should (dpkg-deb -c), libtether1's symbols
# file lists every symbol libtether and libtether-fabric export,
# tether-dkms registers the module with dkms, and an example builds and links against libtether-dev + libtether1
# unpacked into a throwaway root (dpkg -x), with pkg-config alone. Prints
# TAP; scripts/check runs it once, on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${TETHER_BUILD:-$top/build}
echo "TAP version 13"
n=0 failed=0
result() { # result NAME STATUS [OUTPUT]
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n deb.$1"
	else
		failed=1
		echo "not ok $n deb.$1"
		[ -z "${3:-}" ] || sed 's/^/# /' <<<"$3" | tail -n 40
	fi
}
finish() { echo "1..$n"; exit $failed; }

ver=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
w=$build/deb
src=$w/tether-$ver
rm -rf "$w"
mkdir -p "$src"
# the tree as git sees it (committed or not), without build products
(cd "$top" && git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T -) | tar -xf - -C "$src"
# a package build of its own: nothing of the make that runs this test
(cd "$src" && env -u TETHER_BUILD -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	dpkg-buildpackage -us -uc -b) >"$w/build.log" 2>&1
result build $? "$(tail -n 30 "$w/build.log")"
arch=$(dpkg --print-architecture) multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
deb() { echo "$w/${1}_${ver}_$2.deb"; }
for p in libtether1:$arch libtether-dev:$arch tether-utils:$arch tether-dkms:all; do
	[ -f "$(deb "${p%:*}" "${p#*:}")" ] || { result build_all 1 "no ${p%:*} package"; finish; }
done

out=$(lintian "$w/tether_${ver}_$arch.changes" 2>&1 | grep -v '^running with root privileges')
! grep -q '^E: ' <<<"$out"
result lintian $? "$out"

# contents PACKAGE ARCH PATH...: each PATH is in the package
contents() {
	local list missing='' f
	list=$(dpkg-deb -c "$(deb "$1" "$2")" | awk '{print $6}' | sed 's|^\./|/|')
	shift 2
	for f in "$@"; do grep -qx "$f" <<<"$list" || missing+=" $f"; done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}
L=/usr/lib/$multiarch
out=$(contents libtether1 "$arch" "$L/libtether.so.1.0.0" "$L/libtether.so.1" \
	"$L/libtether-fabric.so.1.0.0" "$L/libtether-fabric.so.1") &&
	! dpkg-deb -c "$(deb libtether1 "$arch")" | grep -q 'libtether\(-fabric\)\?\.so \|\.a$\|/include/'
result contents.libtether1 $? "$out"
maps=("$top/libprovider/libtether.map" "$top/libprovider/fabric/libtether-fabric.map")
syms=$(sed -n 's|^[[:space:]]*\(tether_[a-z_]*\);$|/usr/share/man/man3/\1.3.gz|p' "${maps[@]}")
# shellcheck disable=SC2086
out=$(contents libtether-dev "$arch" /usr/include/tether.h /usr/include/linux/tether.h \
	/usr/include/tether_fabric.h "$L/libtether.so" "$L/libtether-fabric.so" "$L/libtether.a" \
	"$L/pkgconfig/libtether.pc" /usr/share/man/man4/tether.4.gz $syms)
result contents.libtether-dev $? "$out"
out=$(contents tether-utils "$arch" /usr/sbin/tether_info /usr/share/man/man8/tether_info.8.gz)
result contents.tether-utils $? "$out"
out=$(contents tether-dkms all "/usr/src/tether-$ver/dkms.conf" "/usr/src/tether-$ver/kmod/main.c" \
	"/usr/src/tether-$ver/kmod/Kbuild" "/usr/src/tether-$ver/include/uapi/linux/tether.h" \
	/usr/lib/udev/rules.d/60-tether.rules /etc/modprobe.d/tether.conf /etc/modules-load.d/tether.conf) &&
	dpkg-deb -I "$(deb tether-dkms all)" postinst | grep -q 'dkms' &&
	dpkg-deb -I "$(deb tether-dkms all)" conffiles | grep -qx /etc/modprobe.d/tether.conf
result contents.tether-dkms $? "$out"

# each map's symbols at its version node (TETHER_1.0, TETHER_FABRIC_1.0)
exported=$(awk '/^[A-Z][A-Z_0-9.]* *\{/ { v = $1 }
	/^[[:space:]]*tether_[a-z_]*;$/ { s = $1; sub(/;$/, "", s); print s "@" v }' "${maps[@]}" | LC_ALL=C sort)
listed=$(dpkg-deb -I "$(deb libtether1 "$arch")" symbols | awk '/^ tether_/ {print $1}' | LC_ALL=C sort)
[ -n "$exported" ] && [ "$exported" = "$listed" ]
result symbols $? "$(diff <(echo "$exported") <(echo "$listed"))"

# the example against the unpacked packages alone
r=$w/root
mkdir -p "$r" "$w/ex"
dpkg -x "$(deb libtether1 "$arch")" "$r" && dpkg -x "$(deb libtether-dev "$arch")" "$r"
cp "$top/examples/secure_event.c" "$w/ex/"
flags=$(PKG_CONFIG_SYSROOT_DIR=$r PKG_CONFIG_PATH='' \
	PKG_CONFIG_LIBDIR="$r$L/pkgconfig:$(pkg-config --variable pc_path pkg-config)" \
	pkg-config --cflags --libs libtether 2>&1)
# shellcheck disable=SC2086
out=$(gcc -D_GNU_SOURCE -Wall -Wextra -Werror -o "$w/ex/secure_event" "$w/ex/secure_event.c" $flags 2>&1) &&
	! grep -qF "$top/" <<<"${flags//$r/}" &&
	LD_LIBRARY_PATH=$r$L ldd "$w/ex/secure_event" | grep -q "libtether\.so\.1 => $r$L/libtether\.so\.1 "
result example_builds $? "${flags//$r/ROOT}
$out"
finish
