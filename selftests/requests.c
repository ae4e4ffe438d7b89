// SPDX-License-Identifier: GPL-2.0
/*
 * Requests that probe and lock a user output buffer for write
 * (TETHER_IOC_REQUEST_SUBMIT / _COMPLETE / _CANCEL / _WAIT): every error
 * of the WDF method they mirror, all-or-nothing probing against guard
 * pages and read-only mappings, synchronous, asynchronous and held
 * transfers checked byte for byte, completion events, buffers unmapped
 * under outstanding requests, other processes, limits, allocation
 * failures, writeback of a shared ext4 file mapping written by requests,
 * and release on close and exit, with pins checked through /proc/vmstat
 * and VmPin.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <linux/kernel-page-flags.h>

#include "tether_test.h"

/* the fixture's buffer: BUF_PAGES writable pages, then a PROT_NONE guard */
#define BUF_PAGES 16
#define SENTINEL 0x5a
/* generous: the debug kernel is slow */
#define WAIT_MS 20000

/* the fixture's data and set-up, shared by req and req_mode */
#define REQ_FIXTURE_DATA \
	struct tctx t;   \
	size_t ps;       \
	size_t len;      \
	unsigned char *buf

#define REQ_FIXTURE_SETUP()                                                \
	do {                                                               \
		self->t.fd = -1;                                           \
		tctx_open_or_skip(_metadata, &self->t);                    \
		if (!(self->t.info.features & TETHER_FEATURE_REQUEST))     \
			SKIP(return, "no TETHER_FEATURE_REQUEST");         \
		self->ps = page_size();                                    \
		self->len = BUF_PAGES * self->ps;                          \
		self->buf = map_anon(self->len + self->ps);                \
		ASSERT_NE(MAP_FAILED, self->buf);                          \
		ASSERT_EQ(0, mprotect(self->buf + self->len, self->ps,     \
				      PROT_NONE));                         \
		memset(self->buf, SENTINEL, self->len);                    \
	} while (0)

#define REQ_FIXTURE_TEARDOWN()                                             \
	do {                                                               \
		tctx_close(&self->t);                                      \
		if (self->buf && self->buf != MAP_FAILED)                  \
			munmap(self->buf, self->len + self->ps);           \
	} while (0)

FIXTURE(req) {
	REQ_FIXTURE_DATA;
};

FIXTURE_SETUP(req)
{
	REQ_FIXTURE_SETUP();
}

FIXTURE_TEARDOWN(req)
{
	REQ_FIXTURE_TEARDOWN();
}

/* The same, once for each way to submit: each is its own test case. */
FIXTURE(req_mode) {
	REQ_FIXTURE_DATA;
};

FIXTURE_VARIANT(req_mode) {
	uint32_t flags;
};

FIXTURE_VARIANT_ADD(req_mode, sync) {
	.flags = 0,
};

FIXTURE_VARIANT_ADD(req_mode, async) {
	.flags = TETHER_REQUEST_ASYNC,
};

FIXTURE_VARIANT_ADD(req_mode, held) {
	.flags = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
};

FIXTURE_SETUP(req_mode)
{
	REQ_FIXTURE_SETUP();
}

FIXTURE_TEARDOWN(req_mode)
{
	REQ_FIXTURE_TEARDOWN();
}

/* Submit a read from any source; 0 or -errno, the id in *id. */
static int tsubmit_from(int fd, uint32_t source, int source_fd, uint32_t flags,
			void *addr, uint64_t len, uint64_t off, uint64_t cookie,
			uint64_t *id)
{
	struct tether_cmd_request_submit r = {
		.size = sizeof(r),
		.flags = flags,
		.source = source,
		.source_fd = source_fd,
		.source_offset = off,
		.addr = (uintptr_t)addr,
		.length = len,
		.cookie = cookie,
	};
	int ret = tether_ioctl(fd, TETHER_IOC_REQUEST_SUBMIT, &r);

	if (!ret && id)
		*id = r.id;
	return ret;
}

/* Submit a pattern read; 0 or -errno, the id in *id. */
static int tsubmit(int fd, uint32_t flags, void *addr, uint64_t len,
		   uint64_t off, uint64_t cookie, uint64_t *id)
{
	return tsubmit_from(fd, TETHER_SOURCE_PATTERN, -1, flags, addr, len, off,
			    cookie, id);
}

static int tcomplete(int fd, uint64_t id, int32_t status)
{
	struct tether_cmd_request_complete c = { .size = sizeof(c), .id = id,
					     .status = status };

	return tether_ioctl(fd, TETHER_IOC_REQUEST_COMPLETE, &c);
}

static int tcancel(int fd, uint64_t id)
{
	struct tether_cmd_request_cancel c = { .size = sizeof(c), .id = id };

	return tether_ioctl(fd, TETHER_IOC_REQUEST_CANCEL, &c);
}

/* Wait and collect; 0 or -errno, the request's status in *status. */
static int twait(int fd, uint64_t id, uint32_t timeout_ms, int32_t *status)
{
	struct tether_cmd_request_wait w = { .size = sizeof(w), .id = id,
					 .timeout_ms = timeout_ms,
					 .status = 12345 };
	int ret = tether_ioctl(fd, TETHER_IOC_REQUEST_WAIT, &w);

	if (status)
		*status = ret ? 12345 : w.status;
	return ret;
}

/* Offset of the first byte of buf that is not the pattern at off, or -1. */
static long pattern_mismatch(const unsigned char *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != TETHER_PATTERN_BYTE(off + i))
			return (long)i;
	return -1;
}

/* Offset of the first byte of buf that is not c, or -1. */
static long filled_mismatch(const unsigned char *buf, size_t len, unsigned char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != c)
			return (long)i;
	return -1;
}

/* Wait up to ms for the next event of the mmap()ed ring: 1 if one came. */
static int tnext_wait(struct tctx *t, struct tether_event *ev, int ms)
{
	while (!tnext(t, ev)) {
		if (ms-- <= 0)
			return 0;
		usleep(1000);
	}
	return 1;
}

/* The next event must be the completion of this request. */
#define ASSERT_REQ_EVENT(t, _id, _cookie, _addr, _len, _status)              \
	do {                                                                 \
		struct tether_event __ev;                                    \
		ASSERT_EQ(1, tnext_wait(t, &__ev, WAIT_MS)) TH_LOG("no event"); \
		ASSERT_EQ(TETHER_EVENT_REQUEST, __ev.type);                  \
		ASSERT_EQ(0, __ev.reason);                                   \
		ASSERT_EQ((_id), __ev.handle);                               \
		ASSERT_EQ((_cookie), __ev.cookie);                           \
		ASSERT_EQ((uint64_t)(uintptr_t)(_addr), __ev.start);         \
		ASSERT_EQ((uint64_t)(uintptr_t)(_addr) + (_len), __ev.end);  \
		ASSERT_EQ((_status), __ev.status);                           \
	} while (0)

TEST_F(req, feature_and_stats_start_at_zero)
{
	struct tether_stats st;

	ASSERT_TRUE(self->t.info.features & TETHER_FEATURE_REQUEST);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(0, st.requests_submitted);
}

/* Where in the buffer, how much, from where in the source. */
static const struct {
	size_t boff;
	size_t pages;	/* length in pages ... */
	size_t extra;	/* ... plus bytes */
	uint64_t soff;
} cases[] = {
	{ 0, 0, 1, 0 },
	{ 1, 0, 100, 1 },
	{ 100, 1, 0, 4095 },
	{ 4095, 0, 2, 4096 },
	{ 0, BUF_PAGES, 0, 12345 },
	{ 7, 3, 5, (1ULL << 32) + 3 },
	{ 4096 * 9 + 17, 2, 1000, 999999937 },
	{ 4096 * 15, 1, 0, TETHER_PATTERN_SIZE - 4096 },
	{ 5, 0, 1, TETHER_PATTERN_SIZE - 1 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static size_t case_len(size_t i, size_t ps)
{
	return cases[i].pages * ps + cases[i].extra;
}

TEST_F(req, sync_reads_at_offsets)
{
	uint64_t id, last = 0;
	size_t i;

	for (i = 0; i < NCASES; i++) {
		size_t len = case_len(i, self->ps);
		unsigned char *p = self->buf + cases[i].boff;

		ASSERT_LE(cases[i].boff + len, self->len);
		memset(self->buf, SENTINEL, self->len);
		ASSERT_EQ(0, tsubmit(self->t.fd, 0, p, len, cases[i].soff, i, &id))
			TH_LOG("case %zu", i);
		ASSERT_LT(last, id);
		last = id;
		ASSERT_EQ(-1, pattern_mismatch(p, len, cases[i].soff))
			TH_LOG("case %zu: byte %ld", i, pattern_mismatch(p, len, cases[i].soff));
		/* nothing outside the buffer */
		ASSERT_EQ(-1, filled_mismatch(self->buf, cases[i].boff, SENTINEL));
		ASSERT_EQ(-1, filled_mismatch(p + len, self->len - cases[i].boff - len,
					      SENTINEL));
	}
	/* synchronous requests queue no events */
	ASSERT_NO_EVENT(&self->t);
}

TEST_F_TIMEOUT(req, async_reads_at_offsets, 300)
{
	struct tether_stats st;
	int32_t status;
	uint64_t id;
	size_t i;

	for (i = 0; i < NCASES; i++) {
		size_t len = case_len(i, self->ps);
		unsigned char *p = self->buf + cases[i].boff;

		memset(self->buf, SENTINEL, self->len);
		ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC, p, len,
				     cases[i].soff, 1000 + i, &id));
		ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &status));
		ASSERT_EQ(0, status);
		ASSERT_EQ(-1, pattern_mismatch(p, len, cases[i].soff))
			TH_LOG("case %zu: byte %ld", i, pattern_mismatch(p, len, cases[i].soff));
		ASSERT_EQ(-1, filled_mismatch(self->buf, cases[i].boff, SENTINEL));
		ASSERT_EQ(-1, filled_mismatch(p + len, self->len - cases[i].boff - len,
					      SENTINEL));
		/* the event was queued before WAIT could see the request done */
		ASSERT_REQ_EVENT(&self->t, id, 1000 + i, p, len, 0);
	}
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(NCASES, st.requests_submitted);
	ASSERT_EQ(NCASES, st.requests_succeeded);
}

TEST_F_TIMEOUT(req, many_async_in_flight, 300)
{
	const size_t piece = self->ps / 4 + 3;
	size_t n = self->len / piece;
	uint64_t ids[128];
	struct tether_event ev;
	struct pollfd pfd = { .fd = self->t.fd, .events = POLLIN };
	int32_t status;
	size_t i;

	ASSERT_LE(n, 128);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC,
				     self->buf + i * piece, piece, i * 7777, i, &ids[i]));
	/* completion makes the file readable */
	ASSERT_EQ(1, poll(&pfd, 1, WAIT_MS));
	ASSERT_TRUE(pfd.revents & POLLIN);
	/* collect them in reverse order */
	for (i = n; i-- > 0;) {
		ASSERT_EQ(0, twait(self->t.fd, ids[i], WAIT_MS, &status));
		ASSERT_EQ(0, status);
	}
	for (i = 0; i < n; i++) {
		ASSERT_EQ(-1, pattern_mismatch(self->buf + i * piece, piece, i * 7777))
			TH_LOG("piece %zu", i);
		/* one event each, in completion (= submission) order */
		ASSERT_EQ(1, tnext(&self->t, &ev));
		ASSERT_EQ(TETHER_EVENT_REQUEST, ev.type);
		ASSERT_EQ(ids[i], ev.handle);
	}
	ASSERT_NO_EVENT(&self->t);
}

TEST_F(req, invalid_parameters_einval)
{
	struct tether_cmd_request_submit r;
	struct tether_stats st;
	unsigned char *b = self->buf;
	int fd = self->t.fd;

	ASSERT_EQ(-EINVAL, tsubmit(fd, 1u << 2, b, 10, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(fd, 0x80000000u, b, 10, 0, 0, NULL));
	/* held requests are asynchronous */
	ASSERT_EQ(-EINVAL, tsubmit(fd, TETHER_REQUEST_HOLD, b, 10, 0, 0, NULL));
	/* the source range must lie within the source */
	ASSERT_EQ(-EINVAL, tsubmit(fd, 0, b, 1, TETHER_PATTERN_SIZE, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(fd, 0, b, 2, TETHER_PATTERN_SIZE - 1, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(fd, TETHER_REQUEST_ASYNC, b, 100,
				   UINT64_MAX - 10, 0, NULL));
	/* the buffer range wraps around */
	ASSERT_EQ(-EINVAL, tsubmit(fd, 0, (void *)(UINTPTR_MAX - 10), 100, 0, 0, NULL));

	/* unknown sources, a file descriptor the pattern does not take */
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = (uintptr_t)b;
	r.length = 10;
	r.source = 0;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	r.source = 3;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	r.source = 0xffffffffu;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	r.source = TETHER_SOURCE_PATTERN;
	r.source_fd = fd;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	/* 0 is a descriptor (stdin): "none" is -1, as for backing_fd */
	r.source_fd = 0;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	r.source_fd = -1;
	r.__reserved = 1;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_SUBMIT, &r);
	r.__reserved = 0;
	ASSERT_IOCTL_OK(fd, TETHER_IOC_REQUEST_SUBMIT, &r);

	/* the other ioctls: flags, reserved, a status that is not an errno */
	struct tether_cmd_request_complete c = { .size = sizeof(c), .id = r.id };
	struct tether_cmd_request_cancel x = { .size = sizeof(x), .id = r.id, .flags = 1 };
	struct tether_cmd_request_wait w = { .size = sizeof(w), .id = r.id, .flags = 1 };

	c.status = 1;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	c.status = -4096;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	c.status = INT32_MIN;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	c.status = 0;
	c.__reserved = 1;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	c.__reserved = 0;
	c.flags = 1;
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_COMPLETE, &c);
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_CANCEL, &x);
	ASSERT_IOCTL_ERR(EINVAL, fd, TETHER_IOC_REQUEST_WAIT, &w);

	/* only the one valid request wrote anything */
	ASSERT_EQ(-1, pattern_mismatch(b, 10, 0));
	ASSERT_EQ(-1, filled_mismatch(b + 10, self->len - 10, SENTINEL));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.requests_submitted);
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.pinned_pages);
}

TEST_F(req, zero_length_einval)
{
	struct tether_stats st;

	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, 0, self->buf, 0, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC, self->buf, 0, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				    self->buf, 0, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, 0, NULL, 0, 0, 0, NULL));
	/* also with an otherwise invalid parameter */
	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, 1u << 5, self->buf, 0, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit(self->t.fd, 0, self->buf, 0, TETHER_PATTERN_SIZE, 0, NULL));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests_submitted);
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
}

/* None of the ways to submit may write a byte or keep a pin on EFAULT. */
TEST_F(req_mode, guard_page_one_byte_too_long_efault)
{
	uint32_t mode = variant->flags;
	long long held = pins_held();
	struct tether_stats st;

	/* the whole buffer and one byte of the PROT_NONE page after it */
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, self->buf, self->len + 1,
				   0, 0, NULL));
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, self->buf + self->len - 1,
				   2, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(0, st.requests_submitted);
	ASSERT_NO_EVENT(&self->t);
	/* exactly up to the guard page is fine */
	ASSERT_EQ(0, tsubmit(self->t.fd, 0, self->buf, self->len, 0, 0, NULL));
	ASSERT_EQ(-1, pattern_mismatch(self->buf, self->len, 0));
}

TEST_F(req_mode, read_only_mapping_efault)
{
	uint32_t mode = variant->flags;
	long long held = pins_held();
	size_t ps = self->ps;
	unsigned char *ro;
	int mfd;

	/* the second half is read-only: the writable first half stays untouched */
	ASSERT_EQ(0, mprotect(self->buf + 8 * ps, 8 * ps, PROT_READ));
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, self->buf, self->len,
				   0, 0, NULL));
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, self->buf + 9 * ps + 3,
				   10, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));

	/* a read-only shared mapping of a file */
	mfd = memfd_create("tether-ro", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, 4 * ps));
	ro = mmap(NULL, 4 * ps, PROT_READ, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, ro, 4 * ps, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(ro, 4 * ps, 0));
	munmap(ro, 4 * ps);
	close(mfd);
	ASSERT_EQ(held, pins_held());
}

TEST_F(req_mode, unmapped_buffer_efault)
{
	uint32_t mode = variant->flags;
	long long held = pins_held();
	size_t ps = self->ps;

	/* a hole in the middle */
	ASSERT_EQ(0, munmap(self->buf + 8 * ps, ps));
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, self->buf, self->len,
				   0, 0, NULL));
	/* nothing at all mapped there, kernel addresses */
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode, (void *)ps, 10, 0, 0, NULL));
	ASSERT_EQ(-EFAULT, tsubmit(self->t.fd, mode,
				   (void *)0xffff888000000000ull, 10, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(self->buf, 8 * ps, SENTINEL));
	ASSERT_EQ(-1, filled_mismatch(self->buf + 9 * ps, 7 * ps, SENTINEL));
	ASSERT_EQ(held, pins_held());
}

TEST_F(req, already_completed_ealready)
{
	int fd = self->t.fd;
	int32_t status;
	uint64_t id;

	/* a synchronous request is complete when the call returns */
	ASSERT_EQ(0, tsubmit(fd, 0, self->buf, 10, 0, 0, &id));
	ASSERT_EQ(-EALREADY, twait(fd, id, 0, NULL));
	ASSERT_EQ(-EALREADY, tcancel(fd, id));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, 0));

	/* waiting twice */
	ASSERT_EQ(0, tsubmit(fd, TETHER_REQUEST_ASYNC, self->buf, 10, 0, 0, &id));
	ASSERT_EQ(0, twait(fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(-EALREADY, twait(fd, id, WAIT_MS, NULL));
	ASSERT_EQ(-EALREADY, tcancel(fd, id));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, 0));

	/* completing twice */
	ASSERT_EQ(0, tsubmit(fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &id));
	ASSERT_EQ(0, tcomplete(fd, id, 0));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, 0));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, -EIO));
	ASSERT_EQ(0, twait(fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, 0));

	/* cancelling twice */
	ASSERT_EQ(0, tsubmit(fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &id));
	ASSERT_EQ(0, tcancel(fd, id));
	ASSERT_EQ(-EALREADY, tcancel(fd, id));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, 0));
	ASSERT_EQ(0, twait(fd, id, 0, &status));
	ASSERT_EQ(-ECANCELED, status);
	ASSERT_EQ(-EALREADY, twait(fd, id, 0, NULL));

	/* completed with an error, then completed or cancelled again */
	ASSERT_EQ(0, tsubmit(fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &id));
	ASSERT_EQ(0, tcomplete(fd, id, -EIO));
	ASSERT_EQ(-EALREADY, tcomplete(fd, id, -EIO));
	ASSERT_EQ(-EALREADY, tcancel(fd, id));
	ASSERT_EQ(0, twait(fd, id, 0, &status));
	ASSERT_EQ(-EIO, status);
}

TEST_F(req, bad_ids_enoent)
{
	static const uint64_t bad[] = { 0, 4, 5, 1000, UINT64_MAX / 2, UINT64_MAX };
	struct tctx other;
	uint64_t id;
	size_t i;

	/* ids another context issued mean nothing here */
	ASSERT_EQ(0, tctx_open(&other));
	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tsubmit(other.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				     self->buf, 10, 0, 0, &id));
	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(-ENOENT, tcancel(self->t.fd, i));
		ASSERT_EQ(-ENOENT, tcomplete(self->t.fd, i, 0));
		ASSERT_EQ(-ENOENT, twait(self->t.fd, i, 0, NULL));
	}
	tctx_close(&other);

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, tsubmit(self->t.fd, 0, self->buf, 10, 0, 0, &id));
	ASSERT_EQ(3, id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(-ENOENT, tcancel(self->t.fd, bad[i]));
		ASSERT_EQ(-ENOENT, tcomplete(self->t.fd, bad[i], 0));
		ASSERT_EQ(-ENOENT, twait(self->t.fd, bad[i], 0, NULL));
		ASSERT_EQ(-ENOENT, twait(self->t.fd, bad[i], 10, NULL));
	}
}

TEST_F(req, held_request_completes_on_demand)
{
	long long held = pins_held();
	struct tether_stats st;
	unsigned char *p = self->buf + 100;
	size_t len = 4 * self->ps;
	int32_t status;
	uint64_t id;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     p, len, 4242, 77, &id));
	/* locked (5 pages: the buffer is not aligned), nothing written yet */
	ASSERT_EQ(held + 5, pins_held());
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.requests);
	ASSERT_EQ(5, st.request_pages);
	ASSERT_EQ(5, st.pinned_pages);
	usleep(100 * 1000);
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
	ASSERT_NO_EVENT(&self->t);

	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(-1, pattern_mismatch(p, len, 4242));
	ASSERT_EQ(-1, filled_mismatch(self->buf, 100, SENTINEL));
	ASSERT_EQ(-1, filled_mismatch(p + len, self->len - 100 - len, SENTINEL));
	ASSERT_REQ_EVENT(&self->t, id, 77, p, len, 0);
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(0, st.pinned_pages);
}

TEST_F(req, completed_with_error_writes_nothing)
{
	long long held = pins_held();
	struct tether_stats st;
	int32_t status;
	uint64_t id;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, self->len, 0, 5, &id));
	ASSERT_EQ(held + BUF_PAGES, pins_held());
	ASSERT_EQ(0, tcomplete(self->t.fd, id, -EIO));
	/* released at completion, before anyone collects the status */
	ASSERT_EQ(held, pins_held());
	ASSERT_REQ_EVENT(&self->t, id, 5, self->buf, self->len, -EIO);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(1, st.requests_failed);
	ASSERT_EQ(0, twait(self->t.fd, id, 0, &status));
	ASSERT_EQ(-EIO, status);
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
}

TEST_F(req, cancel_held_request)
{
	long long held = pins_held();
	struct tether_stats st;
	int32_t status;
	uint64_t id;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, self->len, 0, 9, &id));
	ASSERT_EQ(0, tcancel(self->t.fd, id));
	ASSERT_EQ(held, pins_held());
	ASSERT_REQ_EVENT(&self->t, id, 9, self->buf, self->len, -ECANCELED);
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &status));
	ASSERT_EQ(-ECANCELED, status);
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.requests_cancelled);
	ASSERT_EQ(0, st.requests);
}

TEST_F_TIMEOUT(req, cancel_async_requests, 300)
{
	size_t big = 32 << 20;
	unsigned char *p = map_anon(big);
	long long held = pins_held();
	int32_t status[8];
	uint64_t id[8];
	int i, ok = 0, cancelled = 0;

	ASSERT_NE(MAP_FAILED, p);
	/* eight 4 MiB transfers: most are still queued or running when cancelled */
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC, p + i * (big / 8),
				     big / 8, i, i, &id[i]));
	for (i = 7; i >= 0; i--) {
		int r = tcancel(self->t.fd, id[i]);

		ASSERT_TRUE(r == 0 || r == -EALREADY) TH_LOG("cancel: %d", r);
	}
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(0, twait(self->t.fd, id[i], WAIT_MS * 3, &status[i]));
		if (status[i] == 0) {
			ok++;
			/* a request that was not cancelled is whole */
			ASSERT_EQ(-1, pattern_mismatch(p + i * (big / 8), big / 8, i));
		} else {
			ASSERT_EQ(-ECANCELED, status[i]);
			cancelled++;
		}
	}
	TH_LOG("%d completed, %d cancelled", ok, cancelled);
	ASSERT_LT(0, cancelled);
	ASSERT_EQ(held, pins_held());
	munmap(p, big);
}

TEST_F(req, wait_timeout_and_wakeup)
{
	struct timeval a, b;
	int32_t status;
	uint64_t id;
	long ms;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &id));
	ASSERT_EQ(-ETIMEDOUT, twait(self->t.fd, id, 0, NULL));
	gettimeofday(&a, NULL);
	ASSERT_EQ(-ETIMEDOUT, twait(self->t.fd, id, 200, NULL));
	gettimeofday(&b, NULL);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_usec - a.tv_usec) / 1000;
	ASSERT_LE(190, ms);
	/* still outstanding, still held */
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
}

struct waiter {
	int fd;
	uint64_t id;
	int ret;
	int err;
	int32_t status;
};

/* One raw WAIT, no EINTR retry. */
static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	struct tether_cmd_request_wait rw = { .size = sizeof(rw), .id = w->id,
					  .timeout_ms = WAIT_MS };

	w->ret = ioctl(w->fd, TETHER_IOC_REQUEST_WAIT, &rw);
	w->err = errno;
	w->status = rw.status;
	return NULL;
}

static void on_usr1(int sig)
{
}

TEST_F(req, wait_from_another_thread)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct waiter w = { .fd = self->t.fd };
	pthread_t th;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &w.id));
	/* a waiting thread is woken by the completion ... */
	ASSERT_EQ(0, pthread_create(&th, NULL, wait_thread, &w));
	usleep(200 * 1000);
	ASSERT_EQ(0, tcomplete(self->t.fd, w.id, -ENODATA));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(0, w.ret);
	ASSERT_EQ(-ENODATA, w.status);

	/* ... and interrupted by a signal (no SA_RESTART) */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &w.id));
	ASSERT_EQ(0, pthread_create(&th, NULL, wait_thread, &w));
	usleep(200 * 1000);
	ASSERT_EQ(0, pthread_kill(th, SIGUSR1));
	ASSERT_EQ(0, pthread_join(th, NULL));
	ASSERT_EQ(-1, w.ret);
	ASSERT_EQ(EINTR, w.err);
	/* the request is untouched by the interrupted wait */
	ASSERT_EQ(0, tcomplete(self->t.fd, w.id, 0));
	ASSERT_EQ(0, twait(self->t.fd, w.id, WAIT_MS, &w.status));
	ASSERT_EQ(0, w.status);
}

TEST_F(req, buffer_unmapped_while_held)
{
	long long held = pins_held();
	size_t len = 4 * self->ps;
	unsigned char *p = self->buf;
	int32_t status;
	uint64_t id;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     p, len, 0, 0, &id));
	/* unmap it and put fresh memory at the same address */
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(p, mmap(p, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	memset(p, 0x11, len);
	/* the pinned pages absorb the write; the new memory is untouched */
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(-1, filled_mismatch(p, len, 0x11));
	ASSERT_EQ(held, pins_held());
}

/*
 * The buffer of a queued or running transfer is unmapped and fresh memory
 * is mapped at its address: the worker writes only the pinned pages, so
 * the new memory (which would reuse the old pages were they not pinned)
 * keeps every byte it was given.
 */
TEST_F_TIMEOUT(req, buffer_unmapped_while_async, 300)
{
	size_t big = 16 << 20;
	long long held = pins_held();
	int32_t status;
	uint64_t id;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned char *p = map_anon(big);

		ASSERT_NE(MAP_FAILED, p);
		ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC, p, big, i, 0, &id));
		/* gone while the worker writes (or before it starts) ... */
		ASSERT_EQ(0, munmap(p, big));
		/* ... and replaced by new memory at the same address */
		ASSERT_EQ(p, mmap(p, big, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
				  -1, 0));
		memset(p, 0x11, big);
		ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS * 3, &status));
		ASSERT_EQ(0, status);
		ASSERT_EQ(-1, filled_mismatch(p, big, 0x11))
			TH_LOG("round %d: byte %ld of the new memory written", i,
			       filled_mismatch(p, big, 0x11));
		ASSERT_EQ(held, pins_held());
		ASSERT_EQ(0, munmap(p, big));
	}
}

/* What a process other than the submitter gets for a request. */
static int foreign_ops(int fd, uint64_t id, void *buf)
{
	if (tcomplete(fd, id, 0) != -EPERM)
		return 1;
	if (tcomplete(fd, id, -EIO) != -EPERM)
		return 2;
	if (tcancel(fd, id) != -EPERM)
		return 3;
	if (twait(fd, id, 0, NULL) != -EPERM)
		return 4;
	if (tsubmit(fd, 0, buf, 10, 0, 0, NULL) != -EPERM)
		return 5;
	return 0;
}

TEST_F(req, forked_child_cannot_complete)
{
	unsigned char *p = self->buf;
	size_t len = 2 * self->ps;
	int go[2], status;
	int32_t st;
	uint64_t id;
	pid_t pid;
	char c;

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     p, len, 99, 0, &id));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int r = foreign_ops(self->t.fd, id, p);

		if (r)
			_exit(r);
		/* the parent completes; this process's copy must not change */
		if (read(go[0], &c, 1) != 1)
			_exit(10);
		_exit(filled_mismatch(p, len, SENTINEL) == -1 ? 0 : 11);
	}
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &st));
	ASSERT_EQ(0, st);
	ASSERT_EQ(-1, pattern_mismatch(p, len, 99));
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d", WEXITSTATUS(status));
	close(go[0]);
	close(go[1]);
}

struct vm_child {
	int fd;
	uint64_t id;
	int result;
};

static int vm_child_fn(void *arg)
{
	struct vm_child *c = arg;

	/* same address space, another process: refused per request */
	c->result = tcomplete(c->fd, c->id, 0) == -EPERM &&
		    tcancel(c->fd, c->id) == -EPERM &&
		    twait(c->fd, c->id, 0, NULL) == -EPERM ? 0 : 1;
	return 0;
}

TEST_F(req, clone_vm_process_cannot_complete)
{
	struct vm_child c = { .fd = self->t.fd, .result = -1 };
	size_t stack_size = 256 * 1024;
	char *stack = map_anon(stack_size);
	int32_t st;
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, stack);
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &c.id));
	pid = clone(vm_child_fn, stack + stack_size, CLONE_VM | SIGCHLD, &c);
	ASSERT_LE(0, pid);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, c.result);
	ASSERT_EQ(0, tcomplete(self->t.fd, c.id, 0));
	ASSERT_EQ(0, twait(self->t.fd, c.id, WAIT_MS, &st));
	ASSERT_EQ(0, st);
	munmap(stack, stack_size);
}

/*
 * A reply that cannot be written (the argument in read-only memory) fails
 * with EFAULT and changes nothing: WAIT leaves the request for a retry,
 * which gets its status; a synchronous SUBMIT writes nothing and counts
 * nothing. Before, WAIT freed the request first (the retry got EALREADY)
 * and SUBMIT counted a success and wrote the data, then failed.
 */
TEST_F(req, unwritable_reply_changes_nothing)
{
	struct tether_cmd_request_submit *q;
	struct tether_cmd_request_wait *w;
	struct tether_stats st0, st;
	int32_t status;
	uint64_t id;
	void *arg;

	arg = map_anon(self->ps);
	ASSERT_NE(MAP_FAILED, arg);
	w = arg;
	q = (void *)((char *)arg + 256);

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 100, 0, 0, &id));
	ASSERT_EQ(0, tcomplete(self->t.fd, id, -EIO));
	*w = (struct tether_cmd_request_wait) { .size = sizeof(*w), .id = id,
					    .timeout_ms = WAIT_MS, .status = 1 };
	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ));
	ASSERT_EQ(-EFAULT, tether_ioctl(self->t.fd, TETHER_IOC_REQUEST_WAIT, w));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(1, st.requests);
	/* and again without waiting */
	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ | PROT_WRITE));
	w->timeout_ms = 0;
	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ));
	ASSERT_EQ(-EFAULT, tether_ioctl(self->t.fd, TETHER_IOC_REQUEST_WAIT, w));
	ASSERT_EQ(0, twait(self->t.fd, id, 0, &status));
	ASSERT_EQ(-EIO, status);
	ASSERT_EQ(-EALREADY, twait(self->t.fd, id, 0, NULL));

	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ | PROT_WRITE));
	*q = (struct tether_cmd_request_submit) {
		.size = sizeof(*q), .source = TETHER_SOURCE_PATTERN, .source_fd = -1,
		.addr = (uintptr_t)self->buf, .length = self->len,
	};
	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ));
	ASSERT_EQ(0, tstats(&self->t, &st0));
	ASSERT_EQ(-EFAULT, tether_ioctl(self->t.fd, TETHER_IOC_REQUEST_SUBMIT, q));
	ASSERT_EQ(-1, filled_mismatch(self->buf, self->len, SENTINEL));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(st0.requests_submitted, st.requests_submitted);
	ASSERT_EQ(st0.requests_succeeded, st.requests_succeeded);
	ASSERT_EQ(st0.requests_failed, st.requests_failed);
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(0, mprotect(arg, self->ps, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, tether_ioctl(self->t.fd, TETHER_IOC_REQUEST_SUBMIT, q));
	ASSERT_NE(0, q->id);
	ASSERT_EQ(-1, pattern_mismatch(self->buf, self->len, 0));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(st0.requests_submitted + 1, st.requests_submitted);
	ASSERT_EQ(st0.requests_succeeded + 1, st.requests_succeeded);
	munmap(arg, self->ps);
}

TEST_F(req, shared_file_buffer)
{
	size_t len = 4 * self->ps;
	unsigned char *m, *back = malloc(len);
	int32_t st;
	uint64_t id;
	int mfd;

	ASSERT_NE(NULL, back);
	mfd = memfd_create("tether-rw", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, len));
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, m);
	/* synchronous (short-term pin) into the file's pages */
	ASSERT_EQ(0, tsubmit(self->t.fd, 0, m + 1, len - 2, 5, 0, NULL));
	ASSERT_EQ(len, pread(mfd, back, len, 0));
	ASSERT_EQ(0, back[0]);
	ASSERT_EQ(-1, pattern_mismatch(back + 1, len - 2, 5));
	ASSERT_EQ(0, back[len - 1]);
	/* held (long-term pin): shmem allows it */
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     m, len, 1 << 20, 0, &id));
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &st));
	ASSERT_EQ(0, st);
	ASSERT_EQ(len, pread(mfd, back, len, 0));
	ASSERT_EQ(-1, pattern_mismatch(back, len, 1 << 20));
	munmap(m, len);
	close(mfd);
	free(back);
}

/*
 * Sections as sources. A section's contents are SEC_BYTE(offset), written
 * through a view (or into its file) before the reads, so a byte read from
 * the wrong offset, page or source shows.
 */
#define SEC_BYTE(o) ((unsigned char)((o) * 167 + ((o) >> 9) + 0x3d))
/* a length that is not a multiple of the page size */
#define SEC_LEN(ps) (40 * (ps) + 123)

static void sec_fill(unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = SEC_BYTE(i);
}

/* Offset of the first byte of buf that is not the section's at off, or -1. */
static long sec_mismatch(const unsigned char *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != SEC_BYTE(off + i))
			return (long)i;
	return -1;
}

/* Buffer offset, length, section offset; relative to the section's end
 * when from_end (the section's length minus soff). */
static const struct {
	size_t boff;
	size_t pages;
	size_t extra;
	uint64_t soff;
	bool from_end;
} sec_cases[] = {
	{ 0, 0, 1, 0, false },
	{ 1, 0, 100, 1, false },
	{ 100, 1, 0, 4095, false },
	{ 4095, 0, 2, 4096, false },
	{ 0, BUF_PAGES, 0, 3 * 4096 + 5, false },
	{ 7, 3, 5, 17 * 4096 + 3, false },
	/* ending exactly at the section's end, then its very last byte */
	{ 4096 * 9 + 17, 2, 1000, 2 * 4096 + 1000, true },
	{ 5, 0, 1, 1, true },
};

#define NSEC_CASES (sizeof(sec_cases) / sizeof(sec_cases[0]))

/* Read every case from section descriptor sfd, sync or async, and check it. */
static void sec_reads(struct __test_metadata *_metadata,
		      FIXTURE_DATA(req) *self, int sfd, uint64_t slen, bool async)
{
	size_t i;

	for (i = 0; i < NSEC_CASES; i++) {
		size_t len = sec_cases[i].pages * self->ps + sec_cases[i].extra;
		uint64_t soff = sec_cases[i].from_end ? slen - sec_cases[i].soff :
							sec_cases[i].soff;
		unsigned char *p = self->buf + sec_cases[i].boff;
		int32_t st;
		uint64_t id;

		ASSERT_LE(sec_cases[i].boff + len, self->len);
		ASSERT_LE(soff + len, slen);
		memset(self->buf, SENTINEL, self->len);
		ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, sfd,
					  async ? TETHER_REQUEST_ASYNC : 0, p, len,
					  soff, i, &id))
			TH_LOG("case %zu", i);
		if (async) {
			ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &st));
			ASSERT_EQ(0, st);
			ASSERT_REQ_EVENT(&self->t, id, i, p, len, 0);
		}
		ASSERT_EQ(-1, sec_mismatch(p, len, soff))
			TH_LOG("case %zu: byte %ld", i, sec_mismatch(p, len, soff));
		ASSERT_EQ(-1, filled_mismatch(self->buf, sec_cases[i].boff, SENTINEL));
		ASSERT_EQ(-1, filled_mismatch(p + len,
					      self->len - sec_cases[i].boff - len,
					      SENTINEL));
	}
}

TEST_F_TIMEOUT(req, section_reads_at_offsets, 300)
{
	uint64_t slen = SEC_LEN(self->ps);
	unsigned char *v;
	int sfd;

	sfd = section_anon(self->t.fd, slen);
	ASSERT_LE(0, sfd);
	v = mmap(NULL, slen, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	ASSERT_NE(MAP_FAILED, v);
	sec_fill(v, slen);
	sec_reads(_metadata, self, sfd, slen, false);
	sec_reads(_metadata, self, sfd, slen, true);
	ASSERT_NO_EVENT(&self->t);

	/* a write through the view is what the next request reads */
	v[slen - 1] ^= 0xff;
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, sfd, 0,
				  self->buf, 1, slen - 1, 0, NULL));
	ASSERT_EQ((unsigned char)(SEC_BYTE(slen - 1) ^ 0xff), self->buf[0]);
	ASSERT_EQ(0, munmap(v, slen));
	ASSERT_EQ(0, close(sfd));
}

TEST_F(req, section_source_range_einval)
{
	uint64_t slen = SEC_LEN(self->ps);
	int fd = self->t.fd, sfd, mfd;

	sfd = section_anon(fd, slen);
	ASSERT_LE(0, sfd);
	/* within the section's length, not its page-rounded size */
	ASSERT_EQ(0, tsubmit_from(fd, TETHER_SOURCE_SECTION, sfd, 0, self->buf,
				  1, slen - 1, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_SECTION, sfd, 0,
					self->buf, 1, slen, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_SECTION, sfd, 0,
					self->buf, 2, slen - 1, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_SECTION, sfd,
					TETHER_REQUEST_ASYNC, self->buf, 10,
					UINT64_MAX - 5, 0, NULL));
	/* descriptors that are not sections: the context, a memfd, none */
	mfd = memfd_create("tether-not-a-section", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, slen));
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_SECTION, fd, 0,
					self->buf, 1, 0, 0, NULL));
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_SECTION, mfd, 0,
					self->buf, 1, 0, 0, NULL));
	/* and no open descriptor at all: EBADF, as for backing_fd */
	ASSERT_EQ(-EBADF, tsubmit_from(fd, TETHER_SOURCE_SECTION, -1, 0,
				       self->buf, 1, 0, 0, NULL));
	ASSERT_EQ(0, close(mfd));
	ASSERT_EQ(-EBADF, tsubmit_from(fd, TETHER_SOURCE_SECTION, mfd, 0,
					self->buf, 1, 0, 0, NULL));
	/* the pattern takes no descriptor, not even a section's */
	ASSERT_EQ(-EINVAL, tsubmit_from(fd, TETHER_SOURCE_PATTERN, sfd, 0,
					self->buf, 1, 0, 0, NULL));
	/* nothing was written by any of them but the first */
	ASSERT_EQ(0, self->buf[0]);
	ASSERT_EQ(-1, filled_mismatch(self->buf + 1, self->len - 1, SENTINEL));
	ASSERT_EQ(0, close(sfd));
}

TEST_F(req, section_holes_read_as_zeros)
{
	size_t len = 8 * self->ps;
	int sfd;

	sfd = section_anon(self->t.fd, len);
	ASSERT_LE(0, sfd);
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, sfd, 0,
				  self->buf + 3, len, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(self->buf + 3, len, 0));
	ASSERT_EQ(-1, filled_mismatch(self->buf, 3, SENTINEL));
	/* reading holes allocated nothing: the section is still empty */
	ASSERT_EQ(0, section_resident(sfd));
	ASSERT_EQ(0, close(sfd));
}

TEST_F_TIMEOUT(req, file_section_reads_and_truncation_eio, 300)
{
	char path[] = "/tmp/tether-request-XXXXXX";
	uint64_t slen = SEC_LEN(self->ps);
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.max_prot = TETHER_SECTION_READ,
	};
	unsigned char *data = malloc(slen);
	int32_t st;
	uint64_t id;
	int ffd;

	ASSERT_NE(NULL, data);
	ffd = mkstemp(path);
	ASSERT_LE(0, ffd);
	unlink(path);
	sec_fill(data, slen);
	ASSERT_EQ((ssize_t)slen, pwrite(ffd, data, slen, 0));
	/* length 0: the whole file */
	c.backing_fd = ffd;
	ASSERT_EQ(0, tether_ioctl(self->t.fd, TETHER_IOC_SECTION_CREATE, &c));
	sec_reads(_metadata, self, c.fd, slen, false);
	sec_reads(_metadata, self, c.fd, slen, true);

	/* the file's own writes are what the section reads */
	ASSERT_EQ(1, pwrite(ffd, "\x42", 1, 5000));
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, c.fd, 0,
				  self->buf, 3, 4999, 0, NULL));
	ASSERT_EQ(SEC_BYTE(4999), self->buf[0]);
	ASSERT_EQ(0x42, self->buf[1]);
	ASSERT_EQ(SEC_BYTE(5001), self->buf[2]);

	/* a file truncated under a held request: the transfer fails, EIO */
	memset(self->buf, SENTINEL, self->len);
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, c.fd,
				  TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				  self->buf, 2 * self->ps, 10 * self->ps, 7, &id));
	ASSERT_EQ(0, ftruncate(ffd, 11 * self->ps));
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &st));
	ASSERT_EQ(-EIO, st);
	ASSERT_REQ_EVENT(&self->t, id, 7, self->buf, 2 * self->ps, -EIO);
	/* what lay within the file was read; nothing beyond it was written */
	ASSERT_EQ(-1, sec_mismatch(self->buf, self->ps, 10 * self->ps));
	ASSERT_EQ(-1, filled_mismatch(self->buf + 2 * self->ps,
				      self->len - 2 * self->ps, SENTINEL));
	/* synchronous: the call itself fails */
	ASSERT_EQ(-EIO, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, c.fd, 0,
				     self->buf, 1, 12 * self->ps, 0, NULL));
	ASSERT_EQ(0, close(c.fd));
	ASSERT_EQ(0, close(ffd));
	free(data);
}

TEST_F_TIMEOUT(req, held_request_keeps_section_alive, 300)
{
	const size_t big = 64UL << 20;
	long base, held, freed;
	unsigned char *v;
	int32_t st;
	uint64_t id;
	int sfd;

	base = meminfo_kb("Shmem");
	ASSERT_LE(0, base);
	sfd = section_anon(self->t.fd, big);
	ASSERT_LE(0, sfd);
	v = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	ASSERT_NE(MAP_FAILED, v);
	memset(v, 0x11, big);
	sec_fill(v + big - self->len, self->len);
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, sfd,
				  TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				  self->buf, self->len, big - self->len, 9, &id));
	/* no view, no descriptor: only the request holds the section */
	ASSERT_EQ(0, munmap(v, big));
	ASSERT_EQ(0, close(sfd));
	held = meminfo_kb("Shmem");
	ASSERT_GE(held - base, (long)(big >> 10) - 1024)
		TH_LOG("Shmem only %ld kB above the start", held - base);
	ASSERT_EQ(0, tcomplete(self->t.fd, id, 0));
	ASSERT_EQ(0, twait(self->t.fd, id, WAIT_MS, &st));
	ASSERT_EQ(0, st);
	ASSERT_EQ(-1, sec_mismatch(self->buf, self->len, 0));
	/* collected: the section is gone with its memory (the last fput of
	 * a file dropped by a worker is delayed: give it a moment) */
	for (int i = 0; i < 100; i++) {
		freed = meminfo_kb("Shmem");
		if (freed - base < 1024)
			break;
		usleep(20000);
	}
	ASSERT_LT(freed - base, 1024)
		TH_LOG("Shmem still %ld kB above the start", freed - base);
}

TEST_F(req, stats_count_outcomes)
{
	struct tether_stats st;
	int32_t status;
	uint64_t a, b, c;

	ASSERT_EQ(0, tsubmit(self->t.fd, 0, self->buf, 10, 0, 0, NULL));
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC, self->buf, 10, 0, 0, &a));
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, &b));
	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf + self->ps, 10, 0, 0, &c));
	ASSERT_EQ(0, twait(self->t.fd, a, WAIT_MS, &status));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(4, st.requests_submitted);
	ASSERT_EQ(2, st.requests);
	ASSERT_EQ(2, st.request_pages);
	ASSERT_EQ(2, st.requests_succeeded);
	ASSERT_EQ(0, tcancel(self->t.fd, b));
	ASSERT_EQ(0, tcomplete(self->t.fd, c, -EFBIG));
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(2, st.requests);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(1, st.requests_cancelled);
	ASSERT_EQ(1, st.requests_failed);
	ASSERT_EQ(0, twait(self->t.fd, b, 0, NULL));
	ASSERT_EQ(0, twait(self->t.fd, c, 0, &status));
	ASSERT_EQ(-EFBIG, status);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(0, st.requests);
}

/* A caller built before the request counters existed still gets its stats. */
TEST_F(req, stats_first_version)
{
	union {
		struct {
			uint32_t size;
			uint32_t flags;
		};
		struct tether_stats st;
		unsigned char bytes[512];
	} buf;
	size_t old = offsetof(struct tether_stats, requests);

	ASSERT_EQ(0, tsubmit(self->t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     self->buf, 10, 0, 0, NULL));
	memset(&buf, 0xee, sizeof(buf));
	buf.size = old;
	buf.flags = 0;
	ASSERT_IOCTL_OK(self->t.fd, TETHER_IOC_GET_STATS, &buf);
	ASSERT_EQ(1, buf.st.pinned_pages);
	ASSERT_EQ(-1, filled_mismatch(buf.bytes + old, sizeof(buf) - old, 0xee));
	buf.size = old - 1;
	ASSERT_IOCTL_ERR(EINVAL, self->t.fd, TETHER_IOC_GET_STATS, &buf);
}

/* 1 000 requests in flight, then close: every pin comes back. */
TEST_F_TIMEOUT(req, close_with_1000_in_flight, 600)
{
	const int n = 1000, nasync = 16;
	size_t big = 4 << 20;
	size_t area = n * self->ps;
	long long held = pins_held();
	long vmpin = proc_status_kb("VmPin");
	unsigned char *p = map_anon(area);
	unsigned char *q = map_anon(nasync * big);
	struct tether_stats st;
	struct tctx t;
	int i;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, tctx_open(&t));
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				     p + i * self->ps + i % 7, 100, i, i, NULL)) TH_LOG("request %d", i);
	ASSERT_EQ(0, tstats(&t, &st));
	ASSERT_EQ(n, st.requests);
	ASSERT_EQ(n, st.request_pages);
	ASSERT_EQ(n, st.pinned_pages);
	ASSERT_EQ(held + n, pins_held());
	/* held requests are long-term pins: they show in VmPin */
	ASSERT_EQ(vmpin + n * (long)(self->ps / 1024), proc_status_kb("VmPin"));
	/* and a queue of big asynchronous ones, the first being written */
	for (i = 0; i < nasync; i++)
		ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC, q + i * big, big, 0, 0, NULL));
	tctx_close(&t);
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(vmpin, proc_status_kb("VmPin"));
	/* held requests wrote nothing */
	for (i = 0; i < n; i++)
		ASSERT_EQ(-1, filled_mismatch(p + i * self->ps, self->ps, 0x5a));
	munmap(p, area);
	munmap(q, nasync * big);
}

/* A child that leaves requests outstanding, then ends as @how says. */
static int child_with_requests(int how)
{
	size_t ps = page_size();
	unsigned char *p = map_anon(64 * ps);
	unsigned char *q = map_anon(8 << 20);
	struct tctx t;
	int i;

	if (p == MAP_FAILED || q == MAP_FAILED || tctx_open(&t))
		return 30;
	for (i = 0; i < 64; i++)
		if (tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			    p + i * ps, ps, 0, 0, NULL))
			return 31;
	for (i = 0; i < 8; i++)
		if (tsubmit(t.fd, TETHER_REQUEST_ASYNC, q + i * (1 << 20), 1 << 20, 0, 0, NULL))
			return 32;
	if (how == 1) {
		kill(getpid(), SIGKILL);
		pause();
	}
	return 0;
}

TEST_F_TIMEOUT(req, exit_and_kill_release_requests, 300)
{
	long long held = pins_held();
	int how;

	for (how = 0; how < 2; how++) {
		/* case 1 is killed by SIGKILL, the others exit */
		ASSERT_TRUE(child_ends(child_with_requests, how, how == 1))
			TH_LOG("case %d: the child failed", how);
		ASSERT_EQ(held, pins_held()) TH_LOG("case %d leaked pins", how);
	}
}

/*
 * The owner exits while another process holds its context (passed over a
 * unix socket): nobody can use the requests any more, so the module
 * cancels them and drops their pins by itself, without waiting for the
 * file to be closed.
 */
TEST_F_TIMEOUT(req, owner_exit_releases_requests_of_a_held_file, 300)
{
	long long held = pins_held();
	int sv[2], fd, i;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	if (fork() == 0) {
		size_t ps = page_size();
		unsigned char *p = map_anon(64 * ps);
		struct tctx t;

		close(sv[0]);
		if (p == MAP_FAILED || tctx_open(&t))
			_exit(40);
		for (i = 0; i < 64; i++)
			if (tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				    p + i * ps, ps, 0, 0, NULL))
				_exit(41);
		if (send_fd(sv[1], t.fd))
			_exit(42);
		/* exit once the parent has seen the pins (it closes sv[0]) */
		_exit(read(sv[1], &i, 1) == 0 ? 0 : 43);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_LE(0, fd);
	ASSERT_GE(pins_held(), held + 64);
	close(sv[0]);
	ASSERT_LE(0, wait(&i));
	ASSERT_TRUE(WIFEXITED(i) && WEXITSTATUS(i) == 0);
	/* from a work item: give it a moment */
	for (i = 0; i < 200 && pins_held() != held; i++)
		usleep(50 * 1000);
	ASSERT_EQ(held, pins_held());
	/* the holder still cannot act on the context */
	ASSERT_EQ(-EPERM, tcancel(fd, 1));
	ASSERT_EQ(0, close(fd));
}

/* Does the loaded module have requests? */
static int have_requests(void)
{
	struct tctx t;
	int ret;

	if (tctx_open(&t))
		return 0;
	ret = !!(t.info.features & TETHER_FEATURE_REQUEST);
	tctx_close(&t);
	return ret;
}

#define SKIP_WITHOUT_REQUESTS()                                              \
	do {                                                                 \
		if (!have_requests())                                        \
			SKIP(return, "no TETHER_FEATURE_REQUEST");           \
	} while (0)

/* Open a context with one parameter set to @val for it only. */
static int open_with_param(struct tctx *t, const char *name, const char *val)
{
	char old[32];
	int ret;

	ret = tether_param_get(name, old, sizeof(old));
	if (ret)
		return ret;
	ret = tether_param_set(name, val);
	if (ret)
		return ret;
	ret = tctx_open(t);
	tether_param_set(name, old);
	return ret;
}

TEST(parameters_are_validated)
{
	char old[32], now[32];

	SKIP_WITHOUT_REQUESTS();

	ASSERT_EQ(0, tether_param_get("max_requests", old, sizeof(old)));
	ASSERT_EQ(-EINVAL, tether_param_set("max_requests", "0"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_requests", "1048577"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_requests", "abc"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_request_mb", "0"));
	ASSERT_EQ(-EINVAL, tether_param_set("max_request_mb", "-1"));
	ASSERT_EQ(0, tether_param_get("max_requests", now, sizeof(now)));
	ASSERT_STREQ(old, now);
}

TEST(outstanding_limit_enospc)
{
	unsigned char *buf = map_anon(page_size());
	uint64_t id[5];
	struct tctx t;
	int i;

	SKIP_WITHOUT_REQUESTS();

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, open_with_param(&t, "max_requests", "4"));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				     buf, 10, 0, 0, &id[i]));
	ASSERT_EQ(-ENOSPC, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				   buf, 10, 0, 0, NULL));
	ASSERT_EQ(-ENOSPC, tsubmit(t.fd, 0, buf, 10, 0, 0, NULL));
	/* a completed request still counts until it is collected */
	ASSERT_EQ(0, tcancel(t.fd, id[1]));
	ASSERT_EQ(-ENOSPC, tsubmit(t.fd, 0, buf, 10, 0, 0, NULL));
	ASSERT_EQ(0, twait(t.fd, id[1], 0, NULL));
	ASSERT_EQ(0, tsubmit(t.fd, 0, buf, 10, 0, 0, NULL));
	ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     buf, 10, 0, 0, &id[4]));
	ASSERT_EQ(-ENOSPC, tsubmit(t.fd, TETHER_REQUEST_ASYNC, buf, 10, 0, 0, NULL));
	tctx_close(&t);
	munmap(buf, page_size());
}

TEST(locked_limit_enomem)
{
	size_t mb = 1 << 20, ps = page_size();
	unsigned char *buf = map_anon(2 * mb);
	long long held = pins_held();
	struct tether_stats st;
	struct tctx t;
	uint64_t id;

	SKIP_WITHOUT_REQUESTS();

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, open_with_param(&t, "max_request_mb", "1"));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, 0, buf, mb + ps, 0, 0, NULL));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				   buf, mb + 1, 0, 0, NULL));
	ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     buf, mb - ps, 0, 0, &id));
	ASSERT_EQ(0, tsubmit(t.fd, 0, buf + mb, ps, 0, 0, NULL));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, 0, buf + mb, ps + 1, 0, 0, NULL));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, TETHER_REQUEST_ASYNC, buf + mb, 2 * ps, 0, 0, NULL));
	ASSERT_EQ(0, tstats(&t, &st));
	ASSERT_EQ(1, st.requests);
	ASSERT_EQ(mb / ps - 1, st.request_pages);
	ASSERT_EQ(held + (long long)(mb / ps - 1), pins_held());
	/* the failures wrote nothing */
	ASSERT_EQ(-1, filled_mismatch(buf + mb + ps, mb - ps, SENTINEL));
	ASSERT_EQ(0, tcancel(t.fd, id));
	ASSERT_EQ(0, tsubmit(t.fd, 0, buf, mb, 0, 0, NULL));
	tctx_close(&t);
	ASSERT_EQ(held, pins_held());
	munmap(buf, 2 * mb);
}

/* Request pins and secured ranges' pins share the context's max_pinned_mb. */
TEST(pinned_limit_counts_requests)
{
	size_t mb = 1 << 20, ps = page_size();
	unsigned char *buf = map_anon(2 * mb);
	long long held = pins_held();
	struct tether_cmd_secure s;
	struct tctx t;
	uint64_t id;

	SKIP_WITHOUT_REQUESTS();

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, open_with_param(&t, "max_pinned_mb", "1"));
	ASSERT_EQ(0, tsecure(&t, buf, mb - ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, 0, buf + mb, 2 * ps, 0, 0, NULL));
	ASSERT_EQ(-ENOMEM, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				   buf + mb, 2 * ps, 0, 0, NULL));
	ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
			     buf + mb, ps, 0, 0, &id));
	ASSERT_EQ(-ENOMEM, tsecure(&t, buf + mb + ps, ps, TETHER_SECURE_PIN, 0, &s));
	ASSERT_EQ(0, tcancel(t.fd, id));
	ASSERT_EQ(0, tsubmit(t.fd, 0, buf + mb, ps, 0, 0, NULL));
	ASSERT_EQ(-1, filled_mismatch(buf + mb + ps, mb - ps, SENTINEL));
	tctx_close(&t);
	ASSERT_EQ(held, pins_held());
	munmap(buf, 2 * mb);
}

/*
 * Every request counts against RLIMIT_MEMLOCK while it holds its pages:
 * synchronous, asynchronous and held alike (VmPin), and one that would go
 * over it fails with ENOMEM, nothing pinned.
 */
static int memlock_child(void)
{
	struct rlimit rl = { 16 * 4096, 16 * 4096 };
	size_t ps = page_size();
	const uint32_t hold = TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD;
	unsigned char *buf = map_anon(64 * ps);
	long long pins = pins_held();
	struct tctx t;
	int32_t st;
	uint64_t id;

	if (buf == MAP_FAILED || drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &rl) ||
	    tctx_open(&t))
		return 10;
	if (tsubmit(t.fd, hold, buf, 17 * ps, 0, 0, NULL) != -ENOMEM)
		return 11;
	if (tsubmit(t.fd, 0, buf, 17 * ps, 0, 0, NULL) != -ENOMEM)
		return 12;
	if (tsubmit(t.fd, TETHER_REQUEST_ASYNC, buf, 17 * ps, 0, 0, NULL) != -ENOMEM)
		return 13;
	if (pins_held() != pins || proc_status_kb("VmPin") != 0)
		return 14;
	if (tsubmit(t.fd, 0, buf, 16 * ps, 0, 0, NULL))
		return 15;
	if (tsubmit(t.fd, TETHER_REQUEST_ASYNC, buf, 16 * ps, 0, 0, &id) ||
	    twait(t.fd, id, WAIT_MS, &st) || st)
		return 16;
	if (proc_status_kb("VmPin") != 0)
		return 17;
	if (tsubmit(t.fd, hold, buf, 8 * ps, 0, 0, &id))
		return 18;
	if (proc_status_kb("VmPin") != 32)
		return 19;
	/* the held one's pages count: 8 more fit, 9 do not, whatever the kind */
	if (tsubmit(t.fd, 0, buf + 8 * ps, 9 * ps, 0, 0, NULL) != -ENOMEM ||
	    tsubmit(t.fd, TETHER_REQUEST_ASYNC, buf + 8 * ps, 9 * ps, 0, 0, NULL) != -ENOMEM ||
	    tsubmit(t.fd, hold, buf + 8 * ps, 9 * ps, 0, 0, NULL) != -ENOMEM)
		return 20;
	if (tsubmit(t.fd, 0, buf + 8 * ps, 8 * ps, 8 * ps, 0, NULL))
		return 21;
	if (tcomplete(t.fd, id, 0) || twait(t.fd, id, WAIT_MS, &st) || st)
		return 22;
	if (proc_status_kb("VmPin") != 0 || pins_held() != pins)
		return 23;
	if (pattern_mismatch(buf, 16 * ps, 0) != -1)
		return 24;
	return 0;
}

TEST(every_request_charges_memlock)
{
	int status;
	pid_t pid;

	SKIP_WITHOUT_REQUESTS();

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(memlock_child());
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
}

/*
 * An ext4 file system on a loop device in /tmp (struct ext4_disk): buffers
 * in MAP_SHARED mappings of a file whose pages really are written back to
 * a disk. The test VM (TETHER_KERNEL set) must be able to make one.
 */
FIXTURE(req_ext4) {
	struct ext4_disk disk;
};

FIXTURE_SETUP(req_ext4)
{
	SKIP_WITHOUT_REQUESTS();
	EXT4_DISK_MOUNT_OR_SKIP(&self->disk);
}

/* In the parent: a failed ASSERT must not leave the file system mounted. */
FIXTURE_TEARDOWN_PARENT(req_ext4)
{
	ext4_disk_unmount(&self->disk);
}

/* Create @path holding @len bytes @c, on the disk: its descriptor, or -1. */
static int disk_file(const char *path, size_t len, unsigned char c)
{
	unsigned char *data = malloc(len);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (!data || fd < 0)
		goto err;
	memset(data, c, len);
	if (pwrite(fd, data, len, 0) != (ssize_t)len || fsync(fd))
		goto err;
	free(data);
	return fd;
err:
	free(data);
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Is every page of [addr, addr + len) dirty (@dirty) or clean? */
static bool pages_dirty_are(const unsigned char *addr, size_t len, bool dirty)
{
	size_t ps = page_size();
	uintptr_t a = (uintptr_t)addr & ~(ps - 1);
	long long fl;

	for (; a < (uintptr_t)addr + len; a += ps) {
		fl = kpage_flags((void *)a);
		if (fl < 0 || !!(fl & (1LL << KPF_DIRTY)) != dirty)
			return false;
	}
	return true;
}

#define DISK_PAGES 16
#define DISK_BYTE 0xee
#define PLUGS 8

/*
 * Completion marks the pages dirty (unpin_user_pages_dirty_lock()): what a
 * request writes into a MAP_SHARED mapping of an ext4 file is on the disk
 * (read back with O_DIRECT, which bypasses clean cached pages) once the
 * mapping is gone and the file system synced.
 *
 * The synchronous request checks that path end to end only: its
 * FOLL_WRITE pin faults the pages in for write, which dirties them, and
 * nothing cleans them before the write, so a plain unpin would pass too.
 * The asynchronous one proves the dirtying: it waits on the worker behind
 * other transfers while syncfs() writes its pinned pages back, cleaning
 * them and write-protecting the mapping (checked in /proc/kpageflags). The
 * worker's data then reaches the disk only if the unpin dirties the pages
 * again. (Held requests cannot be used: long-term writable pins of such
 * mappings are refused.)
 */
/*
 * A held request pins its buffer long-term (FOLL_LONGTERM). A long-term
 * writable pin of a MAP_SHARED mapping of a file that needs dirty tracking
 * (ext4 here) is refused on every kernel with EOPNOTSUPP: tether applies
 * 6.5's rule itself, before GUP (which would say EFAULT on 6.5+ and take the
 * pin on 6.1). Nothing is written, pinned or counted, and the file on disk
 * is unchanged. Synchronous and asynchronous requests (short-term pins) are
 * still accepted there.
 */
TEST_F_TIMEOUT(req_ext4, held_request_into_shared_file, 120)
{
	const size_t ps = page_size(), len = DISK_PAGES * ps, rlen = 3 * ps;
	unsigned char *m, *disk = malloc(len);
	long long held = pins_held();
	struct tether_stats st;
	char path[128];
	int32_t status;
	struct tctx t;
	uint64_t id;
	int fd;

	ASSERT_NE(NULL, disk);
	ASSERT_EQ(0, tctx_open(&t));
	snprintf(path, sizeof(path), "%s/held", self->disk.dir);
	fd = disk_file(path, len, DISK_BYTE);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);

	ASSERT_EQ(-EOPNOTSUPP, tsubmit(t.fd, TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD,
				       m + ps, rlen, 5, 0, &id));
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(0, tstats(&t, &st));
	ASSERT_EQ(0, st.requests);
	ASSERT_EQ(0, st.pinned_pages);
	ASSERT_EQ(0, st.request_pages);
	ASSERT_EQ(-1, filled_mismatch(m, len, DISK_BYTE));
	/* short-term pins are fine there */
	ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC, m + ps, rlen, 5, 0, &id));
	ASSERT_EQ(0, twait(t.fd, id, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(held, pins_held());
	ASSERT_EQ(-1, pattern_mismatch(m + ps, rlen, 5));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, read_direct(path, 0, disk, len));
	ASSERT_EQ(-1, filled_mismatch(disk, ps, DISK_BYTE));
	ASSERT_EQ(-1, pattern_mismatch(disk + ps, rlen, 5));
	close(fd);
	free(disk);
	tctx_close(&t);
}

TEST_F_TIMEOUT(req_ext4, shared_file_written_to_disk, 600)
{
	const size_t ps = page_size(), len = DISK_PAGES * ps, plug_len = 16 << 20;
	const size_t off = ps / 2 + 3, rlen = 10 * ps + 777;
	const uint64_t soff = 4 * ps + 11;
	unsigned char *m, *plug, *disk = malloc(len);
	long long held = pins_held();
	uint64_t plugs[PLUGS], id;
	char path[128];
	int fd, dfd, i, async;
	struct tctx t;
	int32_t st;

	ASSERT_NE(NULL, disk);
	ASSERT_EQ(0, tctx_open(&t));
	dfd = open(self->disk.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	plug = map_anon(plug_len);
	ASSERT_NE(MAP_FAILED, plug);

	for (async = 0; async < 2; async++) {
		snprintf(path, sizeof(path), "%s/%s", self->disk.dir, async ? "async" : "sync");
		fd = disk_file(path, len, DISK_BYTE);
		ASSERT_LE(0, fd);
		m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		ASSERT_NE(MAP_FAILED, m);

		if (!async) {
			ASSERT_EQ(0, tsubmit(t.fd, 0, m + off, rlen, soff, 0, NULL));
		} else {
			/* keep the worker busy; the request queues behind */
			for (i = 0; i < PLUGS; i++)
				ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC, plug,
						     plug_len, 0, 0, &plugs[i]));
			ASSERT_EQ(0, tsubmit(t.fd, TETHER_REQUEST_ASYNC, m + off, rlen,
					     soff, 0, &id));
			ASSERT_EQ(0, syncfs(dfd));
			/* the worker has not reached the request yet ... */
			ASSERT_EQ(-ETIMEDOUT, twait(t.fd, plugs[PLUGS - 1], 0, NULL))
				TH_LOG("the transfers ahead ended before syncfs() did");
			ASSERT_EQ(-1, filled_mismatch(m, len, DISK_BYTE));
			/* ... and its pinned pages are clean */
			ASSERT_TRUE(pages_dirty_are(m + off, rlen, false))
				TH_LOG("pinned pages not cleaned by syncfs()");
			for (i = 0; i < PLUGS; i++) {
				int r = tcancel(t.fd, plugs[i]);

				ASSERT_TRUE(r == 0 || r == -EALREADY)
					TH_LOG("cancel: %d", r);
			}
			for (i = 0; i < PLUGS; i++) {
				ASSERT_EQ(0, twait(t.fd, plugs[i], WAIT_MS * 3, &st));
				ASSERT_TRUE(st == 0 || st == -ECANCELED)
					TH_LOG("plug %d: %d", i, st);
			}
			ASSERT_EQ(0, twait(t.fd, id, WAIT_MS, &st));
			ASSERT_EQ(0, st);
			/* completion dirtied them again */
			ASSERT_TRUE(pages_dirty_are(m + off, rlen, true))
				TH_LOG("written pages left clean");
		}
		ASSERT_EQ(-1, pattern_mismatch(m + off, rlen, soff));
		ASSERT_EQ(0, munmap(m, len));
		ASSERT_EQ(0, close(fd));
		ASSERT_EQ(0, syncfs(dfd));
		ASSERT_EQ(0, read_direct(path, 0, disk, len));
		ASSERT_EQ(-1, pattern_mismatch(disk + off, rlen, soff))
			TH_LOG("%s: byte %ld not on the disk", async ? "async" : "sync",
			       pattern_mismatch(disk + off, rlen, soff));
		ASSERT_EQ(-1, filled_mismatch(disk, off, DISK_BYTE));
		ASSERT_EQ(-1, filled_mismatch(disk + off + rlen, len - off - rlen,
					      DISK_BYTE));
		ASSERT_EQ(held, pins_held());
	}
	munmap(plug, plug_len);
	close(dfd);
	tctx_close(&t);
	free(disk);
}

TEST_HARNESS_MAIN
