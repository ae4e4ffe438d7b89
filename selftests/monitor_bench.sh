#!/bin/bash
# monitor_bench: smoke run of bench/monitor_bench.c (`--quick`): it runs to
# the end and prints its tables with sane numbers (finite, positive); no
# timing is asserted (the events-produced figure is a difference of two
# timings and may come out below zero under noise). kdreg2 is not loaded
# here, so its columns say absent.
echo "TAP version 13"
bench=${TETHER_BUILD:?}/bench/tether-monitor-bench
if [ "${TETHER_KERNEL:-}" = debug ]; then
	echo "1..0 # SKIP timings mean nothing on the debug kernel"
	exit 0
fi
echo "1..2"
out=$("$bench" --quick 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
[ $rc -eq 0 ] && echo "ok 1 quick run exits 0" || echo "not ok 1 quick run exits 0 (status $rc)"
# every secure/release row: a held count and three positive medians
rows=$(echo "$out" | awk '/^ +(1|10|100|1000) +[0-9.]+ \[/ && $2 > 0 && $4 > 0' | wc -l)
ops=$(echo "$out" | awk '/^(munmap|madv_dontneed) / && $2 > 0 && $3 + 0 > 0' | wc -l)
if [ "$rows" -eq 4 ] && [ "$ops" -eq 2 ] && echo "$out" | grep -Eq '^  tether -?[0-9.]+ / [0-9.]+'; then
	echo "ok 2 tables printed with positive numbers"
else
	echo "not ok 2 tables printed with positive numbers (rows $rows, ops $ops)"
fi
