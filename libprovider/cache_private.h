/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtether: the registration cache's internals, shared by its files:
 *   cache.c         lookup, get/put, the miss path, events, create/destroy
 *   cache_entry.c   the entries' life cycle (the state table is there)
 *   cache_config.c  attributes and TETHER_CACHE* environment
 *   cache_stats.c   statistics and TETHER_CACHE_STATS at exit
 */
#ifndef _LIBTETHER_CACHE_H
#define _LIBTETHER_CACHE_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"
#include "libtether_private.h"

/*
 * An entry's reference word: the low 32 bits are its users (an int32_t,
 * TCACHE_DEAD = -1 once retired and while free), the high 32 bits count the
 * hits since they were last folded into the cache's statistics (at retire
 * and at every statistics query). One compare-and-swap takes a reference
 * and counts the hit.
 */
#define TCACHE_DEAD (-1)
#define TCACHE_DEAD_WORD 0xffffffffull
#define TCACHE_HIT (1ull << 32)
#define TCACHE_HASH_STEPS 4	/* a lock-free walk of a starts chain gives up after */
#define TCACHE_DEFAULT_ENTRIES 4096
#define TCACHE_POOL_ENTRIES 256
#define TCACHE_MISS_TRIES 3
#define TCACHE_WRITE_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			     IBV_ACCESS_REMOTE_ATOMIC)
#define TCACHE_DEFAULT_WIDEN (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | \
			      IBV_ACCESS_REMOTE_WRITE)

/* entry state bits */
#define TCACHE_INVALID 1u	/* never hand out again */
#define TCACHE_INDEXED 2u	/* in the index and the handle table */
#define TCACHE_UNCACHED 4u	/* a registration outside the cache (not from a pool) */

/*
 * Cache-line aligned: threads hitting different entries share no line.
 * Line 0 holds everything a hit and its put read or write: the hash walk
 * matches the buffer against pub.addr and pub.length, tryget and the put
 * are compare-and-swaps on ref, the check after tryget reads pub.access,
 * state and the validity slot and generation, and the user reads pub. Line
 * 1 is the interval index's node and the starts chain (read by a hit only
 * when the chain's first entry does not serve it, and by the index path);
 * what follows is read and written with the lock held only. last_use is
 * not written by hits: recency is stamped when the hits counted in ref are
 * folded (tcache_fold() in cache_entry.c).
 */
struct __attribute__((aligned(64))) tcache_entry {
	/* line 0: the hit's */
	struct tether_mr pub;	/* what the user gets */
	/* users and hits (see TCACHE_DEAD above) */
	uint64_t ref;
	/* the range's word in the kernel's validity table, and its value while valid */
	uint64_t generation;
	uint32_t slot;
	uint32_t state;
	/* line 1: the index's */
	struct tether_index_node node;
	/* next entry on the starts hash chain (read by lock-free readers) */
	struct tcache_entry *snext;
	/* the rest: with the lock held */
	uint64_t handle;	/* the tether range's */
	/* handle table chain, or free list link */
	struct tcache_entry *next;
	uint64_t last_use;	/* c->clock when last known used */
	enum tether_evict_reason evict_reason;
};

static_assert(offsetof(struct tcache_entry, state) + sizeof(uint32_t) <= 64 &&
	      offsetof(struct tcache_entry, pub) == 0,
	      "what a hit reads and writes is on the entry's first line");
static_assert(offsetof(struct tcache_entry, node) == 64 &&
	      offsetof(struct tcache_entry, snext) + sizeof(void *) <= 128,
	      "the index node and the starts chain are on the second line");
static_assert(sizeof(struct tcache_entry) == 192, "three lines an entry");

static inline int32_t tcache_refs(uint64_t word)
{
	return (int32_t)(uint32_t)word;
}

struct tcache_pool {
	struct tcache_pool *next;
	struct tcache_entry entries[TCACHE_POOL_ENTRIES];
};

struct tether_cache {
	struct tether_context *ctx;
	struct ibv_pd *pd;
	uint32_t flags;
	uint32_t max_entries;
	uint32_t access_policy;
	uint64_t max_bytes;
	int widen_access;
	tether_evict_cb evict_cb;
	void *evict_arg;
	bool print_stats;
	long page_size;

	/* fixed after create: the starts hash below */
	unsigned int page_shift;
	unsigned int starts_shift;	/* 64 - log2(buckets) */

	/* protects everything below but the index's and the starts' readers */
	pthread_mutex_t lock;
	struct tether_index index;
	/*
	 * page-aligned start -> the indexed entries starting there, chained
	 * by snext: a hit on a buffer's own registration is one bucket and
	 * one entry away. Writers hold the lock and store with release;
	 * readers walk it without one, at most TCACHE_HASH_STEPS entries.
	 */
	struct tcache_entry **starts;
	struct tcache_entry **table;	/* handle -> entry */
	size_t table_mask;
	struct tcache_entry *free;
	struct tcache_pool *pools;
	uint64_t nentries;
	uint64_t nbytes;
	uint64_t uncached_out;	/* uncached registrations not yet deregistered */
	/* retired, but ibv_dereg_mr() failed: retried by flush and destroy */
	struct tcache_entry *stuck;
	uint64_t nstuck;
	uint64_t clock;		/* recency: one tick per miss and per fold of every entry */
	/* but the live counts; hits: those folded from the entries' words */
	struct tether_cache_stats st;

	/* on tcache_registry, for TETHER_CACHE_STATS at exit */
	struct tether_cache *reg_next;
};

static inline struct tcache_entry *tcache_of(const struct tether_index_node *n)
{
	return (struct tcache_entry *)((char *)n - offsetof(struct tcache_entry, node));
}

static inline struct tcache_entry *tcache_of_mr(struct tether_mr *mr)
{
	return (struct tcache_entry *)((char *)mr - offsetof(struct tcache_entry, pub));
}

/* Does this cache secure its entries and follow the kernel's events? */
static inline bool tcache_safe(const struct tether_cache *c)
{
	return c->ctx && !(c->flags & (TETHER_CACHE_UNSAFE_NO_INVALIDATION |
				       TETHER_CACHE_PASSTHROUGH));
}

/* ---- cache_entry.c: the life cycle (all with the lock held but tryget/unref) */

void tcache_table_add(struct tether_cache *c, struct tcache_entry *e);
size_t tcache_start_hash(const struct tether_cache *c, uintptr_t start);
void tcache_starts_add(struct tether_cache *c, struct tcache_entry *e);
struct tcache_entry *tcache_table_find(struct tether_cache *c, uint64_t handle);
struct tcache_entry *tcache_alloc(struct tether_cache *c);
void tcache_free(struct tether_cache *c, struct tcache_entry *e);
uint64_t tcache_fold_hits(struct tcache_entry *e);
void tcache_fold(struct tether_cache *c, struct tcache_entry *e, uint64_t stamp);
int tcache_unref_last(struct tether_cache *c, struct tcache_entry *e, bool locked);
void tcache_set_aside(struct tether_cache *c, struct tcache_entry *e);
int tcache_retry_stuck(struct tether_cache *c);
void tcache_invalidate(struct tether_cache *c, struct tcache_entry *e,
		       enum tether_evict_reason reason);
bool tcache_evict(struct tether_cache *c, struct tcache_entry *e,
		  enum tether_evict_reason reason);
void tcache_for_each(struct tether_cache *c,
		     void (*fn)(struct tether_cache *, struct tcache_entry *, void *),
		     void *arg);
void tcache_invalidate_cb(struct tether_cache *c, struct tcache_entry *e, void *arg);

/*
 * Take a reference unless the entry is retired, and count a hit: one
 * compare-and-swap on the entry's first line. The acquire pairs with the
 * release store that published the entry (tcache_miss_locked()).
 */
static inline bool tcache_tryget(struct tcache_entry *e)
{
	uint64_t w = __atomic_load_n(&e->ref, __ATOMIC_RELAXED);

	while (tcache_refs(w) >= 0) {
		if (__atomic_compare_exchange_n(&e->ref, &w, w + 1 + TCACHE_HIT, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

/*
 * Drop a reference to a cached entry (and @uncount: TCACHE_HIT to take back
 * the hit of a tryget that did not serve, else 0); the last one retires an
 * invalidated entry (taking the lock unless @locked). -EINVAL on a put
 * without a get. The decrement and the load of the state after it are
 * sequentially consistent: either this sees TCACHE_INVALID, or
 * tcache_invalidate() sees the users at 0 (see cache_entry.c).
 */
static inline int tcache_unref(struct tether_cache *c, struct tcache_entry *e, bool locked,
			       uint64_t uncount)
{
	uint64_t w = __atomic_load_n(&e->ref, __ATOMIC_RELAXED);

	do {
		if (tcache_refs(w) <= 0)
			return -EINVAL;
		/* a fold may have taken the hit already */
		if ((w >> 32) == 0)
			uncount = 0;
	} while (!__atomic_compare_exchange_n(&e->ref, &w, w - 1 - uncount, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (tcache_refs(w) != 1 ||
	    !(__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) & TCACHE_INVALID))
		return 0;
	return tcache_unref_last(c, e, locked);
}

/* ---- cache_config.c ---------------------------------------------------- */

int tcache_attr(struct tether_cache *c, const struct tether_cache_attr *attr);
int tcache_env(struct tether_cache *c, uint32_t explicit);

/* ---- cache_stats.c ----------------------------------------------------- */

uint64_t tcache_held(struct tether_cache *c);
void tcache_stats_register(struct tether_cache *c);
void tcache_stats_unregister(struct tether_cache *c);

#endif /* _LIBTETHER_CACHE_H */
