// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: the RDMA registration cache.
 *
 * Every cached entry is a verbs registration of a page-rounded range plus a
 * tether range securing it.
 *
 * The hit path (tcache_hit()): one load tells whether the kernel's ring has
 * events; the page-aligned start of the buffer hashes to a chain of the
 * entries starting there (c->starts, walked without a lock); the first that
 * covers the buffer is pinned with one compare-and-swap on its reference
 * word, which also counts the hit (cache_private.h); then one check
 * (tcache_serves()): that it still covers the buffer with enough access,
 * that it is indexed and not marked invalid, and that its word in the
 * kernel's validity table still holds its generation (one load). The put
 * is one more compare-and-swap. No system call, no lock, and no line
 * written but the entry's first one, which also holds everything the hit
 * and the put read (the layout is in cache_private.h): a hit touches the
 * starts bucket, that line and the kernel's validity word. Recency is not
 * written by hits: the hits counted in the reference word are folded, and
 * the entries hit since the last fold stamped with the clock, before every
 * choice of a victim (tcache_make_room()) and at every statistics query.
 * A buffer inside a larger registration, or whose start's chain does not
 * serve it, is looked up in the interval index (index.h), also without a
 * lock.
 *
 * What keeps a hit entry usable until its put: the reference. No one
 * retires an entry whose users are not 0 (tcache_kill() in cache_entry.c
 * moves only 0 to TCACHE_DEAD), so it is neither deregistered nor reused;
 * an invalidation meanwhile only marks it, and the last put retires it.
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
 * the starts hash's writers, the entry pools and free list, retirement,
 * event draining, eviction and the counters (the hits but those still in
 * the entries' words).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_private.h"

/* ---- small helpers ------------------------------------------------------ */

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
	range.slot = __atomic_load_n(&e->slot, __ATOMIC_RELAXED);
	range.generation = __atomic_load_n(&e->generation, __ATOMIC_RELAXED);
	return tether_range_valid_fast(q->c->ctx, &range);
}

/* The entry's start, for lock-free readers (a stale pointer may race a reuse). */
static inline uintptr_t tcache_start(const struct tcache_entry *e)
{
	return (uintptr_t)__atomic_load_n(&e->pub.addr, __ATOMIC_RELAXED);
}

/*
 * With a reference held: does the entry really serve [a, b) with @access?
 * The one check of a hit: a reference keeps the entry from being retired
 * and so reused, so what this reads stays as read until the put.
 */
static inline bool tcache_serves(const struct tether_cache *c, struct tcache_entry *e,
				 uintptr_t a, uintptr_t b, int access)
{
	int has = __atomic_load_n(&e->pub.access, __ATOMIC_RELAXED);
	uintptr_t start = tcache_start(e);
	struct tether_range range;

	/*
	 * The miss path writes the bounds (pub.addr and pub.length, the
	 * node's copy of them) atomically; the acquire in tryget orders these.
	 */
	if (start > a || start + __atomic_load_n(&e->pub.length, __ATOMIC_RELAXED) < b ||
	    (__atomic_load_n(&e->state, __ATOMIC_SEQ_CST) & (TCACHE_INDEXED | TCACHE_INVALID)) !=
	    TCACHE_INDEXED || (has & access) != access)
		return false;
	if (!tcache_safe(c))
		return true;
	range.slot = __atomic_load_n(&e->slot, __ATOMIC_RELAXED);
	range.generation = __atomic_load_n(&e->generation, __ATOMIC_RELAXED);
	return tether_range_valid_fast(c->ctx, &range);
}

/*
 * The common hit: the registration of the buffer's own page-aligned start,
 * found in the starts hash without a lock, with a reference taken (the
 * hit counted), or NULL (then the interval index decides).
 */
static inline struct tcache_entry *tcache_hit(struct tether_cache *c, uintptr_t a,
					      uintptr_t b, int access)
{
	struct tcache_entry *e;
	int steps;

	/* pairs with the release stores of tcache_starts_add()/_del() */
	e = __atomic_load_n(&c->starts[tcache_start_hash(c, a)], __ATOMIC_ACQUIRE);
	for (steps = 0; e && steps < TCACHE_HASH_STEPS; steps++) {
		/*
		 * Entries are type-stable: a stale pointer still reads an
		 * entry. The bounds are pub's (line 0), not the node's.
		 */
		if (tcache_start(e) == a &&
		    a + __atomic_load_n(&e->pub.length, __ATOMIC_RELAXED) >= b &&
		    tcache_tryget(e)) {
			if (tcache_serves(c, e, a, b, access))
				return e;
			/* reused, invalidated, or not enough access */
			tcache_unref(c, e, false, TCACHE_HIT);
		}
		e = __atomic_load_n(&e->snext, __ATOMIC_ACQUIRE);
	}
	return NULL;
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

static inline void tcache_maybe_drain(struct tether_cache *c)
{
	/* nothing pending and not overflowed: !tether_ring_stopped() as well */
	if (!tcache_safe(c) ||
	    (!tether_events_pending_fast(c->ctx) &&
	     !__atomic_load_n(&c->ctx->hdr->overflowed, __ATOMIC_ACQUIRE)))
		return;
	/* someone else draining (or missing) will get to it */
	if (pthread_mutex_trylock(&c->lock))
		return;
	tcache_drain(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- get / put ---------------------------------------------------------- */


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
		if (tcache_serves(c, e, a, b, access))
			return e;
		/* reused or invalidated meanwhile */
		tcache_unref(c, e, locked, TCACHE_HIT);
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
	e->state = TCACHE_UNCACHED;
	e->ref = TCACHE_DEAD_WORD;	/* never in a pool: no reader can reach it anyway */
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

/* Looking for the least recently used entry nobody holds. */
struct tcache_lru {
	struct tcache_entry *best;
	uint64_t stamp;		/* for the entries hit since the last fold */
};

static void tcache_lru_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	struct tcache_lru *lru = arg;

	tcache_fold(c, e, lru->stamp);
	if (tcache_refs(__atomic_load_n(&e->ref, __ATOMIC_RELAXED)) != 0)
		return;
	if (!lru->best || e->last_use < lru->best->last_use)
		lru->best = e;
}

/*
 * Make room for one more entry of @len bytes; false if everything is in
 * use. Each pass folds every entry's hits first, so an entry hit since the
 * last fold counts as used now: more recent than every entry inserted
 * before this pass, tied with every other entry hit since the last fold
 * (the order among those is lost, and ties go to the first in the handle
 * table). At capacity a pass runs at every miss, so only the order of the
 * hits between two misses is lost.
 */
static bool tcache_make_room(struct tether_cache *c, uint64_t len)
{
	struct tcache_lru lru;

	if (c->max_bytes && len > c->max_bytes)
		return false;
	while (c->nentries >= c->max_entries ||
	       (c->max_bytes && c->nbytes + len > c->max_bytes)) {
		lru.best = NULL;
		lru.stamp = ++c->clock;
		tcache_for_each(c, tcache_lru_cb, &lru);
		if (!lru.best)
			return false;
		tcache_evict(c, lru.best, TETHER_EVICT_CAPACITY);
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
	__atomic_store_n(&e->pub.addr, (void *)a, __ATOMIC_RELAXED);
	__atomic_store_n(&e->pub.length, b - a, __ATOMIC_RELAXED);
	__atomic_store_n(&e->pub.access, used, __ATOMIC_RELAXED);
	e->handle = range.handle;
	__atomic_store_n(&e->slot, range.slot, __ATOMIC_RELAXED);
	__atomic_store_n(&e->generation, range.generation, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, TCACHE_INDEXED, __ATOMIC_RELAXED);
	e->last_use = ++c->clock;
	/*
	 * The entry gets its new bounds (pub's above, which the hit checks,
	 * and the node's) before it can be pinned: a reader that found this
	 * entry under its old bounds (a stale pointer from before it was
	 * retired) and takes a reference after the store below then sees the
	 * new bounds and refuses it. Until then refs is
	 * TCACHE_DEAD and every tryget fails. The release store publishes
	 * all of the above to readers that take a reference.
	 */
	tether_index_insert(&c->index, &e->node, a, b);
	tcache_starts_add(c, e);
	/* one user, no hits (retire folded them, or it never had any) */
	__atomic_store_n(&e->ref, 1, __ATOMIC_RELEASE);
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
	e = tcache_hit(c, a, b, access);
	if (!e)
		e = tcache_lookup(c, a, b, access, false, &err);
	if (e)
		return &e->pub;

	pthread_mutex_lock(&c->lock);
	tcache_drain(c);
	/* another thread may have registered it meanwhile */
	e = tcache_lookup(c, a, b, access, true, &err);
	if (e) {
		pthread_mutex_unlock(&c->lock);
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

	/* line 0 only: state, then ref */
	if (__atomic_load_n(&e->state, __ATOMIC_RELAXED) & TCACHE_UNCACHED) {
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
	return tcache_unref(c, e, false, 0);
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

/* ---- create / destroy --------------------------------------------------- */

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
	c->page_shift = __builtin_ctzl(c->page_size);
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
	c->starts = calloc(slots, sizeof(*c->starts));
	if (!c->table || !c->starts) {
		free(c->table);
		free(c->starts);
		err = -ENOMEM;
		goto err_unbind;
	}
	c->table_mask = slots - 1;
	c->starts_shift = 64 - __builtin_ctzl(slots);
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
	free(c->starts);
	free(c);
	return 0;
}
