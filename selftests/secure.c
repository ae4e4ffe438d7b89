// SPDX-License-Identifier: GPL-2.0
/*
 * TETHER_IOC_SECURE / RELEASE / RELEASE_BATCH / GET_STATS: validation,
 * handles, limits (regions, pinned bytes, RLIMIT_MEMLOCK), calls from another
 * address space, the size rules of every ioctl struct, and the lifetime of
 * ranges and pins (close, exit, exec, kill), checked through the kernel's own
 * views: /proc/self/status VmPin, /proc/vmstat pin counters, debugfs.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tether_test.h"

#define PAGES 16

FIXTURE(secured) {
	struct tctx t;
	char *buf;
	size_t len;
};

FIXTURE_SETUP(secured)
{
	self->t.fd = -1;
	tctx_open_or_skip(_metadata, &self->t);
	self->len = PAGES * page_size();
	self->buf = map_anon(self->len);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(secured)
{
	tctx_close(&self->t);
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, self->len);
}

TEST_F(secured, info_reports_secure)
{
	ASSERT_TRUE(self->t.info.features & TETHER_FEATURE_SECURE);
	ASSERT_LE(64, self->t.info.ring_entries);
	ASSERT_EQ(0, self->t.info.ring_entries & (self->t.info.ring_entries - 1));
	ASSERT_LE(1, self->t.info.max_regions);
	ASSERT_EQ(self->t.info.ring_entries, self->t.hdr->entries);
	ASSERT_EQ(self->t.info.max_regions, self->t.hdr->validity_entries);
	ASSERT_EQ(sizeof(struct tether_event), self->t.hdr->event_size);
	ASSERT_EQ(0, self->t.hdr->producer);
}

TEST_F(secured, secure_release)
{
	struct tether_cmd_secure s;
	struct tether_stats st;

	ASSERT_EQ(0, tsecure(&self->t, self->buf + 100, 2 * page_size(), 0, 77, &s));
	ASSERT_NE(0, s.handle);
	ASSERT_NE(0, s.generation);
	ASSERT_LT(s.slot, self->t.info.max_regions);
	ASSERT_TRUE(tvalid(&self->t, &s));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.regions);
	ASSERT_EQ(1, st.secured);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(0, trelease(&self->t, s.handle));
	ASSERT_FALSE(tvalid(&self->t, &s));
	ASSERT_EQ(0, self->t.validity[s.slot]);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(1, st.released);
	ASSERT_NO_EVENT(&self->t);
}

TEST_F(secured, validation_einval)
{
	struct tether_cmd_secure s;

	ASSERT_EQ(-EINVAL, tsecure(&self->t, self->buf, 0, 0, 0, &s));
	ASSERT_EQ(-EINVAL, tsecure(&self->t, (void *)(UINTPTR_MAX - 4095), 8192, 0, 0, &s));
	ASSERT_EQ(-EINVAL, tsecure(&self->t, (void *)page_size(), UINT64_MAX, 0, 0, &s));
	ASSERT_EQ(-EINVAL, tsecure(&self->t, self->buf, 4096, 1u << 7, 0, &s));
	ASSERT_EQ(-EINVAL, tsecure(&self->t, self->buf, 4096, 0x80000000u, 0, &s));

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.addr = (uintptr_t)self->buf;
	s.length = 4096;
	s.__reserved = 1;
	ASSERT_IOCTL_ERR(EINVAL, self->t.fd, TETHER_IOC_SECURE, &s);
}

TEST_F(secured, validation_efault)
{
	struct tether_cmd_secure s;
	size_t ps = page_size();

	/* a hole in the middle */
	ASSERT_EQ(0, munmap(self->buf + 4 * ps, ps));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf, 8 * ps, 0, 0, &s));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf, 8 * ps, TETHER_SECURE_PIN, 0, &s));
	/* the part before the hole is fine */
	ASSERT_EQ(0, tsecure(&self->t, self->buf, 4 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, trelease(&self->t, s.handle));

	/* write asked on read-only memory */
	ASSERT_EQ(0, mprotect(self->buf + 8 * ps, 4 * ps, PROT_READ));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf + 8 * ps, 4 * ps, TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf + 8 * ps, 4 * ps,
				   TETHER_SECURE_WRITE | TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, tsecure(&self->t, self->buf + 8 * ps, 4 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, trelease(&self->t, s.handle));

	/* no access at all */
	ASSERT_EQ(0, mprotect(self->buf + 12 * ps, 4 * ps, PROT_NONE));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf + 12 * ps, ps, 0, 0, &s));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, self->buf + 12 * ps, ps, TETHER_SECURE_PIN, 0, &s));

	/* kernel addresses, and nothing mapped at all */
	ASSERT_EQ(-EFAULT, tsecure(&self->t, (void *)0xffff888000000000ull, ps, 0, 0, &s));
	ASSERT_EQ(-EFAULT, tsecure(&self->t, (void *)ps, ps, 0, 0, &s));

	/* nothing was left behind by the failures */
	struct tether_stats st;

	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
}

/*
 * A PIN secure that fails part-way unwinds every pin it took. In each case
 * the front of the range is pinnable, so pin_user_pages_fast() pins it
 * before it meets the bad part: the kernel's own pin counters (not only the
 * context's charge, which every error path undoes) must be back where they
 * were, and so must VmPin. The first case spans more than one pinning chunk
 * (512 pages), so whole earlier chunks are unwound too.
 */
TEST(partial_pin_unwinds)
{
	size_t ps = page_size(), big = 1040 * ps;
	long long held = pins_held();
	long vmpin = proc_status_kb("VmPin");
	struct tether_cmd_secure s;
	struct tether_stats st;
	struct tctx t;
	char *a, *b;

	ASSERT_EQ(0, tctx_open(&t));
	a = map_anon(big);
	b = map_anon(16 * ps);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);

	/* a hole at page 600: pages 0..599 (a whole chunk and more) pin first */
	ASSERT_EQ(0, munmap(a + 600 * ps, ps));
	ASSERT_EQ(-EFAULT, tsecure(&t, a, big, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(held, pins_held()) TH_LOG("hole: %lld pins left", pins_held() - held);
	ASSERT_EQ(-EFAULT, tsecure(&t, a, big, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(held, pins_held());

	/* the second half PROT_NONE */
	ASSERT_EQ(0, mprotect(b + 8 * ps, 8 * ps, PROT_NONE));
	ASSERT_EQ(-EFAULT, tsecure(&t, b, 16 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(held, pins_held()) TH_LOG("PROT_NONE: %lld pins left", pins_held() - held);

	/* the second half read-only, pinned for writing */
	ASSERT_EQ(0, mprotect(b + 8 * ps, 8 * ps, PROT_READ));
	ASSERT_EQ(-EFAULT, tsecure(&t, b, 16 * ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(held, pins_held()) TH_LOG("read-only: %lld pins left", pins_held() - held);
	/* ... while a read pin of the same range works and counts */
	ASSERT_EQ(0, tsecure(&t, b, 16 * ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(held + 16, pins_held());
	ASSERT_EQ(0, trelease(&t, s.handle));

	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(vmpin, proc_status_kb("VmPin"));
	ASSERT_EQ(0, tstats(&t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(1, st.secured);
	ASSERT_EQ(0, tpending(&t));
	tctx_close(&t);
	munmap(a, big);
	munmap(b, 16 * ps);
}

/*
 * Releasing a range secured with PIN | WRITE marks its pages dirty: a device
 * may have written them through the pin without any pte being dirtied, and
 * the page's dirty bit is what makes the kernel keep or write back the data.
 * An anonymous page shows it: the CPU's writes dirty only the pte, a pin
 * taken on a present writable pte dirties nothing, so PG_dirty (KPF_DIRTY in
 * /proc/kpageflags) stays clear until the release sets it. A read-only pin
 * leaves it clear; closing the context dirties like a release.
 */
TEST_F(secured, release_dirties_write_pins)
{
	size_t ps = page_size();
	struct tether_cmd_secure w, r, c;
	char *p = self->buf;
	struct tctx other;
	int i;

	if (geteuid() != 0 || page_dirty(p) < 0)
		SKIP(return, "needs root for pagemap and /proc/kpageflags");
	ASSERT_EQ(0, tctx_open(&other));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, page_dirty(p + i * ps)) TH_LOG("page %d dirty before", i);
	ASSERT_EQ(0, tsecure(&self->t, p, ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &w));
	ASSERT_EQ(0, tsecure(&self->t, p + ps, ps, TETHER_SECURE_PIN, 0, &r));
	ASSERT_EQ(0, tsecure(&other, p + 2 * ps, ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &c));
	/* pinning did not dirty them: what follows is the release's doing */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, page_dirty(p + i * ps)) TH_LOG("page %d dirtied by the pin", i);
	ASSERT_EQ(0, trelease(&self->t, r.handle));
	ASSERT_EQ(0, page_dirty(p + ps));
	ASSERT_EQ(0, trelease(&self->t, w.handle));
	ASSERT_EQ(1, page_dirty(p));
	tctx_close(&other);
	ASSERT_EQ(1, page_dirty(p + 2 * ps));
	ASSERT_EQ(0, page_dirty(p + ps));
	ASSERT_NO_EVENT(&self->t);
}

TEST_F(secured, handles_never_reused)
{
	struct tether_cmd_secure s;
	uint64_t last = 0;
	int i;

	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, tsecure(&self->t, self->buf, page_size(), 0, i, &s));
		ASSERT_LT(last, s.handle);
		last = s.handle;
		ASSERT_EQ(0, trelease(&self->t, s.handle));
		/* stale, already released */
		ASSERT_EQ(-ENOENT, trelease(&self->t, s.handle));
	}
	ASSERT_EQ(-ENOENT, trelease(&self->t, 0));
	ASSERT_EQ(-ENOENT, trelease(&self->t, last + 1));
	ASSERT_EQ(-ENOENT, trelease(&self->t, UINT64_MAX));
}

TEST_F(secured, generations_differ_on_slot_reuse)
{
	struct tether_cmd_secure a, b;

	ASSERT_EQ(0, tsecure(&self->t, self->buf, page_size(), 0, 0, &a));
	ASSERT_EQ(0, trelease(&self->t, a.handle));
	ASSERT_EQ(0, tsecure(&self->t, self->buf, page_size(), 0, 0, &b));
	ASSERT_EQ(a.slot, b.slot); /* the slot is reused ... */
	ASSERT_NE(a.generation, b.generation); /* ... a stale entry never matches */
	ASSERT_FALSE(tvalid(&self->t, &a));
	ASSERT_TRUE(tvalid(&self->t, &b));
}

/*
 * Released slots are reused (the validity table has max_regions words), and
 * a reused slot's range gets a handle (and generation) no earlier range
 * had: every old handle, whose slot a new range now holds, gets ENOENT and
 * leaves the new ranges secured and valid.
 */
#define REUSE 64
TEST_F(secured, handle_differs_on_slot_reuse)
{
	struct tether_cmd_secure old[REUSE], cur[REUSE];
	struct tether_stats st;
	uint64_t seen_slots = 0, bit;
	int i, j;

	for (i = 0; i < REUSE; i++) {
		ASSERT_EQ(0, tsecure(&self->t, self->buf, page_size(), 0, i, &old[i]));
		ASSERT_GT(REUSE, old[i].slot) TH_LOG("slot %u", old[i].slot);
		bit = 1ULL << old[i].slot;
		ASSERT_EQ(0, seen_slots & bit);
		seen_slots |= bit;
	}
	for (i = 0; i < REUSE; i++)
		ASSERT_EQ(0, trelease(&self->t, old[i].handle));
	for (i = 0; i < REUSE; i++) {
		ASSERT_EQ(0, tsecure(&self->t, self->buf, page_size(), 0, i, &cur[i]));
		/* only the slots just released are reused */
		ASSERT_NE(0, seen_slots & (1ULL << cur[i].slot));
		for (j = 0; j < REUSE; j++) {
			ASSERT_NE(old[j].handle, cur[i].handle);
			ASSERT_NE(old[j].generation, cur[i].generation);
		}
		ASSERT_NE(0, cur[i].handle);
	}
	for (i = 0; i < REUSE; i++) {
		ASSERT_EQ(-ENOENT, trelease(&self->t, old[i].handle));
		ASSERT_FALSE(tvalid(&self->t, &old[i]));
	}
	for (i = 0; i < REUSE; i++)
		ASSERT_TRUE(tvalid(&self->t, &cur[i]));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(REUSE, st.regions);
	for (i = 0; i < REUSE; i++) {
		ASSERT_EQ(0, trelease(&self->t, cur[i].handle));
		ASSERT_EQ(-ENOENT, trelease(&self->t, cur[i].handle));
	}
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_NO_EVENT(&self->t);
}

TEST_F(secured, handle_of_other_context)
{
	struct tctx other;
	struct tether_cmd_secure s;

	ASSERT_EQ(0, tctx_open(&other));
	ASSERT_EQ(0, tsecure(&other, self->buf, page_size(), 0, 0, &s));
	ASSERT_EQ(-ENOENT, trelease(&self->t, s.handle));
	ASSERT_EQ(0, trelease(&other, s.handle));
	tctx_close(&other);
}

TEST_F(secured, pin_counts_in_kernel_views)
{
	struct tether_cmd_secure s;
	struct tether_stats st;
	long long held = pins_held();
	long vmpin = proc_status_kb("VmPin");

	ASSERT_EQ(0, tsecure(&self->t, self->buf, self->len,
			     TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &s));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(PAGES, st.pinned_pages);
	ASSERT_EQ(vmpin + (long)(self->len / 1024), proc_status_kb("VmPin"));
	ASSERT_EQ(held + PAGES, pins_held());
	ASSERT_EQ(0, trelease(&self->t, s.handle));
	ASSERT_EQ(vmpin, proc_status_kb("VmPin"));
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.pinned_pages);
}

TEST_F(secured, release_batch)
{
	struct tether_cmd_release_batch b = { .size = sizeof(b) };
	struct tether_cmd_secure s[8];
	uint64_t handles[9];
	int i;

	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, tsecure(&self->t, self->buf + i * page_size(),
				     page_size(), TETHER_SECURE_PIN, i, &s[i]));
		handles[i] = s[i].handle;
	}
	/* a bad handle in the middle stops the batch there */
	handles[8] = handles[3];
	handles[3] = 12345678;
	b.handles = (uintptr_t)handles;
	b.count = 5;
	ASSERT_IOCTL_ERR(ENOENT, self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);
	ASSERT_EQ(3, b.done);
	ASSERT_EQ(-ENOENT, trelease(&self->t, s[0].handle));
	ASSERT_EQ(0, trelease(&self->t, s[3].handle));

	b.handles = (uintptr_t)&handles[4];
	b.count = 4;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);
	ASSERT_EQ(4, b.done);

	b.count = 0;
	ASSERT_IOCTL_ERR(EINVAL, self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);
	b.count = TETHER_RELEASE_BATCH_MAX + 1;
	ASSERT_IOCTL_ERR(EINVAL, self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);
	b.count = 1;
	b.handles = 8;
	ASSERT_IOCTL_ERR(EFAULT, self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);
	b.handles = (uintptr_t)handles;
	b.flags = 1;
	ASSERT_IOCTL_ERR(EINVAL, self->t.fd, TETHER_IOC_RELEASE_BATCH, &b);

	struct tether_stats st;

	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
}

TEST(parameters_are_validated)
{
	char old[32];

	if (tether_param_get("ring_entries", old, sizeof(old)))
		SKIP(return, "no tether parameters");
	ASSERT_EQ(-EINVAL, tether_param_set("ring_entries", "100"));	/* not a power of 2 */
	ASSERT_EQ(-EINVAL, tether_param_set("ring_entries", "32"));
	ASSERT_EQ(-EINVAL, tether_param_set("ring_entries", "4194304"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_regions", "0"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_pinned_mb", "0"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_regions", "abc"));
	char now[32];

	ASSERT_EQ(0, tether_param_get("ring_entries", now, sizeof(now)));
	ASSERT_STREQ(old, now);
}

TEST(region_limit_enospc)
{
	char old[32];
	struct tctx t;
	struct tether_cmd_secure s[5];
	char *buf;
	int i;

	if (tether_param_get("max_regions", old, sizeof(old)))
		SKIP(return, "no tether parameters");
	ASSERT_EQ(0, tether_param_set("max_regions", "4"));
	ASSERT_EQ(0, tctx_open(&t));
	ASSERT_EQ(0, tether_param_set("max_regions", old));
	ASSERT_EQ(4, t.info.max_regions);
	buf = map_anon(page_size());
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, tsecure(&t, buf, page_size(), 0, 0, &s[i]));
	ASSERT_EQ(-ENOSPC, tsecure(&t, buf, page_size(), 0, 0, &s[4]));
	ASSERT_EQ(0, trelease(&t, s[1].handle));
	ASSERT_EQ(0, tsecure(&t, buf, page_size(), 0, 0, &s[4]));
	ASSERT_EQ(-ENOSPC, tsecure(&t, buf, page_size(), 0, 0, &s[1]));
	tctx_close(&t);
	munmap(buf, page_size());
}

TEST(pinned_limit_enomem)
{
	char old[32];
	struct tctx t;
	struct tether_cmd_secure s;
	size_t mb = 1 << 20;
	char *buf;

	if (tether_param_get("max_pinned_mb", old, sizeof(old)))
		SKIP(return, "no tether parameters");
	ASSERT_EQ(0, tether_param_set("max_pinned_mb", "1"));
	ASSERT_EQ(0, tctx_open(&t));
	ASSERT_EQ(0, tether_param_set("max_pinned_mb", old));
	ASSERT_EQ(mb, t.info.max_pinned_bytes);
	buf = map_anon(2 * mb);
	ASSERT_EQ(-ENOMEM, tsecure(&t, buf, mb + page_size(), TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, tsecure(&t, buf, mb, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(-ENOMEM, tsecure(&t, buf + mb, page_size(), TETHER_SECURE_PIN, 0, &s));
	/* without PIN nothing is charged */
	ASSERT_EQ(0, tsecure(&t, buf + mb, mb, 0, 0, &s));
	tctx_close(&t);
	munmap(buf, 2 * mb);
}

TEST(rlimit_memlock)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 16 * 4096, 16 * 4096 };
		struct tether_cmd_secure s, s2;
		struct tctx t;
		char *buf;

		if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &rl) || tctx_open(&t))
			_exit(10);
		buf = map_anon(32 * page_size());
		if (tsecure(&t, buf, 17 * page_size(), TETHER_SECURE_PIN, 0, &s) != -ENOMEM)
			_exit(11);
		if (tsecure(&t, buf, 16 * page_size(), TETHER_SECURE_PIN, 0, &s))
			_exit(12);
		if (proc_status_kb("VmPin") != 64)
			_exit(13);
		if (tsecure(&t, buf + 16 * page_size(), page_size(), TETHER_SECURE_PIN, 0, &s2) != -ENOMEM)
			_exit(14);
		/* watching without pinning is not charged */
		if (tsecure(&t, buf + 16 * page_size(), page_size(), 0, 0, &s2))
			_exit(15);
		if (trelease(&t, s.handle) || proc_status_kb("VmPin") != 0)
			_exit(16);
		if (tsecure(&t, buf + 16 * page_size(), 16 * page_size(), TETHER_SECURE_PIN, 0, &s))
			_exit(17);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
}

/*
 * Every call from another mm is refused and changes nothing. The caller
 * leaves one event unread in the ring, so a poll() or read() that skipped
 * the check would see it: poll() must report EPOLLERR alone, read() EPERM.
 */
static int foreign_calls(int fd, const struct tether_cmd_secure *owned, void *buf)
{
	struct tether_cmd_secure s = { .size = sizeof(s), .addr = (uintptr_t)buf,
				   .length = 4096 };
	struct tether_cmd_release r = { .size = sizeof(r), .handle = owned->handle };
	uint64_t handles[1] = { owned->handle };
	struct tether_cmd_release_batch b = { .size = sizeof(b), .count = 1,
					  .handles = (uintptr_t)handles,
					  .done = 77 };
	struct tether_cmd_rearm ra = { .size = sizeof(ra), .next_seq = 77 };
	struct tether_stats st = { .size = sizeof(st) };
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct tether_event ev;

	if (tether_ioctl(fd, TETHER_IOC_SECURE, &s) != -EPERM)
		return 1;
	if (tether_ioctl(fd, TETHER_IOC_RELEASE, &r) != -EPERM)
		return 2;
	if (tether_ioctl(fd, TETHER_IOC_GET_STATS, &st) != -EPERM)
		return 3;
	if (read(fd, &ev, sizeof(ev)) != -1 || errno != EPERM)
		return 4;
	if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED || errno != EPERM)
		return 5;
	if (tether_ioctl(fd, TETHER_IOC_RELEASE_BATCH, &b) != -EPERM || b.done != 77)
		return 6;
	if (tether_ioctl(fd, TETHER_IOC_REARM, &ra) != -EPERM || ra.next_seq != 77)
		return 7;
	if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLERR)
		return 8;
	return 0;
}

/* The counters a foreign call could change, equal in @a and @b? */
static bool same_counts(const struct tether_stats *a, const struct tether_stats *b)
{
	return a->regions == b->regions && a->pinned_pages == b->pinned_pages &&
	       a->secured == b->secured && a->released == b->released &&
	       a->invalidated == b->invalidated && a->events == b->events &&
	       a->dropped == b->dropped && a->overflows == b->overflows;
}

TEST_F(secured, eperm_in_forked_child)
{
	size_t ps = page_size();
	struct tether_cmd_secure s, gone;
	struct tether_stats st0, st;
	int status;
	pid_t pid;

	ASSERT_EQ(0, tsecure(&self->t, self->buf, ps, TETHER_SECURE_PIN, 5, &s));
	/* one event waiting for the owner */
	ASSERT_EQ(0, tsecure(&self->t, self->buf + ps, ps, 0, 6, &gone));
	ASSERT_EQ(0, munmap(self->buf + ps, ps));
	ASSERT_EQ(0, tstats(&self->t, &st0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(foreign_calls(self->t.fd, &s, self->buf));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("foreign call %d was not refused",
						   WEXITSTATUS(status));
	/* nothing changed: counts, the unread event, the owner's range */
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_TRUE(same_counts(&st0, &st));
	ASSERT_EQ(2, st.regions);
	ASSERT_EQ(1, st.pinned_pages);
	ASSERT_EVENT(&self->t, &gone, TETHER_REASON_UNMAP, self->buf + ps, self->buf + 2 * ps);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_TRUE(tvalid(&self->t, &s));
	/* and it is still watched */
	ASSERT_EQ(0, munmap(self->buf, ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, self->buf, self->buf + ps);
	ASSERT_NO_EVENT(&self->t);
}

TEST_F(secured, eperm_over_scm_rights)
{
	size_t ps = page_size();
	struct tether_cmd_secure s, gone;
	struct tether_stats st0, st;
	int sv[2], status;
	pid_t pid;

	ASSERT_EQ(0, tsecure(&self->t, self->buf, ps, 0, 5, &s));
	ASSERT_EQ(0, tsecure(&self->t, self->buf + ps, ps, 0, 6, &gone));
	ASSERT_EQ(0, munmap(self->buf + ps, ps));
	ASSERT_EQ(0, tstats(&self->t, &st0));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;
		char *mine;

		close(sv[0]);
		/* a fresh address space, as a separate program would have */
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(20);
		mine = map_anon(4096);
		_exit(foreign_calls(fd, &s, mine));
	}
	close(sv[1]);
	ASSERT_EQ(0, send_fd(sv[0], self->t.fd));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(sv[0]);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("foreign call %d was not refused",
						   WEXITSTATUS(status));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_TRUE(same_counts(&st0, &st));
	/* the owner still gets what was queued, and what comes next */
	ASSERT_EVENT(&self->t, &gone, TETHER_REASON_UNMAP, self->buf + ps, self->buf + 2 * ps);
	ASSERT_TRUE(tvalid(&self->t, &s));
	ASSERT_EQ(0, munmap(self->buf, ps));
	ASSERT_EVENT(&self->t, &s, TETHER_REASON_UNMAP, self->buf, self->buf + ps);
	ASSERT_NO_EVENT(&self->t);
	ASSERT_EQ(0, trelease(&self->t, s.handle));
}

/*
 * fork() with a pinned range: the child inherits the descriptor and a copy
 * of the memory (pinned pages are copied for it at fork, the owner keeps its
 * frames), writes its copy and exits with the descriptor open. Nothing
 * changes for the owner: the range stays valid on the same frames with no
 * event, its pins are counted once, and closing the context returns them.
 */
TEST(fork_leaves_pins_with_owner)
{
	size_t ps = page_size(), len = 32 * ps;
	long long held = pins_held();
	struct tether_cmd_secure s;
	struct tether_stats st;
	uint64_t pfn, pfn_last;
	struct tctx t;
	int status;
	char *buf;
	pid_t pid;

	ASSERT_EQ(0, tctx_open(&t));
	buf = map_anon(len);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, tsecure(&t, buf, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 9, &s));
	ASSERT_EQ(held + 32, pins_held());
	pfn = pfn_of(buf);
	pfn_last = pfn_of(buf + len - ps);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* its own copy (root sees frames; else pfn is 0) */
		if (pfn && (pfn_of(buf) == pfn || pfn_of(buf + len - ps) == pfn_last))
			_exit(1);
		memset(buf, 0xcc, len);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("the child shared the pinned frames");
	ASSERT_EQ(0, tpending(&t));
	ASSERT_TRUE(tvalid(&t, &s));
	ASSERT_EQ(pfn, pfn_of(buf));
	ASSERT_EQ(pfn_last, pfn_of(buf + len - ps));
	ASSERT_EQ(0x5a, buf[0]);
	ASSERT_EQ(0x5a, buf[len - 1]);
	ASSERT_EQ(held + 32, pins_held());
	ASSERT_EQ(0, tstats(&t, &st));
	ASSERT_EQ(1, st.regions);
	ASSERT_EQ(32, st.pinned_pages);
	ASSERT_EQ(0, st.invalidated);
	tctx_close(&t);
	ASSERT_EQ(held, pins_held());
	munmap(buf, len);
}

TEST(close_releases_everything)
{
	long long held = pins_held();
	long vmpin = proc_status_kb("VmPin");
	size_t len = 64 * page_size();
	struct tether_cmd_secure s;
	struct tctx t;
	char *buf;
	int i;

	ASSERT_EQ(0, tctx_open(&t));
	buf = map_anon(len);
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, tsecure(&t, buf + i * page_size(), page_size(),
				     TETHER_SECURE_PIN | (i & 1 ? TETHER_SECURE_WRITE : 0),
				     0, &s));
	ASSERT_EQ(held + 64, pins_held());
	ASSERT_EQ(vmpin + 256, proc_status_kb("VmPin"));
	tctx_close(&t);
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(vmpin, proc_status_kb("VmPin"));
	munmap(buf, len);
}

/*
 * A child that secures and pins, then ends as @how says (exit, SIGKILL, exec,
 * fork then exit); pins must come back.
 */
static int child_with_pins(int how)
{
	size_t len = 32 * page_size();
	struct tether_cmd_secure s;
	struct tctx t;
	char *buf;

	if (tctx_open(&t))
		return 30;
	buf = map_anon(len);
	if (tsecure(&t, buf, len, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 1, &s))
		return 31;
	switch (how) {
	case 0: /* exit with the fd open */
		return 0;
	case 1: /* killed */
		kill(getpid(), SIGKILL);
		pause();
		return 32;
	case 2: /* exec with the fd inherited (no close-on-exec) */
		if (fcntl(t.fd, F_SETFD, 0))
			return 33;
		execl("/bin/true", "true", (char *)NULL);
		return 34;
	case 3: { /* fork a child that inherits the fd and exits, then exit */
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 36;
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
			return 37;
		/* pinned: fork copied the pages for the child, nothing changed here */
		if (!tvalid(&t, &s) || tpending(&t))
			return 38;
		return 0;
	}
	}
	return 35;
}

TEST(exit_kill_exec_leave_no_pins)
{
	long long held = pins_held();
	int how;

	for (how = 0; how < 4; how++) {
		/* case 1 is killed by SIGKILL, the others exit */
		ASSERT_TRUE(child_ends(child_with_pins, how, how == 1))
			TH_LOG("case %d: the child failed", how);
		ASSERT_EQ(held, pins_held()) TH_LOG("case %d leaked pins", how);
	}
}

/* The debugfs line of the context owned by @pid, or -1. */
static int debugfs_line(pid_t pid, char *line, size_t len)
{
	FILE *f = fopen("/sys/kernel/debug/tether/contexts", "r");
	int found = -1;

	if (!f)
		return -errno;
	while (fgets(line, len, f)) {
		if (atoi(line) == pid) {
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* A context's debugfs columns (kmod/debugfs.c), the ones the tests read. */
struct dbg_ctx {
	char line[512];
	unsigned long long regions, pinned, secured, released, inval, events;
	/* invalidations by reason */
	unsigned long long unmap, clear, protection, migrate, exit, other;
};

/*
 * Wait (10 s at most) until the context of @pid, whose owner has exited,
 * holds no range any more (the module releases them from a work item), and
 * read its columns: 0, or -1 when its line is missing or malformed.
 */
static int debugfs_released(pid_t pid, struct dbg_ctx *d)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (debugfs_line(pid, d->line, sizeof(d->line)) ||
		    sscanf(d->line, "%*d %*s %llu %llu %llu %llu %llu %llu"
			   " %*u %*u %*u %*u %*u %*u"
			   " %llu %llu %llu %llu %llu %llu",
			   &d->regions, &d->pinned, &d->secured, &d->released,
			   &d->inval, &d->events, &d->unmap, &d->clear,
			   &d->protection, &d->migrate, &d->exit, &d->other) != 12)
			return -1;
		if (!d->regions)
			break;
		usleep(50 * 1000);
	}
	return 0;
}

TEST(exit_reported_released_and_debugfs_view)
{
	long long held = pins_held();
	int sv[2], fd, status;
	struct dbg_ctx d;
	pid_t pid;

	if (access("/sys/kernel/debug/tether/contexts", R_OK))
		SKIP(return, "debugfs not mounted");
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct tether_cmd_secure s;
		struct tctx t;
		char *buf;
		int i;

		close(sv[0]);
		if (tctx_open(&t))
			_exit(40);
		buf = map_anon(3 * page_size());
		for (i = 0; i < 3; i++)
			if (tsecure(&t, buf + i * page_size(), page_size(),
				    TETHER_SECURE_PIN, i, &s))
				_exit(41);
		/* the parent keeps the context open after this process exits */
		_exit(send_fd(sv[1], t.fd) ? 42 : 0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_LE(0, fd);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/*
	 * The exit invalidated all three (one event each), and the module
	 * released them and their pins by itself although this process still
	 * holds the file (from a work item: wait for it).
	 */
	ASSERT_EQ(0, debugfs_released(pid, &d)) TH_LOG("debugfs: %s", d.line);
	ASSERT_EQ(0, d.regions);
	ASSERT_EQ(0, d.pinned);
	ASSERT_EQ(3, d.secured);
	ASSERT_EQ(3, d.released);
	ASSERT_EQ(3, d.inval);
	ASSERT_EQ(3, d.events);
	ASSERT_EQ(3, d.exit);
	ASSERT_EQ(held, pins_held());
	close(fd);
	close(sv[0]);
	ASSERT_EQ(-1, debugfs_line(pid, d.line, sizeof(d.line)));
}

#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif

static void *sleep_forever(void *unused)
{
	for (;;)
		pause();
	return NULL;
}

/*
 * A child that secures 64 unpinned pages, passes its context to the parent
 * over @sock and waits, with 16 threads that a SIGKILL must end too. It runs
 * as SCHED_IDLE on the parent's CPU, so that once killed it gets to exit
 * only when the parent sleeps.
 */
static int oom_victim(int sock)
{
	struct sched_param idle = { 0 };
	size_t len = 64 * page_size();
	struct tether_cmd_secure s;
	pthread_t th;
	struct tctx t;
	char *buf;
	int i;

	if (sched_setscheduler(0, SCHED_IDLE, &idle))
		return 49;
	buf = map_anon(len);
	if (buf == MAP_FAILED || tctx_open(&t))
		return 50;
	memset(buf, 7, len);
	if (tsecure(&t, buf, len, 0, 1, &s))
		return 51;
	for (i = 0; i < 16; i++)
		if (pthread_create(&th, NULL, sleep_forever, NULL))
			return 52;
	if (send_fd(sock, t.fd))
		return 53;
	for (;;)
		pause();
}

/*
 * The OOM reaper's path: process_mrelease(), which userspace OOM killers
 * (systemd-oomd, lmkd) call on a process they killed, reaps its anonymous
 * memory with the same __oom_reap_task_mm() as the kernel's OOM reaper,
 * through a non-blockable notifier call, before the victim's own exit_mmap().
 * The victim's secured range gets exactly one event: UNMAP when the reaper
 * got there first, EXIT when the exit did (the victim is made slow to die,
 * but the exit may still win now and then). The reaper must win at least
 * once in a few tries. The victim's context is held by this process; its
 * per-reason counters are read from debugfs.
 */
TEST(oom_reaper_reported)
{
	int tries, reaped = 0, exited = 0;
	long long held = pins_held();
	cpu_set_t all, one;
	struct dbg_ctx d;

	if (access("/sys/kernel/debug/tether/contexts", R_OK))
		SKIP(return, "debugfs not mounted");
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(all), &all));
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(one), &one));
	for (tries = 0; tries < 10 && !reaped; tries++) {
		int sv[2], fd, pidfd, status, ret, mrerr;
		pid_t pid;

		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			close(sv[0]);
			_exit(oom_victim(sv[1]));
		}
		close(sv[1]);
		fd = recv_fd(sv[0]);
		ASSERT_LE(0, fd) TH_LOG("the victim failed to set up");
		pidfd = syscall(SYS_pidfd_open, pid, 0);
		ASSERT_LE(0, pidfd);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		ret = syscall(SYS_process_mrelease, pidfd, 0);
		mrerr = ret ? errno : 0;
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* the release work frees the range once the mm is gone */
		ASSERT_EQ(0, debugfs_released(pid, &d)) TH_LOG("debugfs: %s", d.line);
		ASSERT_EQ(0, d.regions);
		ASSERT_EQ(1, d.inval) TH_LOG("debugfs: %s", d.line);
		ASSERT_EQ(1, d.events);
		/* UNMAP (the reaper) or EXIT, nothing else */
		ASSERT_EQ(1, d.unmap + d.exit) TH_LOG("debugfs: %s", d.line);
		reaped += d.unmap;
		exited += d.exit;
		TH_LOG("try %d: process_mrelease: %s, event %s", tries,
		       mrerr ? strerror(mrerr) : "ok", d.unmap ? "UNMAP" : "EXIT");
		close(pidfd);
		close(fd);
		close(sv[0]);
		ASSERT_EQ(-1, debugfs_line(pid, d.line, sizeof(d.line)));
	}
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(all), &all));
	ASSERT_LT(0, reaped) TH_LOG("the exit won all %d races with process_mrelease()",
				    exited);
	ASSERT_EQ(held, pins_held());
}

/*
 * A SECURE whose reply cannot be written (read-only memory) fails with
 * EFAULT, and its handle never exists: another thread that keeps releasing
 * the handles next in line never releases one of those (handles are
 * predictable), and nothing is left pinned or counted. Before, the range
 * was stored, and could be released, before its reply failed.
 */
struct unseen_race {
	struct tctx *t;
	char *page;
	atomic_int stop;
	atomic_long bad, guesses, errors;
};

static void *unseen_releaser(void *arg)
{
	struct unseen_race *u = arg;
	struct tether_cmd_secure s;
	uint64_t h;

	while (!atomic_load(&u->stop)) {
		if (tsecure(u->t, u->page + page_size(), page_size(), 0, 0, &s) ||
		    trelease(u->t, s.handle)) {
			atomic_fetch_add(&u->errors, 1);
			continue;
		}
		for (h = s.handle + 1; h <= s.handle + 8; h++) {
			atomic_fetch_add(&u->guesses, 1);
			if (!trelease(u->t, h))
				atomic_fetch_add(&u->bad, 1);
		}
	}
	return NULL;
}

TEST_F(secured, unwritable_reply_never_publishes_the_handle)
{
	struct unseen_race u = { .t = &self->t };
	struct tether_stats st0, st;
	struct tether_cmd_secure *ro;
	struct timespec t0, t1;
	long attempts = 0;
	pthread_t th;

	u.page = map_anon(2 * page_size());
	ASSERT_NE(MAP_FAILED, u.page);
	ro = map_anon(page_size());
	ASSERT_NE(MAP_FAILED, ro);
	*ro = (struct tether_cmd_secure) { .size = sizeof(*ro), .addr = (uintptr_t)u.page,
				       .length = page_size(),
				       .flags = TETHER_SECURE_PIN | TETHER_SECURE_WRITE };
	ASSERT_EQ(0, mprotect(ro, page_size(), PROT_READ));
	ASSERT_EQ(0, tstats(&self->t, &st0));
	ASSERT_EQ(0, pthread_create(&th, NULL, unseen_releaser, &u));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ASSERT_EQ(-EFAULT, tether_ioctl(self->t.fd, TETHER_IOC_SECURE, ro));
		attempts++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while (t1.tv_sec - t0.tv_sec < 2);
	atomic_store(&u.stop, 1);
	pthread_join(th, NULL);
	TH_LOG("%ld failed secures, %ld guessed releases", attempts,
	       atomic_load(&u.guesses));
	ASSERT_EQ(0, atomic_load(&u.errors));
	ASSERT_EQ(0, atomic_load(&u.bad));
	ASSERT_LT(0, atomic_load(&u.guesses));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(st0.released, st.released - (st.secured - st0.secured));
	ASSERT_NO_EVENT(&self->t);
	munmap(ro, page_size());
	munmap(u.page, 2 * page_size());
}

/*
 * A newer caller's larger struct with a zero tail works like the current
 * one: each op succeeds, its answer is written, the size field is left as
 * the caller set it, and nothing is written past the kernel's struct.
 */
#define TAIL 24
#define WITH_TAIL(type)							\
	union {								\
		type s;							\
		unsigned char bytes[sizeof(type) + TAIL];		\
	}

static bool tail_zero(const unsigned char *bytes, size_t from)
{
	size_t i;

	for (i = from; i < from + TAIL; i++)
		if (bytes[i])
			return false;
	return true;
}

TEST_F(secured, larger_structs_with_zero_tail)
{
	WITH_TAIL(struct tether_info) info = { 0 };
	WITH_TAIL(struct tether_cmd_secure) sec = { 0 };
	WITH_TAIL(struct tether_cmd_release) rel = { 0 };
	WITH_TAIL(struct tether_cmd_release_batch) batch = { 0 };
	WITH_TAIL(struct tether_cmd_rearm) rearm = { 0 };
	WITH_TAIL(struct tether_stats) st = { 0 };
	uint64_t handles[1];

	info.s.size = sizeof(info);
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_GET_INFO, &info);
	ASSERT_EQ(TETHER_ABI_VERSION, info.s.abi_version);
	ASSERT_EQ(sizeof(info), info.s.size);
	ASSERT_TRUE(tail_zero(info.bytes, sizeof(info.s)));

	sec.s.size = sizeof(sec);
	sec.s.addr = (uintptr_t)self->buf;
	sec.s.length = page_size();
	sec.s.cookie = 3;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_SECURE, &sec);
	ASSERT_NE(0, sec.s.handle);
	ASSERT_NE(0, sec.s.generation);
	ASSERT_TRUE(tail_zero(sec.bytes, sizeof(sec.s)));

	st.s.size = sizeof(st);
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_GET_STATS, &st);
	ASSERT_EQ(1, st.s.regions);
	ASSERT_TRUE(tail_zero(st.bytes, sizeof(st.s)));

	rel.s.size = sizeof(rel);
	rel.s.handle = sec.s.handle;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_RELEASE, &rel);
	ASSERT_TRUE(tail_zero(rel.bytes, sizeof(rel.s)));

	sec.s.handle = 0;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_SECURE, &sec);
	handles[0] = sec.s.handle;
	batch.s.size = sizeof(batch);
	batch.s.handles = (uintptr_t)handles;
	batch.s.count = 1;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_RELEASE_BATCH, &batch);
	ASSERT_EQ(1, batch.s.done);
	ASSERT_TRUE(tail_zero(batch.bytes, sizeof(batch.s)));

	rearm.s.size = sizeof(rearm);
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_REARM, &rearm);
	ASSERT_EQ(0, rearm.s.dropped);
	ASSERT_EQ(1, rearm.s.next_seq);
	ASSERT_TRUE(tail_zero(rearm.bytes, sizeof(rearm.s)));

	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_GET_STATS, &st);
	ASSERT_EQ(0, st.s.regions);
	ASSERT_EQ(2, st.s.released);
	ASSERT_NO_EVENT(&self->t);
}

TEST_HARNESS_MAIN
