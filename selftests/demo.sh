#!/bin/bash
# demo: the README's RDMA demo (demo/rdma_demo.c) with fewer messages (300
# per run, 100 with TETHER_QUICK=1): every byte right with the coherent cache
# and without a cache, and the cache without invalidation caught delivering
# stale data (its own exit status), with the cache's counters showing hits,
# misses and invalidations; the buffer-reuse runs right too, the cache's all
# hits but its eight first misses, and every run's registration time shown.
# On two hosts (scripts/vm --hosts 2, TETHER_HOSTS and TETHER_PEERS set) the
# same across the segment: host 0 runs the receiver (tether-rdma-demo -r),
# host 1 the sender (-s), which checks.
echo "TAP version 13"
demo=${TETHER_BUILD:?}/demo/tether-rdma-demo
n=0 failed=0
check() { # check NAME EXPECTED-REGEX (on the demo's output)
	n=$((n + 1))
	if grep -Eq "$2" <<<"$out"; then
		echo "ok $n $1"
	else
		failed=1
		echo "not ok $n $1"
	fi
}
if ! ibv_devices 2>/dev/null | grep -qw rxe0; then
	echo "1..0 # SKIP no rxe0 device"
	exit 0
fi
# fewer on the debug kernel (TETHER_QUICK=1), where KASAN makes it slow
messages=300
[ "${TETHER_QUICK:-0}" = 1 ] && messages=100
# On two hosts (scripts/vm --hosts 2): host 0 receives, host 1 sends.
role=
if [ "${TETHER_HOSTS:-1}" -gt 1 ]; then
	[ "$TETHER_HOST_INDEX" = 0 ] && role=receiver || role=sender
fi
case $role in
receiver) out=$("$demo" -r 2>&1) ;;
sender) out=$("$demo" -s "${TETHER_PEERS%% *}" -n "$messages" 2>&1) ;;
*) out=$("$demo" -n "$messages" 2>&1) ;;
esac
status=$?
sed 's/^/# /' <<<"$out"
n=$((n + 1))
if [ "$status" -eq 0 ]; then echo "ok $n ${role:+$role.}exit_status"; else failed=1; echo "not ok $n ${role:+$role.}exit_status # $status"; fi
if [ "$role" = receiver ]; then
	check receiver.served_every_run '^receiver: the sender hung up after [1-9][0-9]* runs$'
	echo "1..$n"
	exit $failed
fi
check every_byte_right '^cache: every byte of every message arrived right$'
check stale_data_caught '^no invalidation: [1-9][0-9]* of [0-9]+ messages carried stale data'
# the coherent cache's row: messages, 0 wrong, 0 bytes, hits, misses, invalidations > 0
check cache_hits_and_invalidations '^cache +[0-9]+ +0 +0 +[1-9][0-9]* +[1-9][0-9]* +[1-9][0-9]* '
# reuse: eight buffers, so eight misses and the rest hits, nothing invalidated
check reuse_cache_hits '^cache, reuse +[0-9]+ +0 +0 +[1-9][0-9]* +8 +0 +0 '
check reuse_no_cache_right '^no cache, reuse +[0-9]+ +0 +0 '
# the (de)reg ms and us/msg columns: positive numbers on every run, and the
# cache saving a share of the no-cache run's registration time
check registration_time_shown '^no cache +[0-9]+ .* [0-9]+\.[0-9]+x +[0-9]*[1-9][0-9]*\.[0-9] +[0-9.]+ +-'
check registration_time_saved '^cache, reuse .* -?[0-9]+%'
echo "1..$n"
exit $failed
