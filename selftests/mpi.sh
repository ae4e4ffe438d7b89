#!/bin/bash
# mpi: a real MPI program over libfabric with the tether monitor. Two ranks
# of Debian's Open MPI (OFI MTL, verbs;ofi_rxm on rxe0, settings in
# scripts/mpi-pingpong) run tether-mpi-pingpong with munmap + mmap of every
# buffer before every iteration, libtether-fabric preloaded: it must finish,
# every byte checked and right; rxe0's own packet counter must have carried
# at least the payload (no silent tcp/shm path); and Open MPI's own monitor
# import must have been refused (EBUSY), so tether's is the one in use.
# Sizes 256 B to 1 MiB (x16), 4 iterations; on the debug kernel, where
# Open MPI's start-up and tear-down under KASAN take minutes (nearly all of
# the test's time), 4 KiB to 1 MiB with 2 iterations and windows of 2. On 6.12 the same churn runs again under the
# negative control (scripts/mpi-pingpong --monitor unsafe: a tether monitor
# that never invalidates), which must see wrong bytes: the 1 MiB messages
# go through ofi_rxm's rendezvous, straight from the registered pages.
# The full table and the comparison with libfabric's default monitor:
# make mpi-bench.
echo "TAP version 13"
top=$(cd "$(dirname "$0")/.." && pwd)
build=${TETHER_BUILD:?}
for need in "$build/bench/tether-mpi-pingpong:Open MPI's mpicc was missing at build time" \
	"$build/lib/libtether-fabric.so.1:libtether-fabric is not built"; do
	if [ ! -e "${need%%:*}" ]; then echo "1..0 # SKIP ${need#*:}"; exit 0; fi
done
if ! ibv_devices 2>/dev/null | grep -qw rxe0; then
	echo "1..0 # SKIP no rxe0 device"
	exit 0
fi
if [ "${TETHER_KERNEL:-}" = debug ]; then
	sizes=3 args=(-m 4096 -M 1048576 -x 16 -i 2 -w 2 -c mmap)
else
	sizes=4 args=(-m 256 -M 1048576 -x 16 -i 4 -w 4 -c mmap)
fi
t0=$SECONDS
out=$("$top/scripts/mpi-pingpong" --monitor tether -- "${args[@]}" 2>&1)
status=$?
grep -v 'mtl_ofi_component.c' <<<"$out" | sed 's/^/# /'
echo "# tether run: $((SECONDS - t0)) s"
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
verdict churn_every_size "$([ "$churned" -eq $sizes ] && echo true || echo false)" "$churned of $sizes sizes"
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
# the negative control: the same churn with a monitor that never
# invalidates must come out wrong (and only because of that monitor: both
# ranks imported it, and Open MPI's own import was refused)
if [ "${TETHER_KERNEL:-}" = 6.12 ]; then
	t0=$SECONDS
	out=$("$top/scripts/mpi-pingpong" --monitor unsafe -- "${args[@]}" 2>&1)
	status=$?
	grep -E '^ *[0-9]+ |wrong bytes|^rxe0|monitor' <<<"$out" | sed 's/^/# unsafe: /'
	echo "# unsafe run: $((SECONDS - t0)) s"
	imported=$(grep -c '^tether-fabric-unsafe: no-invalidation monitor imported$' <<<"$out")
	refused=$(grep -c 'Failed to inject Libfabric memory monitor: Device or resource busy' <<<"$out")
	wrong=$(sed -n 's/^FAIL: \([0-9]*\) wrong bytes$/\1/p' <<<"$out")
	verdict negative_control_caught "$([ $status -ne 0 ] && [ "${wrong:-0}" -gt 0 ] &&
		[ "$imported" -eq 2 ] && [ "$refused" -eq 2 ] && echo true || echo false)" \
		"status $status, ${wrong:-no} wrong bytes, unsafe monitor in $imported of 2 ranks, Open MPI's refused in $refused"
fi
echo "1..$n"
exit $failed
