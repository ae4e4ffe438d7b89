// SPDX-License-Identifier: GPL-2.0
/*
 * Invalidation events: for each way the mapping under a secured range can
 * change, the exact event (handle, cookie, reason, affected part), or the
 * exact absence of one when the pages provably stay.
 */
#include <dirent.h>
#include <numa.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/wait.h>

#include "tether_test.h"

#define HPAGE (2UL << 20)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The highest NUMA node number (0 without NUMA). */
static int numa_max_node_(void)
{
	return numa_available() < 0 ? 0 : numa_max_node();
}

FIXTURE(ev) {
	struct tctx t;
	size_t ps;
};

FIXTURE_SETUP(ev)
{
	self->t.fd = -1;
	tctx_open_or_skip(_metadata, &self->t);
	self->ps = page_size();
}

FIXTURE_TEARDOWN(ev)
{
	tctx_close(&self->t);
}

TEST_F(ev, munmap_whole)
{
	size_t len = 4 * self->ps;
	char *buf = map_anon(len);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, len, 0, 0xc0ffee, &s));
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf, buf + len);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0, trelease(&self->t, s.handle));
}

TEST_F(ev, munmap_partial_then_rest)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, TETHER_SECURE_PIN, 1, &s));
	ASSERT_EQ(0, munmap(buf + ps, 2 * ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf + ps, buf + 3 * ps);
	/* invalidated: later changes add nothing */
	ASSERT_EQ(0, munmap(buf, ps));
	ASSERT_EQ(0, munmap(buf + 3 * ps, ps));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0, trelease(&self->t, s.handle));
}

TEST_F(ev, munmap_spanning_two)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure a, b;
	struct tether_event e1, e2, *ea, *eb;

	ASSERT_EQ(0, tsecure(&self->t, buf, 2 * ps, 0, 'a', &a));
	ASSERT_EQ(0, tsecure(&self->t, buf + 2 * ps, 2 * ps, 0, 'b', &b));
	ASSERT_EQ(0, munmap(buf + ps, 2 * ps));
	ASSERT_EQ(1, tnext(&self->t, &e1));
	ASSERT_EQ(1, tnext(&self->t, &e2));
	ASSERT_NO_EVENT(&self->t);
	ea = e1.handle == a.handle ? &e1 : &e2;
	eb = e1.handle == a.handle ? &e2 : &e1;
	ASSERT_EQ(a.handle, ea->handle);
	ASSERT_EQ(b.handle, eb->handle);
	ASSERT_EQ('a', ea->cookie);
	ASSERT_EQ('b', eb->cookie);
	ASSERT_EQ((uintptr_t)buf + ps, ea->start);
	ASSERT_EQ((uintptr_t)buf + 2 * ps, ea->end);
	ASSERT_EQ((uintptr_t)buf + 2 * ps, eb->start);
	ASSERT_EQ((uintptr_t)buf + 3 * ps, eb->end);
	ASSERT_EQ(e1.seq + 1, e2.seq);
	ASSERT_FALSE(tvalid(&self->t, &a));
	ASSERT_FALSE(tvalid(&self->t, &b));
	munmap(buf, 4 * ps);
}

TEST_F(ev, unaligned_range_rounds_out)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	/* bytes 100..ps+50 touch pages 0 and 1 */
	ASSERT_EQ(0, tsecure(&self->t, buf + 100, ps - 50, 0, 0, &s));
	ASSERT_EQ(0, munmap(buf + 2 * ps, 2 * ps));	/* outside: nothing */
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &s));
	ASSERT_EQ(0, munmap(buf, 2 * ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf, buf + 2 * ps);
}

TEST_F(ev, mremap_move)
{
	size_t len = 4 * self->ps;
	char *buf = map_anon(len);
	char *dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct tether_cmd_secure s;

	ASSERT_NE(MAP_FAILED, dst);
	ASSERT_EQ(0, tsecure(&self->t, buf, len, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(dst, mremap(buf, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf, buf + len);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0x5a, dst[0]);
	munmap(dst, len);
}

TEST_F(ev, mremap_shrink)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, 0, 0, &s));
	ASSERT_EQ(buf, mremap(buf, 4 * ps, 2 * ps, 0));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf + 2 * ps, buf + 4 * ps);
	munmap(buf, 2 * ps);
}

TEST_F(ev, mremap_grow_in_place_keeps)
{
	size_t ps = self->ps;
	char *buf = map_anon(8 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, munmap(buf + 4 * ps, 4 * ps));
	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(buf, mremap(buf, 4 * ps, 8 * ps, 0));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &s));
	munmap(buf, 8 * ps);
}

TEST_F(ev, madv_dontneed)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, 0, 0, &s));
	ASSERT_EQ(0, madvise(buf + ps, ps, MADV_DONTNEED));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf + ps, buf + 2 * ps);
	/* the page really was replaced: it reads back as zero */
	ASSERT_EQ(0, buf[ps]);
	munmap(buf, 4 * ps);
}

TEST_F(ev, madv_free)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, 0, 0, &s));
	ASSERT_EQ(0, madvise(buf, 2 * ps, MADV_FREE));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf, buf + 2 * ps);
	munmap(buf, 4 * ps);
}

/* A MAP_SHARED mapping of a memfd of @pages pages, touched. */
static char *map_memfd(int *fd, size_t len)
{
	char *buf;

	*fd = memfd_create("tether-test", MFD_CLOEXEC);
	if (*fd < 0 || ftruncate(*fd, len))
		return MAP_FAILED;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (buf != MAP_FAILED)
		memset(buf, 0x33, len);
	return buf;
}

TEST_F(ev, madv_remove_shmem)
{
	size_t ps = self->ps;
	struct tether_cmd_secure s;
	int fd;
	char *buf = map_memfd(&fd, 4 * ps);

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(0, madvise(buf + 2 * ps, ps, MADV_REMOVE));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf + 2 * ps, buf + 3 * ps);
	ASSERT_EQ(0, buf[2 * ps]);
	munmap(buf, 4 * ps);
	close(fd);
}

TEST_F(ev, memfd_truncated)
{
	size_t ps = self->ps;
	struct tether_cmd_secure s;
	int fd;
	char *buf = map_memfd(&fd, 4 * ps);

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, ftruncate(fd, ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf + ps, buf + 4 * ps);
	munmap(buf, 4 * ps);
	close(fd);
}

TEST_F(ev, mprotect_downgrade_write)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps,
			     TETHER_SECURE_WRITE | TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, mprotect(buf + ps, ps, PROT_READ));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_PROTECTION, buf + ps, buf + 2 * ps);
	munmap(buf, 4 * ps);
}

TEST_F(ev, mprotect_keeps_read_range)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;
	struct tether_stats st;

	/* secured for reading: losing write access changes nothing for it */
	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, mprotect(buf, 4 * ps, PROT_READ));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &s));
	/* nor does getting it back */
	ASSERT_EQ(0, mprotect(buf, 4 * ps, PROT_READ | PROT_WRITE));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_LE(1, st.kept);
	/* losing read access does */
	ASSERT_EQ(0, mprotect(buf + 3 * ps, ps, PROT_NONE));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_PROTECTION, buf + 3 * ps, buf + 4 * ps);
	munmap(buf, 4 * ps);
}

TEST_F(ev, mmap_fixed_over)
{
	size_t ps = self->ps;
	char *buf = map_anon(4 * ps);
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tsecure(&self->t, buf, 4 * ps, 0, 0, &s));
	ASSERT_EQ(buf + ps, mmap(buf + ps, ps, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, buf + ps, buf + 2 * ps);
	munmap(buf, 4 * ps);
}

TEST_F(ev, brk_shrink)
{
	size_t ps = self->ps;
	uintptr_t cur = syscall(SYS_brk, 0);
	uintptr_t base = (cur + ps - 1) & ~(ps - 1);
	struct tether_cmd_secure s;

	ASSERT_EQ(base + 4 * ps, syscall(SYS_brk, base + 4 * ps));
	memset((void *)base, 1, 4 * ps);
	ASSERT_EQ(0, tsecure(&self->t, (void *)base, 4 * ps, 0, 0, &s));
	ASSERT_EQ(base + 2 * ps, syscall(SYS_brk, base + 2 * ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, base + 2 * ps, base + 4 * ps);
	syscall(SYS_brk, cur);
}

/* fork() with a child that runs @child_fn and exits; waits for it. */
static int fork_and(void (*child_fn)(char *, char *, int), char *a, char *b, int arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_fn(a, b, arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void child_nothing(char *a, char *b, int n)
{
}

static void child_writes(char *a, char *b, int n)
{
	memset(a, 0xcc, n);
	memset(b, 0xcc, n);
}

TEST_F(ev, fork_untouched_keeps)
{
	size_t len = 4 * self->ps;
	char *a = map_anon(len), *b = map_anon(len);
	struct tether_cmd_secure sa, sb;
	struct tether_stats st;

	ASSERT_EQ(0, tsecure(&self->t, a, len, 0, 0, &sa));
	ASSERT_EQ(0, tsecure(&self->t, b, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &sb));
	ASSERT_EQ(0, fork_and(child_nothing, a, b, 0));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &sa));
	ASSERT_TRUE(tvalid(&self->t, &sb));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_LE(1, st.kept); /* the notifier did run: fork write-protected a */
	munmap(a, len);
	munmap(b, len);
}

TEST_F(ev, fork_child_writes_keeps)
{
	size_t len = 4 * self->ps;
	char *a = map_anon(len), *b = map_anon(len);
	struct tether_cmd_secure sa, sb;

	ASSERT_EQ(0, tsecure(&self->t, a, len, 0, 0, &sa));
	ASSERT_EQ(0, tsecure(&self->t, b, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &sb));
	ASSERT_EQ(0, fork_and(child_writes, a, b, len));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &sa));
	ASSERT_TRUE(tvalid(&self->t, &sb));
	ASSERT_EQ(0x5a, a[0]);
	ASSERT_EQ(0x5a, b[len - 1]);
	munmap(a, len);
	munmap(b, len);
}

TEST_F(ev, fork_then_parent_writes)
{
	size_t ps = self->ps, len = 4 * ps;
	char *a = map_anon(len), *b = map_anon(len);
	struct tether_cmd_secure sa, sb;
	uint64_t pfn_a, pfn_b;
	int release, status;
	pid_t pid;

	ASSERT_EQ(0, tsecure(&self->t, a, len, 0, 0, &sa));
	ASSERT_EQ(0, tsecure(&self->t, b, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &sb));
	pfn_a = pfn_of(a);
	pfn_b = pfn_of(b);
	ASSERT_NE(0, pfn_a);
	/* a child keeps sharing the pages until the parent has written */
	pid = fork_holder(&release);
	ASSERT_LE(0, pid);
	ASSERT_NO_EVENT(&self->t);
	/* a: copy-on-write, the parent's write moves it to a new page */
	a[0] = 1;
	ASSERT_EVENT(&self->t, &sa, TETHER_REASON_CLEAR, a, a + ps);
	ASSERT_NE(pfn_a, pfn_of(a));
	/* b: pinned, so fork copied it for the child; the parent keeps its page */
	b[0] = 1;
	b[len - 1] = 1;
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &sb));
	ASSERT_EQ(pfn_b, pfn_of(b));
	close(release);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	munmap(a, len);
	munmap(b, len);
}

/* A 2 MiB-aligned anonymous area of @n huge pages. */
static char *map_huge_aligned(size_t n)
{
	char *raw = mmap(NULL, (n + 1) * HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		return raw;
	p = (char *)(((uintptr_t)raw + HPAGE - 1) & ~(HPAGE - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + n * HPAGE, raw + (n + 1) * HPAGE - (p + n * HPAGE));
	return p;
}

/* AnonHugePages (kB) of the mapping that contains @addr, from smaps. */
static long anon_huge_kb(const void *addr)
{
	char line[512];
	unsigned long lo, hi;
	long kb = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

TEST_F(ev, thp_split_reported_conservatively)
{
	size_t ps = self->ps;
	char *p = map_huge_aligned(1);
	struct tether_cmd_secure s;
	uint64_t pfn;

	ASSERT_NE(MAP_FAILED, p);
	madvise(p, HPAGE, MADV_HUGEPAGE);
	memset(p, 7, HPAGE);
	if (anon_huge_kb(p) < 2048)
		SKIP(munmap(p, HPAGE); return, "no transparent huge page here");
	pfn = pfn_of(p);
	ASSERT_EQ(0, tsecure(&self->t, p, ps, 0, 0, &s));
	/* unmapping the last 4 KiB splits the PMD; the secured page stays */
	ASSERT_EQ(0, munmap(p + HPAGE - ps, ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, p, p + ps);
	ASSERT_EQ(pfn, pfn_of(p));
	ASSERT_EQ(7, p[0]);
	munmap(p, HPAGE - ps);
}

/*
 * Another process that acts on this one's memory (move_pages(),
 * process_madvise()). It is forked before the memory it acts on exists, so
 * it shares none of those pages: shared pages can neither be moved without
 * MPOL_MF_MOVE_ALL nor collapsed.
 */
struct remote {
	pid_t pid;
	int cmd;	/* write end: requests */
	int res;	/* read end: results */
};

enum { REMOTE_MOVE, REMOTE_COLLAPSE };

struct remote_req {
	int op;
	int node;
	char *addr;
	size_t len;
};

static int remote_do(pid_t target, const struct remote_req *rq)
{
	size_t ps = page_size(), n = rq->len / ps, i;

	if (rq->op == REMOTE_MOVE) {
		void *pages[64];
		int nodes[64], st[64];

		if (n > 64)
			return -E2BIG;
		for (i = 0; i < n; i++) {
			pages[i] = rq->addr + i * ps;
			nodes[i] = rq->node;
		}
		long left = move_pages(target, n, pages, nodes, st, MPOL_MF_MOVE);

		if (left < 0)
			return -errno;
		if (left > 0)
			return -EBUSY; /* that many pages were not moved */
		for (i = 0; i < n; i++)
			if (st[i] != rq->node)
				return st[i] < 0 ? st[i] : -EIO;
		return 0;
	} else {
		struct iovec iov = { .iov_base = rq->addr, .iov_len = rq->len };
		int pidfd = syscall(SYS_pidfd_open, target, 0);
		long ret;

		if (pidfd < 0)
			return -errno;
		ret = syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_COLLAPSE, 0);
		ret = ret == (long)rq->len ? 0 : -errno;
		close(pidfd);
		return ret;
	}
}

static int remote_start(struct remote *r)
{
	int cmd[2], res[2];
	pid_t parent = getpid();

	if (pipe(cmd) || pipe(res))
		return -1;
	r->pid = fork();
	if (r->pid < 0)
		return -1;
	if (r->pid == 0) {
		struct remote_req rq;
		int ret;

		close(cmd[1]);
		close(res[0]);
		while (read(cmd[0], &rq, sizeof(rq)) == sizeof(rq)) {
			ret = remote_do(parent, &rq);
			if (write(res[1], &ret, sizeof(ret)) != sizeof(ret))
				break;
		}
		_exit(0);
	}
	close(cmd[0]);
	close(res[1]);
	r->cmd = cmd[1];
	r->res = res[0];
	return 0;
}

/* Ask the other process to do @rq; its result (0 or -errno). */
static int remote_call(struct remote *r, int op, void *addr, size_t len, int node)
{
	struct remote_req rq = { .op = op, .addr = addr, .len = len, .node = node };
	int ret;

	if (write(r->cmd, &rq, sizeof(rq)) != sizeof(rq) ||
	    read(r->res, &ret, sizeof(ret)) != sizeof(ret))
		return -EPIPE;
	return ret;
}

static void remote_stop(struct remote *r)
{
	close(r->cmd);
	close(r->res);
	waitpid(r->pid, NULL, 0);
}

TEST_F(ev, collapse_by_other_process)
{
	size_t ps = self->ps;
	struct remote other;
	struct tether_cmd_secure s;
	char *p;
	int ret;

	ASSERT_EQ(0, remote_start(&other));
	p = map_huge_aligned(1);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_NOHUGEPAGE));
	memset(p, 9, HPAGE);
	ASSERT_EQ(0, anon_huge_kb(p));
	ASSERT_EQ(0, madvise(p, HPAGE, MADV_HUGEPAGE));
	ASSERT_EQ(0, tsecure(&self->t, p + ps, ps, 0, 0, &s));
	ret = remote_call(&other, REMOTE_COLLAPSE, p, HPAGE, 0);
	remote_stop(&other);
	ASSERT_EQ(0, ret) TH_LOG("process_madvise(MADV_COLLAPSE): %s", strerror(-ret));
	ASSERT_EQ(2048, anon_huge_kb(p));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, p + ps, p + 2 * ps);
	ASSERT_EQ(9, p[ps]);
	munmap(p, HPAGE);
}

/* The NUMA node of the page at @addr, or a negative errno. */
static int node_of(void *addr)
{
	int status = -1;

	if (move_pages(0, 1, &addr, NULL, &status, 0))
		return -errno;
	return status;
}

TEST_F(ev, migration_by_other_process)
{
	size_t ps = self->ps, n = 4;
	struct remote other;
	struct tether_cmd_secure s;
	char *buf;
	int ret;

	if (numa_max_node_() < 1)
		SKIP(return, "one NUMA node");
	ASSERT_EQ(0, remote_start(&other));
	buf = map_anon(n * ps);
	ASSERT_EQ(0, node_of(buf));
	ASSERT_EQ(0, tsecure(&self->t, buf, n * ps, 0, 0, &s));
	ret = remote_call(&other, REMOTE_MOVE, buf, n * ps, 1);
	remote_stop(&other);
	ASSERT_EQ(0, ret) TH_LOG("move_pages: %s", strerror(-ret));
	ASSERT_EQ(1, node_of(buf));
	ASSERT_EQ(1, node_of(buf + (n - 1) * ps));
	/*
	 * The pages are migrated in the order given, each unmapped on its own
	 * (try_to_migrate_one(), MMU_NOTIFY_CLEAR on 6.1 and 6.12: REASON_MIGRATE
	 * is only device migration): the first page's unmapping invalidated
	 * the range, for exactly that page; the rest add nothing.
	 */
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf, buf + ps);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0x5a, buf[0]);
	munmap(buf, n * ps);
}

/*
 * move_pages() of long-term pinned pages: the kernel unmaps the first page
 * for migration (notifying, CLEAR for exactly that page), finds it pinned,
 * puts it back and gives up (EBUSY). Nothing moved, but the notifier cannot
 * know that yet: the range is invalidated, conservatively, once.
 */
TEST_F(ev, migration_of_pinned_pages_refused)
{
	size_t ps = self->ps, n = 4, i;
	uint64_t pfn[4];
	struct remote other;
	struct tether_cmd_secure s;
	char *buf;
	int ret;

	if (numa_max_node_() < 1)
		SKIP(return, "one NUMA node");
	ASSERT_EQ(0, remote_start(&other));
	buf = map_anon(n * ps);
	ASSERT_EQ(0, tsecure(&self->t, buf, n * ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	for (i = 0; i < n; i++)
		pfn[i] = pfn_of(buf + i * ps);
	ret = remote_call(&other, REMOTE_MOVE, buf, n * ps, 1);
	remote_stop(&other);
	/* long-term pinned pages do not move */
	ASSERT_EQ(-EBUSY, ret) TH_LOG("move_pages of pinned pages: %s", strerror(-ret));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, node_of(buf + i * ps));
		ASSERT_EQ(pfn[i], pfn_of(buf + i * ps));
	}
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf, buf + ps);
	ASSERT_NO_EVENT(&self->t);
	munmap(buf, n * ps);
}

/*
 * Compaction started by another process moves whatever it likes: every
 * secured page whose frame changed must have had its event, and every page
 * whose frame stayed must have had none.
 */
TEST_F_TIMEOUT(ev, compaction_by_other_process, 120)
{
	enum { N = 256 };
	size_t ps = self->ps;
	struct tether_cmd_secure s[N];
	uint64_t before[N];
	unsigned char got[N] = { 0 };
	struct tether_event e;
	int status, i, moved = 0;
	uint64_t seq = 0;
	char *buf, *holes;
	pid_t pid;

	if (geteuid() != 0 || access("/proc/sys/vm/compact_memory", W_OK))
		SKIP(return, "needs root and /proc/sys/vm/compact_memory");
	/* interleave with pages we free again, to give compaction work */
	holes = map_anon(2 * N * ps);
	buf = map_anon(N * ps);
	ASSERT_NE(MAP_FAILED, holes);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, madvise(holes, 2 * N * ps, MADV_DONTNEED));
	for (i = 0; i < N; i++) {
		before[i] = pfn_of(buf + i * ps);
		ASSERT_NE(0, before[i]);
		ASSERT_EQ(0, tsecure(&self->t, buf + i * ps, ps, 0, i, &s[i]));
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

		_exit(fd >= 0 && write(fd, "1", 1) == 1 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/*
	 * Each range is one page: its event names that range and page
	 * exactly, with CLEAR (compaction migrates through try_to_migrate_one()
	 * like move_pages()), in sequence order.
	 */
	while (tnext(&self->t, &e)) {
		ASSERT_EQ(TETHER_EVENT_INVALIDATE, e.type);
		ASSERT_LT(e.cookie, N);
		ASSERT_EQ(0, got[e.cookie]);
		got[e.cookie] = 1;
		ASSERT_EQ(s[e.cookie].handle, e.handle);
		ASSERT_EQ(TETHER_REASON_CLEAR, e.reason)
			TH_LOG("page %llu: reason %u", (unsigned long long)e.cookie, e.reason);
		ASSERT_EQ((uintptr_t)buf + e.cookie * ps, e.start);
		ASSERT_EQ((uintptr_t)buf + (e.cookie + 1) * ps, e.end);
		ASSERT_EQ(++seq, e.seq);
	}
	for (i = 0; i < N; i++) {
		int changed = pfn_of(buf + i * ps) != before[i];

		moved += changed;
		ASSERT_EQ(changed, got[i]) TH_LOG("page %d: frame %s, event %s", i,
						  changed ? "changed" : "same",
						  got[i] ? "seen" : "none");
		ASSERT_EQ(!changed, tvalid(&self->t, &s[i]));
	}
	TH_LOG("compaction moved %d of %d secured pages", moved, N);
	munmap(buf, N * ps);
	munmap(holes, 2 * N * ps);
}

TEST_F(ev, section_view_unmapped)
{
	size_t len = 4 * self->ps;
	int sfd = section_anon(self->t.fd, 2 * len);
	struct tether_cmd_secure a, b;
	char *rw, *ro;

	ASSERT_LE(0, sfd);
	rw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	ro = mmap(NULL, len, PROT_READ, MAP_SHARED, sfd, len);
	ASSERT_NE(MAP_FAILED, rw);
	ASSERT_NE(MAP_FAILED, ro);
	close(sfd); /* the views keep the section */
	memset(rw, 3, len);
	ASSERT_EQ(0, tsecure(&self->t, rw, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 'w', &a));
	ASSERT_EQ(0, tsecure(&self->t, ro, len, 0, 'r', &b));
	ASSERT_EQ(0, munmap(rw, len));
	ASSERT_EVENT(&self->t, &a, TETHER_REASON_UNMAP, rw, rw + len);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &b));
	ASSERT_EQ(0, munmap(ro, len));
	ASSERT_EVENT(&self->t, &b, TETHER_REASON_UNMAP, ro, ro + len);
}

/*
 * A write PIN of a MAP_SHARED mapping of a file that needs dirty tracking
 * (ext4) is refused with EOPNOTSUPP on every kernel: tether applies the
 * rule of 6.5's vma_needs_dirty_tracking() itself, before GUP (which says
 * EFAULT on 6.5+ and takes the pin on 6.1). Also when only the range's last
 * page is such a mapping, with nothing left pinned. Read pins and plain
 * watching work everywhere.
 */
TEST_F_TIMEOUT(ev, write_pin_shared_file, 120)
{
	long long held = pins_held();
	size_t len = 4 * self->ps;
	struct tether_cmd_secure s;
	struct tether_stats st;
	struct ext4_disk disk;
	char path[128];
	char *buf, *mix;
	int fd;

	if (geteuid() != 0)
		SKIP(return, "needs root for a loop-mounted ext4");
	EXT4_DISK_MOUNT_OR_SKIP(&disk);

	snprintf(path, sizeof(path), "%s/file", disk.dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, len);

	ASSERT_EQ(-EOPNOTSUPP, tsecure(&self->t, buf, len,
				       TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	/* 600 anonymous pages (more than one pin chunk), then one file page */
	mix = mmap(NULL, 601 * self->ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mix);
	memset(mix, 2, 600 * self->ps);
	ASSERT_EQ(mix + 600 * self->ps,
		  mmap(mix + 600 * self->ps, self->ps, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_FIXED, fd, 0));
	ASSERT_EQ(-EOPNOTSUPP, tsecure(&self->t, mix, 601 * self->ps,
				       TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(0, st.regions);
	/* the anonymous part alone is fine */
	ASSERT_EQ(0, tsecure(&self->t, mix, 600 * self->ps,
			     TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(0, trelease(&self->t, s.handle));
	ASSERT_EQ(0, munmap(mix, 601 * self->ps));
	/* reading pins and plain watching work everywhere */
	ASSERT_EQ(0, tsecure(&self->t, buf, len, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, trelease(&self->t, s.handle));
	ASSERT_EQ(0, tsecure(&self->t, buf, len, TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_CLEAR, buf, buf + len);

	munmap(buf, len);
	close(fd);
	ASSERT_EQ(0, ext4_disk_unmount(&disk));
}

TEST_F_TIMEOUT(ev, numa_hinting_keeps_pinned, 120)
{
	const char *knob = "/proc/sys/kernel/numa_balancing";
	size_t len = 64 * self->ps;
	long long updates0;
	struct tether_cmd_secure s;
	struct tether_stats st;
	char old[8] = "0";
	cpu_set_t cpus;
	char *buf;
	int fd, i;

	if (numa_max_node_() < 1)
		SKIP(return, "one NUMA node");
	fd = open(knob, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		SKIP(return, "no NUMA balancing in this kernel");
	if (read(fd, old, sizeof(old) - 1) <= 0)
		old[0] = '0';
	close(fd);
	old[1] = 0;

	/* pages on node 0, the task on node 1's CPU, balancing on */
	buf = map_anon(len);
	ASSERT_EQ(0, tsecure(&self->t, buf, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(0, set_mempolicy(MPOL_DEFAULT, NULL, 0));
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	ASSERT_EQ(0, write_file(knob, "1"));
	updates0 = vmstat("numa_pte_updates");
	/* balancing scans tasks that use CPU time: keep busy for up to 30 s */
	for (i = 0; i < 300; i++) {
		volatile char *v = buf;
		struct timespec t0, t1;
		size_t off;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (off = 0; off < len; off += self->ps)
				v[off]++;
			clock_gettime(CLOCK_MONOTONIC, &t1);
		} while ((t1.tv_sec - t0.tv_sec) * 1000000000L + t1.tv_nsec - t0.tv_nsec < 100000000L);
		ASSERT_EQ(0, tstats(&self->t, &st));
		if (st.kept && vmstat("numa_pte_updates") > updates0)
			break;
	}
	write_file(knob, old);
	if (!st.kept)
		SKIP(munmap(buf, len); return, "NUMA balancing did not scan in 30 s");
	/* the hinting passes went over the range and left it valid */
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &s));
	TH_LOG("kept %llu notifier calls, numa_pte_updates +%lld",
	       (unsigned long long)st.kept, vmstat("numa_pte_updates") - updates0);
	munmap(buf, len);
}

TEST_HARNESS_MAIN
