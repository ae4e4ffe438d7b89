#!/bin/bash
# examples: the README's example programs run and print what the README says.
echo "TAP version 13"
ex=${TETHER_BUILD:?}/examples
n=0 failed=0
check() { # check NAME EXPECTED-REGEX COMMAND... (\n matches a newline)
	local name=$1 want=$2 out
	shift 2
	n=$((n + 1))
	# the whole output, newlines included, is matched (grep -Pz)
	if out=$("$@" 2>&1) && grep -Pzq "$want" <<<"$out"; then
		echo "ok $n $name"
	else
		failed=1
		echo "not ok $n $name"
		sed 's/^/# /' <<<"$out"
	fi
}
check secure_event 'secured: valid=1\nevent: handle=1 cookie=42 reason=1 \(unmap=1\) valid=0' "$ex/secure_event"
check cache_example 'hits 3 misses 3 invalidations 2' "$ex/cache_example"
check section_views '^hello\n$' "$ex/section_views"
echo "1..$n"
exit $failed
