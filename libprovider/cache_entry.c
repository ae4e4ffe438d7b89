// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: the life cycle of a registration cache entry.
 *
 * STATE TABLE (refs is the reference count, TCACHE_DEAD = -1 when retired
 * or free; I = TCACHE_INVALID, X = TCACHE_INDEXED in state)
 *
 *  state     refs   state  reachable by      meaning
 *  FREE      DEAD   -      stale pointers    on the free list (or never used)
 *  CACHED    >= 0   X      index + table     valid; handed out while refs > 0
 *  DOOMED    > 0    I      nobody new        invalidated, awaiting its last put
 *  STUCK     DEAD   I|-    c->stuck only     retired, ibv_dereg_mr() failed
 *
 *  transition      from -> to          who runs it              guarded by
 *  alloc           FREE -> (private)   miss path                cache->lock
 *  publish         -> CACHED           miss path (refs 1)       cache->lock; index seqlock
 *                                                               write section; release
 *                                                               store of refs
 *  tryget          CACHED refs+1       any thread, no lock      CAS on refs (refuses DEAD)
 *  unref           refs-1              any thread (put)         CAS on refs (refuses <= 0);
 *                                                               the last put of a DOOMED
 *                                                               entry takes cache->lock
 *  invalidate      CACHED -> DOOMED,   drain (an event, an      cache->lock; I set with a
 *                  or -> retire        overflow)                seq_cst RMW, then CAS 0->DEAD
 *  evict           CACHED refs 0 ->    make_room, flush,        cache->lock; CAS 0->DEAD
 *                  retire              destroy
 *  unindex         clears X, leaves    invalidate, evict        cache->lock; index seqlock
 *                  index and table                              write section
 *  retire          DEAD -> FREE        whoever won CAS 0->DEAD  cache->lock
 *                  or -> STUCK         (invalidate, evict,
 *                                      the last unref)
 *  retry_stuck     STUCK -> FREE       flush, destroy, a miss   cache->lock
 *                                      out of resources
 *  free            -> FREE             retire, retry_stuck,     cache->lock
 *                                      a failed miss
 *
 * Whether invalidate or the last unref retires a DOOMED entry that both
 * see at refs 0 is settled by the CAS 0 -> DEAD: exactly one wins. The I
 * bit and refs use sequentially consistent operations so that at least one
 * of the two sees the other (the unref sees I, or invalidate sees refs 0).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache_private.h"

static size_t tcache_hash(const struct tether_cache *c, uint64_t handle)
{
	return (handle * 0x9e3779b97f4a7c15ull >> 32) & c->table_mask;
}

void tcache_table_add(struct tether_cache *c, struct tcache_entry *e)
{
	size_t h = tcache_hash(c, e->handle);

	e->next = c->table[h];
	c->table[h] = e;
}

static void tcache_table_del(struct tether_cache *c, struct tcache_entry *e)
{
	struct tcache_entry **p = &c->table[tcache_hash(c, e->handle)];

	while (*p && *p != e)
		p = &(*p)->next;
	if (*p)
		*p = e->next;
	e->next = NULL;
}

struct tcache_entry *tcache_table_find(struct tether_cache *c, uint64_t handle)
{
	struct tcache_entry *e = c->table[tcache_hash(c, handle)];

	while (e && e->handle != handle)
		e = e->next;
	return e;
}
struct tcache_entry *tcache_alloc(struct tether_cache *c)
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
			p->entries[i].ref = TCACHE_DEAD_WORD;
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
void tcache_free(struct tether_cache *c, struct tcache_entry *e)
{
	e->next = c->free;
	c->free = e;
}

/*
 * Retire @e if nobody holds it (its users 0 -> TCACHE_DEAD, its hit count
 * kept for tcache_retire() to fold); true if this call did.
 */
static bool tcache_kill(struct tcache_entry *e)
{
	uint64_t w = __atomic_load_n(&e->ref, __ATOMIC_SEQ_CST);

	while (tcache_refs(w) == 0) {
		if (__atomic_compare_exchange_n(&e->ref, &w, w | TCACHE_DEAD_WORD, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return true;
	}
	return false;
}

/*
 * The hits counted in @e's word since the last fold, taken out of it. With
 * the lock held (the only writer of the high half but tryget's increments).
 */
uint64_t tcache_fold_hits(struct tcache_entry *e)
{
	uint64_t w = __atomic_load_n(&e->ref, __ATOMIC_RELAXED);

	while (w >> 32) {
		if (__atomic_compare_exchange_n(&e->ref, &w, w & TCACHE_DEAD_WORD, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return w >> 32;
	}
	return 0;
}

/*
 * Fold @e's hits into the statistics and, if it was hit since the last
 * fold, stamp it used at @stamp. Hits write only the reference word, so
 * this is where recency is recorded: an entry counts as used at the first
 * fold after its hit, not at the hit. With the lock held.
 */
void tcache_fold(struct tether_cache *c, struct tcache_entry *e, uint64_t stamp)
{
	uint64_t hits = tcache_fold_hits(e);

	if (hits) {
		c->st.hits += hits;
		e->last_use = stamp;
	}
}

/*
 * Hash of a page-aligned start into c->starts: Fibonacci hashing, the top
 * bits of the product. (Bits 29 and up, masked, put 100 000 consecutive
 * pages into 14 173 of 262 144 buckets, chains of up to 14: most hits
 * went past the walk's step budget to the interval index.)
 */
size_t tcache_start_hash(const struct tether_cache *c, uintptr_t start)
{
	return (uint64_t)(start >> c->page_shift) * 0x9e3779b97f4a7c15ull >> c->starts_shift;
}

/*
 * Put an entry on its start's chain, at the head (release: a reader that
 * loads the head sees snext). With the lock held.
 */
void tcache_starts_add(struct tether_cache *c, struct tcache_entry *e)
{
	struct tcache_entry **head = &c->starts[tcache_start_hash(c, (uintptr_t)e->pub.addr)];

	__atomic_store_n(&e->snext, *head, __ATOMIC_RELAXED);
	__atomic_store_n(head, e, __ATOMIC_RELEASE);
}

/*
 * Take it off. Its own snext stays, so a reader standing on it walks on;
 * a reader that follows it after it is reused elsewhere walks a wrong
 * chain, which the step budget and the check after tryget make harmless.
 */
static void tcache_starts_del(struct tether_cache *c, struct tcache_entry *e)
{
	struct tcache_entry **p = &c->starts[tcache_start_hash(c, (uintptr_t)e->pub.addr)];

	while (*p && *p != e)
		p = &(*p)->snext;
	if (*p)
		__atomic_store_n(p, e->snext, __ATOMIC_RELEASE);
}
/*
 * Keep aside an entry whose ibv_dereg_mr() failed (a memory window bound to
 * it, say): still registered, so the device may still use it and a cached
 * one keeps its range too; retried by tcache_retry_stuck(). Out of the
 * index already; refs stays TCACHE_DEAD. With the lock held.
 */
void tcache_set_aside(struct tether_cache *c, struct tcache_entry *e)
{
	e->next = c->stuck;
	c->stuck = e;
	c->nstuck++;
}

/*
 * Deregister and release a retired entry (refs == TCACHE_DEAD, already out
 * of the index and the table) and free it.
 */
int tcache_retire(struct tether_cache *c, struct tcache_entry *e)
{
	int ret;

	if (c->evict_cb)
		c->evict_cb(&e->pub, e->evict_reason, c->evict_arg);
	c->st.evictions[e->evict_reason]++;
	c->st.hits += tcache_fold_hits(e);	/* its recency no longer matters */
	c->nentries--;
	c->nbytes -= e->pub.length;
	/* libibverbs returns 0 or an errno value */
	ret = -ibv_dereg_mr(e->pub.mr);
	if (ret) {
		tcache_set_aside(c, e);
		return ret;
	}
	if (tcache_safe(c))
		tether_release(c->ctx, e->handle);
	tcache_free(c, e);
	return 0;
}

/* Deregister again what failed to before; the number that went now. */
int tcache_retry_stuck(struct tether_cache *c)
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
		if (e->state & TCACHE_UNCACHED) {
			/* its own allocation, and no range */
			c->uncached_out--;
			free(e);
			continue;
		}
		if (tcache_safe(c))
			tether_release(c->ctx, e->handle);
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
	tcache_starts_del(c, e);
	tether_index_remove(&c->index, &e->node);
	tcache_table_del(c, e);
}

/*
 * The mapping under @e changed (or everything must go): never hand it out
 * again; retire it now if nobody holds it, else at its last put.
 */
void tcache_invalidate(struct tether_cache *c, struct tcache_entry *e,
			      enum tether_evict_reason reason)
{
	if (e->state & TCACHE_INVALID)
		return;
	e->evict_reason = reason;
	__atomic_fetch_or(&e->state, TCACHE_INVALID, __ATOMIC_SEQ_CST);
	tcache_unindex(c, e);
	if (tcache_kill(e))
		tcache_retire(c, e);
}

/* Retire a valid entry if nobody holds it; true if it went. */
bool tcache_evict(struct tether_cache *c, struct tcache_entry *e,
			 enum tether_evict_reason reason)
{
	if (!tcache_kill(e))
		return false;
	e->evict_reason = reason;
	tcache_unindex(c, e);
	tcache_retire(c, e);
	return true;
}

/* Call @fn on every cached entry (it may remove the entry). */
void tcache_for_each(struct tether_cache *c,
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

void tcache_invalidate_cb(struct tether_cache *c, struct tcache_entry *e, void *arg)
{
	tcache_invalidate(c, e, *(enum tether_evict_reason *)arg);
}

/* The last put of an invalidated entry: retire it (taking the lock unless @locked). */
int tcache_unref_last(struct tether_cache *c, struct tcache_entry *e, bool locked)
{
	int ret = 0;

	if (!locked)
		pthread_mutex_lock(&c->lock);
	if (tcache_kill(e))
		ret = tcache_retire(c, e);
	if (!locked)
		pthread_mutex_unlock(&c->lock);
	return ret;
}
