#!/bin/bash
# numa_bench: a short run of bench/numa_bench.c (1 000 unpinned ranges, 4 s
# of loads and stores under automatic NUMA balancing, kdreg2 not loaded).
# Checked, from the kernel's own counters: the hinting scan ran over the
# pages (numa_pte_updates), every invalidation tether reported was a page
# that moved to a new frame, except at most one per failed migration
# (pgmigrate_fail: the page is unmapped, then put back), and it reported
# no more moves than the kernel made (pgmigrate_success). A monitor that
# took the hinting scan's PROT_NONE for a mapping change fails the second
# check with about a thousand spurious invalidations. No timing is asserted.
echo "TAP version 13"
bench=${TETHER_BUILD:?}/bench/tether-numa-bench
if [ "${TETHER_KERNEL:-}" = debug ]; then
	echo "1..0 # SKIP the debug kernel's hinting scan is too slow for a short run"
	exit 0
fi
echo "1..3"
out=$("$bench" --quick --seconds 4 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] && echo "ok 1 run exits 0" || echo "not ok 1 run exits 0 (status $rc)"
counter() { echo "$out" | grep -o "$1 +[0-9]*" | grep -o '[0-9]*$'; }
updates=$(counter numa_pte_updates) fail=$(counter pgmigrate_fail) ok=$(counter pgmigrate_success)
read -r events real spurious unknown < <(echo "$out" | awk '$1 == "tether" && NF == 5 { print $2, $3, $4, $5 }')
if [ "${updates:-0}" -ge 1000 ]; then
	echo "ok 2 the hinting scan covered the ranges (numa_pte_updates +$updates)"
else
	echo "not ok 2 the hinting scan covered the ranges (numa_pte_updates +${updates:-?})"
fi
if [ -n "${events:-}" ] && [ "$spurious" -le "$fail" ] && [ "$unknown" -eq 0 ] &&
	[ "$real" -le "$ok" ]; then
	echo "ok 3 tether: $events invalidations, $real to a new frame ($ok pages migrated), $spurious on the same frame ($fail migrations failed)"
else
	echo "not ok 3 tether: ${events:-?} invalidations, ${real:-?} real of ${ok:-?} migrated, ${spurious:-?} spurious (${fail:-?} failed), ${unknown:-?} unknown"
fi
