/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kdreg2_uapi.h: the parts of kdreg2's uapi (include/kdreg2.h of HPE's
 * shs-kdreg2) the benchmarks use, written from its documented layout so that
 * they build without kdreg2's source; monitor_bench.c and numa_bench.c.
 */
#ifndef TETHER_BENCH_KDREG2_UAPI_H
#define TETHER_BENCH_KDREG2_UAPI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>

struct kdreg2_config_data {
	size_t max_regions;
	const void *status_data;
};

struct kdreg2_monitoring_params {
	size_t location;
	uint32_t generation;
};

struct kdreg2_ioctl_monitor {
	const void *addr;
	size_t length;
	uint64_t cookie;
	struct kdreg2_monitoring_params monitoring_params;
};

struct kdreg2_ioctl_unmonitor {
	uint64_t cookie;
	struct kdreg2_monitoring_params monitoring_params;
};

struct kdreg2_event {
	uint32_t type;
	uint32_t _alignment;
	const void *addr;
	size_t len;
	uint64_t cookie;
};

#define KDREG2_IOCTL_CONFIG_DATA _IOWR('k', 1, struct kdreg2_config_data)
#define KDREG2_IOCTL_MONITOR _IOWR('k', 2, struct kdreg2_ioctl_monitor)
#define KDREG2_IOCTL_UNMONITOR _IOW('k', 3, struct kdreg2_ioctl_unmonitor)
#define KDREG2_IOCTL_UNMONITOR_ALL _IO('k', 4)

/* kdreg2_event.type */
#define KDREG2_EVENT_MAPPING_CHANGE 1

#endif
