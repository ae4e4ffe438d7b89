// SPDX-License-Identifier: LGPL-2.1-or-later
/* libtether: a registration cache's statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache_private.h"

/*
 * Cached entries held by users, invalidated ones awaiting their last put
 * included. With the lock held.
 */
uint64_t tcache_held(struct tether_cache *c)
{
	struct tcache_pool *p;
	uint64_t n = 0;
	int i;

	for (p = c->pools; p; p = p->next)
		for (i = 0; i < TCACHE_POOL_ENTRIES; i++)
			if (tcache_refs(__atomic_load_n(&p->entries[i].ref,
							__ATOMIC_RELAXED)) > 0)
				n++;
	return n;
}

/*
 * Hits are counted in each entry's reference word (tcache_tryget()): fold
 * them into c->st.hits, so no entry's 32-bit count wraps between queries,
 * and stamp the entries hit since the last fold as used now.
 */
static void tcache_fold_all(struct tether_cache *c)
{
	uint64_t stamp = ++c->clock;
	struct tcache_pool *p;
	int i;

	for (p = c->pools; p; p = p->next)
		for (i = 0; i < TCACHE_POOL_ENTRIES; i++)
			tcache_fold(c, &p->entries[i], stamp);
}

static void tcache_query_stats(struct tether_cache *c, struct tether_cache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	tcache_fold_all(c);
	*st = c->st;
	st->entries = c->nentries;
	st->bytes_registered = c->nbytes;
	st->entries_in_use = tcache_held(c);
	pthread_mutex_unlock(&c->lock);
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

void tcache_stats_register(struct tether_cache *c)
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

void tcache_stats_unregister(struct tether_cache *c)
{
	struct tether_cache **p;

	pthread_mutex_lock(&tcache_registry_lock);
	for (p = &tcache_registry; *p && *p != c; p = &(*p)->reg_next)
		;
	if (*p)
		*p = c->reg_next;
	pthread_mutex_unlock(&tcache_registry_lock);
}
