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
#include <stdlib.h>
#include <string.h>

#include "index.h"

/* nodes a lock-free search may visit before it gives up and retries */
#define TETHER_INDEX_BUDGET 512
/*
 * depth of the search stack on the C stack; a locked search that needs
 * more moves it to the heap
 */
#define TETHER_INDEX_STACK 96

#define LD(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#define ST(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELAXED)

void tether_index_init(struct tether_index *t)
{
	t->root = NULL;
	t->seq = 0;
	t->rng = 0x9e3779b9u;
}

static uint32_t tether_index_rand(struct tether_index *t)
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
static bool tether_index_less(const struct tether_index_node *x, const struct tether_index_node *y)
{
	return x->start < y->start || (x->start == y->start && x < y);
}

static void tether_index_update(struct tether_index_node *n)
{
	uintptr_t m = n->end;

	if (n->left && n->left->max_end > m)
		m = n->left->max_end;
	if (n->right && n->right->max_end > m)
		m = n->right->max_end;
	ST(n->max_end, m);
}

static struct tether_index_node *tether_index_rotate_right(struct tether_index_node *n)
{
	struct tether_index_node *l = n->left;

	ST(n->left, l->right);
	ST(l->right, n);
	tether_index_update(n);
	tether_index_update(l);
	return l;
}

static struct tether_index_node *tether_index_rotate_left(struct tether_index_node *n)
{
	struct tether_index_node *r = n->right;

	ST(n->right, r->left);
	ST(r->left, n);
	tether_index_update(n);
	tether_index_update(r);
	return r;
}

static struct tether_index_node *tether_index_ins(struct tether_index_node *root, struct tether_index_node *n)
{
	if (!root)
		return n;
	if (tether_index_less(n, root)) {
		ST(root->left, tether_index_ins(root->left, n));
		if (root->left->prio > root->prio)
			return tether_index_rotate_right(root);
	} else {
		ST(root->right, tether_index_ins(root->right, n));
		if (root->right->prio > root->prio)
			return tether_index_rotate_left(root);
	}
	tether_index_update(root);
	return root;
}

static struct tether_index_node *tether_index_del(struct tether_index_node *root, struct tether_index_node *n)
{
	if (!root)
		return NULL;
	if (root == n) {
		if (!root->left)
			return root->right;
		if (!root->right)
			return root->left;
		if (root->left->prio > root->right->prio) {
			root = tether_index_rotate_right(root);
			ST(root->right, tether_index_del(root->right, n));
		} else {
			root = tether_index_rotate_left(root);
			ST(root->left, tether_index_del(root->left, n));
		}
	} else if (tether_index_less(n, root)) {
		ST(root->left, tether_index_del(root->left, n));
	} else {
		ST(root->right, tether_index_del(root->right, n));
	}
	tether_index_update(root);
	return root;
}

static void tether_index_write_begin(struct tether_index *t)
{
	ST(t->seq, t->seq + 1);
	/* readers that see a link changed below also see the odd sequence */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void tether_index_write_end(struct tether_index *t)
{
	/* pairs with the acquire fence in tether_index_find() */
	__atomic_store_n(&t->seq, t->seq + 1, __ATOMIC_RELEASE);
}

void tether_index_insert(struct tether_index *t, struct tether_index_node *n,
			 uintptr_t start, uintptr_t end)
{
	n->prio = tether_index_rand(t);
	tether_index_write_begin(t);
	/*
	 * A reused node may still be looked at by a reader holding a stale
	 * pointer: it is (re)initialized inside the write section, so such a
	 * reader retries.
	 */
	ST(n->left, NULL);
	ST(n->right, NULL);
	ST(n->start, start);
	ST(n->end, end);
	ST(n->max_end, end);
	ST(t->root, tether_index_ins(t->root, n));
	tether_index_write_end(t);
}

void tether_index_remove(struct tether_index *t, struct tether_index_node *n)
{
	tether_index_write_begin(t);
	ST(t->root, tether_index_del(t->root, n));
	tether_index_write_end(t);
}

/*
 * A stack of @depth slots, full, made twice as deep: on the heap, @on_stack
 * (the first one) left as it is. NULL when out of memory.
 */
static const struct tether_index_node **
tether_index_grow(const struct tether_index_node **stack,
		  const struct tether_index_node **on_stack, size_t depth)
{
	const struct tether_index_node **bigger;

	if (stack == on_stack) {
		bigger = malloc(2 * depth * sizeof(*bigger));
		if (bigger)
			memcpy(bigger, stack, depth * sizeof(*bigger));
		return bigger;
	}
	bigger = realloc(stack, 2 * depth * sizeof(*bigger));
	if (!bigger)
		free(stack);
	return bigger;
}

/*
 * Depth-first search pruned by max_end: a subtree whose max_end is below @b
 * holds no cover, and the right subtree of a node starting after @a holds
 * none either (its starts are later still).
 *
 * The stack holds one right subtree per level of the current path. A
 * lock-free search that fills it retries (a torn view can look arbitrarily
 * deep; the locked search that follows has the real answer). A locked
 * search sees a stable tree, however unbalanced: it must not give up with
 * NULL (its caller would take that as "not cached" and register the range
 * a second time), so its stack grows on the heap.
 */
struct tether_index_node *tether_index_find(const struct tether_index *t, uintptr_t a, uintptr_t b,
				tether_index_pred pred, const void *arg, bool lockless,
				bool *retry)
{
	const struct tether_index_node *on_stack[TETHER_INDEX_STACK];
	const struct tether_index_node **stack = on_stack;
	const struct tether_index_node *n, *found = NULL;
	size_t sp = 0, depth = TETHER_INDEX_STACK;
	unsigned int budget = TETHER_INDEX_BUDGET;
	uint64_t s1 = 0, s2;

	*retry = false;
	if (lockless) {
		/* pairs with the release store in tether_index_write_end() */
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
		if (sp == depth) {
			if (lockless) {
				*retry = true;
				return NULL;
			}
			stack = tether_index_grow(stack, on_stack, depth);
			if (!stack) {
				/* the answer is unknown: not "not found" */
				*retry = true;
				return NULL;
			}
			depth *= 2;
		}
		stack[sp++] = LD(n->right);
		n = LD(n->left);
	}
	if (stack != on_stack)
		free(stack);
	if (lockless) {
		/* pairs with the release fence in tether_index_write_begin() */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&t->seq, __ATOMIC_RELAXED);
		if (s1 != s2) {
			*retry = true;
			return NULL;
		}
	}
	return (struct tether_index_node *)found;
}
