#!/bin/bash
# selftests/host/man.sh: the man pages (man/) render clean with mandoc's
# linter, groff's warnings and man -l, a page with a planted error does not
# (the checks can fail), and every symbol libtether and libtether-fabric
# export (libprovider/libtether.map, libprovider/fabric/libtether-fabric.map)
# is named by exactly one section-3 page, which names nothing else. Prints
# TAP; scripts/check runs it once, on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
echo "TAP version 13"
n=0 failed=0
result() { # result NAME STATUS [OUTPUT]
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then
		echo "ok $n man.$1"
	else
		failed=1
		echo "not ok $n man.$1"
		[ -z "${3:-}" ] || sed 's/^/# /' <<<"$3" | head -n 40
	fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# lint PAGE: prints every complaint; status 0 only when there is none
lint() {
	local out
	out=$(mandoc -T lint -W warning "$1" 2>&1; groff -z -w all -man "$1" 2>&1
		MANWIDTH=80 man -l "$1" 2>&1 >/dev/null)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

command -v mandoc >/dev/null || { result found 1 "mandoc is not installed (scripts/deps)"; echo "1..$n"; exit 1; }
pages=("$top"/man/*.[1-8])
for p in "${pages[@]}"; do
	out=$(lint "$p")
	result "lint.${p##*/}" $? "$out"
done

# the same checks on a page with an unknown macro and a misspelt section
# must complain
sed -e 's/^\.SH DESCRIPTION$/.SH DESCRPTION\n.XX bad/' "$top/man/tether_open.3" >"$tmp/bad.3"
! lint "$tmp/bad.3" >/dev/null
result lint_catches_errors $?

# names NAME-SECTION of a page: the names before "\-"
names() { sed -n '/^\.SH NAME/{n;s/ *\\-.*//;s/,/ /g;p;q}' "$1"; }
exported=$(sed -n 's/^[[:space:]]*\(tether_[a-z_]*\);$/\1/p' "$top/libprovider/libtether.map" \
	"$top/libprovider/fabric/libtether-fabric.map" | LC_ALL=C sort)
named=$(for p in "$top"/man/*.3; do names "$p" | tr ' ' '\n'; done | grep . | LC_ALL=C sort)
# the inline wrappers of tether.h (tether_query() calls tether_query_sized()
# and so on) are named too; nothing else may be
inline=$(sed -n 's/^static inline [a-z ]*[ *]\(tether_[a-z_]*\)(.*/\1/p' "$top/libprovider/tether.h")
public=$(printf '%s\n' $exported $inline | LC_ALL=C sort -u)
[ -n "$exported" ] && [ "$public" = "$named" ]
result symbols_have_pages $? "exported and inline (<) vs named in man/*.3 (>):
$(diff <(echo "$public") <(echo "$named"))"

for want in tether.4 tether_info.8; do
	[ -f "$top/man/$want" ]
	result "page.$want" $?
done
echo "1..$n"
exit $failed
