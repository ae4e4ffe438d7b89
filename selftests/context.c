// SPDX-License-Identifier: GPL-2.0
/*
 * libtether's context API on its own (the cache tests use it through the
 * cache): secure/release, validity, events from the mmap()ed ring with
 * tether_events_pending()/tether_next_event(), waiting on tether_fd() with
 * epoll, overflow and tether_rearm(), tether_get_stats(); the sized
 * symbols behind tether_query() and tether_get_stats() as programs built
 * against a smaller or a larger struct call them; unknown flags.
 */
#include <sys/epoll.h>

#include "struct_size.h"
#include "tether.h"
#include "tether_test.h"

static struct tether_context *open_or_skip(struct __test_metadata *_metadata)
{
	struct tether_context *ctx = tether_open();

	if (!ctx && errno == ENODEV)
		SKIP(return NULL, "tether.ko not loaded");
	ASSERT_NE(NULL, ctx);
	return ctx;
}

/* One munmap: the exact event, through the ring, announced to epoll. */
TEST(events_through_the_library)
{
	struct tether_context *ctx = open_or_skip(_metadata);
	size_t ps = page_size();
	struct epoll_event ee = { .events = EPOLLIN };
	struct tether_range a, b;
	struct tether_stats st;
	struct tether_event ev;
	char *buf;
	int ep;

	if (!ctx)
		return;
	buf = map_anon(4 * ps);
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, tether_secure(ctx, buf, 2 * ps, 0, 11, &a));
	ASSERT_EQ(0, tether_secure(ctx, buf + 2 * ps, 2 * ps, TETHER_SECURE_PIN, 22, &b));
	ASSERT_EQ(1, tether_range_valid(ctx, &a));
	ASSERT_EQ(1, tether_range_valid(ctx, &b));
	ASSERT_EQ(0, tether_events_pending(ctx));
	ASSERT_EQ(0, tether_next_event(ctx, &ev));

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, tether_fd(ctx), &ee));
	ASSERT_EQ(0, epoll_wait(ep, &ee, 1, 0));

	/* the second page of range a */
	ASSERT_EQ(0, munmap(buf + ps, ps));
	ASSERT_EQ(0, tether_range_valid(ctx, &a));
	ASSERT_EQ(1, tether_range_valid(ctx, &b));
	ASSERT_EQ(1, epoll_wait(ep, &ee, 1, 1000));
	ASSERT_TRUE(ee.events & EPOLLIN);
	ASSERT_EQ(1, tether_events_pending(ctx));
	ASSERT_EQ(1, tether_next_event(ctx, &ev));
	ASSERT_EQ(TETHER_EVENT_INVALIDATE, ev.type);
	ASSERT_EQ(TETHER_REASON_UNMAP, ev.reason);
	ASSERT_EQ(a.handle, ev.handle);
	ASSERT_EQ(11, ev.cookie);
	ASSERT_EQ((uintptr_t)buf + ps, ev.start);
	ASSERT_EQ((uintptr_t)buf + 2 * ps, ev.end);
	ASSERT_EQ(1, ev.seq);
	ASSERT_EQ(0, tether_events_pending(ctx));
	ASSERT_EQ(0, tether_next_event(ctx, &ev));
	/* consumed through the ring: epoll has nothing more to say */
	ASSERT_EQ(0, epoll_wait(ep, &ee, 1, 0));

	ASSERT_EQ(0, tether_get_stats(ctx, &st));
	ASSERT_EQ(2, st.regions);
	ASSERT_EQ(2, st.pinned_pages);
	ASSERT_EQ(1, st.invalidated);
	ASSERT_EQ(1, st.events);
	ASSERT_EQ(0, tether_release(ctx, a.handle));
	ASSERT_EQ(-ENOENT, tether_release(ctx, a.handle));
	ASSERT_EQ(0, tether_release(ctx, b.handle));
	ASSERT_EQ(0, tether_range_valid(ctx, &b));
	ASSERT_EQ(0, tether_get_stats(ctx, &st));
	ASSERT_EQ(0, st.regions);
	ASSERT_EQ(0, st.pinned_pages);
	/* released ranges send nothing */
	ASSERT_EQ(0, munmap(buf, 4 * ps));
	ASSERT_EQ(0, tether_events_pending(ctx));
	close(ep);
	ASSERT_EQ(0, tether_close(ctx));
}

/*
 * A 64-entry ring and 64 + 10 ranges unmapped: 63 events and the overflow
 * marker through tether_next_event(), rearm refused until the marker is
 * consumed, then the dropped count, and events flowing again.
 */
TEST(overflow_and_rearm_through_the_library)
{
	const unsigned int cap = 64, n = cap + 10;
	struct tether_range r[cap + 10], last;
	struct tether_context *ctx;
	size_t ps = page_size();
	struct tether_info info;
	struct tether_stats st;
	struct tether_event ev;
	uint64_t dropped = 0;
	unsigned int i;
	char *buf;

	if (access("/dev/tether", F_OK))
		SKIP(return, "tether.ko not loaded");
	if (tether_param_set("ring_entries", "64"))
		SKIP(return, "cannot set ring_entries (root?)");
	ctx = tether_open();
	tether_param_set("ring_entries", "4096");
	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, tether_query(ctx, &info));
	ASSERT_EQ(cap, info.ring_entries);

	buf = map_anon((n + 1) * ps);
	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tether_secure(ctx, buf + i * ps, ps, 0, i, &r[i]));
	ASSERT_EQ(0, tether_secure(ctx, buf + n * ps, ps, 0, n, &last));
	ASSERT_EQ(0, munmap(buf, n * ps));
	ASSERT_EQ(cap, tether_events_pending(ctx));
	/* the marker is still queued: rearming now would lose it */
	ASSERT_EQ(-EBUSY, tether_rearm(ctx, &dropped));
	for (i = 0; i < cap - 1; i++) {
		ASSERT_EQ(1, tether_next_event(ctx, &ev));
		ASSERT_EQ(TETHER_EVENT_INVALIDATE, ev.type);
		ASSERT_EQ(r[i].handle, ev.handle);
	}
	ASSERT_EQ(1, tether_next_event(ctx, &ev));
	ASSERT_EQ(TETHER_EVENT_OVERFLOW, ev.type);
	ASSERT_EQ(0, tether_next_event(ctx, &ev));
	/* nothing lost: the dropped ranges' validity words changed */
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, tether_range_valid(ctx, &r[i]));
	ASSERT_EQ(0, tether_rearm(ctx, &dropped));
	ASSERT_EQ(n - (cap - 1), dropped);
	ASSERT_EQ(0, tether_get_stats(ctx, &st));
	ASSERT_EQ(1, st.overflows);
	ASSERT_EQ(n - (cap - 1), st.dropped);

	/* rearmed: the next change is an event again */
	ASSERT_EQ(0, munmap(buf + n * ps, ps));
	ASSERT_EQ(1, tether_events_pending(ctx));
	ASSERT_EQ(1, tether_next_event(ctx, &ev));
	ASSERT_EQ(last.handle, ev.handle);
	ASSERT_EQ(n, ev.cookie);
	ASSERT_EQ(cap + 1, ev.seq);
	ASSERT_EQ(0, tether_close(ctx));
}


static int query_sized(void *ctx, void *buf, size_t size)
{
	return tether_query_sized(ctx, buf, size);
}

static int stats_sized(void *ctx, void *buf, size_t size)
{
	return tether_get_stats_sized(ctx, buf, size);
}

/*
 * A program built against an older, smaller struct tether_info or
 * tether_stats gets only its own bytes written (the canary after them
 * stays), one built against a newer, larger one reads zeros past the
 * library's fields; every size from 0 to the library's + 64.
 */
TEST(struct_sizes_from_the_caller)
{
	struct tether_context *ctx = open_or_skip(_metadata);
	struct tether_info info;
	struct tether_stats st;
	struct {
		struct tether_info info;
		unsigned char canary[8];
	} old;
	/* a struct that had two u64 fields less */
	size_t old_size = sizeof(struct tether_info) - 16, i;

	if (!ctx)
		return;
	ASSERT_EQ(0, tether_query(ctx, &info));
	ASSERT_EQ(sizeof(info), info.size);
	ASSERT_EQ(TETHER_ABI_VERSION, info.abi_version);
	ASSERT_EQ(0, tether_get_stats(ctx, &st));
	ASSERT_EQ(sizeof(st), st.size);
	check_sized(_metadata, query_sized, ctx, &info, sizeof(info), true);
	/* no range secured: the counters stay put between the calls */
	check_sized(_metadata, stats_sized, ctx, &st, sizeof(st), true);

	/* the same, spelled as an old program's struct with a guard after it */
	memset(&old, SIZE_CANARY, sizeof(old));
	ASSERT_EQ(0, tether_query_sized(ctx, &old.info, old_size));
	ASSERT_EQ(old_size, old.info.size);
	ASSERT_EQ(info.abi_version, old.info.abi_version);
	ASSERT_EQ(0, memcmp((char *)&info + 4, (char *)&old.info + 4, old_size - 4));
	for (i = old_size; i < sizeof(old); i++)
		ASSERT_EQ(SIZE_CANARY, ((unsigned char *)&old)[i]);
	ASSERT_EQ(0, tether_close(ctx));
}

/* Flag bits the library does not know: EOPNOTSUPP, and no range made. */
TEST(secure_unknown_flags)
{
	struct tether_context *ctx = open_or_skip(_metadata);
	size_t ps = page_size();
	struct tether_stats st;
	struct tether_range r;
	uint32_t bit;
	char *buf;

	if (!ctx)
		return;
	buf = map_anon(ps);
	ASSERT_NE(MAP_FAILED, buf);
	for (bit = 1; bit; bit <<= 1) {
		if (bit & (TETHER_SECURE_PIN | TETHER_SECURE_WRITE))
			continue;
		ASSERT_EQ(-EOPNOTSUPP, tether_secure(ctx, buf, ps, bit, 0, &r))
			TH_LOG("flag 0x%x", bit);
		ASSERT_EQ(-EOPNOTSUPP, tether_secure(ctx, buf, ps, bit | TETHER_SECURE_PIN, 0, &r));
	}
	ASSERT_EQ(0, tether_get_stats(ctx, &st));
	ASSERT_EQ(0, st.secured);
	/* the known ones still work */
	ASSERT_EQ(0, tether_secure(ctx, buf, ps, TETHER_SECURE_PIN | TETHER_SECURE_WRITE, 0, &r));
	ASSERT_EQ(1, tether_range_valid(ctx, &r));
	ASSERT_EQ(0, tether_release(ctx, r.handle));
	ASSERT_EQ(0, tether_close(ctx));
	munmap(buf, ps);
}

TEST_HARNESS_MAIN
