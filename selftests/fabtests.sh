#!/bin/bash
# fabtests: libfabric's own MR cache test, fi_mr_cache_evict from fabtests
# 1.17.0 (built on the host by scripts/fabtests), on rxe0 over verbs;ofi_rxm,
# with the tether monitor preloaded (libtether-fabric.so.1) and, beside it,
# with libfabric's stock userfaultfd and memhooks monitors. The test maps,
# registers, frees and reallocates buffers (mmap, brk, sbrk) and fails when
# a registration of changed memory comes back from the cache. Skipped only
# when the fabtests tarball was absent at build time.
echo "TAP version 13"
build=${TETHER_BUILD:?}
prog=$build/fabtests/src/fabtests/unit/fi_mr_cache_evict
n=0 failed=0
if [ ! -x "$prog" ]; then
	echo "ok 1 fi_mr_cache_evict # SKIP fabtests not built: no fabtests-1.17.0.tar.xz in the peers folder (../shared/peers or TETHER_PEERS)"
	echo "1..1"
	exit 0
fi
passes() { # passes NAME OUTPUT STATUS
	[ "$3" -eq 0 ] && grep -q "Summary: all tests passed" <<<"$2" &&
		{ [ "$1" != tether ] || grep -q "setting imported memory monitor as default" <<<"$2"; }
}
# fi_mr_cache_evict tells a miss from a hit by time alone (a registration
# of reallocated memory must take over 20 % of the first one's time): on the
# debug kernel (TETHER_QUICK=1) KASAN's cost swings enough to break that
# once in a while, so there a failed run is repeated once, its first output
# kept as diagnostics; the byte-checking test of the same churn is fabric.c
tries=1
[ "${TETHER_QUICK:-0}" = 1 ] && tries=2
run() { # run NAME COMMAND...: the test passes, and says so
	local name=$1 out rc try
	shift
	n=$((n + 1))
	for ((try = 1; try <= tries; try++)); do
		out=$("$@" -p "verbs;ofi_rxm" -d rxe0 2>&1)
		rc=$?
		passes "$name" "$out" "$rc" && break
		[ $try -lt $tries ] || break
		echo "# fi_mr_cache_evict.$name: run $try failed (status $rc), once more:"
		grep -E "^(Running|Summary)" <<<"$out" | sed 's/^/#   /'
	done
	if passes "$name" "$out" "$rc"; then
		echo "ok $n fi_mr_cache_evict.$name"
		grep -E "^(Testing|Summary)" <<<"$out" | sed 's/^/# /'
	else
		failed=1
		echo "not ok $n fi_mr_cache_evict.$name # exit status $rc"
		sed 's/^/# /' <<<"$out" | tail -40
	fi
}
# FI_LOG_LEVEL=info shows libfabric taking the imported monitor
run tether env LD_PRELOAD="$build/lib/libtether-fabric.so.1" LD_LIBRARY_PATH="$build/lib" \
	FI_LOG_LEVEL=info FI_LOG_SUBSYS=mr FI_LOG_PROV=core "$prog"
run userfaultfd env FI_MR_CACHE_MONITOR=userfaultfd "$prog"
run memhooks env FI_MR_CACHE_MONITOR=memhooks "$prog"
echo "1..$n"
exit $failed
