#!/bin/bash
# mpi: a real MPI program over libfabric with the tether monitor. Two ranks
# of Debian's Open MPI (OFI MTL, verbs;ofi_rxm on rxe0, settings in
# scripts/mpi-pingpong) run tether-mpi-pingpong with munmap + mmap of every
# buffer before every iteration, libtether-fabric preloaded: it must finish,
# every byte checked and right; rxe0's own packet counter must have carried
# at least the payload (no silent tcp/shm path); and Open MPI's own monitor
# import must have been refused (EBUSY), so tether's is the one in use.
# Reduced sizes and counts; skipped on the debug kernel; the full table and
# the comparison with libfabric's default monitor: make mpi-bench.
echo "TAP version 13"
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TETHER_BUILD:?}
for need in "$build/bench/tether-mpi-pingpong:Open MPI's mpicc was missing at build time" \
	"$build/lib/libtether-fabric.so.1:libtether-fabric is not built"; do
	if [ ! -e "${need%%:*}" ]; then echo "1..0 # SKIP ${need#*:}"; exit 0; fi
done
# the debug kernel: Open MPI's start-up alone takes minutes under KASAN and
# lockdep, beyond this test's share of make check's time
if [ "${TETHER_KERNEL:-}" = debug ]; then
	echo "1..0 # SKIP debug kernel: two Open MPI ranks start too slowly under KASAN for the time budget"
	exit 0
fi
if ! ibv_devices 2>/dev/null | grep -qw rxe0; then
	echo "1..0 # SKIP no rxe0 device"
	exit 0
fi
iters=4
out=$("$top/scripts/mpi-pingpong" --monitor tether -- -m 256 -M 1048576 -x 16 -i $iters -w 4 -c mmap 2>&1)
status=$?
grep -v 'mtl_ofi_component.c' <<<"$out" | sed 's/^/# /'
n=0 failed=0
verdict() { # verdict NAME TRUE|FALSE [WHY]
	n=$((n + 1))
	if [ "$2" = true ]; then echo "ok $n $1"; else failed=1; echo "not ok $n $1${3:+ # $3}"; fi
}
verdict exit_status "$([ $status -eq 0 ] && echo true || echo false)" "status $status"
verdict every_byte_right "$(grep -q '^ok: 0 wrong bytes$' <<<"$out" && echo true || echo false)"
# every size churned: same-address column N/N with N > 0
rows=$(awk '$1 ~ /^[0-9]+$/ && NF == 5' <<<"$out")
churned=$(awk '{ split($5, a, "/"); if (a[2] > 0) n++ } END { print n + 0 }' <<<"$rows")
verdict churn_every_size "$([ "$churned" -eq 4 ] && echo true || echo false)" "$churned of 4 sizes"
# the payload went over rxe0: at least one packet per 4096 bytes (the
# largest RoCE MTU) and one per message
bytes=$(sed -n 's/^moved \([0-9]*\) bytes in \([0-9]*\) messages.*/\1/p' <<<"$out")
msgs=$(sed -n 's/^moved \([0-9]*\) bytes in \([0-9]*\) messages.*/\2/p' <<<"$out")
pkts=$(sed -n 's/^rxe0: sent_pkts +//p' <<<"$out")
if [ -n "$bytes" ] && [ -n "$pkts" ]; then
	need=$((bytes / 4096 > msgs ? bytes / 4096 : msgs))
	verdict traffic_on_rxe0 "$([ "$pkts" -ge "$need" ] && echo true || echo false)" \
		"$pkts packets for $bytes bytes in $msgs messages"
else
	verdict traffic_on_rxe0 false "no byte or packet count"
fi
# both ranks: libfabric refused Open MPI's import because tether's came first
refused=$(grep -c 'Failed to inject Libfabric memory monitor: Device or resource busy' <<<"$out")
verdict openmpi_import_refused "$([ "$refused" -eq 2 ] && echo true || echo false)" "$refused of 2 ranks"
echo "1..$n"
exit $failed
