// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency: 8 threads secure, release and unmap for 30 s while a reader
 * drains events with blocking read(), and a chaos thread replaces pages of a
 * shared arena under secures in flight. At the end every event is accounted
 * for:
 *
 * - a range unmapped by its own thread while secured has exactly one event,
 *   and its validity word changed before munmap() returned;
 * - a range released before its memory was unmapped has none;
 * - an arena range whose page was replaced after TETHER_IOC_SECURE returned
 *   is invalidated (and has its one event); one secured while the page was
 *   being replaced either failed or is handled like any other;
 * - no handle has two events, no event names an unknown handle, no two
 *   secures got the same handle, and the kernel's counters agree (events
 *   queued == events read, none dropped).
 *
 * The test's tables are indexed by the cookie each secure is given (1, 2,
 * ...), not by handle: the ABI promises handles unique and never 0, not
 * dense; each event's handle is checked against the one its secure got.
 *
 * Transparent huge pages are off for this process (see the test body).
 *
 * And a secure whose range changes while its pages are being pinned (held
 * there with userfaultfd): pinned again, or EAGAIN when it never holds
 * still.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <time.h>

#include "tether_test.h"
#include "uffd_race.h"

#define WORKERS 8
#define MAX_SECURES (1 << 21)
#define ARENA_PAGES 64

enum expect { EXPECT_NONE = 1, EXPECT_ONE, EXPECT_ANY, EXPECT_ONE_IF_INVALID };

struct stress {
	struct tctx t;
	atomic_int stop;
	/* the last cookie handed out; secure N is given cookie N */
	atomic_ullong last_cookie;
	/*
	 * per cookie: what the workers expect and the handle its secure got,
	 * what the reader saw and the handle of its (first) event
	 */
	_Atomic unsigned char expect[MAX_SECURES];
	_Atomic uint64_t handle[MAX_SECURES];
	_Atomic unsigned char seen[MAX_SECURES];
	_Atomic uint64_t event_handle[MAX_SECURES];
	atomic_ullong events_read;
	atomic_ullong secures, arena_secures, arena_replaced_after, secure_failures;
	atomic_int errors;
	char *arena;
	/* per arena page: replacements started / finished by the chaos thread */
	atomic_ullong started[ARENA_PAGES], done[ARENA_PAGES];
};

/* TETHER_TIMEOUT_SCALE: how much slower this kernel runs (debug: 4). */
static int timeout_scale(void)
{
	const char *s = getenv("TETHER_TIMEOUT_SCALE");
	int n = s ? atoi(s) : 1;

	return n > 0 ? n : 1;
}

static void fail(struct stress *st, const char *what, uint64_t handle)
{
	if (atomic_fetch_add(&st->errors, 1) < 10)
		fprintf(stderr, "stress: %s (handle %llu)\n", what, (unsigned long long)handle);
}

static void *reader(void *arg)
{
	struct stress *st = arg;
	struct tether_event ev[64];
	ssize_t n;
	int i;

	for (;;) {
		n = read(st->t.fd, ev, sizeof(ev));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail(st, "read failed", 0);
			return NULL;
		}
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]); i++) {
			if (ev[i].type == TETHER_EVENT_OVERFLOW) {
				fail(st, "ring overflowed", 0);
				continue;
			}
			if (ev[i].cookie == UINT64_MAX) /* the stop marker */
				return NULL;
			if (!ev[i].cookie || ev[i].cookie >= MAX_SECURES) {
				fail(st, "event with a cookie never handed out", ev[i].handle);
				continue;
			}
			if (atomic_fetch_add(&st->seen[ev[i].cookie], 1))
				fail(st, "two events for one handle", ev[i].handle);
			else
				atomic_store(&st->event_handle[ev[i].cookie], ev[i].handle);
			atomic_fetch_add(&st->events_read, 1);
		}
	}
}

/* The cookie of the next secure, or 0 when the test's table is full. */
static uint64_t next_cookie(struct stress *st)
{
	uint64_t c = atomic_fetch_add(&st->last_cookie, 1) + 1;

	if (c < MAX_SECURES)
		return c;
	fail(st, "too many secures for the test's table", 0);
	return 0;
}

/* What a secured range (its cookie and reply in @s) should see. */
static void expect(struct stress *st, const struct tether_cmd_secure *s,
		   enum expect e)
{
	if (s->cookie && s->cookie < MAX_SECURES) {
		atomic_store(&st->handle[s->cookie], s->handle);
		atomic_store(&st->expect[s->cookie], e);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Own ranges: secure, then either unmap (one event) or release first (none). */
static void own_range(struct stress *st, unsigned int *seed)
{
	size_t ps = page_size(), n = 1 + rand_r(seed) % 8;
	uint32_t flags = rand_r(seed) % 4;
	struct tether_cmd_secure s;
	char *p = map_anon(n * ps);

	if (p == MAP_FAILED) {
		fail(st, "mmap", 0);
		return;
	}
	if (tsecure(&st->t, p, n * ps, flags, next_cookie(st), &s)) {
		fail(st, "secure of own memory", 0);
		munmap(p, n * ps);
		return;
	}
	atomic_fetch_add(&st->secures, 1);
	if (rand_r(seed) % 2) {
		size_t k = rand_r(seed) % n;

		expect(st, &s, EXPECT_ONE);
		munmap(p + k * ps, ps);
		if (tvalid(&st->t, &s))
			fail(st, "still valid after munmap returned", s.handle);
		if (trelease(&st->t, s.handle))
			fail(st, "release", s.handle);
		/*
		 * Only what is left: another thread's mmap() may already
		 * have been placed in the hole.
		 */
		if (k)
			munmap(p, k * ps);
		if (k + 1 < n)
			munmap(p + (k + 1) * ps, (n - k - 1) * ps);
	} else {
		expect(st, &s, EXPECT_NONE);
		if (trelease(&st->t, s.handle))
			fail(st, "release", s.handle);
		munmap(p, n * ps);
	}
}

/* Arena ranges: pages replaced by the chaos thread at any moment. */
static void arena_range(struct stress *st, unsigned int *seed)
{
	size_t ps = page_size();
	unsigned int pg = rand_r(seed) % ARENA_PAGES;
	uint32_t flags = rand_r(seed) % 4;
	unsigned long long s1, d2;
	struct tether_cmd_secure s;
	int ret, valid;

	ret = tsecure(&st->t, st->arena + pg * ps, ps, flags, next_cookie(st), &s);
	if (ret) {
		/* the page was being replaced under us */
		if (ret != -EAGAIN && ret != -EFAULT)
			fail(st, "unexpected secure error", 0);
		atomic_fetch_add(&st->secure_failures, 1);
		return;
	}
	s1 = atomic_load(&st->started[pg]);
	atomic_fetch_add(&st->arena_secures, 1);
	usleep(rand_r(seed) % 500);
	d2 = atomic_load(&st->done[pg]);
	valid = tvalid(&st->t, &s);
	if (d2 > s1) {
		/* a replacement started after secure returned, and finished */
		atomic_fetch_add(&st->arena_replaced_after, 1);
		if (valid)
			fail(st, "arena page replaced but the range is still valid", s.handle);
	}
	expect(st, &s, valid ? EXPECT_ANY : EXPECT_ONE);
	if (trelease(&st->t, s.handle))
		fail(st, "release", s.handle);
}

static void *worker(void *arg)
{
	struct stress *st = arg;
	unsigned int seed = (unsigned int)(uintptr_t)pthread_self();

	while (!atomic_load(&st->stop)) {
		if (rand_r(&seed) % 3)
			own_range(st, &seed);
		else
			arena_range(st, &seed);
	}
	return NULL;
}

static void *chaos(void *arg)
{
	struct stress *st = arg;
	unsigned int seed = 12345;
	size_t ps = page_size();

	while (!atomic_load(&st->stop)) {
		unsigned int pg = rand_r(&seed) % ARENA_PAGES;
		char *p;

		atomic_fetch_add(&st->started[pg], 1);
		p = mmap(st->arena + pg * ps, ps, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			fail(st, "chaos mmap", 0);
		else
			*p = 1;
		atomic_fetch_add(&st->done[pg], 1);
	}
	return NULL;
}

/* (the harness has a timeout only for fixture tests) */
FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress)
{
}

FIXTURE_TEARDOWN(stress)
{
}

TEST_F_TIMEOUT(stress, eight_threads_thirty_seconds, 600)
{
	pthread_t workers[WORKERS], rd, ch;
	struct tether_cmd_secure stop_s;
	struct tether_stats kst;
	struct stress *st;
	long seconds = tether_count(30, 15);
	uint64_t c, last, ones = 0, nhandles = 0, *handles;
	int i;

	/*
	 * Neighbouring small mappings can share a transparent huge page; one
	 * thread's munmap() then splits it and the others' ranges get the
	 * conservative CLEAR that events.c documents. Keep exact accounting.
	 */
	ASSERT_EQ(0, prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	st = calloc(1, sizeof(*st));
	ASSERT_NE(NULL, st);
	if (tctx_open(&st->t))
		SKIP(free(st); return, "tether.ko not loaded");
	st->arena = map_anon(ARENA_PAGES * page_size());
	ASSERT_NE(MAP_FAILED, st->arena);

	ASSERT_EQ(0, pthread_create(&rd, NULL, reader, st));
	ASSERT_EQ(0, pthread_create(&ch, NULL, chaos, st));
	for (i = 0; i < WORKERS; i++)
		ASSERT_EQ(0, pthread_create(&workers[i], NULL, worker, st));
	TH_LOG("running for %ld s", seconds);
	sleep(seconds);
	atomic_store(&st->stop, 1);
	for (i = 0; i < WORKERS; i++)
		pthread_join(workers[i], NULL);
	pthread_join(ch, NULL);
	/* a last event with a marker cookie stops the reader after the rest */
	ASSERT_EQ(0, tsecure(&st->t, st->arena, page_size(), 0, UINT64_MAX, &stop_s));
	munmap(st->arena, ARENA_PAGES * page_size());
	pthread_join(rd, NULL);

	last = atomic_load(&st->last_cookie);
	handles = calloc(last + 2, sizeof(*handles));
	ASSERT_NE(NULL, handles);
	for (c = 1; c <= last && c < MAX_SECURES; c++) {
		unsigned char e = atomic_load(&st->expect[c]);
		unsigned char n = atomic_load(&st->seen[c]);
		uint64_t h = atomic_load(&st->handle[c]);

		if (e == EXPECT_ONE && n != 1)
			fail(st, "expected one event", h);
		else if (e == EXPECT_NONE && n != 0)
			fail(st, "expected no event", h);
		else if (!e && n)
			fail(st, "event for a handle never handed out", c);
		if (e && n && atomic_load(&st->event_handle[c]) != h)
			fail(st, "event names another handle", h);
		if (e && !h)
			fail(st, "handle 0", c);
		if (e)
			handles[nhandles++] = h;
		ones += n;
	}
	/* never reused in a context: every secure got a handle of its own */
	handles[nhandles++] = stop_s.handle;
	qsort(handles, nhandles, sizeof(*handles), cmp_u64);
	for (c = 1; c < nhandles; c++)
		if (handles[c] == handles[c - 1])
			fail(st, "two secures got one handle", handles[c]);
	free(handles);
	ASSERT_EQ(0, tstats(&st->t, &kst));
	TH_LOG("%llu own secures, %llu arena secures (%llu failed while the page was replaced, %llu replaced afterwards), %llu events, %llu retried secures",
	       (unsigned long long)atomic_load(&st->secures),
	       (unsigned long long)atomic_load(&st->arena_secures),
	       (unsigned long long)atomic_load(&st->secure_failures),
	       (unsigned long long)atomic_load(&st->arena_replaced_after),
	       (unsigned long long)atomic_load(&st->events_read),
	       (unsigned long long)kst.retries);
	ASSERT_EQ(0, atomic_load(&st->errors));
	ASSERT_EQ(0, kst.dropped);
	ASSERT_EQ(kst.events, atomic_load(&st->events_read) + 1); /* + the stop marker */
	ASSERT_EQ(kst.invalidated, kst.events);
	ASSERT_EQ(ones, atomic_load(&st->events_read));
	/* enough work to mean something, on any kernel (debug is slower) */
	ASSERT_LT(1000 / timeout_scale() * seconds / 30, atomic_load(&st->secures));
	ASSERT_EQ(1, kst.regions); /* the stop range */
	tctx_close(&st->t);
	free(st);
}

/* ---- a change while the pages are being pinned ---------------------- */

/*
 * userfaultfd stalls TETHER_IOC_SECURE inside pin_user_pages while the
 * handler changes the range (uffd_race.h): the pins taken so far may be
 * stale and the secure must notice (mmu_interval_read_retry) and pin
 * again. With @every_time the range changes on every fault, and after its
 * last try the secure must fail with EAGAIN.
 */
static void secure_under_uffd(struct __test_metadata *_metadata, bool every_time)
{
	struct uffd_racer u;
	struct tether_stats before, after;
	struct tether_cmd_secure s;
	long long pins = pins_held();
	struct tctx t = { .fd = -1 };
	int ret;

	tctx_open_or_skip(_metadata, &t);
	ret = uffd_racer_start(&u, every_time);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(tctx_close(&t); return, "no userfaultfd: %s", strerror(-ret));
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, tstats(&t, &before));

	ret = tsecure(&t, u.buf, 2 * u.ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 7, &s);

	uffd_racer_stop(&u);
	ASSERT_EQ(0, u.error) TH_LOG("fault handler: %s", strerror(u.error));
	ASSERT_EQ(0, tstats(&t, &after));
	TH_LOG("secure: %d, %d faults, %d changes, %llu retries", ret,
	       atomic_load(&u.faults), atomic_load(&u.changes),
	       (unsigned long long)(after.retries - before.retries));
	if (ret == -EFAULT && !atomic_load(&u.faults) && kernel_at_least(6, 3) == 0) {
		uffd_racer_free(&u);
		tctx_close(&t);
		SKIP(return, "before 6.3 long-term GUP cannot wait for userfaultfd (EFAULT)");
	}
	if (every_time) {
		/* the range never held still: refused, nothing kept */
		ASSERT_EQ(-EAGAIN, ret);
		ASSERT_LT(1, after.retries - before.retries);
		ASSERT_EQ(before.regions, after.regions);
		ASSERT_EQ(before.pinned_pages, after.pinned_pages);
		ASSERT_EQ(pins, pins_held());
	} else {
		/* pinned again after the change: valid, on the current pages */
		ASSERT_EQ(0, ret);
		ASSERT_EQ(1, after.retries - before.retries);
		ASSERT_TRUE(tvalid(&t, &s));
		ASSERT_EQ(2, after.pinned_pages - before.pinned_pages);
		ASSERT_EQ(pins + 2, pins_held());
		/* what happened before the secure returned is no event ... */
		ASSERT_NO_EVENT(&t);
		/* ... but the next change is */
		ASSERT_EQ(0, munmap(u.buf + u.ps, u.ps));
		ASSERT_EVENT(&t, &s, TETHER_REASON_UNMAP, (uintptr_t)u.buf + u.ps,
			     (uintptr_t)u.buf + 2 * u.ps);
		ASSERT_EQ(0, trelease(&t, s.handle));
		ASSERT_EQ(pins, pins_held());
	}
	ASSERT_LT(0, atomic_load(&u.changes));
	uffd_racer_free(&u);
	tctx_close(&t);
}

TEST(secure_pins_again_after_a_change_while_pinning)
{
	secure_under_uffd(_metadata, false);
}

TEST(secure_eagain_when_the_range_never_holds_still)
{
	secure_under_uffd(_metadata, true);
}

/*
 * Limits are checked before they are charged: while threads keep making
 * calls that exceed a limit by themselves (a request above max_request_mb,
 * a PIN secure above max_pinned_mb or RLIMIT_MEMLOCK), other threads' small
 * calls that fit never fail, and GET_STATS and VmPin never show more than
 * the limits. Adding, comparing and subtracting (the old charge) failed the
 * small calls and showed the oversized totals.
 */
#define RACE_MAX_PINNED_MB 64
#define RACE_MAX_REQUEST_MB 16
#define RACE_SMALL_THREADS 2

struct charge_race {
	struct tctx t;
	char *small;
	char *big;
	size_t big_req_len, big_pin_len;
	uint64_t max_pinned_pages, max_req_pages;
	/* RLIMIT_MEMLOCK in kB to check VmPin against, or 0 */
	long memlock_kb;
	atomic_int stop;
	atomic_long small_ok, spurious, big_refused, unexpected, over_limit;
};

static void *race_big(void *arg)
{
	struct charge_race *r = arg;
	struct tether_cmd_request_submit q;
	struct tether_cmd_secure s;

	while (!atomic_load(&r->stop)) {
		q = (struct tether_cmd_request_submit) {
			.size = sizeof(q), .source = TETHER_SOURCE_PATTERN, .source_fd = -1,
			.addr = (uintptr_t)r->big, .length = r->big_req_len,
		};
		if (tether_ioctl(r->t.fd, TETHER_IOC_REQUEST_SUBMIT, &q) == -ENOMEM)
			atomic_fetch_add(&r->big_refused, 1);
		else
			atomic_fetch_add(&r->unexpected, 1);
		if (tsecure(&r->t, r->big, r->big_pin_len, TETHER_SECURE_PIN, 0, &s) == -ENOMEM)
			atomic_fetch_add(&r->big_refused, 1);
		else
			atomic_fetch_add(&r->unexpected, 1);
	}
	return NULL;
}

static void race_result(struct charge_race *r, int ret)
{
	if (!ret)
		atomic_fetch_add(&r->small_ok, 1);
	else if (ret == -ENOMEM)
		atomic_fetch_add(&r->spurious, 1);
	else
		atomic_fetch_add(&r->unexpected, 1);
}

static void *race_small(void *arg)
{
	struct charge_race *r = ((void **)arg)[0];
	char *page = ((void **)arg)[1];
	struct tether_cmd_request_submit q;
	struct tether_cmd_secure s;
	int ret;

	while (!atomic_load(&r->stop)) {
		q = (struct tether_cmd_request_submit) {
			.size = sizeof(q), .source = TETHER_SOURCE_PATTERN, .source_fd = -1,
			.addr = (uintptr_t)page, .length = 64,
		};
		race_result(r, tether_ioctl(r->t.fd, TETHER_IOC_REQUEST_SUBMIT, &q));
		ret = tsecure(&r->t, page, page_size(), TETHER_SECURE_PIN, 0, &s);
		race_result(r, ret);
		if (!ret && trelease(&r->t, s.handle))
			atomic_fetch_add(&r->unexpected, 1);
	}
	return NULL;
}

static void *race_stats(void *arg)
{
	struct charge_race *r = arg;
	struct tether_stats st;

	while (!atomic_load(&r->stop)) {
		if (tstats(&r->t, &st)) {
			atomic_fetch_add(&r->unexpected, 1);
			continue;
		}
		if (st.pinned_pages > r->max_pinned_pages ||
		    st.request_pages > r->max_req_pages)
			atomic_fetch_add(&r->over_limit, 1);
		if (r->memlock_kb && proc_status_kb("VmPin") > r->memlock_kb)
			atomic_fetch_add(&r->over_limit, 1);
	}
	return NULL;
}

/* Run the race for a few seconds on an open context; 0 or a failed step. */
static int charge_race_run(struct charge_race *r)
{
	pthread_t big, small[RACE_SMALL_THREADS], stats;
	void *args[RACE_SMALL_THREADS][2];
	size_t ps = page_size();
	int i;

	r->max_pinned_pages = r->t.info.max_pinned_bytes / ps;
	r->max_req_pages = (uint64_t)RACE_MAX_REQUEST_MB << 20 >> __builtin_ctzl(ps);
	r->small = map_anon(RACE_SMALL_THREADS * ps);
	/* never touched: the oversized calls fail before they pin */
	r->big = mmap(NULL, r->big_pin_len > r->big_req_len ? r->big_pin_len : r->big_req_len,
		      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->small == MAP_FAILED || r->big == MAP_FAILED)
		return 1;
	if (pthread_create(&big, NULL, race_big, r) ||
	    pthread_create(&stats, NULL, race_stats, r))
		return 2;
	for (i = 0; i < RACE_SMALL_THREADS; i++) {
		args[i][0] = r;
		args[i][1] = r->small + i * ps;
		if (pthread_create(&small[i], NULL, race_small, args[i]))
			return 3;
	}
	sleep(tether_count(3, 1) * timeout_scale());
	atomic_store(&r->stop, 1);
	pthread_join(big, NULL);
	pthread_join(stats, NULL);
	for (i = 0; i < RACE_SMALL_THREADS; i++)
		pthread_join(small[i], NULL);
	fprintf(stderr, "# small calls %ld, spurious ENOMEM %ld, oversized refused %ld, over the limit in stats %ld, unexpected %ld\n",
		atomic_load(&r->small_ok), atomic_load(&r->spurious),
		atomic_load(&r->big_refused), atomic_load(&r->over_limit),
		atomic_load(&r->unexpected));
	if (atomic_load(&r->unexpected))
		return 4;
	if (!atomic_load(&r->small_ok) || !atomic_load(&r->big_refused))
		return 5;
	if (atomic_load(&r->spurious))
		return 6;
	if (atomic_load(&r->over_limit))
		return 7;
	return 0;
}

/* Open a context with the race's limits (module parameters, then restored). */
static int charge_race_open(struct tctx *t)
{
	char pinned[32], request[32], val[16];
	int ret;

	ret = tether_param_get("max_pinned_mb", pinned, sizeof(pinned));
	if (!ret)
		ret = tether_param_get("max_request_mb", request, sizeof(request));
	if (ret)
		return ret;
	snprintf(val, sizeof(val), "%d", RACE_MAX_PINNED_MB);
	ret = tether_param_set("max_pinned_mb", val);
	snprintf(val, sizeof(val), "%d", RACE_MAX_REQUEST_MB);
	if (!ret)
		ret = tether_param_set("max_request_mb", val);
	if (!ret)
		ret = tctx_open(t);
	tether_param_set("max_pinned_mb", pinned);
	tether_param_set("max_request_mb", request);
	return ret;
}

/* As root: the context's own limits (CAP_IPC_LOCK lifts RLIMIT_MEMLOCK). */
TEST(charge_checks_before_adding)
{
	struct charge_race *r = calloc(1, sizeof(*r));

	ASSERT_NE(NULL, r);
	if (geteuid() != 0)
		SKIP(free(r); return, "needs root to set the limits");
	ASSERT_EQ(0, charge_race_open(&r->t));
	r->big_req_len = ((size_t)RACE_MAX_REQUEST_MB << 20) + page_size();
	r->big_pin_len = ((size_t)RACE_MAX_PINNED_MB << 20) + page_size();
	ASSERT_EQ(0, charge_race_run(r));
	tctx_close(&r->t);
	free(r);
}

/*
 * As nobody with a 1 MiB RLIMIT_MEMLOCK (opened as root, then setuid in a
 * forked child): the oversized secure exceeds RLIMIT_MEMLOCK only, and
 * VmPin must stay within it too.
 */
TEST(charge_checks_before_adding_unprivileged)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		SKIP(return, "needs root to set the limits and become nobody");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 1 << 20, 1 << 20 };
		struct charge_race *r = calloc(1, sizeof(*r));

		if (!r || charge_race_open(&r->t))
			_exit(20);
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) || setuid(65534))
			_exit(21);
		r->memlock_kb = 1024;
		r->big_req_len = ((size_t)RACE_MAX_REQUEST_MB << 20) + page_size();
		r->big_pin_len = (2 << 20) + page_size();
		_exit(charge_race_run(r));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
