// SPDX-License-Identifier: GPL-2.0
/*
 * Storms checked against a model of the address space.
 *
 * model: 8 threads, each with its own context and regions of anonymous
 * memory, mix secure, release, munmap, mmap, mremap, madvise, mprotect,
 * fork (the child calls the inherited context: EPERM), a child that
 * secures and exits holding its pins, and close of the context, with
 * random delays, for a number of seconds. Every thread keeps a model of
 * its regions and ranges and, after each operation, compares the events
 * its context queued with what "Securing ranges" in the uapi header
 * promises:
 *
 * - munmap() and mremap() (moving) of a region: one TETHER_REASON_UNMAP
 *   event for each valid range on it;
 * - madvise(MADV_DONTNEED) of pages: one TETHER_REASON_CLEAR for each valid
 *   range over them; MADV_WILLNEED: none;
 * - mprotect(PROT_NONE): one TETHER_REASON_PROTECTION for each valid range
 *   over it; mprotect(PROT_READ): one for each valid range secured with
 *   TETHER_SECURE_WRITE, none for the others; giving the access back: none;
 * - fork(): none (write protection of the parent's pages keeps them);
 * - an invalidated range: no further event; a released one: none at all;
 * - every range the model says is valid has its validity word equal to its
 *   generation.
 *
 * Copy-on-write is a genuine change: a write to a page that a child of a
 * fork still shares replaces the page (TETHER_REASON_CLEAR). The storm
 * writes memory only to pages no valid range covers, and takes fork_lock
 * shared around securing (pinning unshares pages) and exclusive around a
 * fork. One copy remains after the child is gone: a pin of a page the
 * fork write-protected unshares it, which may replace it under other
 * (unpinned) ranges: the model allows CLEAR for those, nothing else.
 *
 * The seed is printed; storm --seconds N --seed S replays a run's choices
 * (the interleaving of threads differs). make storm SECONDS=N KERNEL=K runs
 * a long one. Other cases: a context descriptor used and closed by another
 * process after its owner exited, and an OOM kill of a registrant in a
 * memory cgroup with pins and requests in flight.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#include "tether_test.h"

#define THREADS 8
#define REGIONS 6
#define REGION_PAGES 8
#define MAX_RANGES 24
#define WAIT_MS 20000

static long storm_seconds = -1;
static unsigned int storm_seed;
static bool seed_given;

struct range {
	struct tether_cmd_secure s;
	size_t first, pages;	/* pages of the region */
	int region;
	bool valid;		/* the model's view */
	bool want;		/* this operation must invalidate it */
	bool may_clear;		/* this operation may replace its pages */
	uint32_t reason;
};

struct region {
	unsigned char *addr;	/* NULL: unmapped */
	bool cow[REGION_PAGES];	/* write-protected by a fork since */
};

struct worker {
	int id;
	unsigned int seed;
	struct tctx t;
	struct region reg[REGIONS];
	struct range r[MAX_RANGES];
	int nr;
	long forks_seen;
	long ops, events, secures, kept_checks;
	char err[256];
};

static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_bool stop;
static atomic_long forks;	/* changed under fork_lock held exclusive */

#define FAIL(w, ...)                                                        \
	do {                                                                \
		if (!(w)->err[0])                                           \
			snprintf((w)->err, sizeof((w)->err), __VA_ARGS__);  \
		return -1;                                                  \
	} while (0)

static size_t rlen(void)
{
	return REGION_PAGES * page_size();
}

static unsigned int rnd(struct worker *w, unsigned int n)
{
	return rand_r(&w->seed) % n;
}

/* Map and fill a fresh region (no range covers it). */
static int region_map(struct worker *w, int i)
{
	unsigned char *p = mmap(NULL, rlen(), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		FAIL(w, "mmap: %s", strerror(errno));
	madvise(p, rlen(), MADV_NOHUGEPAGE);
	memset(p, 0x30 + w->id, rlen());
	w->reg[i].addr = p;
	memset(w->reg[i].cow, 0, sizeof(w->reg[i].cow));
	return 0;
}

/* Mark the valid ranges of region @i over pages [first, first + n) as due. */
static void due(struct worker *w, int i, size_t first, size_t n, uint32_t reason,
		bool write_only)
{
	int k;

	for (k = 0; k < w->nr; k++) {
		struct range *r = &w->r[k];

		if (r->region != i || !r->valid)
			continue;
		if (r->first >= first + n || r->first + r->pages <= first)
			continue;
		if (write_only && !(r->s.flags & TETHER_SECURE_WRITE))
			continue;
		r->want = true;
		r->reason = reason;
	}
}

/*
 * Take the ring's events and compare with the model: exactly the due
 * ranges got one event each, every other range is as it was.
 */
static int settle(struct worker *w, const char *op)
{
	struct tether_event ev;
	int k;

	while (tnext(&w->t, &ev)) {
		struct range *r = NULL;

		w->events++;
		if (ev.type != TETHER_EVENT_INVALIDATE)
			FAIL(w, "%s: event type %u", op, ev.type);
		for (k = 0; k < w->nr; k++)
			if (w->r[k].s.handle == ev.handle)
				r = &w->r[k];
		if (!r)
			FAIL(w, "%s: event for handle %llu, released or never secured",
			     op, (unsigned long long)ev.handle);
		if (!r->valid)
			FAIL(w, "%s: a second event for handle %llu", op,
			     (unsigned long long)ev.handle);
		if (!r->want && r->may_clear && ev.reason == TETHER_REASON_CLEAR)
			r->reason = ev.reason;
		else if (!r->want)
			FAIL(w, "%s: event (reason %u) for range %llu whose pages stayed",
			     op, ev.reason, (unsigned long long)ev.handle);
		if (ev.reason != r->reason)
			FAIL(w, "%s: reason %u, the model says %u", op, ev.reason,
			     r->reason);
		if (ev.cookie != r->s.cookie)
			FAIL(w, "%s: cookie %llu, not %llu", op,
			     (unsigned long long)ev.cookie,
			     (unsigned long long)r->s.cookie);
		r->valid = false;
		r->want = false;
	}
	for (k = 0; k < w->nr; k++) {
		struct range *r = &w->r[k];

		r->may_clear = false;
		if (r->want)
			FAIL(w, "%s: no event for range %llu (reason %u due)", op,
			     (unsigned long long)r->s.handle, r->reason);
		if (r->valid != tvalid(&w->t, &r->s))
			FAIL(w, "%s: range %llu validity word says %s, the model %s",
			     op, (unsigned long long)r->s.handle,
			     r->valid ? "invalid" : "valid",
			     r->valid ? "valid" : "invalid");
		w->kept_checks += r->valid;
	}
	return 0;
}

/*
 * A fork (of any thread) write-protects every anonymous page for
 * copy-on-write, and the page stays shared-looking after the child exits.
 * A long-term pin (TETHER_SECURE_PIN) unshares such a page: the kernel may
 * copy it (a genuine copy-on-write break, TETHER_REASON_CLEAR in the
 * README's table) when something else still holds a reference, or reuse
 * it. Valid unpinned ranges over those pages may therefore get CLEAR
 * (the page stays marked: a failed pin may not have unshared it).
 * Called with fork_lock held shared.
 */
static void pin_unshares(struct worker *w, int i, size_t first, size_t n)
{
	long f = atomic_load(&forks);
	size_t p;
	int j, k;

	if (f != w->forks_seen) {
		for (j = 0; j < REGIONS; j++)
			memset(w->reg[j].cow, 1, sizeof(w->reg[j].cow));
		w->forks_seen = f;
	}
	for (p = first; p < first + n; p++) {
		if (!w->reg[i].cow[p])
			continue;
		for (k = 0; k < w->nr; k++) {
			struct range *r = &w->r[k];

			if (r->region == i && r->valid && !r->want &&
			    !(r->s.flags & TETHER_SECURE_PIN) &&
			    r->first <= p && p < r->first + r->pages)
				r->may_clear = true;
		}
	}
}

static void forget(struct worker *w, int k)
{
	w->r[k] = w->r[--w->nr];
}

static int op_secure(struct worker *w)
{
	int i = rnd(w, REGIONS), ret;
	size_t first = rnd(w, REGION_PAGES), pages;
	uint32_t flags = rnd(w, 4);
	struct range *r;
	size_t off, len, head;

	if (!w->reg[i].addr || w->nr == MAX_RANGES)
		return 0;
	pages = 1 + rnd(w, REGION_PAGES - first);
	/*
	 * any alignment inside the pages: the range is rounded out to them;
	 * head + tail < one page, so the range is never empty
	 */
	head = rnd(w, page_size());
	off = first * page_size() + head;
	len = pages * page_size() - head - rnd(w, page_size() - head);
	r = &w->r[w->nr];
	pthread_rwlock_rdlock(&fork_lock);
	if (flags & TETHER_SECURE_PIN)
		pin_unshares(w, i, first, pages);
	ret = tsecure(&w->t, w->reg[i].addr + off, len, flags,
		      ((uint64_t)w->id << 32) | w->ops, &r->s);
	pthread_rwlock_unlock(&fork_lock);
	if (ret == -ENOMEM && (flags & TETHER_SECURE_PIN))
		return 0;	/* the context's max_pinned_bytes */
	if (ret)
		FAIL(w, "secure: %s", strerror(-ret));
	r->first = first;
	r->pages = pages;
	r->region = i;
	r->valid = true;
	r->want = false;
	r->may_clear = false;
	w->nr++;
	w->secures++;
	return settle(w, "secure");
}

static int op_release(struct worker *w)
{
	int k, ret;

	if (!w->nr)
		return 0;
	k = rnd(w, w->nr);
	/* events queued before the release are still the range's */
	if (settle(w, "before release"))
		return -1;
	ret = trelease(&w->t, w->r[k].s.handle);
	if (ret)
		FAIL(w, "release: %s", strerror(-ret));
	forget(w, k);
	return settle(w, "release");
}

/* munmap() a region and map a new one in its place. */
static int op_munmap(struct worker *w)
{
	int i = rnd(w, REGIONS);

	if (!w->reg[i].addr)
		return region_map(w, i);
	due(w, i, 0, REGION_PAGES, TETHER_REASON_UNMAP, false);
	if (munmap(w->reg[i].addr, rlen()))
		FAIL(w, "munmap: %s", strerror(errno));
	w->reg[i].addr = NULL;
	if (settle(w, "munmap"))
		return -1;
	return rnd(w, 2) ? region_map(w, i) : 0;
}

/* mremap() a region to a new address: its ranges' pages move away. */
static int op_mremap(struct worker *w)
{
	int i = rnd(w, REGIONS);
	void *to, *p;

	if (!w->reg[i].addr)
		return 0;
	to = mmap(NULL, rlen(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		FAIL(w, "mmap: %s", strerror(errno));
	due(w, i, 0, REGION_PAGES, TETHER_REASON_UNMAP, false);
	p = mremap(w->reg[i].addr, rlen(), rlen(), MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (p != to)
		FAIL(w, "mremap: %s", strerror(errno));
	w->reg[i].addr = p;
	return settle(w, "mremap");
}

static int op_madvise(struct worker *w)
{
	int i = rnd(w, REGIONS), k;
	size_t first = rnd(w, REGION_PAGES), n;
	unsigned char *a;
	bool dontneed = rnd(w, 3);

	if (!w->reg[i].addr)
		return 0;
	n = 1 + rnd(w, REGION_PAGES - first);
	a = w->reg[i].addr + first * page_size();
	if (dontneed)
		due(w, i, first, n, TETHER_REASON_CLEAR, false);
	if (madvise(a, n * page_size(), dontneed ? MADV_DONTNEED : MADV_WILLNEED))
		FAIL(w, "madvise: %s", strerror(errno));
	if (settle(w, dontneed ? "madvise(MADV_DONTNEED)" : "madvise(MADV_WILLNEED)"))
		return -1;
	if (!dontneed)
		return 0;
	/*
	 * Fault the pages back in, so later mprotect()s have present pages
	 * to notify for; only invalid ranges cover them.
	 */
	for (k = 0; k < w->nr; k++)
		if (w->r[k].region == i && w->r[k].valid &&
		    w->r[k].first < first + n && w->r[k].first + w->r[k].pages > first)
			FAIL(w, "model: a valid range over zapped pages");
	pthread_rwlock_rdlock(&fork_lock);
	memset(a, 0x40 + w->id, n * page_size());
	pthread_rwlock_unlock(&fork_lock);
	return settle(w, "refault");
}

static int op_mprotect(struct worker *w)
{
	int i = rnd(w, REGIONS);
	size_t first = rnd(w, REGION_PAGES), n;
	bool none = rnd(w, 2);
	unsigned char *a;

	if (!w->reg[i].addr)
		return 0;
	n = 1 + rnd(w, REGION_PAGES - first);
	a = w->reg[i].addr + first * page_size();
	due(w, i, first, n, TETHER_REASON_PROTECTION, !none);
	if (mprotect(a, n * page_size(), none ? PROT_NONE : PROT_READ))
		FAIL(w, "mprotect: %s", strerror(errno));
	if (settle(w, none ? "mprotect(PROT_NONE)" : "mprotect(PROT_READ)"))
		return -1;
	if (mprotect(a, n * page_size(), PROT_READ | PROT_WRITE))
		FAIL(w, "mprotect: %s", strerror(errno));
	return settle(w, "mprotect(PROT_READ | PROT_WRITE)");
}

/*
 * fork(): the child finds the inherited context is not its own (EPERM),
 * then secures a range of its own with pins and exits holding them.
 */
static int op_fork(struct worker *w)
{
	int status, i = rnd(w, REGIONS);
	pid_t pid;

	pthread_rwlock_wrlock(&fork_lock);
	atomic_fetch_add(&forks, 1);
	pid = fork();
	if (pid == 0) {
		struct tether_cmd_secure s;
		struct tctx t;

		if (w->reg[i].addr &&
		    tsecure(&w->t, w->reg[i].addr, page_size(), 0, 0, &s) != -EPERM)
			_exit(1);
		if (tctx_open(&t))
			_exit(2);
		if (w->reg[i].addr &&
		    tsecure(&t, w->reg[i].addr, rlen(), TETHER_SECURE_PIN, 0, &s))
			_exit(3);
		_exit(0);	/* the module releases the pins */
	}
	pthread_rwlock_unlock(&fork_lock);
	if (pid < 0)
		FAIL(w, "fork: %s", strerror(errno));
	if (waitpid(pid, &status, 0) != pid)
		FAIL(w, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAIL(w, "fork: the child failed (status %#x)", status);
	return settle(w, "fork");
}

/* Close the context: its ranges go with it; open a new one. */
static int op_close(struct worker *w)
{
	int ret;

	if (settle(w, "before close"))
		return -1;
	tctx_close(&w->t);
	w->nr = 0;
	ret = tctx_open(&w->t);
	if (ret)
		FAIL(w, "open: %s", strerror(-ret));
	return 0;
}

static int (*const ops[])(struct worker *w) = {
	op_secure, op_secure, op_secure, op_release, op_release,
	op_munmap, op_mremap, op_madvise, op_madvise, op_mprotect,
	op_mprotect, op_fork, op_close,
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	int i;

	if (tctx_open(&w->t)) {
		snprintf(w->err, sizeof(w->err), "open: %s", strerror(errno));
		return NULL;
	}
	for (i = 0; i < REGIONS; i++)
		if (region_map(w, i))
			return NULL;
	while (!atomic_load(&stop)) {
		if (ops[rnd(w, sizeof(ops) / sizeof(ops[0]))](w))
			break;
		w->ops++;
		if (rnd(w, 4) == 0)
			usleep(rnd(w, 200));
	}
	if (!w->err[0])
		settle(w, "end");
	tctx_close(&w->t);
	for (i = 0; i < REGIONS; i++)
		if (w->reg[i].addr)
			munmap(w->reg[i].addr, rlen());
	return NULL;
}

/* Seconds for a run: --seconds, or 20 on 6.12, 8 on 6.1 and debug (make check). */
static long seconds(void)
{
	if (storm_seconds >= 0)
		return storm_seconds;
	if (tether_count(1, 0) == 0 || kernel_at_least(6, 12) != 1)
		return 8;
	return 20;
}

/* Wait until the pins held system-wide are back to @base: 0, or -1. */
static int pins_back(long long base, int seconds)
{
	int i;

	for (i = 0; i < seconds * 10; i++) {
		if (pins_held() == base)
			return 0;
		usleep(100 * 1000);
	}
	return -1;
}

/* No state: the fixture gives the tests their timeouts. */
FIXTURE(storm) {
	int unused;
};

FIXTURE_SETUP(storm)
{
	int fd = open(TETHER_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT)
		SKIP(return, "%s absent: tether.ko not loaded", TETHER_DEV);
	ASSERT_LE(0, fd);
	close(fd);
}

FIXTURE_TEARDOWN(storm)
{
}

TEST_F_TIMEOUT(storm, model, 7200)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS];
	long long pins0 = pins_held();
	long ops = 0, events = 0, secures = 0, kept = 0;
	long secs = seconds();
	int i;

	/* no huge pages: their splits and collapses are conservative events */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	TH_LOG("%d threads x %ld s, seed %u (replay: storm --seconds %ld --seed %u)",
	       THREADS, secs, storm_seed, secs, storm_seed);
	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].id = i;
		w[i].seed = storm_seed + i * 7919;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker_run, &w[i]));
	}
	for (i = 0; i < secs * 10; i++) {
		int k, bad = 0;

		usleep(100 * 1000);
		for (k = 0; k < THREADS; k++)
			bad += !!w[k].err[0];
		if (bad)
			break;
	}
	atomic_store(&stop, true);
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, w[i].err[0]) TH_LOG("thread %d after %ld ops: %s", i,
						 w[i].ops, w[i].err);
		ops += w[i].ops;
		events += w[i].events;
		secures += w[i].secures;
		kept += w[i].kept_checks;
	}
	TH_LOG("%ld operations (%ld secures), %ld events, all as the model said; %ld checks of a range kept valid",
	       ops, secures, events, kept);
	ASSERT_LT(0, events);
	ASSERT_EQ(0, pins_back(pins0, 20)) TH_LOG("pins: %lld held, %lld before",
						  pins_held(), pins0);
}

/*
 * The owner secures pinned ranges, holds a request, passes its context
 * over a unix socket and exits. The other process's calls get EPERM
 * (read() too), its close frees the context, and the pins are all back.
 */
TEST_F_TIMEOUT(storm, fd_closed_by_other_after_owner_exit, 120)
{
	long long pins0 = pins_held();
	struct tctx other = { .fd = -1 };
	struct tether_cmd_secure s;
	struct tether_stats st;
	struct tether_event ev;
	int sv[2], fd, status, i;
	pid_t owner;
	char *p;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	owner = fork();
	ASSERT_LE(0, owner);
	if (owner == 0) {
		struct tether_cmd_request_submit r = {
			.size = sizeof(r),
			.flags = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			.source = TETHER_SOURCE_PATTERN, .source_fd = -1,
			.length = 2 * page_size(),
		};
		struct tether_cmd_secure s;
		struct tctx t;
		char *buf = map_anon(16 * page_size());

		if (tctx_open(&t) || buf == MAP_FAILED)
			_exit(1);
		for (i = 0; i < 4; i++)
			if (tsecure(&t, buf + i * 2 * page_size(), 2 * page_size(),
				    TETHER_SECURE_PIN, i, &s))
				_exit(2);
		r.addr = (uintptr_t)buf + 8 * page_size();
		if (t.info.features & TETHER_FEATURE_REQUEST &&
		    tether_ioctl(t.fd, TETHER_IOC_REQUEST_SUBMIT, &r))
			_exit(3);
		if (send_fd(sv[1], t.fd))
			_exit(4);
		_exit(0);	/* the mm goes; the file lives on in the other */
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_LE(0, fd);
	ASSERT_EQ(owner, waitpid(owner, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("owner step %d", WEXITSTATUS(status));
	/* the module releases every range and pin once the mm is gone */
	ASSERT_EQ(0, pins_back(pins0, 20))
		TH_LOG("%lld pins still held after the owner exited",
		       pins_held() - pins0);
	p = map_anon(page_size());
	ASSERT_NE(MAP_FAILED, p);
	other.fd = fd;
	ASSERT_EQ(-EPERM, tsecure(&other, p, page_size(), 0, 0, &s));
	ASSERT_EQ(-EPERM, trelease(&other, 1));
	errno = 0;
	ASSERT_EQ(-1, read(fd, &ev, sizeof(ev)));
	ASSERT_EQ(EPERM, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, page_size(), PROT_READ, MAP_SHARED, fd, 0));
	ASSERT_EQ(EPERM, errno);
	st.size = sizeof(st);
	i = tether_ioctl(fd, TETHER_IOC_GET_STATS, &st);
	ASSERT_TRUE(i == 0 || i == -EPERM) TH_LOG("stats: %s", strerror(-i));
	if (!i) {
		ASSERT_EQ(0, st.pinned_pages);
	}
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, pins_back(pins0, 20));
	munmap(p, page_size());
	close(sv[0]);
}

#define CG "/sys/fs/cgroup"
#define CG_OOM CG "/tether-oom"

static long cg_read(const char *file, const char *key)
{
	char path[256], k[64];
	long v, found = -1;
	FILE *f;

	snprintf(path, sizeof(path), CG_OOM "/%s", file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", k, &v) == 2)
		if (!strcmp(k, key))
			found = v;
	fclose(f);
	return found;
}

/*
 * A registrant in a memory cgroup of 48 MiB secures pinned ranges, holds
 * requests and keeps allocating until the kernel's OOM killer kills it
 * (the OOM reaper then unmaps what it can under the notifier). The system
 * recovers: the pins all come back, a new context works.
 */
TEST_F_TIMEOUT(storm, oom_kill_in_cgroup, 300)
{
	long long pins0 = pins_held();
	struct tether_cmd_secure s;
	char pidstr[16], *p;
	struct tctx t;
	int status;
	pid_t pid;

	if (access(CG "/cgroup.controllers", R_OK))
		mount("cgroup2", CG, "cgroup2", 0, NULL);
	if (access(CG "/cgroup.controllers", R_OK))
		SKIP(return, "no cgroup v2 in this kernel");
	write_file(CG "/cgroup.subtree_control", "+memory");
	rmdir(CG_OOM);
	ASSERT_EQ(0, mkdir(CG_OOM, 0755)) TH_LOG("mkdir: %s", strerror(errno));
	if (access(CG_OOM "/memory.max", W_OK)) {
		rmdir(CG_OOM);
		SKIP(return, "no memory controller (CONFIG_MEMCG) in this kernel");
	}
	ASSERT_EQ(0, write_file(CG_OOM "/memory.max", "48M"));
	write_file(CG_OOM "/memory.swap.max", "0");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct tether_cmd_request_submit r = {
			.size = sizeof(r),
			.flags = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			.source = TETHER_SOURCE_PATTERN, .source_fd = -1,
			.length = 4 * page_size(),
		};
		size_t chunk = 1 << 20;
		char *buf;
		int i;

		snprintf(pidstr, sizeof(pidstr), "%d", getpid());
		if (write_file(CG_OOM "/cgroup.procs", pidstr))
			_exit(1);
		buf = map_anon(64 * page_size());
		if (tctx_open(&t) || buf == MAP_FAILED)
			_exit(2);
		for (i = 0; i < 8; i++)
			if (tsecure(&t, buf + i * 4 * page_size(), 4 * page_size(),
				    i % 2 ? TETHER_SECURE_PIN : 0, i, &s))
				_exit(3);
		for (i = 0; i < 4 && t.info.features & TETHER_FEATURE_REQUEST; i++) {
			r.addr = (uintptr_t)buf + (32 + i * 4) * page_size();
			if (tether_ioctl(t.fd, TETHER_IOC_REQUEST_SUBMIT, &r))
				_exit(4);
		}
		/* secure each new chunk too: the reaper meets the notifier */
		for (i = 0;; i++) {
			char *c = map_anon(chunk);

			if (c == MAP_FAILED)
				_exit(5);
			tsecure(&t, c, chunk, 0, 100 + i, &s);
		}
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x", status);
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	ASSERT_LE(1, cg_read("memory.events", "oom_kill"));
	ASSERT_EQ(0, pins_back(pins0, 30))
		TH_LOG("%lld pins still held after the OOM kill", pins_held() - pins0);
	ASSERT_EQ(0, rmdir(CG_OOM)) TH_LOG("rmdir: %s", strerror(errno));
	p = map_anon(page_size());
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, tctx_open(&t));
	ASSERT_EQ(0, tsecure(&t, p, page_size(), TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, trelease(&t, s.handle));
	tctx_close(&t);
	munmap(p, page_size());
}

/* storm [--seconds N] [--seed S] [harness options] */
int main(int argc, char **argv)
{
	int i, j = 1;

	storm_seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			storm_seconds = strtol(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			storm_seed = strtoul(argv[++i], NULL, 0);
			seed_given = true;
		} else {
			argv[j++] = argv[i];
		}
	}
	argv[j] = NULL;
	if (getenv("STORM_SECONDS"))
		storm_seconds = strtol(getenv("STORM_SECONDS"), NULL, 0);
	if (!seed_given && getenv("STORM_SEED"))
		storm_seed = strtoul(getenv("STORM_SEED"), NULL, 0);
	return test_harness_run(j, argv);
}
