/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtether: an interval index (a treap keyed by start address, each node
 * carrying the largest end in its subtree) that finds a node covering
 * [a, b) in O(log n), and that readers may search without a lock.
 *
 * Writers (insert, remove) hold the owner's lock and run inside a seqlock
 * write section. Readers take a snapshot of the sequence, search, and check
 * the sequence again; a search that raced a writer, or that went on for too
 * long on a torn view, reports a retry. This is safe only because nodes are
 * type-stable: their memory is never freed while the index exists, so a
 * reader may follow a stale pointer but never into freed memory. A node a
 * reader returns may since have been reused; the caller revalidates it
 * after pinning it (see cache.c).
 */
#ifndef _TETHER_INDEX_H
#define _TETHER_INDEX_H

#include <stdbool.h>
#include <stdint.h>

/* Embedded in a cache entry; every field is read by lock-free readers. */
struct tether_index_node {
	struct tether_index_node *left;
	struct tether_index_node *right;
	uintptr_t start;
	uintptr_t end;
	uintptr_t max_end;
	uint32_t prio;
};

struct tether_index {
	struct tether_index_node *root;
	/* odd while a writer changes the tree */
	uint64_t seq;
	/* priority generator (writers only) */
	uint32_t rng;
};

/* Does a node that covers the range also satisfy the caller? */
typedef bool (*tether_index_pred)(const struct tether_index_node *n, const void *arg);

void tether_index_init(struct tether_index *t);
/* Writers: the caller holds the owner's lock. */
void tether_index_insert(struct tether_index *t, struct tether_index_node *n,
			 uintptr_t start, uintptr_t end);
void tether_index_remove(struct tether_index *t, struct tether_index_node *n);

/*
 * A node with start <= @a, end >= @b and @pred true, or NULL. Lock-free
 * callers pass @lockless: then *@retry is set when the answer cannot be
 * trusted (a writer was active, or the search exceeded its step budget or
 * its stack). A locked search (the caller holds the owner's lock) has no
 * such limits, however deep the tree: it sets *@retry only when it ran out
 * of memory for its search stack, and then NULL means "unknown", not "not
 * found".
 */
struct tether_index_node *tether_index_find(const struct tether_index *t, uintptr_t a, uintptr_t b,
				tether_index_pred pred, const void *arg, bool lockless,
				bool *retry);

#endif /* _TETHER_INDEX_H */
