// SPDX-License-Identifier: GPL-2.0
/*
 * The fault-injection sweep: every allocation on each ioctl path fails in
 * turn. For a path, /proc/thread-self/fail-nth is set to nth = 1, 2, ...
 * before the call, with failslab and fail_page_alloc both applying to
 * sleeping (GFP_KERNEL) allocations and to order-0 pages, until a call
 * reaches no injection point and succeeds. Each call that saw its injected
 * failure must fail with a documented errno (or succeed whole, when the
 * allocation had a fallback) and leave nothing behind: no pin
 * (nr_foll_pin_*), no descriptor (/proc/self/fd), no event, the contexts'
 * and the cache's counters as they were, the section name free, no view,
 * the buffer unwritten, no MR on rxe0 (RDMA netlink); a call that succeeded
 * is undone with nothing left either. The "_all" paths fail every slab
 * allocation from the nth on (make-it-fail), so no fallback can save the
 * call: it must fail. The sweep of all paths, repeated, grows no slab cache
 * (slab_count.h: one check over every path, the first sweep its first
 * run). The number of injection points each path reached is logged, with
 * the time its sweep took.
 *
 * fail-nth belongs to the calling thread alone, so nothing else in the
 * system ever sees an injected failure. Only the debug kernel has fault
 * injection; 6.1 and 6.12 skip.
 */
#include <sys/mount.h>
#include <sys/vfs.h>

#include "rdma_loop.h"
#include "slab_count.h"
#include "tether.h"
#include "tether_test.h"

#define FAILSLAB "/sys/kernel/debug/failslab/"
#define FAIL_PAGE "/sys/kernel/debug/fail_page_alloc/"
#define NAME "tether-failnth"
#define PAGES 4
#define MAX_NTH 2000
#define WAIT_MS 20000
#define SENTINEL 0x5a
#define MAX_PATHS 32

/* The errnos an allocation failure may give: a path lists those it may. */
enum {
	E_NOMEM = 1 << 0,
	E_NOSPC = 1 << 1,	/* shmem cannot make its inode */
	E_NFILE = 1 << 2,	/* alloc_empty_file() */
	E_FAULT = 1 << 3,	/* GUP could not fault a page in */
	E_FILE = E_NOMEM | E_NOSPC | E_NFILE,
};

struct env;

/* One path: @setup and @cleanup run without injection, @run with it. */
struct path {
	const char *name;
	int (*setup)(struct env *e);
	int (*run)(struct env *e);		/* 0 or -errno */
	int (*check)(struct env *e);		/* after a failed run: 0 if clean */
	void (*undo)(struct env *e);		/* after a successful run */
	void (*cleanup)(struct env *e);		/* after every run */
	int (*needs)(struct env *e);		/* 0, or why to skip (-errno) */
	int backing;				/* for the section paths */
	uint32_t mode;				/* for the request paths */
	unsigned int errs;			/* E_*: the errnos allowed */
	bool persist;		/* every allocation after the nth fails too */
	bool named;		/* leaves the section name free once cleaned up */
	bool rdma;		/* counts the MRs on rxe0 */
};

enum backing { B_ANON, B_MEMFD, B_TMPFS, B_EXT4 };

struct env {
	struct __test_metadata *md;
	struct tctx t;
	struct tctx g;		/* the secure_grow_table path's own context */
	const struct path *p;
	int nth_fd, task_fd;	/* fail-nth, make-it-fail */
	unsigned char *buf;
	size_t len;
	/* per run */
	struct tether_cmd_secure s[3];
	int nsec;
	int fd, sfd;
	uint64_t id;
	void *map;
	/* backings */
	int backing_fd[4];
	char tmpfs_dir[64];
	struct ext4_disk disk;
	bool ext4_ok, tmpfs_ok;
	/* the library's cache */
	struct rdev dev;
	bool rdma_ok;
	struct tether_context *lctx;
	struct tether_cache *cache;
	struct tether_mr *mr;
	long mrs;		/* MRs on rxe0 before the run */
	/* results: per path (of the first pass), and in all */
	int pass;
	int points[MAX_PATHS];	/* that failed the call, -1: skipped */
	int absorbed[MAX_PATHS];	/* that a fallback absorbed: the call succeeded */
	double seconds[MAX_PATHS];
	int failed;
	int err_seen[4];	/* ENOMEM, ENOSPC, ENFILE, EFAULT */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int stats_of(int fd, struct tether_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return tether_ioctl(fd, TETHER_IOC_GET_STATS, st);
}

/* What a failed run must leave as it was. */
struct state {
	struct tether_stats st, lst;	/* the test's context, the library's */
	struct tether_cache_stats cst;	/* the library's cache */
	long long pins;
	int fds;
	long mrs;			/* on rxe0: only for the cache path */
};

static int state_of(struct env *e, struct state *s, bool mrs)
{
	memset(s, 0, sizeof(*s));
	s->pins = pins_held();
	s->fds = fds_open();
	s->mrs = mrs ? rdev_resource_count("rxe0", "mr") : 0;
	if (e->lctx) {
		if (stats_of(tether_fd(e->lctx), &s->lst))
			return -1;
		tether_cache_query_stats(e->cache, &s->cst);
	}
	return stats_of(e->t.fd, &s->st);
}

/* ---- secure, with and without pin ---- */

static int run_secure(struct env *e)
{
	uint32_t flags = e->p->mode;
	int ret = tsecure(&e->t, e->buf, e->len, flags, 7, &e->s[0]);

	e->nsec = !ret;
	return ret;
}

static void undo_secure(struct env *e)
{
	int i;

	for (i = 0; i < e->nsec; i++)
		trelease(&e->t, e->s[i].handle);
	e->nsec = 0;
}

/*
 * ---- secure in a context whose slot table is full ----
 * A context's table starts at TETHER_SLOTS_MIN (64, kmod/tether_kmod.h)
 * slots and doubles when a secure finds none free: in a context of its own
 * holding 64 ranges, the 65th secure grows the table.
 */
#define SLOTS_MIN 64

static int setup_grow(struct env *e)
{
	struct tether_cmd_secure s;
	int i, ret = tctx_open(&e->g);

	for (i = 0; !ret && i < SLOTS_MIN; i++)
		ret = tsecure(&e->g, e->buf + (i % PAGES) * page_size(),
			      page_size(), 0, i, &s);
	return ret;
}

static int run_grow(struct env *e)
{
	int ret = tsecure(&e->g, e->buf, e->len, 0, SLOTS_MIN, &e->s[0]);

	e->nsec = !ret;
	return ret;
}

static void undo_grow(struct env *e)
{
	if (e->nsec && trelease(&e->g, e->s[0].handle))
		e->failed = -1;
	e->nsec = 0;
}

/* A failed 65th secure left the context with its 64 ranges and no event. */
static int check_grow(struct env *e)
{
	struct tether_stats st;

	if (tstats(&e->g, &st) || tpending(&e->g))
		return -1;
	return st.regions == SLOTS_MIN && st.secured == SLOTS_MIN ? 0 : -1;
}

static void cleanup_grow(struct env *e)
{
	tctx_close(&e->g);
}

/* ---- release batch ---- */

static int setup_batch(struct env *e)
{
	int i, ret;

	for (i = 0; i < 3; i++) {
		ret = tsecure(&e->t, e->buf + i * page_size(), page_size(),
			      i ? 0 : TETHER_SECURE_PIN, i, &e->s[i]);
		if (ret)
			return ret;
		e->nsec = i + 1;
	}
	return 0;
}

static int run_batch(struct env *e)
{
	uint64_t h[3] = { e->s[0].handle, e->s[1].handle, e->s[2].handle };
	struct tether_cmd_release_batch b = {
		.size = sizeof(b), .handles = (uintptr_t)h, .count = 3,
	};
	int ret = tether_ioctl(e->t.fd, TETHER_IOC_RELEASE_BATCH, &b);

	if (!ret)
		e->nsec = 0;
	return ret;
}

/* ---- sections of each backing ---- */

static int section_backing_fd(struct env *e)
{
	return e->p->backing == B_ANON ? -1 : e->backing_fd[e->p->backing];
}

static int needs_backing(struct env *e)
{
	if (e->p->backing == B_EXT4 && !e->ext4_ok)
		return -ENODEV;
	if (e->p->backing == B_TMPFS && !e->tmpfs_ok)
		return -ENODEV;
	return 0;
}

static int create_section(struct env *e, int *fd)
{
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.length = e->len,
		.max_prot = TETHER_SECTION_READ | TETHER_SECTION_WRITE,
		.backing_fd = section_backing_fd(e),
		.name = NAME,
	};
	int ret = tether_ioctl(e->t.fd, TETHER_IOC_SECTION_CREATE, &c);

	*fd = ret ? -1 : c.fd;
	return ret;
}

static int open_section(struct env *e, int *fd)
{
	struct tether_cmd_section_open o = {
		.size = sizeof(o), .access = TETHER_SECTION_READ, .name = NAME,
	};
	int ret = tether_ioctl(e->t.fd, TETHER_IOC_SECTION_OPEN, &o);

	*fd = ret ? -1 : o.fd;
	return ret;
}

static int run_create(struct env *e)
{
	return create_section(e, &e->fd);
}

static int setup_open(struct env *e)
{
	return create_section(e, &e->sfd);
}

static int run_open(struct env *e)
{
	return open_section(e, &e->fd);
}

static void close_fds(struct env *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->sfd >= 0)
		close(e->sfd);
	e->fd = e->sfd = -1;
}

/* ---- views: mmap of a section descriptor, and the last munmap ---- */

static long views_of(int sfd)
{
	struct tether_section_info info = { .size = sizeof(info) };

	return tether_ioctl(sfd, TETHER_IOC_SECTION_QUERY, &info) ? -1 : info.views;
}

static int run_view(struct env *e)
{
	e->map = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED, e->sfd, 0);
	return e->map == MAP_FAILED ? -errno : 0;
}

static void undo_view(struct env *e)
{
	struct __test_metadata *_metadata = e->md;
	unsigned char *p = e->map;

	p[e->len - 1] = 0xa5;
	if (views_of(e->sfd) != 1 || p[e->len - 1] != 0xa5) {
		TH_LOG("%s: the view does not work", e->p->name);
		e->failed = -1;
	}
	munmap(e->map, e->len);
}

/* A failed mmap made no view. */
static int check_view(struct env *e)
{
	return views_of(e->sfd) ? -1 : 0;
}

/* The view, touched, is the section's last reference: its munmap frees it. */
static int setup_munmap(struct env *e)
{
	unsigned char *p;
	int ret = create_section(e, &e->sfd);

	if (ret)
		return ret;
	p = mmap(NULL, e->len, PROT_READ | PROT_WRITE, MAP_SHARED, e->sfd, 0);
	if (p == MAP_FAILED)
		return -errno;
	e->map = p;
	memset(p, 0x3c, e->len);
	close(e->sfd);
	e->sfd = -1;
	return 0;
}

static int run_munmap(struct env *e)
{
	return munmap(e->map, e->len) ? -errno : 0;
}

/* A failed munmap left the view whole, with its data. */
static int check_munmap(struct env *e)
{
	unsigned char *p = e->map;
	size_t i;

	for (i = 0; i < e->len; i++)
		if (p[i] != 0x3c)
			return -1;
	return 0;
}

static void cleanup_munmap(struct env *e)
{
	if (munmap(e->map, e->len))
		e->failed = -1;
}

/* ---- requests ---- */

static int run_submit(struct env *e)
{
	struct tether_cmd_request_submit r = {
		.size = sizeof(r),
		.flags = e->p->mode,
		.source = TETHER_SOURCE_PATTERN,
		.source_fd = -1,
		.source_offset = 11,
		.addr = (uintptr_t)e->buf + 3,
		.length = e->len - 9,
		.cookie = 5,
	};
	int ret = tether_ioctl(e->t.fd, TETHER_IOC_REQUEST_SUBMIT, &r);

	e->id = ret ? 0 : r.id;
	return ret;
}

/* A failed submit wrote nothing. */
static int check_submit(struct env *e)
{
	size_t i;

	for (i = 0; i < e->len; i++)
		if (e->buf[i] != SENTINEL)
			return -1;
	return 0;
}

static void undo_submit(struct env *e)
{
	struct __test_metadata *_metadata = e->md;
	struct tether_cmd_request_complete c = { .size = sizeof(c), .id = e->id };
	struct tether_cmd_request_wait w = {
		.size = sizeof(w), .id = e->id, .timeout_ms = WAIT_MS,
	};
	uintptr_t start = (uintptr_t)e->buf + 3;
	struct tether_event ev = { 0 };
	size_t i;

	if (e->p->mode & TETHER_REQUEST_HOLD &&
	    tether_ioctl(e->t.fd, TETHER_IOC_REQUEST_COMPLETE, &c))
		e->failed = -1;
	if (e->p->mode & TETHER_REQUEST_ASYNC) {
		if (tether_ioctl(e->t.fd, TETHER_IOC_REQUEST_WAIT, &w) || w.status)
			e->failed = -1;
		/* exactly one event: this request's completion */
		if (!tnext(&e->t, &ev) || ev.type != TETHER_EVENT_REQUEST ||
		    ev.handle != e->id || ev.cookie != 5 || ev.status ||
		    ev.start != start || ev.end != start + e->len - 9 ||
		    tpending(&e->t)) {
			TH_LOG("%s: not the one completion event (type %u, status %d)",
			       e->p->name, ev.type, ev.status);
			e->failed = -1;
		}
	}
	for (i = 0; i < e->len; i++) {
		bool in = i >= 3 && i < e->len - 6;

		if (e->buf[i] != (in ? TETHER_PATTERN_BYTE(11 + i - 3) : SENTINEL)) {
			TH_LOG("%s: byte %zu wrong after success", e->p->name, i);
			e->failed = -1;
			break;
		}
	}
	memset(e->buf, SENTINEL, e->len);
}

static int needs_requests(struct env *e)
{
	return e->t.info.features & TETHER_FEATURE_REQUEST ? 0 : -EOPNOTSUPP;
}

/* ---- the ring's mapping ---- */

static int run_ring(struct env *e)
{
	e->map = mmap(NULL, e->t.info.shared_size, PROT_READ, MAP_SHARED,
		      e->t.fd, e->t.info.shared_offset);
	return e->map == MAP_FAILED ? -errno : 0;
}

static void undo_ring(struct env *e)
{
	struct __test_metadata *_metadata = e->md;
	const struct tether_ring_header *h = e->map;

	if (h->entries != e->t.hdr->entries) {
		TH_LOG("ring mapping shows %u entries, not %u", h->entries,
		       e->t.hdr->entries);
		e->failed = -1;
	}
	munmap(e->map, e->t.info.shared_size);
}

/* ---- the library's cache miss ---- */

static int needs_rdma(struct env *e)
{
	return e->rdma_ok ? 0 : -ENODEV;
}

static int run_cache_get(struct env *e)
{
	e->mr = tether_cache_get(e->cache, e->buf, e->len, IBV_ACCESS_LOCAL_WRITE);
	return e->mr ? 0 : -errno;
}

static void undo_cache_get(struct env *e)
{
	struct __test_metadata *_metadata = e->md;

	long mrs = rdev_resource_count("rxe0", "mr");

	if (e->mr->addr != e->buf || e->mr->length != e->len || mrs != e->mrs + 1) {
		TH_LOG("%s: the MR does not cover the buffer, or rxe0 holds %ld MRs, not %ld",
		       e->p->name, mrs, e->mrs + 1);
		e->failed = -1;
	}
	tether_cache_put(e->cache, e->mr);
	tether_cache_flush(e->cache);
	e->mr = NULL;
}

static void cleanup_cache(struct env *e)
{
	/* a failed get must leave no entry: a second get is a miss again */
	tether_cache_flush(e->cache);
}

#define SECTION_PATHS(b, tag, need)                                          \
	{ "create_" tag, .run = run_create, .cleanup = close_fds,            \
	  .needs = need, .backing = b, .errs = E_FILE, .named = true },      \
	{ "open_" tag, .setup = setup_open, .run = run_open,                 \
	  .cleanup = close_fds, .needs = need, .backing = b,                 \
	  .errs = E_FILE, .named = true },                                   \
	{ "view_" tag, .setup = setup_open, .run = run_view,                 \
	  .check = check_view, .undo = undo_view, .cleanup = close_fds,      \
	  .needs = need, .backing = b, .errs = E_NOMEM | E_NFILE, .named = true }

#define REQUEST_PATHS(tag, m)                                                \
	{ "request_" tag, .run = run_submit, .check = check_submit,          \
	  .undo = undo_submit, .needs = needs_requests, .mode = m,           \
	  .errs = E_NOMEM | E_FAULT },                                       \
	{ "request_" tag "_all", .run = run_submit, .check = check_submit,   \
	  .undo = undo_submit, .needs = needs_requests, .mode = m,           \
	  .errs = E_NOMEM | E_FAULT, .persist = true }

static const struct path paths[] = {
	{ "secure", .run = run_secure, .undo = undo_secure, .mode = 0,
	  .errs = E_NOMEM | E_FAULT },
	{ "secure_pin", .run = run_secure, .undo = undo_secure,
	  .mode = TETHER_SECURE_PIN, .errs = E_NOMEM | E_FAULT },
	{ "secure_pin_write", .run = run_secure, .undo = undo_secure,
	  .mode = TETHER_SECURE_PIN | TETHER_SECURE_WRITE,
	  .errs = E_NOMEM | E_FAULT },
	{ "secure_grow_table", .setup = setup_grow, .run = run_grow,
	  .check = check_grow, .undo = undo_grow, .cleanup = cleanup_grow,
	  .errs = E_NOMEM | E_FAULT },
	{ "release_batch", .setup = setup_batch, .run = run_batch,
	  .cleanup = undo_secure, .errs = E_NOMEM },
	SECTION_PATHS(B_ANON, "anon", NULL),
	SECTION_PATHS(B_MEMFD, "memfd", NULL),
	SECTION_PATHS(B_TMPFS, "tmpfs", needs_backing),
	SECTION_PATHS(B_EXT4, "ext4", needs_backing),
	{ "munmap_last_view", .setup = setup_munmap, .run = run_munmap,
	  .check = check_munmap, .cleanup = cleanup_munmap, .backing = B_ANON,
	  .errs = E_NOMEM, .named = true },
	REQUEST_PATHS("sync", 0),
	REQUEST_PATHS("async", TETHER_REQUEST_ASYNC),
	REQUEST_PATHS("held", TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD),
	{ "ring_mmap", .run = run_ring, .undo = undo_ring, .errs = E_FILE },
	/*
	 * A miss that fails for lack of memory flushes the unused entries and
	 * tries again (and one that asked to widen the access tries the exact
	 * one), so one failed allocation is absorbed: the get succeeds. With
	 * every allocation from the nth on failing, it must fail.
	 */
	{ "cache_miss", .run = run_cache_get, .undo = undo_cache_get,
	  .cleanup = cleanup_cache, .needs = needs_rdma,
	  .errs = E_FILE | E_FAULT, .rdma = true },
	{ "cache_miss_all", .run = run_cache_get, .undo = undo_cache_get,
	  .cleanup = cleanup_cache, .needs = needs_rdma,
	  .errs = E_FILE | E_FAULT, .rdma = true, .persist = true },
};

#define NPATHS (sizeof(paths) / sizeof(paths[0]))
_Static_assert(NPATHS <= MAX_PATHS, "struct env counts MAX_PATHS paths");

/* The index in err_seen[] of an errno an allocation failure may give. */
static int err_index(int err)
{
	switch (err) {
	case -ENOMEM: return 0;
	case -ENOSPC: return 1;
	case -ENFILE: return 2;
	case -EFAULT: return 3;
	default: return -1;
	}
}

static bool err_allowed(const struct path *p, int err)
{
	int i = err_index(err);

	return i >= 0 && (p->errs & (1u << i));
}

/*
 * Arm fault injection for this thread: the @nth injection point from now
 * fails and, for a persisting path, every one after it (make-it-fail, with
 * failslab at probability 100 for such tasks alone).
 */
static void arm(struct env *e, int nth)
{
	char s[16];
	int n = snprintf(s, sizeof(s), "%d", nth);

	if (pwrite(e->nth_fd, s, n, 0) != n)
		e->failed = -1;
	if (e->p->persist && pwrite(e->task_fd, "1", 1, 0) != 1)
		e->failed = -1;
}

/* Disarm; whether the armed point was reached (and failed). */
static bool disarm(struct env *e)
{
	char s[16] = "";
	ssize_t n;

	if (e->p->persist && pwrite(e->task_fd, "0", 1, 0) != 1)
		e->failed = -1;
	n = pread(e->nth_fd, s, sizeof(s) - 1, 0);
	if (pwrite(e->nth_fd, "0", 1, 0) != 1 || n <= 0)
		e->failed = -1;
	return n > 0 && !strtol(s, NULL, 10);
}

/* Whether the two states differ; logs how. */
static bool state_differs(struct __test_metadata *_metadata, const struct path *p,
			  int nth, const struct state *a, const struct state *b)
{
	const struct tether_stats *x = &a->st, *y = &b->st;
	struct tether_stats l = b->lst;

	/*
	 * A failed cache get may have secured and released again (when the
	 * registration failed): both counters moved alike, the rest did not.
	 */
	if (p->rdma && l.secured - a->lst.secured == l.released - a->lst.released) {
		l.secured = a->lst.secured;
		l.released = a->lst.released;
	}
	if (a->pins != b->pins)
		TH_LOG("%s: point %d left %lld pins", p->name, nth, b->pins - a->pins);
	else if (a->fds != b->fds)
		TH_LOG("%s: point %d left a descriptor", p->name, nth);
	else if (a->mrs != b->mrs)
		TH_LOG("%s: point %d left %ld MRs on rxe0", p->name, nth,
		       b->mrs - a->mrs);
	else if (memcmp(&a->lst, &l, sizeof(l)))
		TH_LOG("%s: point %d changed the library context's stats (regions %llu -> %llu, secured %llu -> %llu, released %llu -> %llu)",
		       p->name, nth, (unsigned long long)a->lst.regions,
		       (unsigned long long)b->lst.regions,
		       (unsigned long long)a->lst.secured,
		       (unsigned long long)b->lst.secured,
		       (unsigned long long)a->lst.released,
		       (unsigned long long)b->lst.released);
	else if (memcmp(&a->cst, &b->cst, sizeof(a->cst)))
		TH_LOG("%s: point %d changed the cache's stats (entries %llu -> %llu, misses %llu -> %llu)",
		       p->name, nth, (unsigned long long)a->cst.entries,
		       (unsigned long long)b->cst.entries,
		       (unsigned long long)a->cst.misses,
		       (unsigned long long)b->cst.misses);
	else if (memcmp(x, y, sizeof(*x)))
		TH_LOG("%s: point %d changed the stats (secured %llu -> %llu, regions %llu -> %llu, pinned %llu -> %llu, submitted %llu -> %llu)",
		       p->name, nth,
		       (unsigned long long)x->secured, (unsigned long long)y->secured,
		       (unsigned long long)x->regions, (unsigned long long)y->regions,
		       (unsigned long long)x->pinned_pages,
		       (unsigned long long)y->pinned_pages,
		       (unsigned long long)x->requests_submitted,
		       (unsigned long long)y->requests_submitted);
	else
		return false;
	return true;
}

/*
 * Whether a run, failed or not, once cleaned up, left something held that
 * was not before its setup (a pin, descriptor, MR, region, request, cache
 * entry); logs what.
 */
static bool left_behind(struct __test_metadata *_metadata, const struct path *p,
			int nth, const struct state *a, const struct state *b)
{
	if (a->pins == b->pins && a->fds == b->fds && a->mrs == b->mrs &&
	    a->st.regions == b->st.regions && a->st.pinned_pages == b->st.pinned_pages &&
	    a->st.requests == b->st.requests &&
	    a->st.request_pages == b->st.request_pages &&
	    a->lst.regions == b->lst.regions &&
	    a->lst.pinned_pages == b->lst.pinned_pages &&
	    a->cst.entries == b->cst.entries &&
	    a->cst.bytes_registered == b->cst.bytes_registered)
		return false;
	TH_LOG("%s: run %d, cleaned up, left pins %lld, fds %d, MRs %ld, regions %llu+%llu, requests %llu, cache entries %llu more",
	       p->name, nth, b->pins - a->pins, b->fds - a->fds, b->mrs - a->mrs,
	       (unsigned long long)(b->st.regions - a->st.regions),
	       (unsigned long long)(b->lst.regions - a->lst.regions),
	       (unsigned long long)(b->st.requests - a->st.requests),
	       (unsigned long long)(b->cst.entries - a->cst.entries));
	return true;
}

/* No event waits in either context. */
static bool no_events(struct env *e)
{
	return !tpending(&e->t) && (!e->lctx || !tether_events_pending(e->lctx));
}

/*
 * Sweep one path: nth = 1, 2, ... until a run reaches no injection point.
 * Checks every failed run; returns the number of points that failed the
 * call, and adds those a fallback absorbed to *@absorbed.
 */
static int sweep(struct __test_metadata *_metadata, struct env *e, int *absorbed)
{
	const struct path *p = e->p;
	struct state base, before, after;
	int nth, ret, fd, points = 0;
	bool reached;

	for (nth = 1; nth <= MAX_NTH; nth++) {
		e->fd = e->sfd = -1;
		ASSERT_EQ(0, state_of(e, &base, p->rdma));
		if (p->setup)
			ASSERT_EQ(0, p->setup(e)) TH_LOG("%s: setup", p->name);
		ASSERT_EQ(0, state_of(e, &before, p->rdma));
		e->mrs = before.mrs;
		arm(e, nth);
		ret = p->run(e);
		reached = disarm(e);
		ASSERT_EQ(0, e->failed) TH_LOG("%s: fault injection unusable", p->name);
		if (!ret) {
			/*
			 * None failed, or the one that did had a fallback; with
			 * every allocation from there on failing, no fallback
			 * can help: a request must fail. A cache miss may
			 * still succeed: its last points (in ibv_reg_mr on
			 * rxe0) are allocations it completes without.
			 */
			ASSERT_FALSE(reached && p->persist && !p->rdma)
				TH_LOG("%s: allocations %d on failed, the call did not",
				       p->name, nth);
			if (p->undo)
				p->undo(e);
			if (p->cleanup)
				p->cleanup(e);
			ASSERT_EQ(0, e->failed);
			ASSERT_EQ(0, state_of(e, &after, p->rdma));
			ASSERT_FALSE(left_behind(_metadata, p, nth, &base, &after));
			if (!reached)
				break;
			(*absorbed)++;
			continue;
		}
		ASSERT_TRUE(reached)
			TH_LOG("%s: failed without an injected failure: %s",
			       p->name, strerror(-ret));
		ASSERT_TRUE(err_allowed(p, ret))
			TH_LOG("%s: injection point %d: %s", p->name, nth,
			       strerror(-ret));
		if (!e->pass)
			e->err_seen[err_index(ret)]++;
		ASSERT_EQ(0, state_of(e, &after, p->rdma));
		ASSERT_FALSE(state_differs(_metadata, p, nth, &before, &after));
		ASSERT_TRUE(no_events(e))
			TH_LOG("%s: point %d queued an event", p->name, nth);
		if (p->check)
			ASSERT_EQ(0, p->check(e))
				TH_LOG("%s: point %d left its mark", p->name, nth);
		if (p->cleanup)
			p->cleanup(e);
		ASSERT_EQ(0, e->failed);
		ASSERT_EQ(0, state_of(e, &after, p->rdma));
		ASSERT_FALSE(left_behind(_metadata, p, nth, &base, &after));
		if (p->named)
			/* the name is free again once everything is closed */
			ASSERT_EQ(-ENOENT, open_section(e, &fd))
				TH_LOG("%s: point %d left the name taken", p->name, nth);
		points++;
	}
	ASSERT_GE(MAX_NTH, nth) TH_LOG("%s: no end of injection points", p->name);
	/* failing from some point on fails the call: the oracles saw failures */
	ASSERT_TRUE(!p->persist || points > 0)
		TH_LOG("%s: no injected failure failed the call", p->name);
	return points;
}

/*
 * Every path in turn, each swept with every failed run checked: the batch
 * of the slab check. The first pass logs each path's points and time.
 */
static void sweep_all(struct __test_metadata *_metadata, void *arg)
{
	struct env *e = arg;
	double t0;
	size_t i;

	for (i = 0; i < NPATHS; i++) {
		int why, points, absorbed = 0;

		e->p = &paths[i];
		why = e->p->needs ? e->p->needs(e) : 0;
		if (why) {
			ASSERT_TRUE(e->p->needs != needs_rdma || !getenv("TETHER_KERNEL"))
				TH_LOG("%s: the test VM has no rxe0", e->p->name);
			if (!e->pass)
				TH_LOG("%s: skipped (%s)", e->p->name, strerror(-why));
			e->points[i] = -1;
			continue;
		}
		t0 = now_s();
		points = sweep(_metadata, e, &absorbed);
		if (e->pass)
			continue;
		e->points[i] = points;
		e->absorbed[i] = absorbed;
		e->seconds[i] = now_s() - t0;
		/* a path may allocate nothing (release_batch): then 0 points */
		TH_LOG("%s: %d injection points reached: %d failed the call cleanly, %d absorbed by a fallback (%.1f s)",
		       e->p->name, points + absorbed, points, absorbed, e->seconds[i]);
	}
	e->pass++;
}

static int backing_file(const char *dir, const char *leaf, size_t len)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, leaf);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && ftruncate(fd, len)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static const char *const fail_setup[][3] = {
	/* file, value while sweeping, value after */
	{ FAILSLAB "ignore-gfp-wait", "N", "Y" },
	{ FAIL_PAGE "ignore-gfp-wait", "N", "Y" },
	{ FAIL_PAGE "ignore-gfp-highmem", "N", "Y" },
	{ FAIL_PAGE "min-order", "0", "1" },
	{ FAILSLAB "verbose", "0", "2" },
	{ FAIL_PAGE "verbose", "0", "2" },
	/* for the persisting paths: tasks with make-it-fail set, alone */
	{ FAILSLAB "task-filter", "Y", "N" },
	{ FAILSLAB "interval", "1", "1" },
	{ FAILSLAB "times", "-1", "1" },
	{ FAILSLAB "space", "0", "0" },
	{ FAILSLAB "probability", "100", "0" },
};

#define NSETUP (sizeof(fail_setup) / sizeof(fail_setup[0]))

FIXTURE(failnth) {
	struct env e;
};

FIXTURE_SETUP(failnth)
{
	struct env *e = &self->e;
	size_t k;

	memset(e, 0, sizeof(*e));
	e->md = _metadata;
	e->t.fd = -1;
	e->g.fd = -1;
	if (access("/proc/thread-self/fail-nth", W_OK) ||
	    access(FAILSLAB "ignore-gfp-wait", W_OK) ||
	    access(FAIL_PAGE "ignore-gfp-wait", W_OK))
		SKIP(return, "no fault injection in this kernel (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC: the debug kernel has them, 6.1 and 6.12 do not)");
	tctx_open_or_skip(_metadata, &e->t);
	e->nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, e->nth_fd);
	e->task_fd = open("/proc/thread-self/make-it-fail", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, e->task_fd);
	for (k = 0; k < NSETUP; k++)
		ASSERT_EQ(0, write_file(fail_setup[k][0], fail_setup[k][1]))
			TH_LOG("cannot set fault injection file %zu", k);
	e->len = PAGES * page_size();
	e->buf = map_anon(e->len);
	ASSERT_NE(MAP_FAILED, e->buf);
	memset(e->buf, SENTINEL, e->len);
	e->backing_fd[B_MEMFD] = memfd_create(NAME, MFD_CLOEXEC);
	ASSERT_LE(0, e->backing_fd[B_MEMFD]);
	ASSERT_EQ(0, ftruncate(e->backing_fd[B_MEMFD], e->len));
	snprintf(e->tmpfs_dir, sizeof(e->tmpfs_dir), "/tmp/tether-tmpfs-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(e->tmpfs_dir));
	e->tmpfs_ok = !mount("tmpfs", e->tmpfs_dir, "tmpfs", 0, "size=1m");
	if (e->tmpfs_ok)
		e->backing_fd[B_TMPFS] = backing_file(e->tmpfs_dir, "f", e->len);
	e->tmpfs_ok = e->tmpfs_ok && e->backing_fd[B_TMPFS] >= 0;
	e->ext4_ok = !ext4_disk_mount(&e->disk);
	if (e->ext4_ok)
		e->backing_fd[B_EXT4] = backing_file(e->disk.dir, "f", e->len);
	e->ext4_ok = e->ext4_ok && e->backing_fd[B_EXT4] >= 0;
	if (getenv("TETHER_KERNEL")) {
		ASSERT_TRUE(e->tmpfs_ok) TH_LOG("cannot mount a tmpfs");
		ASSERT_TRUE(e->ext4_ok) TH_LOG("cannot mount an ext4 image");
	}
	e->rdma_ok = !rdev_open(&e->dev, NULL);
	if (e->rdma_ok) {
		e->lctx = tether_open();
		ASSERT_NE(NULL, e->lctx);
		e->cache = tether_cache_create(e->lctx, e->dev.pd, NULL);
		ASSERT_NE(NULL, e->cache);
		/* the oracle of the cache paths: none is blind */
		ASSERT_LE(0, rdev_resource_count("rxe0", "mr"))
			TH_LOG("no MR count for rxe0 (RDMA netlink)");
	}
}

FIXTURE_TEARDOWN(failnth)
{
	struct env *e = &self->e;
	size_t k;

	/* in reverse: probability back to 0 before the task filter goes */
	for (k = NSETUP; k-- > 0;)
		write_file(fail_setup[k][0], fail_setup[k][2]);
	if (e->cache)
		tether_cache_destroy(e->cache);
	if (e->lctx)
		tether_close(e->lctx);
	if (e->rdma_ok)
		rdev_close(&e->dev);
	for (k = 1; k < 4; k++)
		if (e->backing_fd[k] > 0)
			close(e->backing_fd[k]);
	if (e->tmpfs_ok)
		umount(e->tmpfs_dir);
	if (e->tmpfs_dir[0])
		rmdir(e->tmpfs_dir);
	if (e->ext4_ok)
		ext4_disk_unmount(&e->disk);
	tctx_close(&e->g);
	tctx_close(&e->t);
}

/*
 * Every path in turn, every failed run checked; then no slab cache grows
 * over repeated sweeps of all paths (the first sweep is the first run of
 * the slab check), and Shmem is back where it was.
 */
TEST_F_TIMEOUT(failnth, every_path, 1200)
{
	struct env *e = &self->e;
	int total = 0, absorbed = 0, swept = 0;
	long shmem0, shmem1;
	double t0;
	size_t i;

	shmem0 = meminfo_kb("Shmem");
	t0 = now_s();
	if (slab_counts_exact()) {
		ASSERT_EQ(0, slab_leaks(_metadata, 1, sweep_all, e))
			TH_LOG("the sweeps of all paths leak slab objects");
	} else {
		sweep_all(_metadata, e);
	}
	for (i = 0; i < NPATHS; i++) {
		if (e->points[i] < 0)
			continue;
		total += e->points[i];
		absorbed += e->absorbed[i];
		swept++;
	}
	TH_LOG("%d paths, %d injection points: %d failed the call (ENOMEM %d, ENOSPC %d, ENFILE %d, EFAULT %d), %d absorbed by a fallback",
	       swept, total + absorbed, total, e->err_seen[0], e->err_seen[1],
	       e->err_seen[2], e->err_seen[3], absorbed);
	TH_LOG("%d sweeps of all paths (with the slab check) in %.1f s", e->pass,
	       now_s() - t0);
	/* the sections' pages are gone with them (a page of slack per path) */
	shmem1 = meminfo_kb("Shmem");
	ASSERT_GT((long)(NPATHS * page_size() / 1024), shmem1 - shmem0)
		TH_LOG("Shmem grew from %ld kB to %ld kB", shmem0, shmem1);
}

TEST_HARNESS_MAIN
