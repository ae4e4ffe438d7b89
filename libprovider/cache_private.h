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

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "index.h"
#include "libtether_private.h"

#define TCACHE_DEAD (-1)
#define TCACHE_DEFAULT_ENTRIES 4096
#define TCACHE_POOL_ENTRIES 256
#define TCACHE_STRIPES 16
#define TCACHE_MISS_TRIES 3
#define TCACHE_WRITE_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			     IBV_ACCESS_REMOTE_ATOMIC)
#define TCACHE_DEFAULT_WIDEN (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | \
			      IBV_ACCESS_REMOTE_WRITE)

/* entry state bits */
#define TCACHE_INVALID 1u	/* never hand out again */
#define TCACHE_INDEXED 2u	/* in the index and the handle table */

/* entry flags (fixed while the entry is handed out) */
#define TCACHE_UNCACHED 1u	/* a registration outside the cache (not from a pool) */

/* cache-line aligned: threads hitting different entries share no line */
struct __attribute__((aligned(64))) tcache_entry {
	struct tether_index_node node;	/* first: index nodes are entries */
	struct tether_mr pub;
	struct tether_range range;
	/* users; TCACHE_DEAD once retired (and while free) */
	int32_t refs;
	uint32_t state;
	uint32_t flags;
	enum tether_evict_reason evict_reason;
	uint64_t last_use;
	/* handle table chain, or free list link */
	struct tcache_entry *next;
};

struct tcache_pool {
	struct tcache_pool *next;
	struct tcache_entry entries[TCACHE_POOL_ENTRIES];
};

/* a counter on its own cache line, for hits from many threads */
struct tcache_stripe {
	uint64_t hits;
	char pad[64 - sizeof(uint64_t)];
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

	/* protects everything below but the index's readers and the stripes */
	pthread_mutex_t lock;
	struct tether_index index;
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
	uint64_t clock;		/* read by hits without the lock */
	struct tether_cache_stats st;	/* but hits and the live counts */

	/* on tcache_registry, for TETHER_CACHE_STATS at exit */
	struct tether_cache *reg_next;

	struct tcache_stripe stripes[TCACHE_STRIPES];
};

static inline struct tcache_entry *tcache_of(const struct tether_index_node *n)
{
	return (struct tcache_entry *)n;
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
struct tcache_entry *tcache_table_find(struct tether_cache *c, uint64_t handle);
struct tcache_entry *tcache_alloc(struct tether_cache *c);
void tcache_free(struct tether_cache *c, struct tcache_entry *e);
bool tcache_tryget(struct tcache_entry *e);
int tcache_unref(struct tether_cache *c, struct tcache_entry *e, bool locked);
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

/* ---- cache_config.c ---------------------------------------------------- */

int tcache_attr(struct tether_cache *c, const struct tether_cache_attr *attr);
int tcache_env(struct tether_cache *c, uint32_t explicit);

/* ---- cache_stats.c ----------------------------------------------------- */

uint64_t tcache_held(struct tether_cache *c);
void tcache_stats_register(struct tether_cache *c);
void tcache_stats_unregister(struct tether_cache *c);

#endif /* _LIBTETHER_CACHE_H */
