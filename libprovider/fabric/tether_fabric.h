/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtether-fabric: tether as libfabric's memory monitor.
 *
 * libfabric's MR cache (the verbs provider's, and every provider built on
 * libfabric's util MR cache) keeps registrations after fi_close() of the MR
 * and must learn when the memory under a cached registration changes. This
 * library gives it tether as that monitor, through libfabric's import API
 * (fi_open("mr_cache") + fi_import_fid(), rdma/fi_ext.h): every range the
 * cache subscribes is secured with tether, libfabric's valid() check reads
 * the range's validity word, and a thread of the library turns tether's
 * events into libfabric's notify().
 *
 * Two ways to select it:
 *   - unmodified programs: LD_PRELOAD=libtether-fabric.so.1 (a constructor
 *     calls tether_fabric_import(0));
 *   - in code: call tether_fabric_import() before the program opens its
 *     first fabric domain; link with -ltether-fabric.
 * Symbols are versioned (TETHER_FABRIC_1.0).
 */
#ifndef _TETHER_FABRIC_H
#define _TETHER_FABRIC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* tether_fabric_import()'s @flags */
enum tether_fabric_flags {
	/*
	 * A monitor that ignores every invalidation (valid() always true, no
	 * notify()): libfabric's cache then hands out stale registrations. A
	 * negative control for tests only; never use it for real work.
	 */
	TETHER_FABRIC_UNSAFE_NO_INVALIDATION = 1 << 0,
};

/**
 * tether_fabric_import() - make tether libfabric's memory monitor for this
 * process
 * @flags: enum tether_fabric_flags (0 for real work)
 *
 * Opens a tether context and imports the monitor into libfabric; from then
 * on every new MR cache of the process uses it (libfabric's
 * FI_MR_CACHE_MONITOR is then ignored). Call it before the first fabric
 * domain is opened: libfabric refuses to replace a monitor that caches
 * already use. One import per process (libfabric keeps one imported
 * monitor). The monitor stays for the life of the process; it is not
 * inherited by a forked child (whose caches must not be used, as with
 * libibverbs resources). Thread safe.
 *
 * Return: 0; -EOPNOTSUPP for @flags bits this library does not know;
 * -EALREADY when this library has already imported its monitor;
 * -ENODEV (or another tether_open() errno) when /dev/tether cannot be used
 * (libfabric keeps its own default monitor; tether_open() printed the
 * reason); -EBUSY when libfabric already has an imported monitor or caches
 * on its default one; -ENOSYS when libfabric lacks the import API; -ENOMEM.
 * Every failure but -EOPNOTSUPP and -EALREADY prints one line to stderr.
 */
int tether_fabric_import(uint32_t flags);

#ifdef __cplusplus
}
#endif

#endif /* _TETHER_FABRIC_H */
