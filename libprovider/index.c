// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: the interval index (see index.h).
 *
 * Memory ordering is the classic seqlock in C11 terms: the writer makes the
 * sequence odd, issues a release fence, changes links with relaxed atomic
 * stores and publishes the even sequence with a release store; the reader
 * loads the sequence with acquire, follows links with relaxed atomic loads,
 * issues an acquire fence and reloads the sequence. Equal and even means the
 * reader saw no writer's partial work.
 */
#include <stddef.h>

#include "index.h"

/* nodes a lock-free search may visit before it gives up and retries */
#define TINDEX_BUDGET 512
/* depth of the explicit search stack */
#define TINDEX_STACK 96

#define LD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)

void tindex_init(struct tindex *t)
{
	t->root = NULL;
	t->seq = 0;
	t->rng = 0x9e3779b9u;
}

static uint32_t tindex_rand(struct tindex *t)
{
	/* xorshift32: priorities need only be unpredictable enough to balance */
	uint32_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	t->rng = x;
	return x;
}

/* total order on nodes: by start, ties by address */
static bool tindex_less(const struct tindex_node *x, const struct tindex_node *y)
{
	return x->start < y->start || (x->start == y->start && x < y);
}

static void tindex_update(struct tindex_node *n)
{
	uintptr_t m = n->end;

	if (n->left && n->left->max_end > m)
		m = n->left->max_end;
	if (n->right && n->right->max_end > m)
		m = n->right->max_end;
	ST(n->max_end, m);
}

static struct tindex_node *tindex_rotate_right(struct tindex_node *n)
{
	struct tindex_node *l = n->left;

	ST(n->left, l->right);
	ST(l->right, n);
	tindex_update(n);
	tindex_update(l);
	return l;
}

static struct tindex_node *tindex_rotate_left(struct tindex_node *n)
{
	struct tindex_node *r = n->right;

	ST(n->right, r->left);
	ST(r->left, n);
	tindex_update(n);
	tindex_update(r);
	return r;
}

static struct tindex_node *tindex_ins(struct tindex_node *root, struct tindex_node *n)
{
	if (!root)
		return n;
	if (tindex_less(n, root)) {
		ST(root->left, tindex_ins(root->left, n));
		if (root->left->prio > root->prio)
			return tindex_rotate_right(root);
	} else {
		ST(root->right, tindex_ins(root->right, n));
		if (root->right->prio > root->prio)
			return tindex_rotate_left(root);
	}
	tindex_update(root);
	return root;
}

static struct tindex_node *tindex_del(struct tindex_node *root, struct tindex_node *n)
{
	if (!root)
		return NULL;
	if (root == n) {
		if (!root->left)
			return root->right;
		if (!root->right)
			return root->left;
		if (root->left->prio > root->right->prio) {
			root = tindex_rotate_right(root);
			ST(root->right, tindex_del(root->right, n));
		} else {
			root = tindex_rotate_left(root);
			ST(root->left, tindex_del(root->left, n));
		}
	} else if (tindex_less(n, root)) {
		ST(root->left, tindex_del(root->left, n));
	} else {
		ST(root->right, tindex_del(root->right, n));
	}
	tindex_update(root);
	return root;
}

static void tindex_write_begin(struct tindex *t)
{
	ST(t->seq, t->seq + 1);
	/* readers that see a link changed below also see the odd sequence */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void tindex_write_end(struct tindex *t)
{
	/* pairs with the acquire fence in tindex_find() */
	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
}

void tindex_insert(struct tindex *t, struct tindex_node *n)
{
	/* a reused node may still be looked at by a reader with a stale pointer */
	ST(n->left, NULL);
	ST(n->right, NULL);
	ST(n->max_end, n->end);
	n->prio = tindex_rand(t);
	tindex_write_begin(t);
	ST(t->root, tindex_ins(t->root, n));
	tindex_write_end(t);
}

void tindex_remove(struct tindex *t, struct tindex_node *n)
{
	tindex_write_begin(t);
	ST(t->root, tindex_del(t->root, n));
	tindex_write_end(t);
}

/*
 * Depth-first search pruned by max_end: a subtree whose max_end is below @b
 * holds no cover, and the right subtree of a node starting after @a holds
 * none either (its starts are later still).
 */
struct tindex_node *tindex_find(const struct tindex *t, uintptr_t a, uintptr_t b,
				tindex_pred pred, const void *arg, bool lockless,
				bool *retry)
{
	const struct tindex_node *stack[TINDEX_STACK];
	const struct tindex_node *n, *found = NULL;
	unsigned int sp = 0, budget = TINDEX_BUDGET;
	uint64_t s1 = 0, s2;

	*retry = false;
	if (lockless) {
		/* pairs with the release store in tindex_write_end() */
		s1 = __atomic_load_n(&t->seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			*retry = true;
			return NULL;
		}
	}
	n = LD(t->root);
	while (n || sp) {
		if (!n) {
			n = stack[--sp];
			continue;
		}
		if (lockless && !budget--) {
			*retry = true;
			return NULL;
		}
		if (LD(n->max_end) < b) {
			n = NULL;
			continue;
		}
		if (LD(n->start) > a) {
			n = LD(n->left);
			continue;
		}
		if (LD(n->end) >= b && pred(n, arg)) {
			found = n;
			break;
		}
		if (sp == TINDEX_STACK) {
			/* deeper than any sane treap: a torn view, or give up */
			*retry = lockless;
			return NULL;
		}
		stack[sp++] = LD(n->right);
		n = LD(n->left);
	}
	if (lockless) {
		/* pairs with the release fence in tindex_write_begin() */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
		if (s1 != s2) {
			*retry = true;
			return NULL;
		}
	}
	return (struct tindex_node *)found;
}
