// SPDX-License-Identifier: GPL-2.0
/*
 * The fault-injection sweep: every allocation on each ioctl path fails in
 * turn. For a path, /proc/thread-self/fail-nth is set to nth = 1, 2, ...
 * before the call, with failslab and fail_page_alloc both applying to
 * sleeping (GFP_KERNEL) allocations and to order-0 pages, until a call
 * reaches no injection point and succeeds. Each call that saw its injected
 * failure must fail with a documented errno (or succeed whole, when the
 * allocation had a fallback) and leave nothing behind: no pin
 * (nr_foll_pin_*), no descriptor (/proc/self/fd), no event, the context's
 * counters as they were, the section name free; and the sweep as a whole
 * leaves no slab object (slab_count.h). The number of injection points each
 * path reached is logged.
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

#define FAIL_PAGE "/sys/kernel/debug/fail_page_alloc/"
#define NAME "tether-failnth"
#define PAGES 4
#define MAX_NTH 2000
#define WAIT_MS 20000

struct env;

/* One path: @setup and @cleanup run without injection, @run with it. */
struct path {
	const char *name;
	int (*setup)(struct env *e);
	int (*run)(struct env *e);		/* 0 or -errno */
	void (*undo)(struct env *e);		/* after a successful run */
	void (*cleanup)(struct env *e);		/* after every run */
	int (*needs)(struct env *e);		/* 0, or why to skip (-errno) */
	int backing;				/* for the section paths */
	uint32_t mode;				/* for the request paths */
};

enum backing { B_ANON, B_MEMFD, B_TMPFS, B_EXT4 };

struct env {
	struct __test_metadata *md;
	struct tctx t;
	const struct path *p;
	int nth_fd;
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
	/* results */
	int points, failed, fallbacks;
	int err_seen[4];	/* ENOMEM, ENOSPC, ENFILE, EFAULT */
};

static int ctx_fd(struct env *e)
{
	return e->lctx ? tether_fd(e->lctx) : e->t.fd;
}

static int stats_of(int fd, struct tether_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return tether_ioctl(fd, TETHER_IOC_GET_STATS, st);
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

static void undo_submit(struct env *e)
{
	struct __test_metadata *_metadata = e->md;
	struct tether_cmd_request_complete c = { .size = sizeof(c), .id = e->id };
	struct tether_cmd_request_wait w = {
		.size = sizeof(w), .id = e->id, .timeout_ms = WAIT_MS,
	};
	struct tether_event ev;
	size_t i;

	if (e->p->mode & TETHER_REQUEST_HOLD)
		tether_ioctl(e->t.fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	if (e->p->mode & TETHER_REQUEST_ASYNC) {
		tether_ioctl(e->t.fd, TETHER_IOC_REQUEST_WAIT, &w);
		while (tnext(&e->t, &ev))
			;
	}
	for (i = 0; i < e->len - 9; i++)
		if (e->buf[3 + i] != TETHER_PATTERN_BYTE(11 + i)) {
			TH_LOG("%s: byte %zu wrong after success", e->p->name, i);
			e->failed = -1;
			break;
		}
	memset(e->buf, 0x5a, e->len);
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
	tether_cache_put(e->cache, e->mr);
	tether_cache_flush(e->cache);
	e->mr = NULL;
}

static void cleanup_cache(struct env *e)
{
	/* a failed get must leave no entry: a second get is a miss again */
	tether_cache_flush(e->cache);
}

static const struct path paths[] = {
	{ "secure", .run = run_secure, .undo = undo_secure, .mode = 0 },
	{ "secure_pin", .run = run_secure, .undo = undo_secure,
	  .mode = TETHER_SECURE_PIN },
	{ "secure_pin_write", .run = run_secure, .undo = undo_secure,
	  .mode = TETHER_SECURE_PIN | TETHER_SECURE_WRITE },
	{ "release_batch", .setup = setup_batch, .run = run_batch,
	  .cleanup = undo_secure },
	{ "create_anon", .run = run_create, .cleanup = close_fds, .backing = B_ANON },
	{ "create_memfd", .run = run_create, .cleanup = close_fds, .backing = B_MEMFD },
	{ "create_tmpfs", .run = run_create, .cleanup = close_fds,
	  .needs = needs_backing, .backing = B_TMPFS },
	{ "create_ext4", .run = run_create, .cleanup = close_fds,
	  .needs = needs_backing, .backing = B_EXT4 },
	{ "open_anon", .setup = setup_open, .run = run_open, .cleanup = close_fds,
	  .backing = B_ANON },
	{ "open_memfd", .setup = setup_open, .run = run_open, .cleanup = close_fds,
	  .backing = B_MEMFD },
	{ "open_tmpfs", .setup = setup_open, .run = run_open, .cleanup = close_fds,
	  .needs = needs_backing, .backing = B_TMPFS },
	{ "open_ext4", .setup = setup_open, .run = run_open, .cleanup = close_fds,
	  .needs = needs_backing, .backing = B_EXT4 },
	{ "request_sync", .run = run_submit, .undo = undo_submit,
	  .needs = needs_requests, .mode = 0 },
	{ "request_async", .run = run_submit, .undo = undo_submit,
	  .needs = needs_requests, .mode = TETHER_REQUEST_ASYNC },
	{ "request_held", .run = run_submit, .undo = undo_submit,
	  .needs = needs_requests, .mode = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD },
	{ "ring_mmap", .run = run_ring, .undo = undo_ring },
	{ "cache_miss", .run = run_cache_get, .undo = undo_cache_get,
	  .cleanup = cleanup_cache, .needs = needs_rdma },
};

#define NPATHS (sizeof(paths) / sizeof(paths[0]))

/* The errnos an allocation failure may give, by path kind. */
static int err_index(int err)
{
	switch (err) {
	case -ENOMEM: return 0;
	case -ENOSPC: return 1;	/* shmem cannot make its inode */
	case -ENFILE: return 2;	/* alloc_empty_file() */
	case -EFAULT: return 3;	/* GUP could not fault a page in */
	default: return -1;
	}
}

static bool err_allowed(const struct path *p, int err)
{
	int i = err_index(err);

	if (i < 0)
		return false;
	/* EFAULT only where user pages are faulted in; ENFILE only for files */
	if (i == 3)
		return p->run == run_secure || p->run == run_submit ||
		       p->run == run_cache_get;
	if (i == 2 || i == 1)
		return p->run == run_create || p->run == run_open ||
		       p->run == run_ring || p->run == run_cache_get;
	return true;
}

/* Arm fail-nth for this thread: the @nth injection point from now fails. */
static void arm(struct env *e, int nth)
{
	char s[16];
	int n = snprintf(s, sizeof(s), "%d", nth);

	if (pwrite(e->nth_fd, s, n, 0) != n)
		e->failed = -1;
}

/* Disarm; whether the armed point was reached (and failed). */
static bool disarm(struct env *e)
{
	char s[16] = "";
	ssize_t n = pread(e->nth_fd, s, sizeof(s) - 1, 0);

	if (pwrite(e->nth_fd, "0", 1, 0) != 1 || n <= 0)
		e->failed = -1;
	return n > 0 && !strtol(s, NULL, 10);
}

/*
 * Sweep one path: nth = 1, 2, ... until a run reaches no injection point.
 * Checks every failed run; counts the points in e->points.
 */
static void sweep(struct __test_metadata *_metadata, void *arg)
{
	struct env *e = arg;
	const struct path *p = e->p;
	struct tether_stats before, after;
	int nth, ret, fds, fd;
	long long pins;
	bool reached;

	e->points = 0;
	for (nth = 1; nth <= MAX_NTH; nth++) {
		e->fd = e->sfd = -1;
		if (p->setup)
			ASSERT_EQ(0, p->setup(e)) TH_LOG("%s: setup", p->name);
		ASSERT_EQ(0, stats_of(ctx_fd(e), &before));
		pins = pins_held();
		fds = fds_open();
		arm(e, nth);
		ret = p->run(e);
		reached = disarm(e);
		ASSERT_EQ(0, e->failed) TH_LOG("%s: fail-nth unusable", p->name);
		if (!ret) {
			if (p->undo)
				p->undo(e);
			if (p->cleanup)
				p->cleanup(e);
			ASSERT_EQ(0, e->failed);
			if (!reached)
				break;
			e->fallbacks++;
			continue;
		}
		ASSERT_TRUE(reached)
			TH_LOG("%s: failed without an injected failure: %s",
			       p->name, strerror(-ret));
		ASSERT_TRUE(err_allowed(p, ret))
			TH_LOG("%s: injection point %d: %s", p->name, nth,
			       strerror(-ret));
		e->err_seen[err_index(ret)]++;
		ASSERT_EQ(pins, pins_held())
			TH_LOG("%s: point %d left a pin", p->name, nth);
		ASSERT_EQ(fds, fds_open())
			TH_LOG("%s: point %d left a descriptor", p->name, nth);
		ASSERT_EQ(0, tpending(&e->t))
			TH_LOG("%s: point %d queued an event", p->name, nth);
		ASSERT_EQ(0, stats_of(ctx_fd(e), &after));
		ASSERT_EQ(0, memcmp(&before, &after, sizeof(before)))
			TH_LOG("%s: point %d changed the stats (secured %llu -> %llu, regions %llu -> %llu, pinned %llu -> %llu, submitted %llu -> %llu)",
			       p->name, nth,
			       (unsigned long long)before.secured, (unsigned long long)after.secured,
			       (unsigned long long)before.regions, (unsigned long long)after.regions,
			       (unsigned long long)before.pinned_pages,
			       (unsigned long long)after.pinned_pages,
			       (unsigned long long)before.requests_submitted,
			       (unsigned long long)after.requests_submitted);
		if (p->run == run_create) {
			/* the name is free again */
			ASSERT_EQ(-ENOENT, open_section(e, &fd))
				TH_LOG("%s: point %d left the name taken", p->name, nth);
		}
		if (p->cleanup)
			p->cleanup(e);
		e->points++;
	}
	ASSERT_GE(MAX_NTH, nth) TH_LOG("%s: no end of injection points", p->name);
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
	if (access("/proc/thread-self/fail-nth", W_OK) ||
	    access(FAILSLAB "ignore-gfp-wait", W_OK) ||
	    access(FAIL_PAGE "ignore-gfp-wait", W_OK))
		SKIP(return, "no fault injection in this kernel (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC: the debug kernel has them, 6.1 and 6.12 do not)");
	tctx_open_or_skip(_metadata, &e->t);
	e->nth_fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, e->nth_fd);
	for (k = 0; k < NSETUP; k++)
		ASSERT_EQ(0, write_file(fail_setup[k][0], fail_setup[k][1]))
			TH_LOG("cannot set fault injection file %zu", k);
	e->len = PAGES * page_size();
	e->buf = map_anon(e->len);
	ASSERT_NE(MAP_FAILED, e->buf);
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
	}
}

FIXTURE_TEARDOWN(failnth)
{
	struct env *e = &self->e;
	size_t k;

	for (k = 0; k < NSETUP; k++)
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
	tctx_close(&e->t);
}

/*
 * Every path in turn: the sweep once with every failed run checked, then
 * (the sweep as the batch) no slab cache grows.
 */
TEST_F_TIMEOUT(failnth, every_path, 1200)
{
	struct env *e = &self->e;
	int total = 0, swept = 0;
	size_t i;

	for (i = 0; i < NPATHS; i++) {
		int why;

		e->p = &paths[i];
		why = e->p->needs ? e->p->needs(e) : 0;
		if (why) {
			ASSERT_TRUE(e->p->needs != needs_rdma || !getenv("TETHER_KERNEL"))
				TH_LOG("%s: the test VM has no rxe0", e->p->name);
			TH_LOG("%s: skipped (%s)", e->p->name, strerror(-why));
			continue;
		}
		sweep(_metadata, e);
		/* a path may allocate nothing (release_batch): then 0 points */
		TH_LOG("%s: %d injection points reached, each failed cleanly",
		       e->p->name, e->points);
		total += e->points;
		swept++;
		if (slab_counts_exact())
			ASSERT_EQ(0, slab_leaks(_metadata, 1, sweep, e))
				TH_LOG("%s: the sweep leaks slab objects", e->p->name);
	}
	TH_LOG("%d paths, %d injection points (ENOMEM %d, ENOSPC %d, ENFILE %d, EFAULT %d; %d succeeded through a fallback)",
	       swept, total, e->err_seen[0], e->err_seen[1], e->err_seen[2],
	       e->err_seen[3], e->fallbacks);
}

TEST_HARNESS_MAIN
