#!/bin/bash
# hit_bench: a smoke run of the hit benchmark (bench/hit_bench.c, --quick:
# sizes 1 and 1 000, one round): it runs tether and libfabric 1.17's verbs MR
# cache (userfaultfd and memhooks monitors) on rxe0, prints its tables, and
# writes hit.json and the .dat files bench/hit.gp plots. Checks that it did,
# with numbers that are sane (positive, finite); no timing ratio is asserted
# (the machine is shared and emulated: `make bench` is the measurement).
# Runs on 6.12, the benchmark's kernel (the hit path is userspace's: the
# other kernels would repeat the same 30 s).
echo "TAP version 13"
if [ "${TETHER_KERNEL:-6.12}" != 6.12 ]; then
	echo "1..0 # SKIP the smoke run is on 6.12 only"
	exit 0
fi
bench=${TETHER_BUILD:?}/bench/tether-hit-bench
n=0 failed=0
ok() { # ok NAME CONDITION-STATUS
	n=$((n + 1))
	if [ "$2" -eq 0 ]; then echo "ok $n $1"; else failed=1; echo "not ok $n $1"; fi
}
if ! ibv_devices 2>/dev/null | grep -qw rxe0; then
	echo "1..0 # SKIP no rxe0 device"
	exit 0
fi
dir=$(mktemp -d)
out=$("$bench" --quick --out "$dir" 2>&1)
status=$?
sed 's/^/# /' <<<"$out"
ok exit_status "$status"
# a table row per size: N, then every cell a positive number
rows=$(grep -Ec '^ +(1|1000) +[0-9]+\.[0-9]+ \([0-9.]+-[0-9.]+\) +[0-9]+\.[0-9]+ \(' <<<"$out")
[ "$rows" -eq 2 ]; ok table_has_both_sizes $?
! grep -Eq '(nan|inf|-1\.0 )' <<<"$out"; ok numbers_are_finite $?
for s in tether libfabric-uffd libfabric-memhooks; do
	# millions of hits per second from 1 and 2 threads, both > 0
	awk -v s="$s" '$1 == s && $2 > 0 && $3 > 0 { found = 1 } END { exit !found }' <<<"$out"
	ok "threads_row_$s" $?
done
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for sys_ in ("tether", "libfabric-uffd", "libfabric-memhooks"):
    for n in ("1", "1000"):
        for k in ("floor", "hit"):
            s = d["systems"][sys_][n][k]
            assert s["samples"] > 0 and 0 < s["p25"] <= s["median"] <= s["p75"], (sys_, n, k, s)
' "$dir/hit.json"
ok json_is_complete $?
[ "$(grep -vc '^#' "$dir/hit-vs-size.dat")" -eq 2 ]; ok dat_has_both_sizes $?
rm -rf "$dir"
echo "1..$n"
exit $failed
