// SPDX-License-Identifier: GPL-2.0
/*
 * libtether's registration cache on a real rxe device: after each way the
 * memory under a cached registration can change, data moved with RDMA WRITE
 * (buffer -> target) and RDMA READ (target -> buffer) through the cache is
 * checked byte for byte.
 *
 * Every scenario runs twice (FIXTURE_VARIANT): with the coherent cache, where
 * all data must be right, and with a cache that ignores invalidations (the
 * negative control), which must get the same checks wrong wherever the
 * mapping really changed: proof that the checks have teeth.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "index.h"
#include "rdma_loop.h"
#include "struct_size.h"
#include "tether.h"
#include "tether_test.h"
#include "uffd_race.h"

#define TARGET_LEN (2UL << 20)
#define ACC_RW IBV_ACCESS_LOCAL_WRITE

FIXTURE(cache) {
	struct rdev dev;
	struct rpair pair;
	struct tether_context *ctx;
	struct tether_cache *cache;
	char *target;
	struct ibv_mr *tmr;
	uint32_t seed;
};

FIXTURE_VARIANT(cache) {
	bool unsafe;
};

/* the coherent cache: every data check must pass */
FIXTURE_VARIANT_ADD(cache, coherent) {
	.unsafe = false,
};

/* the negative control: ignores invalidations, must fail the data checks */
FIXTURE_VARIANT_ADD(cache, no_invalidation) {
	.unsafe = true,
};

static struct tether_cache *make_cache(struct tether_context *ctx, struct ibv_pd *pd,
				       bool unsafe, uint32_t max_entries)
{
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_FLAGS | TETHER_CACHE_ATTR_MAX_ENTRIES,
		.flags = unsafe ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.max_entries = max_entries,
	};

	return tether_cache_create(ctx, pd, &attr);
}

FIXTURE_SETUP(cache)
{
	int ret = rdev_open(&self->dev, NULL);

	if (ret == -ENODEV)
		SKIP(return, "no rxe0 device");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, rpair_open(&self->pair, &self->dev));
	self->target = mmap(NULL, TARGET_LEN, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->target);
	self->tmr = ibv_reg_mr(self->dev.pd, self->target, TARGET_LEN,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			       IBV_ACCESS_REMOTE_WRITE);
	ASSERT_NE(NULL, self->tmr);
	self->ctx = tether_open();
	if (!self->ctx && errno == ENODEV)
		SKIP(return, "tether.ko not loaded");
	ASSERT_NE(NULL, self->ctx);
	self->cache = make_cache(self->ctx, self->dev.pd, variant->unsafe, 4096);
	ASSERT_NE(NULL, self->cache);
	self->seed = 1;
	/* glibc: keep big blocks on mmap and the heap untrimmed, as apps see it */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

FIXTURE_TEARDOWN(cache)
{
	if (self->cache)
		ASSERT_EQ(0, tether_cache_destroy(self->cache));
	tether_close(self->ctx);
	if (self->tmr)
		ibv_dereg_mr(self->tmr);
	if (self->target && self->target != MAP_FAILED)
		munmap(self->target, TARGET_LEN);
	rpair_close(&self->pair);
	rdev_close(&self->dev);
}

/*
 * Through a cache registration of [buf, buf + len): RDMA WRITE buf -> target
 * and RDMA READ target -> buf, each with fresh data. Returns the number of
 * wrong bytes (0: all right), or a negative errno if the get or an RDMA
 * operation failed (wrong data and a failed transfer are told apart).
 */
static long xfer(FIXTURE_DATA(cache) *f, void *buf, size_t len)
{
	uint32_t s1 = ++f->seed, s2 = ++f->seed;
	enum ibv_wc_status wcs;
	struct tether_mr *mr;
	long bad;
	int ret;

	rpattern_fill(buf, len, s1);
	mr = tether_cache_get(f->cache, buf, len, ACC_RW);
	if (!mr)
		return -errno;
	memset(f->target, 0, len);
	ret = rpair_rdma(&f->pair, IBV_WR_RDMA_WRITE, buf, mr->lkey,
			 (uintptr_t)f->target, f->tmr->rkey, len, &wcs);
	if (ret)
		goto out;
	bad = rpattern_bad(f->target, len, s1);
	rpattern_fill(f->target, len, s2);
	ret = rpair_rdma(&f->pair, IBV_WR_RDMA_READ, buf, mr->lkey,
			 (uintptr_t)f->target, f->tmr->rkey, len, &wcs);
	if (!ret)
		bad += rpattern_bad(buf, len, s2);
out:
	tether_cache_put(f->cache, mr);
	return ret ? ret : bad;
}

/*
 * A cache of the test's own on the fixture's context (a context feeds one
 * cache): the fixture's is destroyed first, and teardown destroys this one.
 */
static struct tether_cache *replace_cache(FIXTURE_DATA(cache) *f,
					  const struct tether_cache_attr *attr)
{
	tether_cache_destroy(f->cache);
	f->cache = tether_cache_create(f->ctx, f->dev.pd, attr);
	return f->cache;
}

static struct tether_cache_stats cstats(struct tether_cache *c)
{
	struct tether_cache_stats st;

	tether_cache_query_stats(c, &st);
	return st;
}

/*
 * After a change of the mapping: the coherent cache moves the right bytes,
 * the negative control does not.
 */
#define ASSERT_DATA_AFTER_CHANGE(bad)                                            \
	do {                                                                     \
		long __b = (bad);                                                \
		ASSERT_LE(0, __b) TH_LOG("get failed: %s", strerror(-__b));      \
		if (variant->unsafe) {                                           \
			ASSERT_LT(0, __b) TH_LOG("the negative control got it right: the check is blind"); \
		} else {                                                         \
			ASSERT_EQ(0, __b) TH_LOG("%ld wrong bytes", __b);        \
		}                                                                \
	} while (0)

#define ASSERT_DATA_OK(bad)                                                      \
	do {                                                                     \
		long __b = (bad);                                                \
		ASSERT_EQ(0, __b) TH_LOG("%ld (errno %ld)", __b, -__b);          \
	} while (0)

/* A fresh anonymous mapping at exactly @at. */
static char *map_at(void *at, size_t len)
{
	char *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	return p == at ? p : MAP_FAILED;
}

TEST_F(cache, hit_after_miss)
{
	size_t len = 64 << 10;
	char *buf = map_anon(len);
	struct tether_cache_stats st;

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_DATA_OK(xfer(self, buf + 4096, 8192)); /* inside: a hit too */
	st = cstats(self->cache);
	ASSERT_EQ(1, st.misses);
	ASSERT_EQ(2, st.hits);
	ASSERT_EQ(1, st.entries);
	ASSERT_EQ(len, st.bytes_registered);
	ASSERT_EQ(0, st.entries_in_use);
	munmap(buf, len);
}

TEST_F(cache, free_then_malloc_same_address)
{
	size_t len = 1 << 20;
	uintptr_t was;
	char *p, *q;

#ifdef __SANITIZE_ADDRESS__
	SKIP(return, "AddressSanitizer's quarantine never reuses an address at once");
#endif
	p = malloc(len);
	ASSERT_NE(NULL, p);
	ASSERT_DATA_OK(xfer(self, p, len));
	was = (uintptr_t)p;
	free(p);
	q = malloc(len);
	ASSERT_EQ(was, (uintptr_t)q) TH_LOG("malloc did not reuse the address");
	ASSERT_DATA_AFTER_CHANGE(xfer(self, q, len));
	free(q);
}

TEST_F(cache, free_then_malloc_heap_chunk_keeps)
{
	size_t len = 16 << 10;
	struct tether_cache_stats st;
	uintptr_t was;
	char *p, *q;

#ifdef __SANITIZE_ADDRESS__
	SKIP(return, "AddressSanitizer's quarantine never reuses an address at once");
#endif
	p = malloc(len);
	ASSERT_NE(NULL, p);
	ASSERT_DATA_OK(xfer(self, p, len));
	was = (uintptr_t)p;
	free(p);
	q = malloc(len);
	ASSERT_EQ(was, (uintptr_t)q);
	/* same heap pages: nothing changed, nothing evicted, all correct */
	ASSERT_DATA_OK(xfer(self, q, len));
	st = cstats(self->cache);
	ASSERT_EQ(0, st.invalidations);
	ASSERT_LE(1, st.hits);
	free(q);
}

TEST_F(cache, munmap_then_mmap_same_address)
{
	size_t len = 256 << 10;
	char *buf = map_anon(len);

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EQ(buf, map_at(buf, len));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	if (!variant->unsafe)
		ASSERT_EQ(1, cstats(self->cache).invalidations);
	munmap(buf, len);
}

TEST_F(cache, partial_munmap_of_large_region)
{
	size_t len = 1 << 20, hole = 64 << 10;
	char *buf = map_anon(len);

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(0, munmap(buf + len / 2, hole));
	ASSERT_EQ(buf + len / 2, map_at(buf + len / 2, hole));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	munmap(buf, len);
}

TEST_F(cache, mremap_move)
{
	size_t len = 256 << 10;
	char *buf = map_anon(len);
	char *dst = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(dst, mremap(buf, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst));
	ASSERT_DATA_OK(xfer(self, dst, len));
	/* new memory where the old registration was */
	ASSERT_EQ(buf, map_at(buf, len));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	munmap(buf, len);
	munmap(dst, len);
}

TEST_F(cache, mremap_grow)
{
	size_t len = 256 << 10;
	char *buf = map_anon(2 * len), *grown;

	/* a neighbour right after forces the growth to move */
	ASSERT_EQ(0, munmap(buf + len, len));
	ASSERT_EQ(buf + len, map_at(buf + len, 4096));
	ASSERT_DATA_OK(xfer(self, buf, len));
	grown = mremap(buf, len, 2 * len, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, grown);
	ASSERT_NE(buf, grown);
	ASSERT_DATA_OK(xfer(self, grown, 2 * len));
	ASSERT_EQ(buf, map_at(buf, len));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	munmap(buf, len + 4096);
	munmap(grown, 2 * len);
}

TEST_F(cache, madv_dontneed_then_touch)
{
	size_t len = 256 << 10;
	char *buf = map_anon(len);

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(0, madvise(buf, len, MADV_DONTNEED));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	munmap(buf, len);
}

TEST_F(cache, brk_shrink_then_grow)
{
	size_t len = 256 << 10;
	void *blocks[8];
	char *buf;
	int i;

	/*
	 * Through glibc's sbrk(), so malloc's idea of the break stays right,
	 * and with free heap below the break first, so the mallocs inside
	 * ibv_reg_mr() and the cache do not grow the heap on top of ours.
	 */
	for (i = 0; i < 8; i++)
		blocks[i] = malloc(64 << 10);
	for (i = 0; i < 8; i++)
		free(blocks[i]);
	ASSERT_DATA_OK(xfer(self, self->target + TARGET_LEN / 2, 4096));
	buf = sbrk(0);
	ASSERT_NE((void *)-1, sbrk((4096 - ((uintptr_t)buf & 4095)) & 4095));
	buf = sbrk(len);
	ASSERT_NE((void *)-1, buf);
	ASSERT_EQ(0, (uintptr_t)buf & 4095);
	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(buf + len, sbrk(-(intptr_t)len));
	ASSERT_EQ(buf, sbrk(len));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	ASSERT_EQ(buf + len, sbrk(-(intptr_t)len));
}

TEST_F(cache, mmap_fixed_over_cached_range)
{
	size_t len = 256 << 10;
	char *buf = map_anon(len);

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(buf, mmap(buf, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, buf, len));
	munmap(buf, len);
}

TEST_F(cache, section_view_unmapped_and_remapped)
{
	size_t len = 256 << 10;
	int sfd = section_anon(tether_fd(self->ctx), 2 * len);
	char *view;

	ASSERT_LE(0, sfd);
	view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, sfd, 0);
	ASSERT_NE(MAP_FAILED, view);
	ASSERT_DATA_OK(xfer(self, view, len));
	/* the same offset again: the same shmem pages, a stale entry would still be right */
	ASSERT_EQ(0, munmap(view, len));
	ASSERT_EQ(view, mmap(view, len, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED_NOREPLACE, sfd, 0));
	ASSERT_DATA_OK(xfer(self, view, len));
	/* another part of the section at the same address: new pages */
	ASSERT_EQ(0, munmap(view, len));
	ASSERT_EQ(view, mmap(view, len, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_FIXED_NOREPLACE, sfd, len));
	ASSERT_DATA_AFTER_CHANGE(xfer(self, view, len));
	if (!variant->unsafe)
		ASSERT_EQ(2, cstats(self->cache).invalidations);
	munmap(view, len);
	close(sfd);
}

TEST_F(cache, mprotect_readonly_of_writable_entry)
{
	size_t len = 64 << 10;
	char *buf = map_anon(len);
	struct tether_mr *mr;
	struct ibv_mr *direct;
	int direct_errno;

	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(0, mprotect(buf, len, PROT_READ));
	/* what ibv_reg_mr() itself says about writable access to this memory */
	direct = ibv_reg_mr(self->dev.pd, buf, len, ACC_RW);
	direct_errno = errno;
	ASSERT_EQ(NULL, direct);
	mr = tether_cache_get(self->cache, buf, len, ACC_RW);
	if (variant->unsafe) {
		/* the negative control hands out the old writable registration */
		ASSERT_NE(NULL, mr);
		tether_cache_put(self->cache, mr);
	} else {
		ASSERT_EQ(NULL, mr);
		ASSERT_EQ(direct_errno, errno);
		/* reading is still fine: a read-only registration */
		mr = tether_cache_get(self->cache, buf, len, 0);
		ASSERT_NE(NULL, mr);
		ASSERT_EQ(0, mr->access & ACC_RW);
		memset(self->target, 0, len);
		ASSERT_EQ(0, rpair_rdma(&self->pair, IBV_WR_RDMA_WRITE, buf, mr->lkey,
					(uintptr_t)self->target, self->tmr->rkey, len, NULL));
		ASSERT_EQ(0, memcmp(buf, self->target, len));
		tether_cache_put(self->cache, mr);
	}
	munmap(buf, len);
}

TEST_F(cache, fork_then_parent_write_keeps)
{
	size_t len = 256 << 10;
	char *buf = map_anon(len);
	struct tether_cache_stats st;
	int release, status;
	pid_t pid;

	ASSERT_DATA_OK(xfer(self, buf, len));
	pid = fork_holder(&release);
	ASSERT_LE(0, pid);
	/* the parent writes (xfer fills the buffer) while the child lives */
	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_DATA_OK(xfer(self, buf, len));
	close(release);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	st = cstats(self->cache);
	/* pinned pages stay with the parent: no eviction, all hits */
	ASSERT_EQ(0, st.invalidations);
	ASSERT_EQ(0, st.evictions[TETHER_EVICT_INVALIDATED]);
	ASSERT_EQ(1, st.misses);
	ASSERT_EQ(2, st.hits);
	munmap(buf, len);
}

static void record_evict(const struct tether_mr *mr, enum tether_evict_reason reason,
			 void *arg)
{
	uintptr_t *log = arg;

	log[0]++;
	log[1] = (uintptr_t)mr->addr;
	log[2] = reason;
}

TEST_F(cache, in_use_entry_deregistered_at_last_put)
{
	size_t len = 64 << 10;
	uintptr_t log[3] = { 0 };
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_EVICT_CB | TETHER_CACHE_ATTR_FLAGS,
		.flags = variant->unsafe ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.evict_cb = record_evict, .evict_arg = log,
	};
	char *buf = map_anon(len), *other = map_anon(len);
	struct tether_mr *mr, *mr2;
	struct tether_cache_stats st;
	struct tether_cache *c;

	if (variant->unsafe)
		SKIP(return, "about invalidation");
	c = replace_cache(self, &attr);
	ASSERT_NE(NULL, c);
	mr = tether_cache_get(c, buf, len, ACC_RW);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, munmap(buf, len));
	/* the next get drains the event: the held entry is invalid but kept */
	mr2 = tether_cache_get(c, other, len, ACC_RW);
	ASSERT_NE(NULL, mr2);
	st = cstats(c);
	ASSERT_EQ(1, st.invalidations);
	ASSERT_EQ(0, log[0]);
	/* both still registered and held; only mr2 can be handed out again */
	ASSERT_EQ(2, st.entries);
	ASSERT_EQ(2, st.entries_in_use);
	ASSERT_EQ(0, tether_cache_put(c, mr));
	ASSERT_EQ(1, log[0]);
	ASSERT_EQ((uintptr_t)buf, log[1]);
	ASSERT_EQ(TETHER_EVICT_INVALIDATED, log[2]);
	st = cstats(c);
	ASSERT_EQ(1, st.evictions[TETHER_EVICT_INVALIDATED]);
	ASSERT_EQ(1, st.entries);
	ASSERT_EQ(-EBUSY, tether_cache_destroy(c));
	tether_cache_put(c, mr2);
	ASSERT_EQ(0, tether_cache_destroy(c));
	self->cache = NULL;
	ASSERT_EQ(2, log[0]);
	ASSERT_EQ(TETHER_EVICT_DESTROY, log[2]);
	munmap(other, len);
}

/*
 * ibv_dereg_mr() refuses while a memory window is bound to the MR (IBA
 * 10.6.7.2.6). Nothing may be lost: the flushed entry stays registered and
 * usable (RDMA through the window still lands in the buffer), destroy says
 * EBUSY, and once the window is gone the next flush deregisters it. An
 * uncached registration's put fails the same way and leaves it held.
 */
TEST_F(cache, failed_deregistration_kept_and_retried)
{
	const int acc = ACC_RW | IBV_ACCESS_MW_BIND;
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_FLAGS,
		.flags = TETHER_CACHE_PASSTHROUGH,
	};
	size_t len = 16 << 10;
	char *buf = map_anon(len);
	struct tether_cache_stats st;
	struct tether_cache *pass;
	struct tether_mr *mr;
	struct ibv_mw *mw;

	mr = tether_cache_get(self->cache, buf, len, acc);
	ASSERT_NE(NULL, mr);
	mw = ibv_alloc_mw(self->dev.pd, IBV_MW_TYPE_1);
	if (!mw) {
		tether_cache_put(self->cache, mr);
		SKIP(return, "no memory windows: %s", strerror(errno));
	}
	ASSERT_EQ(0, rpair_bind_mw(&self->pair, mw, mr->mr, buf, len,
				   IBV_ACCESS_REMOTE_WRITE));
	ASSERT_EQ(0, tether_cache_put(self->cache, mr));
	ASSERT_EQ(0, tether_cache_flush(self->cache));
	st = cstats(self->cache);
	ASSERT_EQ(1, st.evictions[TETHER_EVICT_FLUSH]);
	ASSERT_EQ(0, st.entries);
	ASSERT_EQ(-EBUSY, tether_cache_destroy(self->cache));
	/* still registered: a write through the window reaches the buffer */
	memset(self->target, 0x5a, 4096);
	memset(buf, 0, 4096);
	ASSERT_EQ(0, rpair_rdma(&self->pair, IBV_WR_RDMA_WRITE, self->target,
				self->tmr->lkey, (uintptr_t)buf, mw->rkey, 4096, NULL));
	ASSERT_EQ(0, memcmp(buf, self->target, 4096));
	ASSERT_EQ(0, ibv_dealloc_mw(mw));
	ASSERT_EQ(1, tether_cache_flush(self->cache));
	ASSERT_EQ(0, tether_cache_flush(self->cache));

	/* uncached: the put says why, and the registration is kept aside too */
	pass = tether_cache_create(NULL, self->dev.pd, &attr);
	ASSERT_NE(NULL, pass);
	mr = tether_cache_get(pass, buf, len, acc);
	ASSERT_NE(NULL, mr);
	mw = ibv_alloc_mw(self->dev.pd, IBV_MW_TYPE_1);
	ASSERT_NE(NULL, mw);
	ASSERT_EQ(0, rpair_bind_mw(&self->pair, mw, mr->mr, buf, len,
				   IBV_ACCESS_REMOTE_WRITE));
	ASSERT_GT(0, tether_cache_put(pass, mr));
	ASSERT_EQ(0, tether_cache_flush(pass));
	ASSERT_EQ(-EBUSY, tether_cache_destroy(pass));
	memset(buf, 0, 4096);
	ASSERT_EQ(0, rpair_rdma(&self->pair, IBV_WR_RDMA_WRITE, self->target,
				self->tmr->lkey, (uintptr_t)buf, mw->rkey, 4096, NULL));
	ASSERT_EQ(0, memcmp(buf, self->target, 4096));
	ASSERT_EQ(0, ibv_dealloc_mw(mw));
	ASSERT_EQ(1, tether_cache_flush(pass));
	ASSERT_EQ(0, tether_cache_destroy(pass));
	munmap(buf, len);
}

/*
 * ibv_reg_mr() pins the pages too: a change while it waits in a fault
 * (userfaultfd, uffd_race.h) leaves a registration of pages no longer
 * mapped there. The cache must see the range's validity word change and
 * register again, exactly once, and the data then moves through the
 * current pages; when the range changes on every try, the get fails with
 * EAGAIN and leaves nothing registered or pinned.
 */
TEST_F(cache, mapping_changed_during_registration)
{
	struct tether_cache_stats before, st;
	struct uffd_racer u;
	struct tether_mr *mr;
	long long pins;
	int every, ret, err;

	/* the negative control registers once, stale: wrong bytes must show */
	for (every = 0; every < (variant->unsafe ? 1 : 2); every++) {
		pins = pins_held();
		before = cstats(self->cache);
		ret = uffd_racer_start(&u, every);
		if (ret == -ENOSYS || ret == -EPERM)
			SKIP(return, "no userfaultfd: %s", strerror(-ret));
		ASSERT_EQ(0, ret);
		mr = tether_cache_get(self->cache, u.buf, 2 * u.ps, ACC_RW);
		err = errno;
		if (mr) {
			/* both pages present before the handler goes (a zapped one faults) */
			u.buf[0] = 1;
			u.buf[u.ps] = 1;
		}
		uffd_racer_stop(&u);
		ASSERT_EQ(0, u.error) TH_LOG("fault handler: %s", strerror(u.error));
		st = cstats(self->cache);
		TH_LOG("%s: %s, %d faults, %d changes, %llu retries",
		       every ? "every fault" : "once", mr ? "registered" : strerror(err),
		       atomic_load(&u.faults), atomic_load(&u.changes),
		       (unsigned long long)(st.retries - before.retries));
		if (!mr && err == EFAULT && !atomic_load(&u.faults) &&
		    kernel_at_least(6, 3) == 0) {
			uffd_racer_free(&u);
			SKIP(return, "before 6.3 long-term GUP cannot wait for userfaultfd (EFAULT)");
		}
		ASSERT_LT(0, atomic_load(&u.changes));
		if (variant->unsafe) {
			ASSERT_NE(NULL, mr) TH_LOG("get: %s", strerror(err));
			ASSERT_LT(0, xfer(self, u.buf, 2 * u.ps));
			ASSERT_EQ(0, tether_cache_put(self->cache, mr));
			ASSERT_EQ(1, tether_cache_flush(self->cache));
		} else if (!every) {
			ASSERT_NE(NULL, mr) TH_LOG("get: %s", strerror(err));
			ASSERT_EQ(1, st.retries - before.retries);
			ASSERT_EQ(before.misses + 1, st.misses);
			/* a hit on the new registration, RDMA both ways */
			ASSERT_DATA_OK(xfer(self, u.buf, 2 * u.ps));
			ASSERT_EQ(0, tether_cache_put(self->cache, mr));
			ASSERT_EQ(1, tether_cache_flush(self->cache));
		} else {
			ASSERT_EQ(NULL, mr);
			ASSERT_EQ(EAGAIN, err);
			ASSERT_LT(1, st.retries - before.retries);
			ASSERT_EQ(before.entries, st.entries);
			ASSERT_EQ(before.misses, st.misses);
		}
		ASSERT_EQ(pins, pins_held());
		uffd_racer_free(&u);
	}
}

TEST_F(cache, lru_eviction_at_capacity)
{
	size_t len = 16 << 10;
	uintptr_t log[3] = { 0 };
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_EVICT_CB | TETHER_CACHE_ATTR_MAX_ENTRIES |
			     TETHER_CACHE_ATTR_FLAGS,
		.flags = variant->unsafe ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.max_entries = 4,
		.evict_cb = record_evict, .evict_arg = log,
	};
	struct tether_cache *c = replace_cache(self, &attr);
	char *buf = map_anon(5 * len);
	struct tether_mr *mr;
	int i;

	ASSERT_NE(NULL, c);
	for (i = 0; i < 4; i++) {
		mr = tether_cache_get(c, buf + i * len, len, ACC_RW);
		ASSERT_NE(NULL, mr);
		tether_cache_put(c, mr);
	}
	/* touch 0, 2 and 3 again: 1 is the least recently used */
	for (i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		mr = tether_cache_get(c, buf + i * len, len, ACC_RW);
		ASSERT_NE(NULL, mr);
		tether_cache_put(c, mr);
	}
	mr = tether_cache_get(c, buf + 4 * len, len, ACC_RW);
	ASSERT_NE(NULL, mr);
	tether_cache_put(c, mr);
	ASSERT_EQ(1, log[0]);
	ASSERT_EQ((uintptr_t)(buf + len), log[1]);
	ASSERT_EQ(TETHER_EVICT_CAPACITY, log[2]);
	ASSERT_EQ(4, cstats(c).entries);
	ASSERT_EQ(4, tether_cache_flush(c));
	ASSERT_EQ(0, cstats(c).entries);
	munmap(buf, 5 * len);
}

TEST_F(cache, limits_reached_all_in_use)
{
	size_t len = 16 << 10;
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_FLAGS | TETHER_CACHE_ATTR_MAX_ENTRIES,
		.flags = variant->unsafe ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.max_entries = 4,
	};
	struct tether_cache *c = replace_cache(self, &attr);
	struct tether_mr *held[4], *extra;
	char *buf = map_anon(5 * len);
	struct tether_cache_stats st;
	int i;

	ASSERT_NE(NULL, c);
	for (i = 0; i < 4; i++) {
		held[i] = tether_cache_get(c, buf + i * len, len, ACC_RW);
		ASSERT_NE(NULL, held[i]);
	}
	/* full and all in use: an uncached registration that works */
	ASSERT_DATA_OK(xfer(self, buf + 4 * len, len));
	extra = tether_cache_get(c, buf + 4 * len, len, ACC_RW);
	ASSERT_NE(NULL, extra);
	st = cstats(c);
	ASSERT_EQ(2, st.uncached);
	ASSERT_EQ(4, st.entries);
	ASSERT_EQ(4, st.entries_in_use);
	ASSERT_EQ(-EBUSY, tether_cache_destroy(c));
	ASSERT_EQ(0, tether_cache_put(c, extra));
	for (i = 0; i < 4; i++)
		tether_cache_put(c, held[i]);
	/* a put without a get is refused, and changes nothing */
	ASSERT_EQ(-EINVAL, tether_cache_put(c, held[0]));
	ASSERT_EQ(4, cstats(c).entries);
	ASSERT_EQ(0, cstats(c).entries_in_use);
	munmap(buf, 5 * len);
}

TEST_F_TIMEOUT(cache, ring_overflow_full_flush, 300)
{
	enum { N = 100 };
	size_t len = 16 << 10;
	struct tether_context *small;
	struct tether_cache *c, *saved = self->cache;
	struct tether_cache_stats st;
	char *buf = map_anon(N * len);
	int i;

	if (tether_param_set("ring_entries", "64"))
		SKIP(return, "cannot set ring_entries (root?)");
	small = tether_open();
	tether_param_set("ring_entries", "4096");
	ASSERT_NE(NULL, small);
	c = make_cache(small, self->dev.pd, variant->unsafe, 4096);
	ASSERT_NE(NULL, c);
	self->cache = c;
	for (i = 0; i < N; i++)
		ASSERT_DATA_OK(xfer(self, buf + i * len, len));
	/* N changes without a get in between: the 64-entry ring overflows */
	for (i = 0; i < N; i++) {
		ASSERT_EQ(0, munmap(buf + i * len, len));
		ASSERT_EQ(buf + i * len, map_at(buf + i * len, len));
	}
	if (variant->unsafe) {
		long bad = 0;

		for (i = 0; i < N; i++)
			bad += xfer(self, buf + i * len, len);
		ASSERT_LT(0, bad);
	} else {
		for (i = 0; i < N; i++)
			ASSERT_DATA_OK(xfer(self, buf + i * len, len));
		st = cstats(c);
		ASSERT_EQ(1, st.overflows);
		ASSERT_LE(N - 64, st.evictions[TETHER_EVICT_OVERFLOW]);
		ASSERT_EQ(2 * N, st.misses);
	}
	self->cache = saved;
	ASSERT_EQ(0, tether_cache_destroy(c));
	tether_close(small);
	munmap(buf, N * len);
}

/*
 * ibv_reg_mr() fails when RLIMIT_MEMLOCK is used up by cached, unused
 * registrations: the cache flushes them and the retry succeeds.
 */
TEST_F(cache, registration_failure_flushes_and_retries)
{
	size_t len = 64 << 10;
	char *buf = map_anon(6 * len);
	int status;
	pid_t pid;

	if (variant->unsafe)
		SKIP(return, "about the coherent cache");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 4 * len, 4 * len };
		struct tether_cache_stats st;
		struct tether_context *ctx;
		struct tether_cache *c;
		struct tether_mr *mr;
		struct rdev dev;
		int i;

		if (drop_ipc_lock() || setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(2);
		ctx = tether_open();
		if (!ctx || rdev_open(&dev, NULL))
			_exit(3);
		c = make_cache(ctx, dev.pd, false, 64);
		if (!c)
			_exit(4);
		for (i = 0; i < 3; i++) {	/* 3 of the 4 pages' worth pinned */
			mr = tether_cache_get(c, buf + i * len, len, ACC_RW);
			if (!mr)
				_exit(5);
			tether_cache_put(c, mr);
		}
		/* does not fit next to them: registering fails until they go */
		mr = tether_cache_get(c, buf + 3 * len, 2 * len, ACC_RW);
		if (!mr)
			_exit(6);
		tether_cache_query_stats(c, &st);
		if (st.evictions[TETHER_EVICT_FLUSH] != 3 || st.entries != 1)
			_exit(7);
		tether_cache_put(c, mr);
		/* with everything in use, the failure is reported as ibv_reg_mr's */
		mr = tether_cache_get(c, buf + 3 * len, 2 * len, ACC_RW);
		if (!mr || tether_cache_get(c, buf, 3 * len, ACC_RW) || errno != ENOMEM)
			_exit(8);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
	munmap(buf, 6 * len);
}

/* ---- no system call on a hit ------------------------------------------- */

static volatile sig_atomic_t trapped;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	trapped++;
}

/* Trap every system call but exit_group (the child's way out). */
static int trap_all_syscalls(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	};
	struct sock_fprog prog = { .len = 4, .filter = f };
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	if (sigaction(SIGSYS, &sa, NULL) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

TEST_F(cache, hits_make_no_system_call)
{
	size_t len = 64 << 10;
	char *buf = map_anon(len);
	struct tether_mr *mr;
	int status, i;
	pid_t pid;

	if (variant->unsafe)
		SKIP(return, "about the coherent cache");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* the parent's context is not ours: a fresh one */
		struct tether_context *ctx = tether_open();
		struct rdev dev;
		struct tether_cache *c;

		if (!ctx || rdev_open(&dev, NULL))
			_exit(2);
		c = make_cache(ctx, dev.pd, false, 64);
		mr = c ? tether_cache_get(c, buf, len, ACC_RW) : NULL;
		if (!mr)
			_exit(3);
		tether_cache_put(c, mr);
		if (trap_all_syscalls())
			_exit(4);
		for (i = 0; i < 100000; i++) {
			mr = tether_cache_get(c, buf + (i % 8) * 4096, 4096, ACC_RW);
			if (!mr)
				break;
			tether_cache_put(c, mr);
		}
		/*
		 * The raw system call: sanitizers hook _exit() to check for
		 * leaks, which takes system calls the filter would trap.
		 */
		syscall(SYS_exit_group, i < 100000 ? 5 : trapped ? 6 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d (6: a hit made a system call)",
						 WEXITSTATUS(status));
	munmap(buf, len);
}

/* ---- threads ------------------------------------------------------------ */

struct tstate {
	FIXTURE_DATA(cache) f;	/* this thread's pair and target; shared cache */
	atomic_long *bad;
	atomic_long *ops;
	atomic_int *stop;
	unsigned int seed;
	long mine;		/* transfers this thread checked */
	int error;		/* a get or RDMA failure (-errno), which ends the thread */
};

/*
 * Buffers 0 and 1 come from malloc (mmap()ed blocks, munmap()ed on free:
 * the fixture sets the threshold), 2 and 3 from mmap itself with the old
 * address as the hint, so that new pages land where a cached registration
 * was even where the allocator keeps memory (AddressSanitizer's does).
 */
static void buf_free(char **bufs, size_t *lens, int k)
{
	if (k < 2)
		free(bufs[k]);
	else if (bufs[k])
		munmap(bufs[k], lens[k]);
}

static char *buf_alloc(char *old, size_t len, int k)
{
	char *p = MAP_FAILED;

	if (k < 2)
		return malloc(len);
	/* exactly where the old one was, unless another thread took it */
	if (old)
		p = mmap(old, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *thread_body(void *arg)
{
	struct tstate *t = arg;
	char *bufs[4] = { NULL };
	size_t lens[4] = { 0 };
	long step = 0, b;

	while (!atomic_load(t->stop)) {
		/*
		 * The first two steps use buffer 2, mapped again at the same
		 * address (and size) before the second: however slow the
		 * machine, every thread meets a changed mapping under a cached
		 * entry at least once. Random from then on.
		 */
		int k = step < 2 ? 2 : rand_r(&t->seed) % 4;
		bool again = step == 1 || rand_r(&t->seed) % 4 == 0;

		if (!bufs[k] || again) {
			/* free and allocate: same size often lands on the same address */
			char *old = bufs[k];

			buf_free(bufs, lens, k);
			lens[k] = step < 2 ? 256 << 10 : (1 + rand_r(&t->seed) % 3) * (128 << 10);
			bufs[k] = buf_alloc(old, lens[k], k);
			if (!bufs[k]) {
				atomic_fetch_add(t->bad, 1);
				break;
			}
		}
		b = xfer(&t->f, bufs[k], lens[k]);
		if (b < 0) {
			t->error = b;
			break;
		}
		atomic_fetch_add(t->bad, b);
		atomic_fetch_add(t->ops, 1);
		t->mine++;
		step++;
	}
	for (int k = 0; k < 4; k++)
		buf_free(bufs, lens, k);
	return NULL;
}

/*
 * 8 threads with get/put, free/malloc and RDMA data checks for @secs; the
 * negative control (@unsafe) must see wrong bytes.
 */
static void run_threads(struct __test_metadata *_metadata, FIXTURE_DATA(cache) *self,
			int secs, bool unsafe);

TEST_F_TIMEOUT(cache, eight_threads_thirty_seconds, 300)
{
	if (variant->unsafe) {
		run_threads(_metadata, self, tether_count(5, 5), true);
		return;
	}
	run_threads(_metadata, self, tether_count(30, 10), false);
	/*
	 * Mappings did change under cached entries: the test tested
	 * something (each thread's first two steps see to it).
	 */
	ASSERT_LT(0, cstats(self->cache).invalidations);
}

/*
 * The same with a 4-entry cache: constant evictions, invalidations and
 * uncached registrations racing lock-free lookups.
 */
TEST_F_TIMEOUT(cache, eight_threads_small_cache, 300)
{
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_MAX_ENTRIES, .max_entries = 4,
	};

	if (variant->unsafe)
		SKIP(return, "the negative control's failures are random here");
	ASSERT_NE(NULL, replace_cache(self, &attr));
	run_threads(_metadata, self, tether_count(15, 8), false);
	ASSERT_LT(0, cstats(self->cache).uncached);
}

static void run_threads(struct __test_metadata *_metadata, FIXTURE_DATA(cache) *self,
			int secs, bool unsafe)
{
	struct tstate ts[8];
	pthread_t th[8];
	atomic_long bad = 0, ops = 0;
	atomic_int stop = 0;
	struct tether_cache_stats st;
	int i, err;

	for (i = 0; i < 8; i++) {
		memset(&ts[i], 0, sizeof(ts[i]));
		ts[i].f.cache = self->cache;
		ts[i].f.dev = self->dev;
		ASSERT_EQ(0, rpair_open(&ts[i].f.pair, &self->dev));
		ts[i].f.target = mmap(NULL, TARGET_LEN, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ts[i].f.tmr = ibv_reg_mr(self->dev.pd, ts[i].f.target, TARGET_LEN,
					 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
					 IBV_ACCESS_REMOTE_WRITE);
		ASSERT_NE(NULL, ts[i].f.tmr);
		ts[i].f.seed = i << 24;
		ts[i].bad = &bad;
		ts[i].ops = &ops;
		ts[i].stop = &stop;
		ts[i].seed = i + 1;
	}
	TH_LOG("running for %d s", secs);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, thread_body, &ts[i]));
	sleep(secs);
	atomic_store(&stop, 1);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ibv_dereg_mr(ts[i].f.tmr);
		munmap(ts[i].f.target, TARGET_LEN);
		ts[i].f.pair.dev = &self->dev;
		rpair_close(&ts[i].f.pair);
	}
	st = cstats(self->cache);
	TH_LOG("%ld transfers, %llu hits, %llu misses, %llu invalidations",
	       atomic_load(&ops), (unsigned long long)st.hits,
	       (unsigned long long)st.misses, (unsigned long long)st.invalidations);
	for (i = 0, err = 0; i < 8 && !err; i++)
		err = ts[i].error;
	ASSERT_EQ(0, err) TH_LOG("a thread's transfer failed: %s", strerror(-err));
	for (i = 0; i < 8; i++)
		ASSERT_LT(0, ts[i].mine) TH_LOG("thread %d did nothing", i);
	ASSERT_EQ(0, st.entries_in_use);
	if (unsafe) {
		/* stale registrations were handed out: the checks have teeth */
		TH_LOG("%ld wrong bytes without invalidation", atomic_load(&bad));
		ASSERT_LT(0, atomic_load(&bad));
		return;
	}
	ASSERT_EQ(0, atomic_load(&bad)) TH_LOG("wrong bytes arrived");
}

struct same_range {
	struct tether_cache *c;
	char *buf;
	atomic_int *go;
	struct tether_mr *got;
};

static void *get_same(void *arg)
{
	struct same_range *s = arg;

	while (!atomic_load(s->go))
		;
	s->got = tether_cache_get(s->c, s->buf, 64 << 10, ACC_RW);
	return NULL;
}

TEST_F(cache, concurrent_miss_same_range)
{
	struct same_range s[8];
	pthread_t th[8];
	atomic_int go = 0;
	char *buf = map_anon(64 << 10);
	struct tether_cache_stats st;
	int i;

	for (i = 0; i < 8; i++) {
		s[i] = (struct same_range) { .c = self->cache, .buf = buf, .go = &go };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, get_same, &s[i]));
	}
	atomic_store(&go, 1);
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 8; i++) {
		ASSERT_NE(NULL, s[i].got);
		ASSERT_EQ(s[0].got, s[i].got);
	}
	st = cstats(self->cache);
	ASSERT_EQ(1, st.misses);
	ASSERT_EQ(7, st.hits);
	ASSERT_EQ(1, st.entries);
	ASSERT_EQ(1, st.entries_in_use);
	for (i = 0; i < 8; i++)
		tether_cache_put(self->cache, s[i].got);
	munmap(buf, 64 << 10);
}

TEST_F(cache, bad_arguments)
{
	char *buf = map_anon(4096);
	struct tether_cache_attr attr = { 0 };
	struct tether_cache *c;
	uint32_t bit;

	ASSERT_EQ(NULL, tether_cache_get(self->cache, buf, 0, ACC_RW));
	ASSERT_EQ(EINVAL, errno);
	ASSERT_EQ(NULL, tether_cache_get(self->cache, (void *)-4096L, 8192, ACC_RW));
	ASSERT_EQ(EINVAL, errno);
	/* an unmapped buffer fails like ibv_reg_mr() */
	ASSERT_EQ(0, munmap(buf, 4096));
	if (!variant->unsafe) {
		ASSERT_EQ(NULL, tether_cache_get(self->cache, buf, 4096, ACC_RW));
		ASSERT_EQ(EFAULT, errno);
	}
	ASSERT_EQ(NULL, tether_cache_create(self->ctx, NULL, NULL));
	ASSERT_EQ(EINVAL, errno);
	/* unknown comp_mask and flag bits: EOPNOTSUPP (before EBUSY) */
	for (bit = TETHER_CACHE_ATTR_RESERVED; bit; bit <<= 1) {
		attr.comp_mask = bit | TETHER_CACHE_ATTR_MAX_ENTRIES;
		attr.max_entries = 4;
		ASSERT_EQ(NULL, tether_cache_create(self->ctx, self->dev.pd, &attr));
		ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("comp_mask bit 0x%x", bit);
	}
	for (bit = 1; bit; bit <<= 1) {
		if (bit & (TETHER_CACHE_PASSTHROUGH | TETHER_CACHE_UNSAFE_NO_INVALIDATION))
			continue;
		attr.comp_mask = TETHER_CACHE_ATTR_FLAGS;
		attr.flags = bit | TETHER_CACHE_PASSTHROUGH;
		ASSERT_EQ(NULL, tether_cache_create(self->ctx, self->dev.pd, &attr));
		ASSERT_EQ(EOPNOTSUPP, errno) TH_LOG("flag 0x%x", bit);
	}
	/* known fields with bad values: EINVAL */
	attr.comp_mask = TETHER_CACHE_ATTR_FLAGS | TETHER_CACHE_ATTR_MAX_ENTRIES;
	attr.flags = TETHER_CACHE_PASSTHROUGH;
	attr.max_entries = 0;
	ASSERT_EQ(NULL, tether_cache_create(self->ctx, self->dev.pd, &attr));
	ASSERT_EQ(EINVAL, errno);
	attr.comp_mask = TETHER_CACHE_ATTR_FLAGS | TETHER_CACHE_ATTR_ACCESS_POLICY;
	attr.access_policy = TETHER_CACHE_ACCESS_WIDEN + 1;
	ASSERT_EQ(NULL, tether_cache_create(self->ctx, self->dev.pd, &attr));
	ASSERT_EQ(EINVAL, errno);
	/* and the known bits are accepted */
	attr.comp_mask = TETHER_CACHE_ATTR_RESERVED - 1;
	attr.flags = TETHER_CACHE_PASSTHROUGH;
	attr.max_entries = 4;
	attr.access_policy = TETHER_CACHE_ACCESS_EXACT;
	c = tether_cache_create(self->ctx, self->dev.pd, &attr);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, tether_cache_destroy(c));
}

static int cache_stats_sized(void *cache, void *buf, size_t size)
{
	return tether_cache_query_stats_sized(cache, buf, size);
}

/*
 * tether_cache_query_stats() as a program built against a smaller struct
 * (the canary after it stays) or a larger one (zeros past the library's
 * fields) calls it.
 */
TEST_F(cache, stats_struct_sizes)
{
	struct tether_cache_stats st;
	struct tether_mr *mr;
	char *buf = map_anon(4 * 4096);

	mr = tether_cache_get(self->cache, buf, 4096, ACC_RW);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, tether_cache_put(self->cache, mr));
	mr = tether_cache_get(self->cache, buf, 4096, ACC_RW);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(0, tether_cache_query_stats(self->cache, &st));
	ASSERT_EQ(1, st.hits);
	ASSERT_EQ(1, st.misses);
	ASSERT_EQ(1, st.entries_in_use);
	/* nothing changes between the calls: the same counters each time */
	check_sized(_metadata, cache_stats_sized, self->cache, &st, sizeof(st), false);
	ASSERT_EQ(0, tether_cache_put(self->cache, mr));
	munmap(buf, 4 * 4096);
}

TEST_F(cache, one_cache_per_context)
{
	struct tether_context *other;
	struct tether_cache *c;

	if (variant->unsafe)
		SKIP(return, "the negative control does not consume events");
	/* the ring has one consumer */
	ASSERT_EQ(NULL, tether_cache_create(self->ctx, self->dev.pd, NULL));
	ASSERT_EQ(EBUSY, errno);
	other = tether_open();
	ASSERT_NE(NULL, other);
	c = tether_cache_create(other, self->dev.pd, NULL);
	ASSERT_NE(NULL, c);
	/* the context cannot go while its cache uses it */
	ASSERT_EQ(-EBUSY, tether_close(other));
	ASSERT_EQ(0, tether_cache_destroy(c));
	/* free again once destroyed */
	c = tether_cache_create(other, self->dev.pd, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, tether_cache_destroy(c));
	ASSERT_EQ(0, tether_close(other));
}

/*
 * ACCESS_WIDEN registers a read request with write access too: the range
 * must then be watched for writing, so that losing write access evicts it.
 */
TEST_F(cache, widened_entry_evicted_by_mprotect)
{
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_ACCESS_POLICY | TETHER_CACHE_ATTR_FLAGS,
		.flags = variant->unsafe ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.access_policy = TETHER_CACHE_ACCESS_WIDEN,
	};
	size_t len = 64 << 10;
	char *buf = map_anon(len);
	struct tether_cache *c = replace_cache(self, &attr);
	struct tether_mr *mr;

	ASSERT_NE(NULL, c);
	mr = tether_cache_get(c, buf, len, 0);
	ASSERT_NE(NULL, mr);
	ASSERT_EQ(IBV_ACCESS_LOCAL_WRITE, mr->access & IBV_ACCESS_LOCAL_WRITE);
	tether_cache_put(c, mr);
	/* a write get hits the widened entry */
	ASSERT_DATA_OK(xfer(self, buf, len));
	ASSERT_EQ(1, cstats(c).misses);
	ASSERT_EQ(0, mprotect(buf, len, PROT_READ));
	mr = tether_cache_get(c, buf, len, ACC_RW);
	if (variant->unsafe) {
		ASSERT_NE(NULL, mr); /* the stale writable registration */
		tether_cache_put(c, mr);
	} else {
		ASSERT_EQ(NULL, mr);
		ASSERT_EQ(EFAULT, errno);
		ASSERT_EQ(1, cstats(c).invalidations);
		/* read-only memory: the widening is refused, the read get works */
		mr = tether_cache_get(c, buf, len, 0);
		ASSERT_NE(NULL, mr);
		ASSERT_EQ(0, mr->access & IBV_ACCESS_LOCAL_WRITE);
		tether_cache_put(c, mr);
	}
	munmap(buf, len);
}

/* The context's max_regions reached by the application's own ranges. */
TEST_F(cache, region_limit_flushes_and_retries)
{
	struct tether_range mine[2];
	struct tether_context *ctx;
	struct tether_cache *c;
	struct tether_mr *mr;
	char old[32];
	char *buf = map_anon(8 * 4096);
	int i;

	if (variant->unsafe)
		SKIP(return, "about the coherent cache");
	ASSERT_EQ(0, tether_param_get("max_regions", old, sizeof(old)));
	ASSERT_EQ(0, tether_param_set("max_regions", "4"));
	ctx = tether_open();
	tether_param_set("max_regions", old);
	ASSERT_NE(NULL, ctx);
	c = tether_cache_create(ctx, self->dev.pd, NULL);
	ASSERT_NE(NULL, c);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, tether_secure(ctx, buf + i * 4096, 4096, 0, 0, &mine[i]));
	/* two slots left for the cache: the third miss finds none, flushes, retries */
	for (i = 2; i < 5; i++) {
		mr = tether_cache_get(c, buf + i * 4096, 4096, ACC_RW);
		ASSERT_NE(NULL, mr) TH_LOG("get %d: %s", i, strerror(errno));
		tether_cache_put(c, mr);
	}
	ASSERT_LE(1, cstats(c).evictions[TETHER_EVICT_FLUSH]);
	ASSERT_EQ(0, tether_cache_destroy(c));
	tether_close(ctx);
	munmap(buf, 8 * 4096);
}

/* ---- without the module, and the environment --------------------------- */

/* tether_open() with its stderr captured into @buf. */
static struct tether_context *open_capturing_stderr(char *buf, size_t len)
{
	int saved = dup(2), mfd = memfd_create("stderr", MFD_CLOEXEC), err;
	struct tether_context *ctx;
	ssize_t n;

	memset(buf, 0, len);
	if (saved < 0 || mfd < 0 || dup2(mfd, 2) < 0)
		return NULL;
	ctx = tether_open();
	err = errno;
	dup2(saved, 2);
	close(saved);
	n = pread(mfd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(mfd);
	errno = err;
	return ctx;
}

TEST(module_absent_refuses_unless_passthrough)
{
	static const char absent[] = "libtether: /dev/tether not found: tether.ko is not loaded\n";
	struct tether_context *none;
	char got[256];
	FIXTURE_DATA(cache) f = { .seed = 7 };
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_FLAGS,
		.flags = TETHER_CACHE_PASSTHROUGH,
	};
	struct tether_cache_stats st;
	char *buf = map_anon(64 << 10);
	int ret;

	if (geteuid() || !getenv("TETHER_BUILD") || !getenv("TETHER_KERNEL"))
		SKIP(return, "needs root and the module's path");
	ret = rdev_open(&f.dev, NULL);
	if (ret == -ENODEV)
		SKIP(return, "no rxe0 device");
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, rpair_open(&f.pair, &f.dev));
	f.target = map_anon(TARGET_LEN);
	f.tmr = ibv_reg_mr(f.dev.pd, f.target, TARGET_LEN, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	ASSERT_NE(NULL, f.tmr);

	ASSERT_EQ(0, tether_module_unload());
	none = open_capturing_stderr(got, sizeof(got));
	ret = errno;
	if (none || strcmp(got, absent)) {
		tether_module_load(NULL);
		ASSERT_EQ(NULL, none);
		/* one clear line on stderr, naming the problem */
		ASSERT_STREQ(absent, got);
	}
	/* refuses to cache without coherence ... */
	f.cache = tether_cache_create(NULL, f.dev.pd, NULL);
	if (!f.cache)
		ret = ret == ENODEV && errno == EINVAL ? 0 : -1;
	/* ... unless asked for an uncached pass-through */
	else
		ret = -2;
	if (!ret) {
		f.cache = tether_cache_create(NULL, f.dev.pd, &attr);
		if (!f.cache)
			ret = -3;
	}
	ASSERT_EQ(0, tether_module_load(NULL));
	ASSERT_EQ(0, ret);
	ASSERT_DATA_OK(xfer(&f, buf, 64 << 10));
	ASSERT_DATA_OK(xfer(&f, buf, 64 << 10));
	tether_cache_query_stats(f.cache, &st);
	ASSERT_EQ(2, st.uncached);
	ASSERT_EQ(0, st.hits);
	ASSERT_EQ(0, st.entries);
	ASSERT_EQ(0, tether_cache_destroy(f.cache));
	ibv_dereg_mr(f.tmr);
	munmap(f.target, TARGET_LEN);
	rpair_close(&f.pair);
	rdev_close(&f.dev);
	munmap(buf, 64 << 10);
}

/*
 * Get and put @n registrations of @len bytes, the i-th at @buf + i * @step:
 * 0, or the index of the first get that failed, plus one.
 */
static int get_put_each(struct tether_cache *c, char *buf, int n, size_t len, size_t step)
{
	struct tether_mr *mr;
	int i;

	for (i = 0; i < n; i++) {
		mr = tether_cache_get(c, buf + i * step, len, ACC_RW);
		if (!mr)
			return i + 1;
		tether_cache_put(c, mr);
	}
	return 0;
}

TEST(environment_knobs)
{
	/* malformed values are refused, with a message */
	static const char *const refused[][2] = {
		{ "TETHER_CACHE_MAX_BYTES", "lots" },
		{ "TETHER_CACHE_MAX_ENTRIES", "0" },
		{ "TETHER_CACHE", "maybe" },
		{ "TETHER_CACHE_MAX_ENTRIES", "0x10" },	/* decimal only */
		{ "TETHER_CACHE_STATS", "yes" },
	};
	struct tether_context *ctx = tether_open();
	struct tether_cache_stats st;
	struct tether_cache *c;
	struct tether_mr *mr;
	struct rdev dev;
	char *buf = map_anon(1 << 20);
	size_t i;

	if (!ctx)
		SKIP(return, "tether.ko not loaded");
	if (rdev_open(&dev, NULL))
		SKIP(tether_close(ctx); return, "no rxe0 device");
	/* TETHER_CACHE=0: a pass-through even with the module there */
	setenv("TETHER_CACHE", "0", 1);
	c = tether_cache_create(ctx, dev.pd, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 2, 4096, 0));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(2, st.uncached);
	ASSERT_EQ(0, st.hits);
	ASSERT_EQ(0, tether_cache_destroy(c));
	/* ... the kill switch: even when the program asked for caching */
	c = tether_cache_create(ctx, dev.pd, &(struct tether_cache_attr){
		.comp_mask = TETHER_CACHE_ATTR_FLAGS, .flags = 0 });
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 2, 4096, 0));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(2, st.uncached);
	ASSERT_EQ(0, tether_cache_destroy(c));

	/* TETHER_CACHE=1 is the default: it caches what did not say ... */
	setenv("TETHER_CACHE", "1", 1);
	c = tether_cache_create(ctx, dev.pd, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 2, 4096, 0));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(1, st.hits);
	ASSERT_EQ(0, st.uncached);
	ASSERT_EQ(0, tether_cache_destroy(c));
	/* ... but a pass-through the program asked for stays one */
	c = tether_cache_create(ctx, dev.pd, &(struct tether_cache_attr){
		.comp_mask = TETHER_CACHE_ATTR_FLAGS, .flags = TETHER_CACHE_PASSTHROUGH });
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 2, 4096, 0));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(2, st.uncached);
	ASSERT_EQ(0, st.hits);
	ASSERT_EQ(0, tether_cache_destroy(c));
	unsetenv("TETHER_CACHE");

	/* limits from the environment replace the defaults ... */
	setenv("TETHER_CACHE_MAX_ENTRIES", "2", 1);
	setenv("TETHER_CACHE_MAX_BYTES", "64k", 1);
	c = tether_cache_create(ctx, dev.pd, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 4, 16384, 16384));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(2, st.entries);
	ASSERT_EQ(2, st.evictions[TETHER_EVICT_CAPACITY]);
	mr = tether_cache_get(c, buf, 128 << 10, ACC_RW); /* over max_bytes alone */
	ASSERT_NE(NULL, mr);
	tether_cache_put(c, mr);
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(1, st.uncached);
	ASSERT_EQ(0, tether_cache_destroy(c));
	/* ... not the limits the program set */
	c = tether_cache_create(ctx, dev.pd, &(struct tether_cache_attr){
		.comp_mask = TETHER_CACHE_ATTR_MAX_ENTRIES | TETHER_CACHE_ATTR_MAX_BYTES,
		.max_entries = 8, .max_bytes = 0 });
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 12, 4096, 4096));
	mr = tether_cache_get(c, buf, 128 << 10, ACC_RW);
	ASSERT_NE(NULL, mr);
	tether_cache_put(c, mr);
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(8, st.entries);
	ASSERT_EQ(0, st.uncached);
	ASSERT_EQ(0, tether_cache_destroy(c));
	unsetenv("TETHER_CACHE_MAX_BYTES");
	unsetenv("TETHER_CACHE_MAX_ENTRIES");

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		setenv(refused[i][0], refused[i][1], 1);
		ASSERT_EQ(NULL, tether_cache_create(ctx, dev.pd, NULL))
			TH_LOG("%s=%s accepted", refused[i][0], refused[i][1]);
		ASSERT_EQ(EINVAL, errno);
		unsetenv(refused[i][0]);
	}

	setenv("TETHER_CACHE_MAX_ENTRIES", "010", 1); /* ten, not eight */
	c = tether_cache_create(ctx, dev.pd, NULL);
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, get_put_each(c, buf, 12, 4096, 4096));
	tether_cache_query_stats(c, &st);
	ASSERT_EQ(10, st.entries);
	ASSERT_EQ(0, tether_cache_destroy(c));
	unsetenv("TETHER_CACHE_MAX_ENTRIES");
	rdev_close(&dev);
	tether_close(ctx);
	munmap(buf, 1 << 20);
}

/*
 * TETHER_CACHE_STATS=1: the counters reach stderr when the program exits
 * with its cache alive, once, and not from a forked child's exit.
 */
TEST(stats_printed_at_exit)
{
	char out[4096] = "", *line;
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	struct rdev dev;

	if (access("/dev/tether", F_OK))
		SKIP(return, "tether.ko not loaded");
	if (rdev_open(&dev, NULL))
		SKIP(return, "no rxe0 device");
	rdev_close(&dev);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct tether_context *ctx;
		struct tether_cache *c;
		struct tether_mr *mr;
		char *buf = map_anon(1 << 16);
		pid_t grandchild;

		dup2(pipefd[1], 2);
		close(pipefd[0]);
		setenv("TETHER_CACHE_STATS", "1", 1);
		ctx = tether_open();
		if (!ctx || rdev_open(&dev, NULL))
			_exit(2);
		c = tether_cache_create(ctx, dev.pd, NULL);
		if (!c)
			_exit(3);
		mr = tether_cache_get(c, buf, 4096, ACC_RW);
		if (!mr)
			_exit(4);
		tether_cache_put(c, mr);
		mr = tether_cache_get(c, buf, 4096, ACC_RW);
		if (!mr)
			_exit(5);
		tether_cache_put(c, mr);
		grandchild = fork();
		if (grandchild == 0)
			exit(0);	/* runs the atexit handlers: must print nothing */
		if (grandchild < 0 || waitpid(grandchild, &status, 0) != grandchild)
			_exit(6);
		exit(0);	/* the cache is never destroyed: the handler prints */
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += n;
	close(pipefd[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	TH_LOG("stderr: %s", out);
	line = strstr(out, "libtether cache: hits 1 misses 1 ");
	ASSERT_NE(NULL, line);
	/* one line: the grandchild printed nothing */
	ASSERT_EQ(NULL, strstr(line + 1, "libtether cache:"));
}


/* What the index test's nodes must satisfy: none but the one asked for. */
static bool index_is(const struct tether_index_node *n, const void *arg)
{
	return n == arg;
}

/*
 * A locked search of an index deeper than the search's stack on the C
 * stack (96 levels) still finds the node, and a lock-free one asks for a
 * retry rather than answering "not there": before, both gave up with NULL
 * and the cache registered the range a second time. The treap balances
 * itself, so the deep index is linked by hand: a left spine of 1000 nodes
 * starting ever lower, each with an empty right subtree that the search
 * must keep, and the one that serves the request at the bottom.
 */
TEST(index_deeper_than_its_stack)
{
	enum { DEPTH = 1000 };
	struct tether_index_node *nodes = calloc(DEPTH, sizeof(*nodes));
	const uintptr_t a = 1 << 20, b = a + 4096;
	struct tether_index t;
	bool retry;
	int i;

	ASSERT_NE(NULL, nodes);
	tether_index_init(&t);
	for (i = 0; i < DEPTH; i++) {
		/* each starts at or before a, all but the last end before b */
		nodes[i].start = a - i;
		nodes[i].end = i == DEPTH - 1 ? b : b - 1;
		nodes[i].max_end = b;
		nodes[i].left = i == DEPTH - 1 ? NULL : &nodes[i + 1];
	}
	t.root = &nodes[0];
	ASSERT_EQ(&nodes[DEPTH - 1],
		  tether_index_find(&t, a, b, index_is, &nodes[DEPTH - 1], false, &retry));
	ASSERT_FALSE(retry);
	/* a cover nowhere: NULL, and a definite answer */
	ASSERT_EQ(NULL, tether_index_find(&t, a, b, index_is, NULL, false, &retry));
	ASSERT_FALSE(retry);
	/* lock-free: not trusted, never "not there" */
	ASSERT_EQ(NULL, tether_index_find(&t, a, b, index_is, &nodes[DEPTH - 1], true, &retry));
	ASSERT_TRUE(retry);
	/* a shallow cover is still found lock-free */
	ASSERT_EQ(&nodes[10], tether_index_find(&t, a - 10, b - 1, index_is, &nodes[10],
						 true, &retry));
	ASSERT_FALSE(retry);
	free(nodes);
}

TEST_HARNESS_MAIN
