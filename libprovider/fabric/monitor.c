// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether-fabric: a libfabric memory monitor backed by tether, imported
 * through libfabric's import API (rdma/fi_ext.h: struct fid_mem_monitor).
 *
 * libfabric calls the export ops under its own locks:
 *   - start/stop under mm_state_lock, when the first cache joins the
 *     monitor and when the last one leaves;
 *   - subscribe/unsubscribe/valid under mm_lock, from the program's threads
 *     and also from inside our own notify() (the cache unsubscribes the
 *     entries a notify() removes).
 * notify() takes mm_lock itself, so it is never called from an export op:
 * the monitor's thread drains tether's event ring under tfm.lock, collects
 * the (addr, len) of every invalidated range, drops tfm.lock, then calls
 * notify() for each. Lock order: mm_lock -> tfm.lock; the thread never
 * holds tfm.lock while calling into libfabric.
 *
 * The import API names a subscription by (addr, len) only, so the monitor
 * keeps its own map from (addr, len) to the tether ranges secured for it
 * (one per subscribe: two caches may subscribe the same range), and one
 * from tether handle to the same nodes, for events.
 *
 * Nothing stale: valid() is false as soon as the kernel has changed a
 * range's validity word (before the mapping changes), whatever the thread
 * has got to. Nothing lost: an invalidated range stays in the map until
 * libfabric unsubscribes it; a ring overflow notifies every watched range,
 * then rearms the ring and drains it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_ext.h>

#include "tether.h"
#include "tether_fabric.h"

#define TFM_EXPORT __attribute__((visibility("default")))
#define TFM_BUCKETS 4096	/* power of two; chains grow beyond it */
#define TFM_FLAGS_KNOWN TETHER_FABRIC_UNSAFE_NO_INVALIDATION
#define TFM_PATH "/dev/" TETHER_DEVICE_NAME

/* One tether range secured for one subscribe of (addr, len). */
struct tfm_node {
	const void *addr;		/* as libfabric subscribed it */
	size_t len;
	struct tether_range range;
	struct tfm_node *next_range;	/* chain of tfm.by_range */
	struct tfm_node *next_handle;	/* chain of tfm.by_handle */
};

/* A list of ranges to notify, built under tfm.lock, used without it. */
struct tfm_batch {
	struct {
		const void *addr;
		size_t len;
	} *v;
	size_t n, cap;
};

/* The process's one monitor. */
static struct tfm {
	struct fid_mem_monitor mon;	/* what libfabric imported */
	struct tether_context *ctx;	/* set once by the import, never freed */
	uint32_t flags;			/* enum tether_fabric_flags */
	pthread_t thread;		/* the event thread while running */
	int wake_fd;			/* eventfd: stop the thread */
	bool running;			/* thread started; under mm_state_lock */
	bool exiting;			/* process exit: no more notify() */
	bool overflow;			/* an overflow not yet notified; under lock */
	/* protects by_range, by_handle, nodes and the ring's consumer side */
	pthread_mutex_t lock;
	struct tfm_node *by_range[TFM_BUCKETS];
	struct tfm_node *by_handle[TFM_BUCKETS];
	size_t nodes;
} tfm = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
};

static pthread_mutex_t tfm_import_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t tfm_hash_range(const void *addr, size_t len)
{
	uint64_t h = (uintptr_t)addr ^ ((uint64_t)len * 0x9e3779b97f4a7c15ULL);

	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (h ^ (h >> 32)) & (TFM_BUCKETS - 1);
}

static size_t tfm_hash_handle(uint64_t handle)
{
	return (handle * 0x9e3779b97f4a7c15ULL >> 40) & (TFM_BUCKETS - 1);
}

/* ---- the map (tfm.lock held) ------------------------------------------- */

static void tfm_insert(struct tfm_node *n)
{
	size_t r = tfm_hash_range(n->addr, n->len), h = tfm_hash_handle(n->range.handle);

	n->next_range = tfm.by_range[r];
	tfm.by_range[r] = n;
	n->next_handle = tfm.by_handle[h];
	tfm.by_handle[h] = n;
	tfm.nodes++;
}

static void tfm_unlink(struct tfm_node *n)
{
	struct tfm_node **p;

	for (p = &tfm.by_range[tfm_hash_range(n->addr, n->len)]; *p != n; p = &(*p)->next_range)
		;
	*p = n->next_range;
	for (p = &tfm.by_handle[tfm_hash_handle(n->range.handle)]; *p != n; p = &(*p)->next_handle)
		;
	*p = n->next_handle;
	tfm.nodes--;
}

static struct tfm_node *tfm_find_handle(uint64_t handle)
{
	struct tfm_node *n;

	for (n = tfm.by_handle[tfm_hash_handle(handle)]; n; n = n->next_handle)
		if (n->range.handle == handle)
			return n;
	return NULL;
}

/* Add a range to @b, which has room (tfm_batch_reserve()). */
static void tfm_batch_add(struct tfm_batch *b, const void *addr, size_t len)
{
	b->v[b->n].addr = addr;
	b->v[b->n].len = len;
	b->n++;
}

/* ---- the export ops ----------------------------------------------------- */

/* Room for one more range in @b. */
static int tfm_batch_reserve(struct tfm_batch *b)
{
	size_t cap;
	void *v;

	if (b->n < b->cap)
		return 0;
	cap = b->cap ? 2 * b->cap : 64;
	v = realloc(b->v, cap * sizeof(*b->v));
	if (!v)
		return -ENOMEM;
	b->v = v;
	b->cap = cap;
	return 0;
}

/*
 * Take tether's events: the invalidated ranges into @b. An event is taken
 * only once there is room for its range, and an overflow stays pending
 * (tfm.overflow) until every watched range is in a batch, so running out
 * of memory delays notifications but loses none. Return 1 when there is
 * more to drain (after an overflow, or a batch that could not grow: the
 * caller notifies what it has and comes back), 0 when the ring is empty.
 */
static int tfm_drain(struct tfm_batch *b)
{
	struct tether_event ev;
	struct tfm_node *n;
	size_t i;
	int ret;

	for (;;) {
		if (tfm_batch_reserve(b))
			return 1;
		if (!tether_next_event(tfm.ctx, &ev))
			break;
		if (ev.type == TETHER_EVENT_OVERFLOW) {
			tfm.overflow = true;
		} else if (ev.type == TETHER_EVENT_INVALIDATE) {
			n = tfm_find_handle(ev.handle);
			if (n)
				tfm_batch_add(b, n->addr, n->len);
		}
	}
	if (!tfm.overflow)
		return 0;
	/* events were dropped: nothing watched can be trusted */
	for (i = 0; i < TFM_BUCKETS; i++)
		for (n = tfm.by_range[i]; n; n = n->next_range)
			if (tfm_batch_reserve(b))
				return 1;	/* notified again next round: harmless */
			else
				tfm_batch_add(b, n->addr, n->len);
	tfm.overflow = false;
	ret = tether_rearm(tfm.ctx, NULL);
	/* EBUSY: records arrived since the loop: drain (and rearm) again */
	if (ret && ret != -EBUSY)
		fprintf(stderr, "libtether-fabric: cannot rearm the event ring: %s\n",
			strerror(-ret));
	return 1;
}

static void tfm_notify(struct tfm_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (__atomic_load_n(&tfm.exiting, __ATOMIC_ACQUIRE))
			break;
		tfm.mon.import_ops->notify(&tfm.mon, b->v[i].addr, b->v[i].len);
	}
	b->n = 0;
}

static void *tfm_thread(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = tether_fd(tfm.ctx), .events = POLLIN },
		{ .fd = tfm.wake_fd, .events = POLLIN },
	};
	struct tfm_batch b = { 0 };
	int more;

	(void)arg;
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		do {
			pthread_mutex_lock(&tfm.lock);
			more = tfm_drain(&b);
			pthread_mutex_unlock(&tfm.lock);
			/* no memory for even one range: wait for some */
			if (more && !b.n)
				usleep(1000);
			tfm_notify(&b);
		} while (more);
	}
	free(b.v);
	return NULL;
}

static int tfm_start(struct fid_mem_monitor *mon)
{
	int ret;

	(void)mon;
	if (tfm.running)
		return 0;
	if (tfm.flags & TETHER_FABRIC_UNSAFE_NO_INVALIDATION)
		return 0;
	tfm.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (tfm.wake_fd < 0)
		return -errno;
	ret = -pthread_create(&tfm.thread, NULL, tfm_thread, NULL);
	if (ret) {
		close(tfm.wake_fd);
		tfm.wake_fd = -1;
		return ret;
	}
	tfm.running = true;
	return 0;
}

static void tfm_release_all(void)
{
	struct tfm_node *n;
	size_t i;

	pthread_mutex_lock(&tfm.lock);
	for (i = 0; i < TFM_BUCKETS; i++) {
		while ((n = tfm.by_range[i])) {
			tfm_unlink(n);
			tether_release(tfm.ctx, n->range.handle);
			free(n);
		}
	}
	pthread_mutex_unlock(&tfm.lock);
}

static void tfm_stop_thread(void)
{
	uint64_t one = 1;

	if (!tfm.running)
		return;
	if (write(tfm.wake_fd, &one, sizeof(one)) != sizeof(one))
		fprintf(stderr, "libtether-fabric: cannot stop the monitor thread: %s\n",
			strerror(errno));
	pthread_join(tfm.thread, NULL);
	close(tfm.wake_fd);
	tfm.wake_fd = -1;
	tfm.running = false;
}

static void tfm_stop(struct fid_mem_monitor *mon)
{
	(void)mon;
	tfm_stop_thread();
	/* the last cache has left: it unsubscribed everything it had */
	tfm_release_all();
}

static int tfm_subscribe(struct fid_mem_monitor *mon, const void *addr, size_t len)
{
	struct tfm_node *n;
	int ret;

	(void)mon;
	if (tfm.flags & TETHER_FABRIC_UNSAFE_NO_INVALIDATION)
		return 0;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -FI_ENOMEM;
	n->addr = addr;
	n->len = len;
	/* watch only: libfabric's registration pins the pages itself */
	ret = tether_secure(tfm.ctx, addr, len, 0, 0, &n->range);
	if (ret) {
		free(n);
		return ret;
	}
	pthread_mutex_lock(&tfm.lock);
	tfm_insert(n);
	pthread_mutex_unlock(&tfm.lock);
	return 0;
}

static void tfm_unsubscribe(struct fid_mem_monitor *mon, const void *addr, size_t len)
{
	struct tfm_node *n, *pick = NULL;

	(void)mon;
	if (tfm.flags & TETHER_FABRIC_UNSAFE_NO_INVALIDATION)
		return;
	pthread_mutex_lock(&tfm.lock);
	/* of several subscriptions of the range, an invalidated one goes first */
	for (n = tfm.by_range[tfm_hash_range(addr, len)]; n; n = n->next_range) {
		if (n->addr != addr || n->len != len)
			continue;
		if (!pick || !tether_range_valid(tfm.ctx, &n->range))
			pick = n;
		if (!tether_range_valid(tfm.ctx, &pick->range))
			break;
	}
	if (pick)
		tfm_unlink(pick);
	pthread_mutex_unlock(&tfm.lock);
	if (pick) {
		tether_release(tfm.ctx, pick->range.handle);
		free(pick);
	}
}

static bool tfm_valid(struct fid_mem_monitor *mon, const void *addr, size_t len)
{
	struct tfm_node *n;
	bool found = false, valid = true;

	(void)mon;
	if (tfm.flags & TETHER_FABRIC_UNSAFE_NO_INVALIDATION)
		return true;
	pthread_mutex_lock(&tfm.lock);
	/* valid only while every subscription of the range is */
	for (n = tfm.by_range[tfm_hash_range(addr, len)]; n && valid; n = n->next_range) {
		if (n->addr != addr || n->len != len)
			continue;
		found = true;
		valid = tether_range_valid(tfm.ctx, &n->range);
	}
	pthread_mutex_unlock(&tfm.lock);
	return found && valid;
}

static struct fi_ops_mem_monitor tfm_export_ops = {
	.size = sizeof(struct fi_ops_mem_monitor),
	.start = tfm_start,
	.stop = tfm_stop,
	.subscribe = tfm_subscribe,
	.unsubscribe = tfm_unsubscribe,
	.valid = tfm_valid,
};

/* ---- import ------------------------------------------------------------- */

/*
 * libfabric sets its default monitor when it initializes (at the first
 * fi_getinfo()); an import made before that would be overwritten. A
 * fi_getinfo() that matches no provider initializes it and does nothing else.
 */
static void tfm_init_libfabric(void)
{
	struct fi_info *hints = fi_allocinfo(), *info = NULL;

	if (!hints)
		return;
	free(hints->fabric_attr->prov_name);
	hints->fabric_attr->prov_name = strdup("tether-fabric-no-such-provider");
	if (!fi_getinfo(FI_VERSION(1, 13), NULL, NULL, 0, hints, &info))
		fi_freeinfo(info);
	fi_freeinfo(hints);
}

static int tfm_import(void)
{
	struct fid *cache;
	int ret;

	tfm_init_libfabric();
	ret = fi_open(FI_VERSION(1, 13), "mr_cache", NULL, 0, 0, &cache, NULL);
	if (ret) {
		fprintf(stderr, "libtether-fabric: libfabric has no import API (fi_open(\"mr_cache\"): %s): it keeps its default memory monitor\n",
			fi_strerror(-ret));
		return ret;
	}
	tfm.mon.fid.fclass = FI_CLASS_MEM_MONITOR;
	tfm.mon.export_ops = &tfm_export_ops;
	ret = fi_import_fid(cache, &tfm.mon.fid, 0);
	fi_close(cache);
	if (ret)
		fprintf(stderr, "libtether-fabric: libfabric refused the monitor (%s): %s\n",
			fi_strerror(-ret), ret == -FI_EBUSY ?
			"another monitor was imported, or fabric domains are already open" :
			"it keeps its default memory monitor");
	return ret;
}

TFM_EXPORT int tether_fabric_import(uint32_t flags)
{
	int ret;

	if (flags & ~TFM_FLAGS_KNOWN)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&tfm_import_lock);
	if (tfm.ctx) {
		ret = -EALREADY;
		goto out;
	}
	if (access(TFM_PATH, F_OK)) {
		ret = -ENODEV;
		fprintf(stderr, "libtether-fabric: %s not found (tether.ko not loaded): libfabric keeps its default memory monitor\n",
			TFM_PATH);
		goto out;
	}
	tfm.ctx = tether_open();
	if (!tfm.ctx) {
		ret = -errno;
		fprintf(stderr, "libtether-fabric: libfabric keeps its default memory monitor\n");
		goto out;
	}
	tfm.flags = flags;
	ret = tfm_import();
	if (ret) {
		tether_close(tfm.ctx);
		tfm.ctx = NULL;
		ret = ret == -FI_EBUSY ? -EBUSY : ret == -FI_ENOMEM ? -ENOMEM :
		      ret == -FI_ENOSYS ? -ENOSYS : ret;
	}
out:
	pthread_mutex_unlock(&tfm_import_lock);
	return ret;
}

/*
 * Process exit. This library's destructor runs before libfabric's (it
 * depends on libfabric): stop the thread so that no notify() reaches a
 * libfabric that is tearing down. Caches still open keep their entries;
 * the process is going away.
 */
__attribute__((destructor)) static void tfm_exit(void)
{
	__atomic_store_n(&tfm.exiting, true, __ATOMIC_RELEASE);
	if (tfm.running) {
		uint64_t one = 1;

		/* the thread stops at its next wake-up; do not wait for it */
		if (write(tfm.wake_fd, &one, sizeof(one)) != sizeof(one))
			return;
	}
}

/*
 * LD_PRELOAD=libtether-fabric.so.1: import before main() (and so before
 * the program opens a fabric), unless TETHER_FABRIC=0. A program that
 * links the library and calls tether_fabric_import() itself is left alone.
 */
__attribute__((constructor)) static void tfm_preload(void)
{
	const char *pre = getenv("LD_PRELOAD"), *env = getenv("TETHER_FABRIC");

	if (!pre || !strstr(pre, "libtether-fabric"))
		return;
	if (env && !strcmp(env, "0"))
		return;
	tether_fabric_import(0);
}
