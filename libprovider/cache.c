// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: the RDMA registration cache.
 *
 * Every cached entry is a verbs registration of a page-rounded range plus a
 * tether range securing it. A get looks the range up in the interval index
 * without a lock (index.h), pins the entry by raising its reference count
 * with a compare-and-swap, then checks the entry once more: that it still
 * covers the buffer with enough access, that it is not marked invalid, and
 * that its word in the kernel's validity table still holds its generation
 * (one load). A hit makes no system call and takes no lock.
 *
 * Entries never move between caches and their memory is never freed while
 * the cache lives (pools), so a lock-free reader can only ever meet an
 * entry, possibly a reused one: the compare-and-swap refuses retired
 * entries (refs == TCACHE_DEAD), and the check after it refuses a reused
 * entry that does not fit the request.
 *
 * Invalidation: when the kernel's ring has events (one load tells), the
 * first get to notice drains them under the cache lock: each invalidated
 * entry leaves the index at once, is deregistered and released now if
 * unused, or at its last put otherwise. A ring overflow invalidates every
 * entry and rearms the ring. Whether a drain or a put retires an entry
 * that both see at refs 0 is settled by the compare-and-swap 0 ->
 * TCACHE_DEAD under the lock; the invalid flag and the reference count use
 * sequentially consistent operations so that at least one of them sees the
 * other.
 *
 * Registrations made outside the cache (everything in use) are allocated
 * on their own, never from the pools, so no lock-free reader can reach one.
 *
 * A context feeds one cache (the ring has one consumer): a second
 * tether_cache_create() on the same context fails with EBUSY.
 *
 * Locking: cache->lock protects the index's writers, the handle table,
 * the entry pools and free list, retirement, event draining, eviction and
 * the counters that are not striped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "index.h"
#include "tether_private.h"

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

/* ---- small helpers ------------------------------------------------------ */

static struct tcache_entry *tcache_of(const struct tether_index_node *n)
{
	return (struct tcache_entry *)n;
}

static struct tcache_entry *tcache_of_mr(struct tether_mr *mr)
{
	return (struct tcache_entry *)((char *)mr - offsetof(struct tcache_entry, pub));
}

/* Does this cache secure its entries and follow the kernel's events? */
static bool tcache_safe(const struct tether_cache *c)
{
	return c->ctx && !(c->flags & (TETHER_CACHE_UNSAFE_NO_INVALIDATION |
				       TETHER_CACHE_PASSTHROUGH));
}

static unsigned int tcache_stripe(void)
{
	static unsigned int next;
	static __thread unsigned int mine = ~0u;

	if (mine == ~0u)
		mine = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % TCACHE_STRIPES;
	return mine;
}

static size_t tcache_hash(const struct tether_cache *c, uint64_t handle)
{
	return (handle * 0x9e3779b97f4a7c15ull >> 32) & c->table_mask;
}

static void tcache_table_add(struct tether_cache *c, struct tcache_entry *e)
{
	size_t h = tcache_hash(c, e->range.handle);

	e->next = c->table[h];
	c->table[h] = e;
}

static void tcache_table_del(struct tether_cache *c, struct tcache_entry *e)
{
	struct tcache_entry **p = &c->table[tcache_hash(c, e->range.handle)];

	while (*p && *p != e)
		p = &(*p)->next;
	if (*p)
		*p = e->next;
	e->next = NULL;
}

static struct tcache_entry *tcache_table_find(struct tether_cache *c, uint64_t handle)
{
	struct tcache_entry *e = c->table[tcache_hash(c, handle)];

	while (e && e->range.handle != handle)
		e = e->next;
	return e;
}

/* ---- entries ------------------------------------------------------------ */

static struct tcache_entry *tcache_alloc(struct tether_cache *c)
{
	struct tcache_entry *e;
	struct tcache_pool *p;
	int i;

	if (!c->free) {
		p = aligned_alloc(64, sizeof(*p));
		if (!p)
			return NULL;
		memset(p, 0, sizeof(*p));
		p->next = c->pools;
		c->pools = p;
		for (i = TCACHE_POOL_ENTRIES - 1; i >= 0; i--) {
			p->entries[i].refs = TCACHE_DEAD;
			p->entries[i].next = c->free;
			c->free = &p->entries[i];
		}
	}
	e = c->free;
	c->free = e->next;
	e->next = NULL;
	return e;
}

/*
 * Back on the free list. Its refs are TCACHE_DEAD already (retired by the
 * compare-and-swap, or never published), so readers keep refusing it.
 */
static void tcache_free(struct tether_cache *c, struct tcache_entry *e)
{
	e->next = c->free;
	c->free = e;
}

/* Take a reference unless the entry is retired. */
static bool tcache_tryget(struct tcache_entry *e)
{
	int32_t r = __atomic_load_n(&e->refs, __ATOMIC_RELAXED);

	while (r >= 0) {
		if (__atomic_compare_exchange_n(&e->refs, &r, r + 1, true,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return true;
	}
	return false;
}

static bool tcache_need_write(int access)
{
	return access & TCACHE_WRITE_ACCESS;
}

/* What a request of @access may be served by. */
struct tcache_query {
	const struct tether_cache *c;
	int access;
};

static bool tcache_usable(const struct tether_index_node *n, const void *arg)
{
	const struct tcache_query *q = arg;
	const struct tcache_entry *e = tcache_of(n);
	int access = __atomic_load_n(&e->pub.access, __ATOMIC_RELAXED);
	struct tether_range range;

	if ((access & q->access) != q->access)
		return false;
	if (__atomic_load_n(&e->state, __ATOMIC_RELAXED) & TCACHE_INVALID)
		return false;
	if (!tcache_safe(q->c))
		return true;
	range.slot = __atomic_load_n(&e->range.slot, __ATOMIC_RELAXED);
	range.generation = __atomic_load_n(&e->range.generation, __ATOMIC_RELAXED);
	return tether_range_valid(q->c->ctx, &range);
}

/* With a reference held: does the entry really serve [a, b) with @access? */
static bool tcache_serves(const struct tether_cache *c, struct tcache_entry *e,
			  uintptr_t a, uintptr_t b, int access)
{
	struct tcache_query q = { .c = c, .access = access };

	/* the index writes the bounds atomically; the acquire in tryget orders these */
	return __atomic_load_n(&e->node.start, __ATOMIC_RELAXED) <= a &&
	       __atomic_load_n(&e->node.end, __ATOMIC_RELAXED) >= b &&
	       (__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) & TCACHE_INDEXED) &&
	       tcache_usable(&e->node, &q);
}

/*
 * Keep aside an entry whose ibv_dereg_mr() failed (a memory window bound to
 * it, say): still registered, so the device may still use it and a cached
 * one keeps its range too; retried by tcache_retry_stuck(). Out of the
 * index already; refs stays TCACHE_DEAD. With the lock held.
 */
static void tcache_set_aside(struct tether_cache *c, struct tcache_entry *e)
{
	e->next = c->stuck;
	c->stuck = e;
	c->nstuck++;
}

/*
 * Deregister and release a retired entry (refs == TCACHE_DEAD, already out
 * of the index and the table) and free it.
 */
static int tcache_retire(struct tether_cache *c, struct tcache_entry *e)
{
	int ret;

	if (c->evict_cb)
		c->evict_cb(&e->pub, e->evict_reason, c->evict_arg);
	c->st.evictions[e->evict_reason]++;
	c->nentries--;
	c->nbytes -= e->pub.length;
	/* libibverbs returns 0 or an errno value */
	ret = -ibv_dereg_mr(e->pub.mr);
	if (ret) {
		tcache_set_aside(c, e);
		return ret;
	}
	if (tcache_safe(c))
		tether_release(c->ctx, e->range.handle);
	tcache_free(c, e);
	return 0;
}

/* Deregister again what failed to before; the number that went now. */
static int tcache_retry_stuck(struct tether_cache *c)
{
	struct tcache_entry **p = &c->stuck, *e;
	int n = 0;

	while ((e = *p)) {
		if (ibv_dereg_mr(e->pub.mr)) {
			p = &e->next;
			continue;
		}
		*p = e->next;
		c->nstuck--;
		n++;
		if (e->flags & TCACHE_UNCACHED) {
			/* its own allocation, and no range */
			c->uncached_out--;
			free(e);
			continue;
		}
		if (tcache_safe(c))
			tether_release(c->ctx, e->range.handle);
		tcache_free(c, e);
	}
	return n;
}

/* Take an entry out of the index and the handle table. */
static void tcache_unindex(struct tether_cache *c, struct tcache_entry *e)
{
	if (!(e->state & TCACHE_INDEXED))
		return;
	__atomic_fetch_and(&e->state, ~TCACHE_INDEXED, __ATOMIC_SEQ_CST);
	tether_index_remove(&c->index, &e->node);
	tcache_table_del(c, e);
}

/*
 * The mapping under @e changed (or everything must go): never hand it out
 * again; retire it now if nobody holds it, else at its last put.
 */
static void tcache_invalidate(struct tether_cache *c, struct tcache_entry *e,
			      enum tether_evict_reason reason)
{
	int32_t zero = 0;

	if (e->state & TCACHE_INVALID)
		return;
	e->evict_reason = reason;
	__atomic_fetch_or(&e->state, TCACHE_INVALID, __ATOMIC_SEQ_CST);
	tcache_unindex(c, e);
	if (__atomic_compare_exchange_n(&e->refs, &zero, TCACHE_DEAD, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		tcache_retire(c, e);
}

/* Retire a valid entry if nobody holds it; true if it went. */
static bool tcache_evict(struct tether_cache *c, struct tcache_entry *e,
			 enum tether_evict_reason reason)
{
	int32_t zero = 0;

	if (!__atomic_compare_exchange_n(&e->refs, &zero, TCACHE_DEAD, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return false;
	e->evict_reason = reason;
	tcache_unindex(c, e);
	tcache_retire(c, e);
	return true;
}

/* Call @fn on every cached entry (it may remove the entry). */
static void tcache_for_each(struct tether_cache *c,
			    void (*fn)(struct tether_cache *, struct tcache_entry *, void *),
			    void *arg)
{
	struct tcache_entry *e, *next;
	size_t i;

	for (i = 0; i <= c->table_mask; i++) {
		for (e = c->table[i]; e; e = next) {
			next = e->next;
			fn(c, e, arg);
		}
	}
}

static void tcache_invalidate_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	tcache_invalidate(c, e, *(enum tether_evict_reason *)arg);
}

/* ---- events ------------------------------------------------------------- */

/* Apply the kernel's events. Called with the lock held. */
static void tcache_drain(struct tether_cache *c)
{
	enum tether_evict_reason reason = TETHER_EVICT_OVERFLOW;
	bool overflow, counted = false;
	struct tether_event ev;
	struct tcache_entry *e;
	int ret;

	if (!tcache_safe(c))
		return;
again:
	overflow = false;
	while (tether_next_event(c->ctx, &ev)) {
		if (ev.type == TETHER_EVENT_OVERFLOW) {
			overflow = true;
		} else if (ev.type == TETHER_EVENT_INVALIDATE) {
			e = tcache_table_find(c, ev.handle);
			if (e && !(e->state & TCACHE_INVALID)) {
				c->st.invalidations++;
				tcache_invalidate(c, e, TETHER_EVICT_INVALIDATED);
			}
		}
	}
	/*
	 * Events were lost (the marker, or a stopped ring without one):
	 * nothing cached can be trusted.
	 */
	if (overflow || tether_ring_stopped(c->ctx)) {
		if (!counted)
			c->st.overflows++;
		tcache_for_each(c, tcache_invalidate_cb, &reason);
		/*
		 * What changed while we rearmed is queued: drain it. EBUSY
		 * means records (the marker) arrived since the loop above:
		 * the same overflow, drained and rearmed again uncounted.
		 */
		ret = tether_rearm(c->ctx, NULL);
		counted = ret == -EBUSY;
		if (!ret || counted)
			goto again;
	}
}

static void tcache_maybe_drain(struct tether_cache *c)
{
	if (!tcache_safe(c) ||
	    (!tether_events_pending(c->ctx) && !tether_ring_stopped(c->ctx)))
		return;
	/* someone else draining (or missing) will get to it */
	if (pthread_mutex_trylock(&c->lock))
		return;
	tcache_drain(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- get / put ---------------------------------------------------------- */

/*
 * Drop a reference to a cached entry; the last one retires an invalidated
 * entry (taking the lock unless @locked). -EINVAL on a put without a get.
 */
static int tcache_unref(struct tether_cache *c, struct tcache_entry *e, bool locked)
{
	int32_t r = __atomic_load_n(&e->refs, __ATOMIC_RELAXED), zero = 0;
	int ret = 0;

	do {
		if (r <= 0)
			return -EINVAL;
	} while (!__atomic_compare_exchange_n(&e->refs, &r, r - 1, true,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
	if (r != 1 || !(__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) & TCACHE_INVALID))
		return 0;
	if (!locked)
		pthread_mutex_lock(&c->lock);
	if (__atomic_compare_exchange_n(&e->refs, &zero, TCACHE_DEAD, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		ret = tcache_retire(c, e);
	if (!locked)
		pthread_mutex_unlock(&c->lock);
	return ret;
}

/*
 * A usable entry covering [a, b), with a reference taken, or NULL. With
 * @locked, *@err is set to ENOMEM when the search could not complete (then
 * the range may be cached all the same: do not register it again).
 */
static struct tcache_entry *tcache_lookup(struct tether_cache *c, uintptr_t a,
					  uintptr_t b, int access, bool locked, int *err)
{
	struct tcache_query q = { .c = c, .access = access };
	struct tether_index_node *n;
	struct tcache_entry *e;
	bool retry;
	int tries;

	for (tries = 0; tries < 8; tries++) {
		n = tether_index_find(&c->index, a, b, tcache_usable, &q, !locked, &retry);
		if (retry && locked) {
			*err = ENOMEM;
			return NULL;
		}
		if (retry)
			continue;
		if (!n)
			return NULL;
		e = tcache_of(n);
		if (!tcache_tryget(e))
			continue;
		if (tcache_serves(c, e, a, b, access)) {
			__atomic_store_n(&e->last_use,
					 __atomic_load_n(&c->clock, __ATOMIC_RELAXED),
					 __ATOMIC_RELAXED);
			return e;
		}
		/* reused or invalidated meanwhile */
		tcache_unref(c, e, locked);
	}
	return NULL;
}

/* A registration outside the cache, deregistered at its put. */
static struct tether_mr *tcache_uncached(struct tether_cache *c, void *addr,
					 size_t len, int access)
{
	struct tcache_entry *e = aligned_alloc(64, sizeof(*e));
	struct ibv_mr *mr;

	if (!e)
		return NULL;
	mr = ibv_reg_mr(c->pd, addr, len, access);
	if (!mr) {
		free(e);
		return NULL;
	}
	memset(e, 0, sizeof(*e));
	e->flags = TCACHE_UNCACHED;
	e->refs = TCACHE_DEAD;	/* never in a pool: no reader can reach it anyway */
	e->pub.mr = mr;
	e->pub.lkey = mr->lkey;
	e->pub.rkey = mr->rkey;
	e->pub.addr = mr->addr;
	e->pub.length = mr->length;
	e->pub.access = access;
	pthread_mutex_lock(&c->lock);
	c->uncached_out++;
	c->st.uncached++;
	pthread_mutex_unlock(&c->lock);
	return &e->pub;
}

/* The unused entry least recently handed out, in *arg. */
static void tcache_lru_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	struct tcache_entry **best = arg;

	(void)c;
	if (__atomic_load_n(&e->refs, __ATOMIC_RELAXED) != 0)
		return;
	if (!*best || __atomic_load_n(&e->last_use, __ATOMIC_RELAXED) <
		      __atomic_load_n(&(*best)->last_use, __ATOMIC_RELAXED))
		*best = e;
}

/* Make room for one more entry of @len bytes; false if everything is in use. */
static bool tcache_make_room(struct tether_cache *c, uint64_t len)
{
	struct tcache_entry *victim;

	if (c->max_bytes && len > c->max_bytes)
		return false;
	while (c->nentries >= c->max_entries ||
	       (c->max_bytes && c->nbytes + len > c->max_bytes)) {
		victim = NULL;
		tcache_for_each(c, tcache_lru_cb, &victim);
		if (!victim)
			return false;
		tcache_evict(c, victim, TETHER_EVICT_CAPACITY);
	}
	return true;
}

static void tcache_flush_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	if (tcache_evict(c, e, TETHER_EVICT_FLUSH))
		(*(int *)arg)++;
}

/*
 * Secure [a, b) for @access (with TETHER_SECURE_WRITE when it allows
 * writing: losing write access must evict it), then register it. NULL with
 * errno on failure, nothing left held.
 */
static struct ibv_mr *tcache_secure_reg(struct tether_cache *c, uintptr_t a,
					uintptr_t b, int access, void *cookie,
					struct tether_range *range)
{
	struct ibv_mr *mr;
	int ret;

	if (tcache_safe(c)) {
		ret = tether_secure(c->ctx, (void *)a, b - a,
				    tcache_need_write(access) ? TETHER_SECURE_WRITE : 0,
				    (uintptr_t)cookie, range);
		if (ret) {
			errno = -ret;
			return NULL;
		}
	}
	mr = ibv_reg_mr(c->pd, (void *)a, b - a, access);
	if (!mr) {
		ret = errno ? errno : ENOMEM;
		if (tcache_safe(c))
			tether_release(c->ctx, range->handle);
		errno = ret;
	}
	return mr;
}

/* The above with the access policy applied: *@used is what was registered. */
static struct ibv_mr *tcache_register(struct tether_cache *c, uintptr_t a, uintptr_t b,
				      int access, void *cookie, struct tether_range *range,
				      int *used)
{
	int wide = access | c->widen_access;
	struct ibv_mr *mr;

	if (c->access_policy == TETHER_CACHE_ACCESS_WIDEN && wide != access) {
		mr = tcache_secure_reg(c, a, b, wide, cookie, range);
		if (mr) {
			*used = wide;
			return mr;
		}
	}
	*used = access;
	return tcache_secure_reg(c, a, b, access, cookie, range);
}

/*
 * The slow path, with the lock held: secure, register, check that nothing
 * changed meanwhile, index.
 */
static struct tcache_entry *tcache_miss_locked(struct tether_cache *c, uintptr_t a,
					       uintptr_t b, int access, int *err)
{
	struct tether_range range = { 0 };
	struct tcache_entry *e;
	bool flushed = false;
	struct ibv_mr *mr;
	int tries, used, n = 0;

	e = tcache_alloc(c);
	if (!e) {
		*err = ENOMEM;
		return NULL;
	}
	for (tries = 0; tries < TCACHE_MISS_TRIES; tries++) {
		mr = tcache_register(c, a, b, access, e, &range, &used);
		if (!mr && !flushed && (errno == ENOMEM || errno == ENOSPC)) {
			/*
			 * Out of resources (ibv_reg_mr's pins, or the
			 * context's max_regions: ENOSPC)? Give back what is
			 * not in use, once, and try again.
			 */
			flushed = true;
			tcache_retry_stuck(c);
			tcache_for_each(c, tcache_flush_cb, &n);
			mr = tcache_register(c, a, b, access, e, &range, &used);
		}
		if (!mr) {
			*err = errno;
			goto err_free;
		}
		if (!tcache_safe(c) || tether_range_valid(c->ctx, &range))
			break;
		/* the mapping changed while we registered: the MR may be stale */
		ibv_dereg_mr(mr);
		tether_release(c->ctx, range.handle);
		c->st.retries++;
	}
	if (tries == TCACHE_MISS_TRIES) {
		*err = EAGAIN;
		goto err_free;
	}
	/*
	 * A reader holding a stale pointer may look at these fields while the
	 * entry is reused: what readers look at is written atomically, and
	 * the node itself is set up inside the index's write section.
	 */
	e->pub.mr = mr;
	e->pub.lkey = mr->lkey;
	e->pub.rkey = mr->rkey;
	e->pub.addr = (void *)a;
	e->pub.length = b - a;
	__atomic_store_n(&e->pub.access, used, __ATOMIC_RELAXED);
	e->range.handle = range.handle;
	__atomic_store_n(&e->range.slot, range.slot, __ATOMIC_RELAXED);
	__atomic_store_n(&e->range.generation, range.generation, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, TCACHE_INDEXED, __ATOMIC_RELAXED);
	e->flags = 0;
	__atomic_store_n(&c->clock, c->clock + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&e->last_use, c->clock, __ATOMIC_RELAXED);
	/*
	 * The node gets its new bounds before the entry can be pinned: a
	 * reader that found this entry under its old bounds (a stale pointer
	 * from before it was retired) and takes a reference after the store
	 * below then sees the new bounds and refuses it. Until then refs is
	 * TCACHE_DEAD and every tryget fails. The release store publishes
	 * all of the above to readers that take a reference.
	 */
	tether_index_insert(&c->index, &e->node, a, b);
	__atomic_store_n(&e->refs, 1, __ATOMIC_RELEASE);
	tcache_table_add(c, e);
	c->nentries++;
	c->nbytes += b - a;
	c->st.misses++;
	return e;

err_free:
	tcache_free(c, e);
	return NULL;
}

TETHER_EXPORT struct tether_mr *tether_cache_get(struct tether_cache *c, void *addr,
						 size_t length, int access)
{
	uintptr_t a, b, last;
	struct tcache_entry *e;
	int err = 0;

	if (!length || __builtin_add_overflow((uintptr_t)addr, length - 1, &last) ||
	    last > UINTPTR_MAX - c->page_size) {
		errno = EINVAL;
		return NULL;
	}
	if (c->flags & TETHER_CACHE_PASSTHROUGH)
		return tcache_uncached(c, addr, length, access);
	a = (uintptr_t)addr & ~(uintptr_t)(c->page_size - 1);
	b = (last | (uintptr_t)(c->page_size - 1)) + 1;

	tcache_maybe_drain(c);
	e = tcache_lookup(c, a, b, access, false, &err);
	if (e) {
		__atomic_fetch_add(&c->stripes[tcache_stripe()].hits, 1, __ATOMIC_RELAXED);
		return &e->pub;
	}

	pthread_mutex_lock(&c->lock);
	tcache_drain(c);
	/* another thread may have registered it meanwhile */
	e = tcache_lookup(c, a, b, access, true, &err);
	if (e) {
		pthread_mutex_unlock(&c->lock);
		__atomic_fetch_add(&c->stripes[tcache_stripe()].hits, 1, __ATOMIC_RELAXED);
		return &e->pub;
	}
	if (err) {
		pthread_mutex_unlock(&c->lock);
		errno = err;
		return NULL;
	}
	if (!tcache_make_room(c, b - a)) {
		pthread_mutex_unlock(&c->lock);
		return tcache_uncached(c, (void *)a, b - a, access);
	}
	e = tcache_miss_locked(c, a, b, access, &err);
	pthread_mutex_unlock(&c->lock);
	if (!e) {
		errno = err;
		return NULL;
	}
	return &e->pub;
}

TETHER_EXPORT int tether_cache_put(struct tether_cache *c, struct tether_mr *mr)
{
	struct tcache_entry *e = tcache_of_mr(mr);
	int ret;

	if (e->flags & TCACHE_UNCACHED) {
		ret = ibv_dereg_mr(e->pub.mr);
		pthread_mutex_lock(&c->lock);
		if (ret)
			tcache_set_aside(c, e);
		else
			c->uncached_out--;
		pthread_mutex_unlock(&c->lock);
		if (!ret)
			free(e);
		return -ret;
	}
	return tcache_unref(c, e, false);
}

TETHER_EXPORT int tether_cache_flush(struct tether_cache *c)
{
	uint64_t stuck;
	int n;

	pthread_mutex_lock(&c->lock);
	tcache_drain(c);
	n = tcache_retry_stuck(c);
	stuck = c->nstuck;
	tcache_for_each(c, tcache_flush_cb, &n);
	/* evicted, but not deregistered */
	n -= c->nstuck - stuck;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- statistics --------------------------------------------------------- */

/*
 * Cached entries held by users, invalidated ones awaiting their last put
 * included. With the lock held.
 */
static uint64_t tcache_held(struct tether_cache *c)
{
	struct tcache_pool *p;
	uint64_t n = 0;
	int i;

	for (p = c->pools; p; p = p->next)
		for (i = 0; i < TCACHE_POOL_ENTRIES; i++)
			if (__atomic_load_n(&p->entries[i].refs, __ATOMIC_RELAXED) > 0)
				n++;
	return n;
}

static void tcache_query_stats(struct tether_cache *c, struct tether_cache_stats *st)
{
	int i;

	pthread_mutex_lock(&c->lock);
	*st = c->st;
	st->entries = c->nentries;
	st->bytes_registered = c->nbytes;
	st->entries_in_use = tcache_held(c);
	pthread_mutex_unlock(&c->lock);
	st->hits = 0;
	for (i = 0; i < TCACHE_STRIPES; i++)
		st->hits += __atomic_load_n(&c->stripes[i].hits, __ATOMIC_RELAXED);
}

TETHER_EXPORT int tether_cache_query_stats_sized(struct tether_cache *c,
						 struct tether_cache_stats *st,
						 size_t st_size)
{
	struct tether_cache_stats mine;

	tcache_query_stats(c, &mine);
	tether_copy_out(st, st_size, &mine, sizeof(mine));
	return 0;
}

TETHER_EXPORT void tether_cache_print_stats(struct tether_cache *c, FILE *f)
{
	struct tether_cache_stats st;

	tcache_query_stats(c, &st);
	fprintf(f, "libtether cache: hits %llu misses %llu uncached %llu invalidations %llu overflows %llu retries %llu evictions: invalidated %llu overflow %llu capacity %llu flush %llu destroy %llu; entries %llu (in use %llu) bytes %llu\n",
		(unsigned long long)st.hits, (unsigned long long)st.misses,
		(unsigned long long)st.uncached, (unsigned long long)st.invalidations,
		(unsigned long long)st.overflows, (unsigned long long)st.retries,
		(unsigned long long)st.evictions[TETHER_EVICT_INVALIDATED],
		(unsigned long long)st.evictions[TETHER_EVICT_OVERFLOW],
		(unsigned long long)st.evictions[TETHER_EVICT_CAPACITY],
		(unsigned long long)st.evictions[TETHER_EVICT_FLUSH],
		(unsigned long long)st.evictions[TETHER_EVICT_DESTROY],
		(unsigned long long)st.entries, (unsigned long long)st.entries_in_use,
		(unsigned long long)st.bytes_registered);
}

/* Caches that print their statistics at exit (TETHER_CACHE_STATS=1). */
static pthread_mutex_t tcache_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tether_cache *tcache_registry;
static pid_t tcache_registry_pid;

static void tcache_print_at_exit(void)
{
	struct tether_cache *c;

	/*
	 * Not in a forked child: the caches are the parent's, and a lock
	 * another parent thread held at fork() would never be released.
	 */
	if (getpid() != __atomic_load_n(&tcache_registry_pid, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&tcache_registry_lock);
	for (c = tcache_registry; c; c = c->reg_next)
		tether_cache_print_stats(c, stderr);
	pthread_mutex_unlock(&tcache_registry_lock);
}

static void tcache_stats_register(struct tether_cache *c)
{
	static bool hooked;

	pthread_mutex_lock(&tcache_registry_lock);
	if (!hooked) {
		__atomic_store_n(&tcache_registry_pid, getpid(), __ATOMIC_RELAXED);
		hooked = !atexit(tcache_print_at_exit);
	}
	c->reg_next = tcache_registry;
	tcache_registry = c;
	pthread_mutex_unlock(&tcache_registry_lock);
}

static void tcache_stats_unregister(struct tether_cache *c)
{
	struct tether_cache **p;

	pthread_mutex_lock(&tcache_registry_lock);
	for (p = &tcache_registry; *p && *p != c; p = &(*p)->reg_next)
		;
	if (*p)
		*p = c->reg_next;
	pthread_mutex_unlock(&tcache_registry_lock);
}

/* ---- create / destroy --------------------------------------------------- */

/* Parse a size with an optional k/m/g suffix; false if malformed. */
static bool tcache_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	unsigned int shift = 0;

	if (*s < '0' || *s > '9') /* strtoull() would take "-1" */
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/*
 * Apply the TETHER_CACHE* environment to what the program left to default
 * (@explicit: the attributes' comp_mask), but TETHER_CACHE=0, the kill
 * switch, everywhere; -EINVAL (and a message) if malformed.
 */
static int tcache_env(struct tether_cache *c, uint32_t explicit)
{
	const char *v;
	uint64_t n;

	v = getenv("TETHER_CACHE");
	if (v) {
		if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "passthrough")) {
			c->flags |= TETHER_CACHE_PASSTHROUGH;
		} else if (!strcmp(v, "1") || !strcmp(v, "on")) {
			/* the default: a pass-through asked for stays one */
		} else {
			fprintf(stderr, "libtether: TETHER_CACHE=%s: use 1/on or 0/off/passthrough\n", v);
			return -EINVAL;
		}
	}
	v = getenv("TETHER_CACHE_MAX_ENTRIES");
	if (v) {
		if (!tcache_parse_size(v, &n) || !n || n > UINT32_MAX) {
			fprintf(stderr, "libtether: TETHER_CACHE_MAX_ENTRIES=%s: not a count 1..%u\n",
				v, UINT32_MAX);
			return -EINVAL;
		}
		if (!(explicit & TETHER_CACHE_ATTR_MAX_ENTRIES))
			c->max_entries = n;
	}
	v = getenv("TETHER_CACHE_MAX_BYTES");
	if (v) {
		if (!tcache_parse_size(v, &n)) {
			fprintf(stderr, "libtether: TETHER_CACHE_MAX_BYTES=%s: not a size (e.g. 512m)\n", v);
			return -EINVAL;
		}
		if (!(explicit & TETHER_CACHE_ATTR_MAX_BYTES))
			c->max_bytes = n;
	}
	v = getenv("TETHER_CACHE_STATS");
	if (v) {
		if (!strcmp(v, "1") || !strcmp(v, "on")) {
			c->print_stats = true;
		} else if (!strcmp(v, "0") || !strcmp(v, "off")) {
			c->print_stats = false;
		} else {
			fprintf(stderr, "libtether: TETHER_CACHE_STATS=%s: use 1/on or 0/off\n", v);
			return -EINVAL;
		}
	}
	return 0;
}

static int tcache_attr(struct tether_cache *c, const struct tether_cache_attr *attr)
{
	if (!attr)
		return 0;
	if (attr->comp_mask & ~(TETHER_CACHE_ATTR_RESERVED - 1))
		return -EOPNOTSUPP;
	if (attr->comp_mask & TETHER_CACHE_ATTR_FLAGS) {
		if (attr->flags & ~(TETHER_CACHE_PASSTHROUGH | TETHER_CACHE_UNSAFE_NO_INVALIDATION))
			return -EOPNOTSUPP;
		c->flags = attr->flags;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_MAX_ENTRIES) {
		if (!attr->max_entries)
			return -EINVAL;
		c->max_entries = attr->max_entries;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_MAX_BYTES)
		c->max_bytes = attr->max_bytes;
	if (attr->comp_mask & TETHER_CACHE_ATTR_ACCESS_POLICY) {
		if (attr->access_policy > TETHER_CACHE_ACCESS_WIDEN)
			return -EINVAL;
		c->access_policy = attr->access_policy;
		if (attr->widen_access)
			c->widen_access = attr->widen_access;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_EVICT_CB) {
		c->evict_cb = attr->evict_cb;
		c->evict_arg = attr->evict_arg;
	}
	return 0;
}

TETHER_EXPORT struct tether_cache *tether_cache_create(struct tether_context *ctx,
						       struct ibv_pd *pd,
						       const struct tether_cache_attr *attr)
{
	struct tether_cache *c;
	size_t slots;
	int err;

	if (!pd) {
		errno = EINVAL;
		return NULL;
	}
	c = aligned_alloc(64, (sizeof(*c) + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(c, 0, sizeof(*c));
	c->ctx = ctx;
	c->pd = pd;
	c->max_entries = TCACHE_DEFAULT_ENTRIES;
	c->widen_access = TCACHE_DEFAULT_WIDEN;
	c->page_size = sysconf(_SC_PAGESIZE);
	err = tcache_attr(c, attr);
	if (!err)
		err = tcache_env(c, attr ? attr->comp_mask : 0);
	if (!err && !ctx && !(c->flags & TETHER_CACHE_PASSTHROUGH)) {
		fprintf(stderr, "libtether: no tether context: refusing to cache registrations unsafely (ask for TETHER_CACHE_PASSTHROUGH or set TETHER_CACHE=0)\n");
		err = -EINVAL;
	}
	if (err)
		goto err_free;
	if (tcache_safe(c)) {
		/* every entry is a secured range */
		if (c->max_entries > ctx->info.max_regions)
			c->max_entries = ctx->info.max_regions;
		/* the ring has one consumer */
		if (!__atomic_compare_exchange_n(&ctx->cache, &(struct tether_cache *){ NULL },
						 c, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			fprintf(stderr, "libtether: this tether context already has a cache: open one context per cache\n");
			err = -EBUSY;
			goto err_free;
		}
	}
	for (slots = 64; slots < 2 * (size_t)c->max_entries && slots < (1u << 24); slots <<= 1)
		;
	c->table = calloc(slots, sizeof(*c->table));
	if (!c->table) {
		err = -ENOMEM;
		goto err_unbind;
	}
	c->table_mask = slots - 1;
	tether_index_init(&c->index);
	pthread_mutex_init(&c->lock, NULL);
	if (c->print_stats)
		tcache_stats_register(c);
	return c;

err_unbind:
	if (tcache_safe(c))
		__atomic_store_n(&ctx->cache, NULL, __ATOMIC_RELEASE);
err_free:
	free(c);
	errno = -err;
	return NULL;
}

static void tcache_destroy_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	(void)arg;
	tcache_evict(c, e, TETHER_EVICT_DESTROY);
}

TETHER_EXPORT int tether_cache_destroy(struct tether_cache *c)
{
	struct tcache_pool *p, *next;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	tcache_drain(c);
	tcache_retry_stuck(c);
	if (tcache_held(c) || c->uncached_out || c->stuck) {
		pthread_mutex_unlock(&c->lock);
		return -EBUSY;
	}
	tcache_for_each(c, tcache_destroy_cb, NULL);
	if (c->stuck) {
		/* what failed to deregister stays; the rest went */
		pthread_mutex_unlock(&c->lock);
		return -EBUSY;
	}
	pthread_mutex_unlock(&c->lock);
	if (c->print_stats) {
		tcache_stats_unregister(c);
		tether_cache_print_stats(c, stderr);
	}
	if (tcache_safe(c))
		__atomic_store_n(&c->ctx->cache, NULL, __ATOMIC_RELEASE);
	for (p = c->pools; p; p = next) {
		next = p->next;
		free(p);
	}
	pthread_mutex_destroy(&c->lock);
	free(c->table);
	free(c);
	return 0;
}
