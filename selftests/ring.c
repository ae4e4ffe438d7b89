// SPDX-License-Identifier: GPL-2.0
/*
 * Event delivery: read(), poll()/epoll, the mmap()ed ring and its rules,
 * overflow and recovery, and 10 000 ranges in one context.
 */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>

#include "tether_test.h"

FIXTURE(ring) {
	struct tctx t;
	size_t ps;
};

FIXTURE_SETUP(ring)
{
	self->t.fd = -1;
	tctx_open_or_skip(_metadata, &self->t);
	self->ps = page_size();
}

FIXTURE_TEARDOWN(ring)
{
	tctx_close(&self->t);
}

/* Secure one page of a fresh mapping and unmap it: exactly one event. */
static int one_event(struct tctx *t, struct tether_cmd_secure *s, uint64_t cookie)
{
	char *p = map_anon(page_size());
	int ret;

	if (p == MAP_FAILED)
		return -ENOMEM;
	ret = tsecure(t, p, page_size(), 0, cookie, s);
	munmap(p, page_size());
	return ret;
}

TEST_F(ring, read_rules)
{
	struct tether_event ev[4];
	struct tether_cmd_secure s1, s2;
	int fl;

	fl = fcntl(self->t.fd, F_GETFL);
	ASSERT_EQ(0, fcntl(self->t.fd, F_SETFL, fl | O_NONBLOCK));
	ASSERT_EQ(-1, read(self->t.fd, ev, sizeof(ev)));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, one_event(&self->t, &s1, 1));
	ASSERT_EQ(0, one_event(&self->t, &s2, 2));
	/* smaller than one record */
	ASSERT_EQ(-1, read(self->t.fd, ev, sizeof(ev[0]) - 1));
	ASSERT_EQ(EINVAL, errno);
	/* one and a half records: one whole record */
	ASSERT_EQ(sizeof(ev[0]), read(self->t.fd, ev, sizeof(ev[0]) * 3 / 2));
	ASSERT_EQ(s1.handle, ev[0].handle);
	ASSERT_EQ(1, ev[0].seq);
	ASSERT_EQ(sizeof(ev[0]), read(self->t.fd, ev, sizeof(ev)));
	ASSERT_EQ(s2.handle, ev[0].handle);
	ASSERT_EQ(2, ev[0].seq);
	ASSERT_EQ(TETHER_REASON_UNMAP, ev[0].reason);
	ASSERT_EQ(0, ev[0].status);
	ASSERT_EQ(0, ev[0].__reserved1);
	ASSERT_EQ(0, ev[0].__reserved2);
	ASSERT_EQ(-1, read(self->t.fd, ev, sizeof(ev)));
	ASSERT_EQ(EAGAIN, errno);
	/* read() moved the consumer position in the shared page */
	ASSERT_EQ(2, self->t.cons->consumer);
	ASSERT_EQ(2, self->t.hdr->producer);
}

TEST_F(ring, read_bad_buffer)
{
	struct tether_cmd_secure s;

	char *gone = map_anon(self->ps);

	ASSERT_EQ(0, munmap(gone, self->ps));
	ASSERT_EQ(0, one_event(&self->t, &s, 1));
	ASSERT_EQ(-1, read(self->t.fd, gone, sizeof(struct tether_event)));
	ASSERT_EQ(EFAULT, errno);
	/* nothing consumed */
	ASSERT_EQ(1, tpending(&self->t));
}

struct delayed {
	struct tctx *t;
	struct tether_cmd_secure s;
	char *p;
};

static void *unmap_later(void *arg)
{
	struct delayed *d = arg;

	usleep(300 * 1000);
	munmap(d->p, page_size());
	return NULL;
}

TEST_F(ring, blocking_read_wakes)
{
	struct delayed d = { .t = &self->t };
	struct tether_event ev;
	pthread_t th;

	d.p = map_anon(self->ps);
	ASSERT_EQ(0, tsecure(&self->t, d.p, self->ps, 0, 42, &d.s));
	ASSERT_EQ(0, pthread_create(&th, NULL, unmap_later, &d));
	ASSERT_EQ(sizeof(ev), read(self->t.fd, &ev, sizeof(ev)));
	ASSERT_EQ(d.s.handle, ev.handle);
	ASSERT_EQ(42, ev.cookie);
	pthread_join(th, NULL);
}

TEST_F(ring, poll_and_epoll)
{
	struct pollfd pfd = { .fd = self->t.fd, .events = POLLIN };
	struct epoll_event ee = { .events = EPOLLIN }, out;
	struct tether_event ev;
	struct tether_cmd_secure s;
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->t.fd, &ee));
	ASSERT_EQ(0, poll(&pfd, 1, 0));
	ASSERT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, one_event(&self->t, &s, 1));
	ASSERT_EQ(1, poll(&pfd, 1, 1000));
	ASSERT_TRUE(pfd.revents & POLLIN);
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 1000));
	ASSERT_TRUE(out.events & EPOLLIN);
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(0, poll(&pfd, 1, 0));
	ASSERT_EQ(0, epoll_wait(ep, &out, 1, 0));
	close(ep);
}

TEST_F(ring, mmap_rules)
{
	size_t ps = self->ps;
	void *p;

	/* the shared area is read-only, for good */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->t.fd, self->t.info.shared_offset));
	ASSERT_EQ(EACCES, errno);
	p = mmap(NULL, ps, PROT_READ, MAP_SHARED, self->t.fd, self->t.info.shared_offset);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(-1, mprotect(p, ps, PROT_READ | PROT_WRITE));
	ASSERT_EQ(EACCES, errno);
	munmap(p, ps);
	/* larger than the area, private, unknown offsets */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, self->t.info.shared_size + ps, PROT_READ,
				   MAP_SHARED, self->t.fd, self->t.info.shared_offset));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ, MAP_PRIVATE, self->t.fd,
				   self->t.info.shared_offset));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ, MAP_SHARED, self->t.fd, 7 * ps));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_SHARED,
				   self->t.fd, self->t.info.consumer_offset));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ | PROT_EXEC, MAP_SHARED, self->t.fd,
				   self->t.info.shared_offset));
	ASSERT_EQ(EINVAL, errno);
}

/*
 * A context opened read-only: the shared area maps (MAP_SHARED, PROT_READ;
 * the kernel drops VM_SHARED for such a descriptor, not VM_MAYSHARE) and
 * shows the context's own producer count and validity words.
 */
TEST(mmap_from_read_only_descriptor)
{
	struct tether_info info = { .size = sizeof(info) };
	struct tether_ring_header *hdr;
	int fd = open("/dev/tether", O_RDONLY | O_CLOEXEC);
	size_t ps = page_size();

	if (fd < 0 && errno == ENOENT)
		SKIP(return, "tether.ko not loaded");
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, TETHER_IOC_GET_INFO, &info));
	hdr = mmap(NULL, info.shared_size, PROT_READ, MAP_SHARED, fd, info.shared_offset);
	ASSERT_NE(MAP_FAILED, hdr);
	ASSERT_EQ(info.ring_entries, hdr->entries);
	ASSERT_EQ(0, hdr->producer);
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, info.shared_offset));
	ASSERT_EQ(EINVAL, errno);
	/* the consumer page needs writing: refused by mmap() itself */
	ASSERT_EQ(MAP_FAILED, mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
				   info.consumer_offset));
	ASSERT_EQ(EACCES, errno);
	munmap(hdr, info.shared_size);
	close(fd);
}

TEST_F(ring, not_inherited_by_fork)
{
	int status;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* VM_DONTCOPY: the child has no view of the ring */
		_exit(mincore(self->t.shared, self->ps, (unsigned char[1]){0}) == -1 &&
		      errno == ENOMEM ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
}

/* The ring filling up: capacity + 1000 events produced without reading. */
TEST_F_TIMEOUT(ring, overflow_and_recovery, 300)
{
	uint32_t cap = self->t.info.ring_entries;
	uint32_t n = cap + 1000, i;
	size_t ps = self->ps;
	struct tether_cmd_secure *s = calloc(n + 1, sizeof(*s));
	struct tether_cmd_rearm rearm = { .size = sizeof(rearm) };
	struct tether_stats st;
	struct tether_event ev;
	char *buf;

	ASSERT_NE(NULL, s);
	ASSERT_LE(n + 1, self->t.info.max_regions);
	buf = map_anon(n * ps);
	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tsecure(&self->t, buf + i * ps, ps, 0, i, &s[i]));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, munmap(buf + i * ps, ps));

	/* cap - 1 events, then the overflow marker in the last slot */
	ASSERT_EQ(cap, self->t.hdr->producer);
	/* rearming a full ring would leave no room for the next marker */
	ASSERT_IOCTL_ERR(EBUSY, self->t.fd, TETHER_IOC_REARM, &rearm);
	ASSERT_EQ(1, self->t.hdr->overflowed);
	ASSERT_EQ(1, self->t.hdr->overflowed);
	ASSERT_EQ(n - (cap - 1), self->t.hdr->dropped);
	for (i = 0; i < cap - 1; i++) {
		ASSERT_EQ(1, tnext(&self->t, &ev));
		ASSERT_EQ(TETHER_EVENT_INVALIDATE, ev.type);
		ASSERT_EQ(s[i].handle, ev.handle);
		ASSERT_EQ(i + 1, ev.seq);
	}
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(TETHER_EVENT_OVERFLOW, ev.type);
	ASSERT_EQ(cap, ev.seq);
	ASSERT_NO_EVENT(&self->t);
	/* nothing silently lost: every dropped range's validity word changed */
	for (i = 0; i < n; i++)
		ASSERT_FALSE(tvalid(&self->t, &s[i]));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(n, st.invalidated);
	ASSERT_EQ(cap, st.events);
	ASSERT_EQ(n - (cap - 1), st.dropped);
	ASSERT_EQ(1, st.overflows);

	/* stopped until rearmed, even with room again */
	ASSERT_EQ(0, one_event(&self->t, &s[n], 7));
	ASSERT_NO_EVENT(&self->t);
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_REARM, &rearm);
	ASSERT_EQ(n - (cap - 1) + 1, rearm.dropped);
	ASSERT_EQ(cap + 1, rearm.next_seq);
	ASSERT_EQ(0, self->t.hdr->overflowed);
	/* and recovers: the next change is queued with the next sequence number */
	ASSERT_EQ(0, one_event(&self->t, &s[0], 8));
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(s[0].handle, ev.handle);
	ASSERT_EQ(8, ev.cookie);
	ASSERT_EQ(cap + 1, ev.seq);
	/* a second rearm is harmless */
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_REARM, &rearm);
	ASSERT_EQ(0, rearm.dropped);
	free(s);
}

/*
 * read() that returns the overflow marker rearms by itself, and reports in
 * the marker's __reserved2 how many events were dropped (before, rearming
 * discarded that count).
 */
TEST_F_TIMEOUT(ring, overflow_read_rearms, 300)
{
	uint32_t cap = self->t.info.ring_entries, i, got = 0, marker = 0;
	uint64_t dropped = 0;
	struct tether_event ev[64];
	struct tether_cmd_secure s;
	ssize_t r;
	int k;

	for (i = 0; i < cap + 10; i++)
		ASSERT_EQ(0, one_event(&self->t, &s, i));
	ASSERT_EQ(0, fcntl(self->t.fd, F_SETFL, O_NONBLOCK));
	while ((r = read(self->t.fd, ev, sizeof(ev))) > 0) {
		for (k = 0; k < r / (ssize_t)sizeof(ev[0]); k++, got++)
			if (ev[k].type == TETHER_EVENT_OVERFLOW) {
				marker++;
				dropped = ev[k].__reserved2;
			}
	}
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(cap, got);
	ASSERT_EQ(1, marker);
	/* the marker says how many were dropped: its own event and 10 more */
	ASSERT_EQ(11, dropped);
	ASSERT_EQ(0, self->t.hdr->overflowed);
	ASSERT_EQ(0, one_event(&self->t, &s, 99));
	ASSERT_EQ(sizeof(ev[0]), read(self->t.fd, ev, sizeof(ev)));
	ASSERT_EQ(s.handle, ev[0].handle);
}

/*
 * The lead of issue 14: a randomized run once saw read() of a /dev/tether
 * descriptor return 65 bytes. read() copies whole records and counts only
 * those it copied, so it returns a multiple of 64 or an errno. Here a
 * producer floods a 64-entry ring past overflow (256 events per munmap), another
 * thread rearms at random, and the reader (falling behind now and then) reads every size from 1 to
 * 3 * 64 + 1, each ending at a PROT_NONE page so a record that does not
 * fit cannot be half-written either: every return must be whole records,
 * in sequence, or EINVAL (below one record) or EAGAIN.
 */
struct flood {
	struct tctx *t;
	volatile bool stop;
	long rounds;
};

static void *flood_events(void *arg)
{
	struct flood *f = arg;
	size_t ps = page_size();
	struct tether_cmd_release_batch b = { .size = sizeof(b) };
	struct tether_cmd_secure s;
	uint64_t h[256];
	long r;
	int i;

	for (r = 0; r < f->rounds && !f->stop; r++) {
		char *p = map_anon(256 * ps);

		if (p == MAP_FAILED)
			break;
		for (i = 0; i < 256 && !tsecure(f->t, p + i * ps, ps, 0, i, &s); i++)
			h[i] = s.handle;
		munmap(p, 256 * ps);
		b.handles = (uintptr_t)h;
		b.count = i;
		if (i)
			tether_ioctl(f->t->fd, TETHER_IOC_RELEASE_BATCH, &b);
	}
	f->stop = true;
	return NULL;
}

static void *rearm_randomly(void *arg)
{
	struct flood *f = arg;
	struct tether_cmd_rearm rearm = { .size = sizeof(rearm) };

	while (!f->stop) {
		tether_ioctl(f->t->fd, TETHER_IOC_REARM, &rearm);
		usleep(rand() % 500);
	}
	return NULL;
}

TEST_F_TIMEOUT(ring, read_sizes_racing_overflow, 600)
{
	const size_t esz = sizeof(struct tether_event);
	struct flood f = { .t = &self->t, .rounds = tether_count(400, 40) };
	size_t len, i, whole = 0, einval = 0, eagain = 0, markers = 0, calls = 0;
	uint64_t seq = 0;
	pthread_t prod, rearm;
	char *buf;
	ssize_t r;

	char saved[32];

	/* a 64-entry ring (the minimum): every round of 256 can overflow it */
	ASSERT_EQ(0, tether_param_get("ring_entries", saved, sizeof(saved)));
	ASSERT_EQ(0, tether_param_set("ring_entries", "64"));
	tctx_close(&self->t);
	ASSERT_EQ(0, tctx_open(&self->t));
	ASSERT_EQ(0, tether_param_set("ring_entries", saved));
	ASSERT_EQ(64, self->t.info.ring_entries);
	/* the reader releases nothing: the flood needs no more than this */
	ASSERT_LE(256, self->t.info.max_regions);
	buf = mmap(NULL, 2 * self->ps, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, mprotect(buf + self->ps, self->ps, PROT_NONE));
	ASSERT_EQ(0, fcntl(self->t.fd, F_SETFL, O_NONBLOCK));
	ASSERT_EQ(0, pthread_create(&prod, NULL, flood_events, &f));
	ASSERT_EQ(0, pthread_create(&rearm, NULL, rearm_randomly, &f));
	for (len = 1; !f.stop || tpending(&self->t); len = len % (3 * esz + 1) + 1) {
		char *at = buf + self->ps - len;

		/* fall behind now and then, until the ring overflows (or 2 s) */
		for (i = 0; ++calls % 300 == 0 && i < 2000 && !f.stop &&
		     !__atomic_load_n(&self->t.hdr->overflowed, __ATOMIC_ACQUIRE); i++)
			usleep(1000);
		r = read(self->t.fd, at, len);
		if (r < 0) {
			ASSERT_TRUE(errno == EAGAIN || (errno == EINVAL && len < esz))
				TH_LOG("read(%zu): %s", len, strerror(errno));
			eagain += errno == EAGAIN;
			einval += errno == EINVAL;
			continue;
		}
		ASSERT_EQ(0, r % esz) TH_LOG("read(%zu) returned %zd", len, r);
		ASSERT_LE((size_t)r, len);
		ASSERT_LT(0, r);
		for (i = 0; i < (size_t)r / esz; i++) {
			struct tether_event ev;

			memcpy(&ev, at + i * esz, esz);
			ASSERT_EQ(++seq, ev.seq) TH_LOG("a gap or a torn record");
			ASSERT_TRUE(ev.type == TETHER_EVENT_INVALIDATE ||
				    ev.type == TETHER_EVENT_OVERFLOW);
			markers += ev.type == TETHER_EVENT_OVERFLOW;
		}
		whole += r / esz;
	}
	pthread_join(prod, NULL);
	pthread_join(rearm, NULL);
	TH_LOG("%zu records in sequence, %zu overflow markers, %zu EINVAL, %zu EAGAIN",
	       whole, markers, einval, eagain);
	/* the race was run: the ring overflowed at least once */
	ASSERT_LT(0, markers);
	munmap(buf, 2 * self->ps);
}

/* A consumer position the kernel cannot make sense of hurts only its owner. */
TEST_F(ring, insane_consumer_position)
{
	struct tether_cmd_rearm rearm = { .size = sizeof(rearm) };
	struct tether_event ev;
	struct tether_cmd_secure s;

	ASSERT_EQ(0, one_event(&self->t, &s, 1));
	self->t.cons->consumer = 1ULL << 60;
	ASSERT_EQ(-1, read(self->t.fd, &ev, sizeof(ev)));
	ASSERT_EQ(EIO, errno);
	/* further events are dropped, never written over unread ones */
	ASSERT_EQ(0, one_event(&self->t, &s, 2));
	ASSERT_EQ(1, self->t.hdr->producer);
	ASSERT_EQ(1, self->t.hdr->overflowed);
	/* the owner repairs its position and rearms */
	self->t.cons->consumer = self->t.hdr->producer;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_REARM, &rearm);
	ASSERT_EQ(1, rearm.dropped);
	ASSERT_EQ(0, one_event(&self->t, &s, 3));
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(3, ev.cookie);
}

/*
 * A REARM whose reply cannot be written (read-only memory) fails with
 * EFAULT and leaves the ring stopped with its dropped count: the retry gets
 * it. Before, the overflow state was reset first and the count was lost.
 */
TEST_F(ring, rearm_unwritable_reply_keeps_overflow)
{
	struct tether_cmd_rearm *rearm;
	struct tether_event ev;
	struct tether_cmd_secure s;

	rearm = map_anon(self->ps);
	ASSERT_NE(MAP_FAILED, rearm);
	/* a position the ring can never have: the next events are dropped */
	self->t.cons->consumer = 1ULL << 60;
	ASSERT_EQ(0, one_event(&self->t, &s, 1));
	ASSERT_EQ(0, one_event(&self->t, &s, 2));
	ASSERT_EQ(1, self->t.hdr->overflowed);
	self->t.cons->consumer = self->t.hdr->producer;
	*rearm = (struct tether_cmd_rearm) { .size = sizeof(*rearm), .dropped = 77 };
	ASSERT_EQ(0, mprotect(rearm, self->ps, PROT_READ));
	ASSERT_IOCTL_ERR(EFAULT, self->t.fd, TETHER_IOC_REARM, rearm);
	ASSERT_EQ(1, self->t.hdr->overflowed);
	ASSERT_EQ(0, mprotect(rearm, self->ps, PROT_READ | PROT_WRITE));
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_REARM, rearm);
	ASSERT_EQ(2, rearm->dropped);
	ASSERT_EQ(1, rearm->next_seq);
	ASSERT_EQ(0, self->t.hdr->overflowed);
	ASSERT_EQ(0, one_event(&self->t, &s, 3));
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(3, ev.cookie);
	munmap(rearm, self->ps);
}

/*
 * MADV_DONTNEED on the ring's mappings only drops their page table entries:
 * the next touch maps the same pages again (->fault), so the header, the
 * records and the consumer position read and write as before. Before, a
 * touch raised SIGBUS (a shared mapping without vm_ops).
 */
TEST_F(ring, dontneed_then_touch)
{
	struct tether_event ev;
	struct tether_cmd_secure s;
	uint64_t prod;

	ASSERT_EQ(0, one_event(&self->t, &s, 1));
	ASSERT_EQ(0, madvise(self->t.shared, self->t.info.shared_size, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(self->t.cons, self->ps, MADV_DONTNEED));
	prod = self->t.hdr->producer;
	ASSERT_EQ(1, prod);
	ASSERT_EQ(0, self->t.cons->consumer);
	ASSERT_EQ(1, tnext(&self->t, &ev));
	ASSERT_EQ(1, ev.cookie);
	ASSERT_EQ(1, self->t.cons->consumer);
	/* the kernel sees the position written through the new mapping */
	ASSERT_EQ(0, madvise(self->t.cons, self->ps, MADV_DONTNEED));
	ASSERT_EQ(1, self->t.cons->consumer);
	ASSERT_EQ(0, one_event(&self->t, &s, 2));
	ASSERT_EQ(sizeof(ev), read(self->t.fd, &ev, sizeof(ev)));
	ASSERT_EQ(2, ev.cookie);
	ASSERT_EQ(2, self->t.cons->consumer);
	ASSERT_EQ(2, self->t.hdr->producer);
}

/*
 * 10 000 ranges in one context, each unmapped: 10 000 events, each once
 * (2 000 on the debug kernel, TETHER_QUICK).
 */
TEST_F_TIMEOUT(ring, ten_thousand_ranges, 600)
{
	const uint32_t n = tether_count(10000, 2000);
	size_t ps = self->ps;
	struct tether_cmd_secure *s = calloc(n, sizeof(*s));
	unsigned char *seen = calloc(n, 1);
	struct tether_stats st;
	struct tether_event ev;
	uint32_t i, events = 0;
	char *buf;

	ASSERT_NE(NULL, s);
	ASSERT_NE(NULL, seen);
	TH_LOG("%u ranges", n);
	ASSERT_LE(n, self->t.info.max_regions);
	buf = map_anon(n * ps);
	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tsecure(&self->t, buf + i * ps, ps,
				     i % 3 ? 0 : TETHER_SECURE_PIN, i, &s[i]));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(n, st.regions);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, munmap(buf + i * ps, ps));
		ASSERT_FALSE(tvalid(&self->t, &s[i]));
		while (tnext(&self->t, &ev)) {
			ASSERT_EQ(TETHER_EVENT_INVALIDATE, ev.type);
			ASSERT_LT(ev.cookie, n);
			ASSERT_EQ(s[ev.cookie].handle, ev.handle);
			ASSERT_EQ(0, seen[ev.cookie]);
			seen[ev.cookie] = 1;
			ASSERT_EQ(++events, ev.seq);
		}
	}
	ASSERT_EQ(n, events);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.dropped);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, trelease(&self->t, s[i].handle));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
	free(s);
	free(seen);
}

TEST_HARNESS_MAIN
