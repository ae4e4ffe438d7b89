/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtether: the userspace side of /dev/tether, and an RDMA registration
 * cache over libibverbs that is never stale.
 *
 * Conventions: calls that return a pointer return NULL and set errno on
 * failure, as libibverbs does; calls that return int return 0 (or a count)
 * or a negative errno value, like the kernel and rdma-core's internal
 * calls. (libibverbs' own int calls, ibv_dereg_mr() for one, return a
 * positive errno value; where libtether passes one on it is negated.)
 * Symbols are versioned (TETHER_1.0, libprovider/libtether.map).
 *
 * Extensible structs. Calls that fill a struct the library may grow later
 * (tether_query(), tether_get_stats(), tether_cache_query_stats()) are
 * static inline wrappers that pass the caller's sizeof to a sized symbol,
 * as ibv_query_gid_ex() does: the library writes min(caller's size, its
 * own) bytes and zeroes the caller's bytes beyond its own, so a program
 * built against an older (smaller) struct never has memory past it written,
 * and one built against a newer struct reads 0 in the fields this library
 * does not know. A struct's @size field, when it has one, reports the bytes
 * filled.
 *
 * Unknown bits. A comp_mask bit or a flag bit this library does not know is
 * refused with EOPNOTSUPP, before anything is done, by every call that
 * takes one (tether_secure()'s @flags, tether_cache_create()'s
 * attr->comp_mask and attr->flags), as rdma-core's command layer does for
 * unsupported comp_mask and flag bits (ibv_cmd_create_cq_ex()). A known
 * field with a bad value is EINVAL. (enum ibv_access_flags values are
 * passed to ibv_reg_mr() unchecked and fail as it fails.)
 *
 * Threads: a context and a cache may be used from any number of threads of
 * the process that created them. Neither may be used in a forked child (as
 * with libibverbs resources); the parent is unaffected by the fork.
 */
#ifndef _TETHER_H
#define _TETHER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <infiniband/verbs.h>
#include <linux/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Context ------------------------------------------------------------ */

/* An open /dev/tether: one context bound to the calling process. */
struct tether_context;

/**
 * tether_open() - open /dev/tether, check its ABI and map its shared memory
 *
 * Return: a context, or NULL with errno set: ENODEV when /dev/tether does
 * not exist (tether.ko is not loaded), EACCES when it cannot be opened,
 * EPROTO when the module speaks another ABI version or lacks the securing
 * feature, ENOMEM. On failure one line naming the problem goes to stderr.
 */
struct tether_context *tether_open(void);

/**
 * tether_close() - close the context's descriptor and free the context
 * @ctx: the context; NULL is allowed and does nothing
 *
 * The kernel releases every range (and unpins its pages) when the last
 * descriptor of the context is closed: at once, unless a forked child
 * still holds an inherited copy (then when the child closes it or exits).
 * A registration cache built on @ctx must be destroyed first.
 *
 * Return: 0; -EBUSY (nothing done) while a cache still uses @ctx; or a
 * negative errno from close(2) (the context is freed all the same).
 */
int tether_close(struct tether_context *ctx);

/**
 * tether_query_sized() - the module's handshake answer (ABI version,
 * features, ring and table sizes); call it through tether_query()
 * @ctx: the context
 * @info: filled in: min(@info_size, the library's sizeof) bytes, the rest
 *	of @info_size zeroed; info->size (when it fits) is the bytes filled
 * @info_size: the caller's sizeof(*@info)
 *
 * Return: 0.
 */
int tether_query_sized(struct tether_context *ctx, struct tether_info *info,
		       size_t info_size);

static inline int tether_query(struct tether_context *ctx, struct tether_info *info)
{
	return tether_query_sized(ctx, info, sizeof(*info));
}

/**
 * tether_fd() - the context's file descriptor, to wait for events with
 * poll/epoll (EPOLLIN while events wait)
 * @ctx: the context
 *
 * Return: the descriptor; it stays owned by the context.
 */
int tether_fd(const struct tether_context *ctx);

/* ---- Secured ranges ----------------------------------------------------- */

/* A secured range, as TETHER_IOC_SECURE returned it. */
struct tether_range {
	uint64_t handle;
	uint64_t generation;
	uint32_t slot;
	uint32_t reserved;
};

/**
 * tether_secure() - watch (and with TETHER_SECURE_PIN, pin) a range of the
 * caller's memory
 * @ctx: the context
 * @addr: start of the range
 * @length: its length in bytes
 * @flags: enum tether_secure_flags
 * @cookie: any value; returned in the range's events
 * @range: filled in on success
 *
 * Return: 0, -EOPNOTSUPP for @flags bits this library does not know (no
 * system call made), or the negative errno of TETHER_IOC_SECURE
 * (linux/tether.h).
 */
int tether_secure(struct tether_context *ctx, const void *addr, size_t length,
		  uint32_t flags, uint64_t cookie, struct tether_range *range);

/**
 * tether_release() - stop watching a range and unpin it
 * @ctx: the context
 * @handle: the range's handle
 *
 * Return: 0, or -ENOENT for a handle the context does not hold.
 */
int tether_release(struct tether_context *ctx, uint64_t handle);

/**
 * tether_range_valid() - has the mapping under the range stayed the same?
 * @ctx: the context
 * @range: a range secured on @ctx
 *
 * One load from shared memory; no system call, no lock.
 *
 * Return: 1 while valid, 0 once invalidated or released.
 */
int tether_range_valid(const struct tether_context *ctx,
		       const struct tether_range *range);

/* ---- Events ------------------------------------------------------------- */

/**
 * tether_events_pending() - "anything new?": one load, no system call
 * @ctx: the context
 *
 * Return: the number of events waiting in the ring.
 */
uint64_t tether_events_pending(const struct tether_context *ctx);

/**
 * tether_next_event() - take the next event from the shared ring
 * @ctx: the context
 * @ev: filled in
 *
 * No system call. One consumer at a time: callers serialize (the
 * registration cache does this itself for its context).
 *
 * Return: 1 if an event was taken, 0 if the ring is empty.
 */
int tether_next_event(struct tether_context *ctx, struct tether_event *ev);

/**
 * tether_rearm() - restart the ring after a TETHER_EVENT_OVERFLOW record
 * @ctx: the context
 * @dropped: if not NULL, the number of events dropped since the overflow
 *
 * Return: 0 or a negative errno.
 */
int tether_rearm(struct tether_context *ctx, uint64_t *dropped);

/**
 * tether_get_stats_sized() - the context's kernel counters; call it through
 * tether_get_stats()
 * @ctx: the context
 * @stats: filled in: min(@stats_size, the library's sizeof) bytes, the
 *	rest of @stats_size zeroed; stats->size (when it fits) is the bytes
 *	filled. Untouched on failure.
 * @stats_size: the caller's sizeof(*@stats)
 *
 * Return: 0 or the negative errno of TETHER_IOC_GET_STATS.
 */
int tether_get_stats_sized(struct tether_context *ctx, struct tether_stats *stats,
			   size_t stats_size);

static inline int tether_get_stats(struct tether_context *ctx, struct tether_stats *stats)
{
	return tether_get_stats_sized(ctx, stats, sizeof(*stats));
}

/* ---- Registration cache ------------------------------------------------- */

/* A registration cache bound to one protection domain. */
struct tether_cache;

/* A registration handed out by tether_cache_get(); read-only for the user. */
struct tether_mr {
	struct ibv_mr *mr;	/* the verbs registration */
	uint32_t lkey;
	uint32_t rkey;
	void *addr;		/* start of the registered range (page aligned, but
				   as asked for by a pass-through cache) */
	size_t length;		/* length of the registered range */
	int access;		/* enum ibv_access_flags it was registered with */
};

/* Why an entry left the cache (the eviction callback's @reason). */
enum tether_evict_reason {
	TETHER_EVICT_INVALIDATED = 0,	/* the mapping under it changed */
	TETHER_EVICT_OVERFLOW = 1,	/* the event ring overflowed: all entries */
	TETHER_EVICT_CAPACITY = 2,	/* least recently used, to make room */
	TETHER_EVICT_FLUSH = 3,		/* tether_cache_flush() */
	TETHER_EVICT_DESTROY = 4,	/* tether_cache_destroy() */
	TETHER_EVICT_REASONS = 5,
};

/*
 * Bits of tether_cache_attr.comp_mask: which fields are set (the program's
 * explicit choice: see tether_cache_create() for how they meet the
 * environment).
 */
enum tether_cache_attr_mask {
	TETHER_CACHE_ATTR_FLAGS = 1 << 0,
	TETHER_CACHE_ATTR_MAX_ENTRIES = 1 << 1,
	TETHER_CACHE_ATTR_MAX_BYTES = 1 << 2,
	TETHER_CACHE_ATTR_ACCESS_POLICY = 1 << 3,
	TETHER_CACHE_ATTR_EVICT_CB = 1 << 4,
	TETHER_CACHE_ATTR_RESERVED = 1 << 5,
};

/* tether_cache_attr.flags */
enum tether_cache_flags {
	/*
	 * No caching: every get registers, every put deregisters. Allowed
	 * without /dev/tether (@ctx may be NULL). Also what TETHER_CACHE=0
	 * forces on every cache.
	 */
	TETHER_CACHE_PASSTHROUGH = 1 << 0,
	/*
	 * A cache that ignores invalidations, as caches without kernel help
	 * do. It hands out stale registrations; it exists only as a negative
	 * control for tests and demos. Never use it for real work.
	 */
	TETHER_CACHE_UNSAFE_NO_INVALIDATION = 1 << 1,
};

/* tether_cache_attr.access_policy */
enum tether_cache_access_policy {
	/* register with the access asked for; reuse entries whose access covers it */
	TETHER_CACHE_ACCESS_EXACT = 0,
	/*
	 * register with the access asked for plus @widen_access, so later gets
	 * with other access hit; falls back to the asked access when the wider
	 * registration is refused (read-only memory, say)
	 */
	TETHER_CACHE_ACCESS_WIDEN = 1,
};

/**
 * typedef tether_evict_cb - called for every entry that leaves the cache
 * @mr: the registration, still registered during the call
 * @reason: why it leaves
 * @arg: tether_cache_attr.evict_arg
 *
 * Runs with the cache's internal lock held: it must not call back into the
 * cache. An entry in use when invalidated leaves at its last put.
 */
typedef void (*tether_evict_cb)(const struct tether_mr *mr,
				enum tether_evict_reason reason, void *arg);

/* Creation attributes; fields not named in @comp_mask take their defaults. */
struct tether_cache_attr {
	uint32_t comp_mask;	/* enum tether_cache_attr_mask */
	uint32_t flags;		/* enum tether_cache_flags (default 0) */
	uint32_t max_entries;	/* default 4096 */
	uint32_t access_policy;	/* enum tether_cache_access_policy (default EXACT) */
	uint64_t max_bytes;	/* default 0: no byte limit */
	int widen_access;	/* for ACCESS_WIDEN; 0: LOCAL_WRITE|REMOTE_READ|REMOTE_WRITE */
	tether_evict_cb evict_cb;
	void *evict_arg;
};

/**
 * tether_cache_create() - a registration cache over @pd
 * @ctx: the tether context that keeps it coherent; NULL only with
 *	TETHER_CACHE_PASSTHROUGH (or TETHER_CACHE=0)
 * @pd: the protection domain registrations are made in
 * @attr: attributes, or NULL for the defaults
 *
 * Attributes and the environment: what the program sets explicitly (a
 * field named in attr->comp_mask) wins; the environment only replaces
 * defaults. TETHER_CACHE_MAX_ENTRIES and TETHER_CACHE_MAX_BYTES (suffixes
 * k, m, g) set the limits the program left unset (no
 * TETHER_CACHE_ATTR_MAX_ENTRIES / _MAX_BYTES), TETHER_CACHE_STATS=1 prints
 * the statistics to stderr when the cache is destroyed, or at exit for
 * caches never destroyed. TETHER_CACHE=1 (the default) never turns a
 * pass-through the program asked for into a cache. One exception, an
 * administrator's kill switch that can only make a cache safer and slower:
 * TETHER_CACHE=0 makes every cache a pass-through, whatever attr->flags
 * say. A malformed value is refused (EINVAL) even where the attribute wins.
 *
 * A context feeds one cache (its event ring has one consumer): open a
 * context per cache. max_entries is capped at the context's max_regions.
 *
 * Return: the cache, or NULL with errno: EINVAL (no @pd; no @ctx without
 * pass-through: the cache refuses to run unsafely; a bad value of a known
 * attribute or of an environment variable), EOPNOTSUPP (attr->comp_mask
 * or attr->flags bits this library does not know), EBUSY (@ctx already has
 * a cache), ENOMEM.
 */
struct tether_cache *tether_cache_create(struct tether_context *ctx,
					 struct ibv_pd *pd,
					 const struct tether_cache_attr *attr);

/**
 * tether_cache_destroy() - deregister every entry and free the cache
 * @cache: the cache; NULL does nothing
 *
 * Return: 0, or -EBUSY while registrations are still in use (nothing is
 * freed) or while a deregistration fails (see tether_cache_put(); what
 * could be deregistered is, the rest stays): the cache stays usable and
 * destroy can be called again.
 */
int tether_cache_destroy(struct tether_cache *cache);

/**
 * tether_cache_get() - a registration covering [addr, addr + length)
 * @cache: the cache
 * @addr: start of the buffer
 * @length: its length
 * @access: enum ibv_access_flags the registration must allow
 *
 * A hit (a valid cached entry covering the buffer with at least @access)
 * takes no system call and no lock (a get that finds kernel events queued
 * first applies them under the cache's lock; the lock is also taken when a
 * lookup races an entry's retirement). A miss secures the page-rounded
 * range with tether, registers it with ibv_reg_mr() and caches it. When the cache
 * is full and every entry is in use, or the range alone is larger than
 * max_bytes, the registration is made uncached (counted in stats.uncached)
 * and deregistered at its put. Hold the result until the device is done with
 * the buffer, then tether_cache_put() it.
 *
 * Return: the registration, or NULL with errno: EINVAL (length 0 or
 * wrapping), EFAULT (memory not mapped, or not writable for a write access,
 * as ibv_reg_mr() would fail), EAGAIN (the mapping kept changing during
 * registration), ENOSPC (the context's max_regions used up by ranges the
 * cache does not own), ENOMEM (no memory to search or to cache), or the
 * errno of ibv_reg_mr(). Resource failures (ENOMEM, ENOSPC) are retried once after
 * deregistering every entry not in use.
 */
struct tether_mr *tether_cache_get(struct tether_cache *cache, void *addr,
				   size_t length, int access);

/**
 * tether_cache_put() - done with a registration
 * @cache: the cache
 * @mr: what tether_cache_get() returned
 *
 * An entry invalidated while in use is deregistered at its last put. Each
 * get is put once: a put of a registration no longer held is undefined, as
 * a second ibv_dereg_mr() is (a cached entry whose count is already zero is
 * caught with -EINVAL, but once the entry is reused it cannot be).
 *
 * Return: 0, -EINVAL for a cached entry not held, or the negative errno of
 * ibv_dereg_mr() for a registration deregistered now. When that fails (a
 * memory window still bound to it, say) nothing is lost, and the put is
 * done all the same (do not put again): the registration is kept aside,
 * still registered, and deregistered again by tether_cache_flush() and
 * tether_cache_destroy().
 */
int tether_cache_put(struct tether_cache *cache, struct tether_mr *mr);

/**
 * tether_cache_flush() - deregister every entry not in use
 * @cache: the cache
 *
 * Also retries the deregistrations that failed before (see
 * tether_cache_put()).
 *
 * Return: the number of entries deregistered.
 */
int tether_cache_flush(struct tether_cache *cache);

/* Counters of a cache (tether_cache_query_stats()). */
struct tether_cache_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t uncached;	/* registrations made uncached (cache full, all in use) */
	uint64_t evictions[TETHER_EVICT_REASONS];	/* by enum tether_evict_reason */
	uint64_t invalidations;	/* entries the kernel reported as changed */
	uint64_t overflows;	/* ring overflows handled */
	uint64_t retries;	/* registrations redone: the mapping changed meanwhile */
	uint64_t entries;	/* cached now */
	uint64_t entries_in_use;	/* cached and held by a get now */
	uint64_t bytes_registered;	/* cached bytes now */
};

/**
 * tether_cache_query_stats_sized() - the cache's counters; call it through
 * tether_cache_query_stats()
 * @cache: the cache
 * @stats: filled in: min(@stats_size, the library's sizeof) bytes, the
 *	rest of @stats_size zeroed
 * @stats_size: the caller's sizeof(*@stats)
 *
 * Return: 0.
 */
int tether_cache_query_stats_sized(struct tether_cache *cache,
				   struct tether_cache_stats *stats, size_t stats_size);

static inline int tether_cache_query_stats(struct tether_cache *cache,
					   struct tether_cache_stats *stats)
{
	return tether_cache_query_stats_sized(cache, stats, sizeof(*stats));
}

/**
 * tether_cache_print_stats() - one line of counters to @f (what
 * TETHER_CACHE_STATS=1 prints)
 * @cache: the cache
 * @f: a stdio stream
 */
void tether_cache_print_stats(struct tether_cache *cache, FILE *f);

#ifdef __cplusplus
}
#endif

#endif /* _TETHER_H */
