// SPDX-License-Identifier: GPL-2.0
/*
 * tether-fabric-unsafe.so: a negative control for the MPI ping-pong. Preloaded
 * with TETHER_FABRIC=0 (so that libtether-fabric's own constructor does not
 * import), its constructor imports the tether monitor with
 * TETHER_FABRIC_UNSAFE_NO_INVALIDATION: a monitor that subscribes nothing
 * and calls every cached registration valid. Open MPI's own import then
 * fails (EBUSY), so nothing evicts a registration whose pages were replaced:
 * a buffer churned under its cached registration must come out wrong.
 * scripts/mpi-pingpong --monitor unsafe runs it; never use it for real work.
 */
#include <stdio.h>
#include <string.h>

#include "tether_fabric.h"

__attribute__((constructor)) static void unsafe_import(void)
{
	int ret = tether_fabric_import(TETHER_FABRIC_UNSAFE_NO_INVALIDATION);

	if (ret)
		fprintf(stderr, "tether-fabric-unsafe: import failed: %s\n", strerror(-ret));
	else
		fprintf(stderr, "tether-fabric-unsafe: no-invalidation monitor imported\n");
}
