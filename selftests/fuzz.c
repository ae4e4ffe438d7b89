// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded fuzzer of tether's ABI. Several threads issue random calls on
 * /dev/tether and section descriptors: every ioctl with structurally
 * plausible arguments (mostly valid, then mutated: sizes of min-1, page+1,
 * huge; unknown flags; reserved bytes; stale, foreign and random handles
 * and request ids; pointers into unmapped memory, read-only and PROT_NONE
 * pages, kernel addresses), read() of odd sizes, poll(), mmap() of the
 * ring and of views, mmap/munmap/mremap/madvise/mprotect of an arena that
 * holds the secured ranges, the rings and the views, dup() and close()
 * racing the other threads' calls, fork() (the child uses the inherited
 * descriptors), exec, and SIGKILL of children with requests in flight or
 * blocked in TETHER_IOC_REQUEST_WAIT.
 *
 * The run is cut into phases; after each, with every thread stopped, the
 * oracles: each context's TETHER_IOC_GET_STATS is consistent with itself;
 * once every descriptor is closed, no context of ours is left in the
 * debugfs view, nr_foll_pin_acquired == nr_foll_pin_released again
 * (/proc/vmstat), and /proc/self/fd holds what it held before. At the end,
 * short phases run under slab_leaks() (no slab cache grows phase after
 * phase), except with TETHER_QUICK (the debug kernel, where kmemleak is
 * the leak check). A read() that returns a partial record is reported, unless the
 * descriptor no longer is /dev/tether (another thread closed it and the
 * number was reused: counted as "reused").
 *
 *   fuzz [--seed N] [--seconds N] [--threads N]
 *
 * Without --seconds, TETHER_FUZZ_SECONDS or 20. The seed (random unless
 * given) is printed; --seed N replays each thread's sequence of calls
 * (the interleaving of the threads is the scheduler's).
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "tether_test.h"
#include "slab_count.h"

#define MAX_THREADS 16
#define NCTX 6
#define NSEC 8
#define NHANDLES 256
#define NREQS 64
#define ARENA_PAGES 512
/*
 * PROT_NONE pages kept on both sides of the arena, never mapped over:
 * buffers and lengths the calls give the kernel start in the arena and may
 * run past its end (a request of length page + 1 at its last page, a
 * read() of 4095 bytes, a length of up to 1 MiB), and beyond the arena lie
 * the process's own mappings (seen: the main thread's TCB, right above it,
 * overwritten by a request's pattern, then a general protection fault in
 * libc). The kernel did what it was asked; past a guard it refuses it
 * (EFAULT) instead.
 */
#define GUARD_BYTES ((1 << 20) + (64 << 10))
#define KERNEL_ADDR 0xffff888000000000ULL

static uint64_t opt_seed;
static bool opt_seed_set;
static long opt_seconds = -1;
static long opt_phase_ms = 2000;
/* where a run's time goes: calls, stopping the threads, closing and waiting */
static double t_calls, t_stop, t_settle;
static int opt_threads = 4;

/* What the threads share: descriptors and ids to pick from, all racy. */
static struct {
	pthread_mutex_t lock;
	int ctx[NCTX];
	int sec[NSEC];
	uint64_t handles[NHANDLES];
	uint64_t reqs[NREQS];
	char *arena;
	size_t ps;
	dev_t tether_rdev;
	atomic_bool stop;
	atomic_ulong calls, reused, partial, children;
	int memfd;		/* /proc/self/mem, to touch any arena page */
} fz = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct thr {
	pthread_t tid;
	uint64_t rng;
	int idx;
	char *buf;		/* two read-write pages, then a PROT_NONE page */
	char *ro;		/* one read-only page */
};

static uint64_t rnd(struct thr *t)
{
	/* splitmix64 */
	uint64_t z = (t->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t below(struct thr *t, uint64_t n)
{
	return n ? rnd(t) % n : 0;
}

static bool one_in(struct thr *t, unsigned int n)
{
	return below(t, n) == 0;
}

static void count(void)
{
	atomic_fetch_add_explicit(&fz.calls, 1, memory_order_relaxed);
}

/* ---- the pools ---- */

static int pick_fd(struct thr *t, int *arr, int n)
{
	int fd;

	pthread_mutex_lock(&fz.lock);
	fd = arr[below(t, n)];
	pthread_mutex_unlock(&fz.lock);
	return fd;
}

static void put_fd(struct thr *t, int *arr, int n, int fd)
{
	int i = below(t, n), old;

	pthread_mutex_lock(&fz.lock);
	old = arr[i];
	arr[i] = fd;
	pthread_mutex_unlock(&fz.lock);
	if (old >= 0)
		close(old);	/* another thread may be using it: on purpose */
}

static void take_close(struct thr *t, int *arr, int n)
{
	put_fd(t, arr, n, -1);
}

static void put_id(struct thr *t, uint64_t *arr, int n, uint64_t id)
{
	pthread_mutex_lock(&fz.lock);
	arr[below(t, n)] = id;
	pthread_mutex_unlock(&fz.lock);
}

static uint64_t pick_id(struct thr *t, uint64_t *arr, int n)
{
	uint64_t id;

	switch (below(t, 10)) {
	case 0:
		return 0;
	case 1:
		return ~0ULL;
	case 2:
		return below(t, 4096);
	default:
		pthread_mutex_lock(&fz.lock);
		id = arr[below(t, n)];
		pthread_mutex_unlock(&fz.lock);
		return id;
	}
}

/* Any descriptor: mostly a context, else a section, else a stray number. */
static int any_fd(struct thr *t)
{
	switch (below(t, 12)) {
	case 0:
		return pick_fd(t, fz.sec, NSEC);
	case 1:
		return (int)below(t, 64);
	case 2:
		return -1;
	default:
		return pick_fd(t, fz.ctx, NCTX);
	}
}

/* ---- addresses and lengths ---- */

static char *arena_page(struct thr *t, size_t *npages)
{
	size_t first = below(t, ARENA_PAGES);
	size_t max = ARENA_PAGES - first;

	*npages = 1 + (one_in(t, 32) ? below(t, max) : below(t, max < 8 ? max : 8));
	return fz.arena + first * fz.ps;
}

/* A user pointer for a buffer the kernel follows. */
static uint64_t user_ptr(struct thr *t)
{
	size_t n;

	switch (below(t, 16)) {
	case 0:
		return 0;
	case 1:
		return KERNEL_ADDR + below(t, 1 << 20) * 8;
	case 2:
		return (uintptr_t)t->ro;
	case 3:
		return (uintptr_t)t->buf + 2 * fz.ps;	/* the guard page */
	case 4:
		return (uintptr_t)t->buf + 2 * fz.ps - 8;	/* runs into it */
	case 5:
		return ~0ULL - below(t, 4096);
	case 6:
		return (uintptr_t)t->buf;
	default:
		return (uintptr_t)arena_page(t, &n) + (one_in(t, 4) ? below(t, fz.ps) : 0);
	}
}

static uint64_t length(struct thr *t, size_t npages)
{
	switch (below(t, 14)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return fz.ps + 1;
	case 3:
		return fz.ps - 1;
	case 4:
		return 1ULL << 40;
	case 5:
		return ~0ULL - below(t, 4096);
	case 6:
		return below(t, 1 << 20);
	default:
		return npages * fz.ps;
	}
}

static uint32_t flags_of(struct thr *t, uint32_t valid)
{
	switch (below(t, 10)) {
	case 0:
		return 1U << below(t, 32);
	case 1:
		return (uint32_t)rnd(t);
	default:
		return (uint32_t)below(t, valid + 1) & valid;
	}
}

/*
 * Issue @cmd with @arg (@ksize bytes, a plausible structure) after
 * mutating its size and where it lives: in the caller's buffer, at the end
 * of a page before PROT_NONE, in a read-only page, at a bad address.
 * Returns -errno or 0; the reply (if any) is copied back into @arg.
 */
static int issue(struct thr *t, int fd, unsigned long cmd, void *karg, size_t ksize)
{
	uint64_t tmp[64];	/* room for a structure "from the future" */
	char *arg = (char *)tmp;
	uint32_t *sz = (uint32_t *)tmp;
	size_t span = ksize;
	char *where;
	int ret;

	memcpy(arg, karg, ksize);
	switch (below(t, 20)) {
	case 0:
		*sz = (uint32_t)below(t, ksize);	/* below any version */
		break;
	case 1:
		*sz = fz.ps + 1;
		break;
	case 2:
		*sz = (uint32_t)rnd(t);
		break;
	case 3:			/* a newer structure, zero tail */
		*sz = ksize + 8;
		span = ksize + 8;
		memset(arg + ksize, 0, 8);
		break;
	case 4:			/* a newer structure, non-zero tail */
		*sz = ksize + 8;
		span = ksize + 8;
		memset(arg + ksize, 0xa5, 8);
		break;
	case 5:			/* a random reserved or padding byte */
		arg[8 + below(t, ksize - 8)] ^= 1 << below(t, 8);
		break;
	default:
		*sz = ksize;
	}
	switch (below(t, 24)) {
	case 0:
		count();
		return tether_ioctl(fd, cmd, (void *)(uintptr_t)user_ptr(t));
	case 1:
		where = t->ro + fz.ps - span;
		mprotect(t->ro, fz.ps, PROT_READ | PROT_WRITE);
		memcpy(where, arg, span);
		mprotect(t->ro, fz.ps, PROT_READ);
		count();
		return tether_ioctl(fd, cmd, where);
	case 2:			/* the last bytes cross into PROT_NONE */
		where = t->buf + 2 * fz.ps - span + 4 + below(t, 4);
		memcpy(where, arg, span - 8);
		count();
		return tether_ioctl(fd, cmd, where);
	default:
		where = t->buf + 2 * fz.ps - span;	/* ends at the guard */
		memcpy(where, arg, span);
		count();
		ret = tether_ioctl(fd, cmd, where);
		memcpy(karg, where, ksize);
		return ret;
	}
}

/* ---- the calls ---- */

static void op_info(struct thr *t)
{
	struct tether_info info = { .flags = flags_of(t, 0) };

	issue(t, any_fd(t), TETHER_IOC_GET_INFO, &info, sizeof(info));
}

static void op_secure(struct thr *t)
{
	size_t n;
	char *p = arena_page(t, &n);
	struct tether_cmd_secure s = {
		.flags = flags_of(t, TETHER_SECURE_PIN | TETHER_SECURE_WRITE),
		.addr = one_in(t, 8) ? user_ptr(t) : (uintptr_t)p +
			(one_in(t, 4) ? below(t, fz.ps) : 0),
		.length = length(t, n),
		.cookie = rnd(t),
	};

	if (!issue(t, any_fd(t), TETHER_IOC_SECURE, &s, sizeof(s)))
		put_id(t, fz.handles, NHANDLES, s.handle);
}

static void op_release(struct thr *t)
{
	struct tether_cmd_release r = {
		.flags = flags_of(t, 0),
		.handle = pick_id(t, fz.handles, NHANDLES),
	};

	issue(t, any_fd(t), TETHER_IOC_RELEASE, &r, sizeof(r));
}

static void op_release_batch(struct thr *t)
{
	uint64_t h[32];
	unsigned int i, n = 1 + below(t, 32);
	struct tether_cmd_release_batch b = { .flags = flags_of(t, 0) };

	for (i = 0; i < n; i++)
		h[i] = pick_id(t, fz.handles, NHANDLES);
	b.handles = one_in(t, 5) ? user_ptr(t) : (uintptr_t)h;
	switch (below(t, 8)) {
	case 0:
		b.count = 0;
		break;
	case 1:
		b.count = TETHER_RELEASE_BATCH_MAX + 1;
		break;
	case 2:
		b.count = n + 1 + below(t, 64);	/* past the array */
		break;
	default:
		b.count = n;
	}
	issue(t, any_fd(t), TETHER_IOC_RELEASE_BATCH, &b, sizeof(b));
}

static void op_rearm(struct thr *t)
{
	struct tether_cmd_rearm r = { .flags = flags_of(t, 0) };

	issue(t, any_fd(t), TETHER_IOC_REARM, &r, sizeof(r));
}

static void op_stats(struct thr *t)
{
	struct tether_stats st = { .flags = flags_of(t, 0) };
	size_t first = offsetof(struct tether_stats, requests);

	issue(t, any_fd(t), TETHER_IOC_GET_STATS, &st, one_in(t, 3) ? first : sizeof(st));
}

static void name_of(struct thr *t, char *name)
{
	memset(name, 0, TETHER_SECTION_NAME_MAX);
	switch (below(t, 8)) {
	case 0:
		break;		/* unnamed, or "" for open: EINVAL */
	case 1:
		memset(name, 'n', TETHER_SECTION_NAME_MAX);	/* no NUL */
		break;
	case 2:
		snprintf(name, TETHER_SECTION_NAME_MAX, "fz%d", (int)below(t, 4));
		name[TETHER_SECTION_NAME_MAX - 1] = 'x';	/* junk after NUL */
		break;
	default:
		snprintf(name, TETHER_SECTION_NAME_MAX, "fuzz-%d-%d", getpid(),
			 (int)below(t, 6));
	}
}

static void op_section_create(struct thr *t)
{
	struct tether_cmd_section_create c = {
		.flags = flags_of(t, TETHER_SECTION_CREATE_EXTEND),
		.length = one_in(t, 4) ? length(t, 4) : (1 + below(t, 16)) * fz.ps,
		.max_prot = flags_of(t, TETHER_SECTION_READ | TETHER_SECTION_WRITE),
		.backing_fd = -1,
	};
	int mfd = -1;

	if (one_in(t, 3)) {
		mfd = memfd_create("fuzz", MFD_CLOEXEC | (one_in(t, 4) ? MFD_ALLOW_SEALING : 0));
		if (mfd >= 0 && ftruncate(mfd, below(t, 16) * fz.ps + below(t, 2))) {
			close(mfd);
			mfd = -1;
		}
		c.backing_fd = mfd;
	} else if (one_in(t, 10)) {
		c.backing_fd = any_fd(t);
	}
	name_of(t, c.name);
	if (!issue(t, pick_fd(t, fz.ctx, NCTX), TETHER_IOC_SECTION_CREATE, &c, sizeof(c)))
		put_fd(t, fz.sec, NSEC, c.fd);
	if (mfd >= 0)
		close(mfd);
}

static void op_section_open(struct thr *t)
{
	struct tether_cmd_section_open o = {
		.flags = flags_of(t, 0),
		.access = flags_of(t, TETHER_SECTION_READ | TETHER_SECTION_WRITE),
	};

	name_of(t, o.name);
	if (!issue(t, any_fd(t), TETHER_IOC_SECTION_OPEN, &o, sizeof(o)))
		put_fd(t, fz.sec, NSEC, o.fd);
}

static void op_section_query(struct thr *t)
{
	struct tether_section_info i = { .flags = flags_of(t, 0) };
	int fd = one_in(t, 6) ? any_fd(t) : pick_fd(t, fz.sec, NSEC);

	issue(t, fd, TETHER_IOC_SECTION_QUERY, &i, sizeof(i));
}

static void op_submit(struct thr *t)
{
	size_t n;
	char *p = arena_page(t, &n);
	struct tether_cmd_request_submit s = {
		.flags = flags_of(t, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD),
		.source = TETHER_SOURCE_PATTERN,
		.source_fd = -1,
		.source_offset = one_in(t, 8) ? rnd(t) : below(t, 1 << 20),
		.addr = one_in(t, 8) ? user_ptr(t) : (uintptr_t)p + below(t, 64),
		.length = one_in(t, 4) ? length(t, n) : 1 + below(t, n * fz.ps - 64),
		.cookie = rnd(t),
	};

	if (one_in(t, 3)) {
		s.source = TETHER_SOURCE_SECTION;
		s.source_fd = one_in(t, 5) ? any_fd(t) : pick_fd(t, fz.sec, NSEC);
		s.source_offset = below(t, 4 * fz.ps);
	} else if (one_in(t, 20)) {
		s.source = (uint32_t)below(t, 8);
	}
	if (!issue(t, any_fd(t), TETHER_IOC_REQUEST_SUBMIT, &s, sizeof(s)))
		put_id(t, fz.reqs, NREQS, s.id);
}

static void op_complete(struct thr *t)
{
	struct tether_cmd_request_complete c = {
		.flags = flags_of(t, 0),
		.id = pick_id(t, fz.reqs, NREQS),
		.status = one_in(t, 2) ? 0 : -(int)below(t, 4200),
	};

	if (one_in(t, 10))
		c.status = (int)rnd(t);
	issue(t, any_fd(t), TETHER_IOC_REQUEST_COMPLETE, &c, sizeof(c));
}

static void op_cancel(struct thr *t)
{
	struct tether_cmd_request_cancel c = {
		.flags = flags_of(t, 0),
		.id = pick_id(t, fz.reqs, NREQS),
	};

	issue(t, any_fd(t), TETHER_IOC_REQUEST_CANCEL, &c, sizeof(c));
}

static void op_wait(struct thr *t)
{
	struct tether_cmd_request_wait w = {
		.flags = flags_of(t, 0),
		.id = pick_id(t, fz.reqs, NREQS),
		.timeout_ms = (uint32_t)below(t, 20),
	};

	issue(t, any_fd(t), TETHER_IOC_REQUEST_WAIT, &w, sizeof(w));
}

/* read() of an odd size: whole records only, or an errno. */
static void op_read(struct thr *t)
{
	static const size_t sizes[] = { 0, 1, 63, 64, 65, 127, 128, 129, 191, 193, 4095 };
	int fd = pick_fd(t, fz.ctx, NCTX);
	size_t len = sizes[below(t, sizeof(sizes) / sizeof(sizes[0]))];
	char *buf = t->buf;
	struct stat st;
	ssize_t r;

	if (one_in(t, 6))
		buf = (char *)(uintptr_t)user_ptr(t);
	else if (len <= fz.ps)
		buf = t->buf + 2 * fz.ps - len;	/* ends at the guard page */
	if (len > 2 * fz.ps)
		len = 2 * fz.ps;
	count();
	r = read(fd, buf, len);
	if (r <= 0 || r % sizeof(struct tether_event) == 0)
		return;
	/*
	 * Not a whole number of records: a bug if fd still is /dev/tether;
	 * otherwise another thread closed it and the number now names
	 * another file (a memfd, a section): the 65-byte lead.
	 */
	if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == fz.tether_rdev) {
		atomic_fetch_add(&fz.partial, 1);
		fprintf(stderr, "# read(%d, %zu) on /dev/tether returned %zd\n", fd, len, r);
	} else {
		atomic_fetch_add(&fz.reused, 1);
	}
}

static void op_poll(struct thr *t)
{
	struct pollfd p[2] = {
		{ .fd = pick_fd(t, fz.ctx, NCTX), .events = POLLIN },
		{ .fd = any_fd(t), .events = POLLIN | POLLOUT },
	};

	count();
	poll(p, 2, (int)below(t, 3));
}

static void op_open(struct thr *t)
{
	int fd;

	count();
	fd = open(TETHER_DEV, (one_in(t, 8) ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		put_fd(t, fz.ctx, NCTX, fd);
}

static void op_close_dup(struct thr *t)
{
	int fd;

	switch (below(t, 4)) {
	case 0:
		if (one_in(t, 8))	/* contexts are dear: see op_open() */
			take_close(t, fz.ctx, NCTX);
		break;
	case 1:
		take_close(t, fz.sec, NSEC);
		break;
	default:
		count();
		fd = fcntl(any_fd(t), F_DUPFD_CLOEXEC, 0);
		if (fd >= 0)
			put_fd(t, one_in(t, 2) ? fz.ctx : fz.sec, one_in(t, 2) ? NCTX : NSEC, fd);
	}
}

/* mmap() of the ring, the shared area or a view into the arena. */
static void op_mmap_tether(struct thr *t)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_NONE,
				     PROT_READ | PROT_EXEC };
	size_t n;
	char *p = arena_page(t, &n);
	int fd, flags = MAP_FIXED | (one_in(t, 6) ? MAP_PRIVATE : MAP_SHARED);
	off_t off = 0;

	if (one_in(t, 2)) {
		fd = pick_fd(t, fz.sec, NSEC);
		off = (off_t)(below(t, 4) * fz.ps);
	} else {
		fd = pick_fd(t, fz.ctx, NCTX);
		off = one_in(t, 2) ? 0x1000 * (off_t)below(t, 4) : (off_t)(below(t, 3) << 28);
		if (one_in(t, 2))
			n = 1;
	}
	if (one_in(t, 2))
		flags |= MAP_POPULATE;
	count();
	mmap(p, n * fz.ps, prots[below(t, 4)], flags, fd, off);
}

/* The arena: remap, protect, advise, unmap (as PROT_NONE), touch. */
static void op_arena(struct thr *t)
{
	static const int advice[] = { MADV_DONTNEED, MADV_FREE, MADV_PAGEOUT,
				      MADV_COLD, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
				      MADV_WIPEONFORK, MADV_KEEPONFORK,
				      MADV_DONTFORK, MADV_DOFORK,
				      MADV_POPULATE_READ, MADV_POPULATE_WRITE };
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };
	size_t n, m;
	char *p = arena_page(t, &n), *q, c;

	count();
	switch (below(t, 10)) {
	case 0:
	case 1:			/* fresh anonymous memory */
		mmap(p, n * fz.ps, PROT_READ | PROT_WRITE,
		     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS |
		     (one_in(t, 4) ? MAP_POPULATE : 0), -1, 0);
		break;
	case 2:			/* "munmap": replaced, the arena stays ours */
		mmap(p, n * fz.ps, PROT_NONE,
		     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		break;
	case 3:
		mprotect(p, n * fz.ps, prots[below(t, 3)]);
		break;
	case 4:
	case 5:
		madvise(p, n * fz.ps, advice[below(t, sizeof(advice) / sizeof(advice[0]))]);
		break;
	case 6:			/* move pages elsewhere in the arena */
		q = arena_page(t, &m);
		if (q + n * fz.ps > fz.arena + ARENA_PAGES * fz.ps)
			break;
		if (q + n * fz.ps <= p || p + n * fz.ps <= q)
			mremap(p, n * fz.ps, n * fz.ps,
			       MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, q);
		break;
	case 7:			/* shrink in place, then plug the hole */
		if (n < 2)
			break;
		if (mremap(p, n * fz.ps, fz.ps, 0) != MAP_FAILED)
			mmap(p + fz.ps, (n - 1) * fz.ps, PROT_NONE,
			     MAP_FIXED_NOREPLACE | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	default:		/* touch through /proc/self/mem: no fault here */
		c = (char)rnd(t);
		if (one_in(t, 2)) {
			if (pwrite(fz.memfd, &c, 1, (off_t)(uintptr_t)(p + below(t, n * fz.ps))) < 0)
				errno = 0;
		} else if (pread(fz.memfd, &c, 1, (off_t)(uintptr_t)p) < 0) {
			errno = 0;
		}
	}
}

/* The body of a forked child: a few raw calls, then exit or exec. */
static void child(struct thr *t, int how)
{
	struct tether_cmd_request_submit s = {
		.size = sizeof(s), .flags = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
		.source = TETHER_SOURCE_PATTERN, .source_fd = -1, .length = fz.ps,
	};
	struct tether_cmd_request_wait w = { .size = sizeof(w), .timeout_ms = 60000 };
	struct tether_cmd_secure sec = { .size = sizeof(sec), .flags = TETHER_SECURE_PIN,
				     .length = fz.ps };
	char *page = mmap(NULL, fz.ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	int fd, i;

	/* the inherited descriptors: EPERM, the child is not the owner */
	for (i = 0; i < 8; i++) {
		switch (below(t, 4)) {
		case 0:
			op_read(t);
			break;
		case 1:
			op_secure(t);
			break;
		case 2:
			op_submit(t);
			break;
		default:
			op_wait(t);
		}
	}
	fd = open(TETHER_DEV, O_RDWR);
	if (fd < 0 || page == MAP_FAILED)
		_exit(0);
	sec.addr = (uintptr_t)page;
	ioctl(fd, TETHER_IOC_SECURE, &sec);
	s.addr = (uintptr_t)page;
	if (ioctl(fd, TETHER_IOC_REQUEST_SUBMIT, &s) == 0)
		w.id = s.id;
	if (how == 1)	/* exec with everything held */
		execl("/bin/true", "true", (char *)NULL);
	/* blocked in REQUEST_WAIT until the parent kills it */
	ioctl(fd, TETHER_IOC_REQUEST_WAIT, &w);
	_exit(0);
}

static void op_fork(struct thr *t)
{
	int how = (int)below(t, 3), status, i;
	pid_t pid;

	count();
	pid = fork();
	if (pid == 0) {
		/* another thread may have held it at fork(): this copy is ours */
		pthread_mutex_init(&fz.lock, NULL);
		t->rng ^= 0x5eed;
		child(t, how);
	}
	if (pid < 0)
		return;
	atomic_fetch_add(&fz.children, 1);
	if (how != 1) {
		struct timespec ts = { 0, (long)below(t, 20) * 1000000 };

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	} else {
		/* the exec'ing child gets 5 s (a child of a threaded fork may hang) */
		for (i = 0; i < 500 && !waitpid(pid, &status, WNOHANG); i++)
			usleep(10000);
		if (i < 500)
			return;
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
}

static void *worker(void *arg)
{
	static void (*const ops[])(struct thr *) = {
		op_info, op_secure, op_secure, op_secure, op_release, op_release,
		op_release_batch, op_rearm, op_stats, op_section_create,
		op_section_open, op_section_query, op_submit, op_submit,
		op_complete, op_cancel, op_wait, op_read, op_read, op_poll,
		op_close_dup, op_mmap_tether, op_arena, op_arena,
		op_arena, op_arena,
	};
	struct thr *t = arg;

	while (!atomic_load_explicit(&fz.stop, memory_order_relaxed)) {
		if (one_in(t, 500))
			op_fork(t);
		else if (one_in(t, 100))
			op_open(t);	/* a context costs a ring: 100 pages */
		else
			ops[below(t, sizeof(ops) / sizeof(ops[0]))](t);
	}
	return NULL;
}

/* ---- phases and oracles ---- */

/* Lines of the debugfs view that belong to this process (-1: no view). */
static int debugfs_contexts(void)
{
	FILE *f = fopen("/sys/kernel/debug/tether/contexts", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += atoi(line) == getpid();
	fclose(f);
	return n;
}

/* Each open context's counters must agree with each other. */
static int check_stats(struct __test_metadata *_metadata)
{
	int i, bad = 0;

	for (i = 0; i < NCTX; i++) {
		struct tether_stats st = { .size = sizeof(st) };

		if (fz.ctx[i] < 0 || tether_ioctl(fz.ctx[i], TETHER_IOC_GET_STATS, &st))
			continue;
		if (st.regions != st.secured - st.released ||
		    st.request_pages > st.pinned_pages ||
		    st.requests > st.requests_submitted ||
		    st.requests_succeeded + st.requests_failed +
		    st.requests_cancelled > st.requests_submitted ||
		    st.invalidated > st.secured || st.overflows > st.events) {
			TH_LOG("context %d: inconsistent stats: regions %llu secured %llu released %llu pinned %llu request_pages %llu requests %llu submitted %llu ok %llu failed %llu cancelled %llu invalidated %llu events %llu overflows %llu",
			       fz.ctx[i], (unsigned long long)st.regions,
			       (unsigned long long)st.secured, (unsigned long long)st.released,
			       (unsigned long long)st.pinned_pages,
			       (unsigned long long)st.request_pages,
			       (unsigned long long)st.requests,
			       (unsigned long long)st.requests_submitted,
			       (unsigned long long)st.requests_succeeded,
			       (unsigned long long)st.requests_failed,
			       (unsigned long long)st.requests_cancelled,
			       (unsigned long long)st.invalidated,
			       (unsigned long long)st.events,
			       (unsigned long long)st.overflows);
			bad++;
		}
	}
	return bad;
}

static void close_all(void)
{
	int i;

	for (i = 0; i < NCTX; i++) {
		if (fz.ctx[i] >= 0)
			close(fz.ctx[i]);
		fz.ctx[i] = -1;
	}
	for (i = 0; i < NSEC; i++) {
		if (fz.sec[i] >= 0)
			close(fz.sec[i]);
		fz.sec[i] = -1;
	}
	/* views and rings go: the arena is plain reserved memory again */
	mmap(fz.arena, ARENA_PAGES * fz.ps, PROT_NONE,
	     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

static struct thr thr[MAX_THREADS];

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (b->tv_nsec - a->tv_nsec) / 1e9;
}

/* One phase of @ms milliseconds with every thread; returns the oracles' failures. */
static int phase(struct __test_metadata *_metadata, uint64_t seed, long ms,
		 int base_fds, long long base_pins)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 }, t0, t1, t2, t3;
	int i, bad, n;
	long long pins = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);

	for (i = 0; i < NCTX / 2; i++)
		fz.ctx[i] = open(TETHER_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	atomic_store(&fz.stop, false);
	for (i = 0; i < opt_threads; i++) {
		thr[i].rng = seed * MAX_THREADS + i;
		thr[i].idx = i;
		pthread_create(&thr[i].tid, NULL, worker, &thr[i]);
	}
	nanosleep(&ts, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&fz.stop, true);
	for (i = 0; i < opt_threads; i++)
		pthread_join(thr[i].tid, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t2);

	bad = check_stats(_metadata);
	close_all();
	/* a context lets go of its ranges shortly after the last close */
	for (i = 0; i < 100; i++) {
		pins = pins_held() - base_pins;
		n = debugfs_contexts();
		if (pins == 0 && n <= 0)
			break;
		usleep(100000);
	}
	clock_gettime(CLOCK_MONOTONIC, &t3);
	t_calls += ts_diff(&t0, &t1);
	t_stop += ts_diff(&t1, &t2);
	t_settle += ts_diff(&t2, &t3);
	if (pins) {
		TH_LOG("phase %llu: %lld pins still held after every context closed",
		       (unsigned long long)seed, pins);
		bad++;
	}
	if (n > 0) {
		TH_LOG("phase %llu: %d contexts of ours left in debugfs", (unsigned long long)seed, n);
		bad++;
	}
	n = fds_open();
	if (n != base_fds) {
		TH_LOG("phase %llu: %d descriptors open, %d before", (unsigned long long)seed,
		       n, base_fds);
		bad++;
	}
	if (atomic_load(&fz.partial)) {
		TH_LOG("phase %llu: read() returned a partial record", (unsigned long long)seed);
		bad++;
	}
	return bad;
}

struct slab_arg {
	uint64_t seed;
	int base_fds;
	long long base_pins;
	int bad;
};

static void slab_batch(struct __test_metadata *_metadata, void *arg)
{
	struct slab_arg *a = arg;

	a->bad += phase(_metadata, a->seed++, 1000, a->base_fds, a->base_pins);
}

static void thread_buffers(void)
{
	int i;

	for (i = 0; i < MAX_THREADS; i++) {
		thr[i].buf = mmap(NULL, 4 * fz.ps, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		thr[i].ro = thr[i].buf + 3 * fz.ps;
		mprotect(thr[i].buf + 2 * fz.ps, fz.ps, PROT_NONE);
		mprotect(thr[i].ro, fz.ps, PROT_READ);
	}
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* the time limit is --seconds': the harness's alarm only catches a hang */
TEST_F_TIMEOUT(fuzz, run, 86400)
{
	long seconds = opt_seconds;
	const char *env = getenv("TETHER_FUZZ_SECONDS");
	struct slab_arg sa;
	struct timespec t0, t1;
	struct stat st;
	unsigned long calls;
	double took;
	int i, bad = 0, phases = 0, base_fds, fd;
	long long base_pins;

	if (seconds < 0)
		seconds = env && *env ? atol(env) : 20;
	if (!opt_seed_set)
		opt_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("# fuzz: --seed %llu --seconds %ld --threads %d --phase-seconds %g\n",
	       (unsigned long long)opt_seed, seconds, opt_threads, opt_phase_ms / 1000.0);
	fd = open(TETHER_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		SKIP(return, "%s absent: tether.ko not loaded", TETHER_DEV);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	close(fd);
	fz.tether_rdev = st.st_rdev;
	fz.ps = page_size();
	fz.memfd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fz.memfd);
	fz.arena = mmap(NULL, ARENA_PAGES * fz.ps + 2 * GUARD_BYTES, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, fz.arena);
	fz.arena += GUARD_BYTES;
	thread_buffers();
	for (i = 0; i < NCTX; i++)
		fz.ctx[i] = -1;
	for (i = 0; i < NSEC; i++)
		fz.sec[i] = -1;
	/* no stray SIGPIPE or SIGCHLD business from the children */
	signal(SIGPIPE, SIG_IGN);
	base_fds = fds_open();
	base_pins = pins_held();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		bad += phase(_metadata, opt_seed + phases, opt_phase_ms, base_fds, base_pins);
		phases++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = ts_diff(&t0, &t1);
	} while (!bad && took < seconds - 2 * opt_phase_ms / 1000.0);
	calls = atomic_load(&fz.calls);
	printf("# fuzz: %lu calls in %.1f s (%.0f calls/s), %d phases, %lu children, %lu reads on a reused descriptor\n",
	       calls, took, calls / took, phases, atomic_load(&fz.children),
	       atomic_load(&fz.reused));
	printf("# fuzz: time: %.1f s calling, %.1f s stopping threads, %.1f s closing and settling\n",
	       t_calls, t_stop, t_settle);
	ASSERT_EQ(0, bad) TH_LOG("replay with: fuzz --seed %llu", (unsigned long long)opt_seed);

	/* no slab cache grows phase after phase */
	sa = (struct slab_arg){ .seed = opt_seed + phases, .base_fds = base_fds,
				.base_pins = base_pins };
	if (tether_count(0, 1)) {
		/* 150 s there: kmemleak (scripts/vm) is that tier's leak check */
		TH_LOG("TETHER_QUICK (the debug kernel): slab check skipped");
	} else if (slab_counts_exact()) {
		EXPECT_EQ(0, slab_leaks(_metadata, 64, slab_batch, &sa));
	} else {
		TH_LOG("slab counts are not exact (no slub_debug): slab check skipped");
	}
	ASSERT_EQ(0, sa.bad);
	printf("# fuzz: %lu calls in all\n", atomic_load(&fz.calls));
}

int main(int argc, char **argv)
{
	char *args[] = { argv[0], NULL };
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			opt_seed = strtoull(argv[++i], NULL, 0);
			opt_seed_set = true;
		} else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			opt_seconds = atol(argv[++i]);
		} else if (!strcmp(argv[i], "--phase-seconds") && i + 1 < argc) {
			opt_phase_ms = (long)(atof(argv[++i]) * 1000);
			if (opt_phase_ms < 100 || opt_phase_ms > 3600000) {
				fprintf(stderr, "fuzz: --phase-seconds 0.1..3600\n");
				return 2;
			}
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			opt_threads = atoi(argv[++i]);
			if (opt_threads < 1 || opt_threads > MAX_THREADS) {
				fprintf(stderr, "fuzz: --threads 1..%d\n", MAX_THREADS);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: fuzz [--seed N] [--seconds N] [--threads N] [--phase-seconds S]\n");
			return 2;
		}
	}
	return test_harness_run(1, args);
}
