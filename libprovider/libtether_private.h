/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libtether internals shared by its files (context.c and the cache). */
#ifndef _LIBTETHER_PRIVATE_H
#define _LIBTETHER_PRIVATE_H

#include "tether.h"

#define TETHER_EXPORT __attribute__((visibility("default")))

struct tether_context {
	int fd;
	struct tether_info info;
	/* the one registration cache consuming this context's ring, if any */
	struct tether_cache *cache;
	/* the consumer page (read-write) and the shared area (read-only) */
	struct tether_ring_consumer *cons;
	void *shared;
	const struct tether_ring_header *hdr;
	const struct tether_event *events;
	const uint64_t *validity;
};

/*
 * tether_range_valid() and tether_events_pending() for the library's own
 * hot paths: inlined, where a call to the exported symbol would go through
 * the PLT.
 */
static inline int tether_range_valid_fast(const struct tether_context *ctx,
					  const struct tether_range *range)
{
	if (range->slot >= ctx->info.max_regions)
		return 0;
	/*
	 * A relaxed load, as the kernel's store is a plain WRITE_ONCE()
	 * (tether_invalidate() in kmod/region.c): the word publishes no other
	 * data, so there is nothing to order after it; the kernel changes it
	 * before the mapping changes, which is all the check needs.
	 */
	return __atomic_load_n(&ctx->validity[range->slot], __ATOMIC_RELAXED) ==
	       range->generation;
}

static inline uint64_t tether_events_pending_fast(const struct tether_context *ctx)
{
	/* pairs with the kernel's release store of producer */
	return __atomic_load_n(&ctx->hdr->producer, __ATOMIC_ACQUIRE) -
	       __atomic_load_n(&ctx->cons->consumer, __ATOMIC_RELAXED);
}

/* the enum tether_secure_flags bits this library knows */
#define TETHER_SECURE_KNOWN (TETHER_SECURE_PIN | TETHER_SECURE_WRITE)

/*
 * Copy the library's struct (@src, @src_size bytes) out to the caller's
 * (@dst, @dst_size bytes): min of the two, the caller's tail zeroed.
 */
void tether_copy_out(void *dst, size_t dst_size, const void *src, size_t src_size);

/* ioctl() that retries on EINTR; returns 0 or -errno. */
int tether_do_ioctl(int fd, unsigned long cmd, void *arg);

/*
 * Has the ring stopped with everything consumed (overflowed, whether or not
 * a marker could be written)? Then events were lost.
 */
int tether_ring_stopped(const struct tether_context *ctx);

#endif /* _LIBTETHER_PRIVATE_H */
