// SPDX-License-Identifier: GPL-2.0
/*
 * fabric: data correctness through libfabric's MR cache with the tether
 * monitor (libtether-fabric, imported in code with tether_fabric_import()).
 *
 * One process, two RDM endpoints over verbs;ofi_rxm on rxe0. Endpoint A's
 * buffer is churned (free + malloc at the same address, munmap + mmap,
 * realloc, brk shrink and regrow: every mode in one test per variant), registered every round with fi_mr_reg()
 * (the verbs provider's MR cache answers: a hit reuses an earlier
 * registration), written with fi_write() into B's fixed target and read
 * back with fi_read() from it; every byte is checked at the receiver, a
 * pattern unique to the round. With the tether monitor no byte may be wrong.
 * The negative control imports the same monitor with
 * TETHER_FABRIC_UNSAFE_NO_INVALIDATION (valid() always true, no notify(): a
 * cache that keeps stale entries): the same check must see wrong bytes, or
 * it proves nothing. (libfabric's own FI_MR_CACHE_MONITOR=disabled turns the
 * cache off rather than keeping entries, so it is no control.)
 */
#include <malloc.h>
#include <time.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "tether_test.h"
#include "tether_fabric.h"

#define FAB_LEN (64 * 1024)		/* above any inline/inject size */
#define FAB_TIMEOUT_NS (20LL * 1000000000)

struct fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep[2];
	struct fid_cq *cq[2];
	struct fid_av *av[2];
	fi_addr_t peer;		/* B in A's address vector */
	char *target;		/* B's buffer */
	struct fid_mr *target_mr;
	uint64_t key;
	long wrong, rounds, reused, skipped;
	long first;		/* rounds before the current mode */
};

static int fab_ep(struct fab *f, int i)
{
	struct fi_cq_attr cq_attr = { .format = FI_CQ_FORMAT_CONTEXT, .size = 64 };
	struct fi_av_attr av_attr = { .type = FI_AV_TABLE };
	int ret;

	ret = fi_endpoint(f->domain, f->info, &f->ep[i], NULL);
	ret = ret ?: fi_cq_open(f->domain, &cq_attr, &f->cq[i], NULL);
	ret = ret ?: fi_av_open(f->domain, &av_attr, &f->av[i], NULL);
	ret = ret ?: fi_ep_bind(f->ep[i], &f->av[i]->fid, 0);
	ret = ret ?: fi_ep_bind(f->ep[i], &f->cq[i]->fid, FI_TRANSMIT | FI_RECV);
	return ret ?: fi_enable(f->ep[i]);
}

/* Each endpoint's address into the other's vector; A's entry for B in @peer. */
static int fab_connect(struct fab *f)
{
	char name[2][256];
	size_t len;
	fi_addr_t addr;
	int i, ret;

	for (i = 0; i < 2; i++) {
		len = sizeof(name[i]);
		ret = fi_getname(&f->ep[i]->fid, name[i], &len);
		if (ret)
			return ret;
	}
	for (i = 0; i < 2; i++) {
		ret = fi_av_insert(f->av[i], name[!i], 1, &addr, 0, NULL);
		if (ret != 1)
			return ret < 0 ? ret : -FI_EOTHER;
		if (i == 0)
			f->peer = addr;
	}
	return 0;
}

static int fab_open(struct fab *f)
{
	struct fi_info *hints = fi_allocinfo();
	int ret;

	if (!hints)
		return -FI_ENOMEM;
	hints->caps = FI_RMA;
	hints->ep_attr->type = FI_EP_RDM;
	hints->mode = FI_CONTEXT;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR |
				      FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	hints->fabric_attr->prov_name = strdup("verbs;ofi_rxm");
	hints->domain_attr->name = strdup("rxe0");
	ret = fi_getinfo(FI_VERSION(1, 13), NULL, NULL, 0, hints, &f->info);
	fi_freeinfo(hints);
	if (ret)
		return ret;
	ret = fi_fabric(f->info->fabric_attr, &f->fabric, NULL);
	ret = ret ?: fi_domain(f->fabric, f->info, &f->domain, NULL);
	ret = ret ?: fab_ep(f, 0);
	ret = ret ?: fab_ep(f, 1);
	ret = ret ?: fab_connect(f);
	if (ret)
		return ret;
	f->target = mmap(NULL, FAB_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->target == MAP_FAILED)
		return -FI_ENOMEM;
	ret = fi_mr_reg(f->domain, f->target, FAB_LEN, FI_REMOTE_READ | FI_REMOTE_WRITE,
			0, 0, 0, &f->target_mr, NULL);
	if (ret)
		return ret;
	f->key = fi_mr_key(f->target_mr);
	return 0;
}

static void fab_close(struct fab *f)
{
	int i;

	if (f->target_mr)
		fi_close(&f->target_mr->fid);
	for (i = 0; i < 2; i++) {
		if (f->ep[i])
			fi_close(&f->ep[i]->fid);
		if (f->av[i])
			fi_close(&f->av[i]->fid);
		if (f->cq[i])
			fi_close(&f->cq[i]->fid);
	}
	if (f->domain)
		fi_close(&f->domain->fid);
	if (f->fabric)
		fi_close(&f->fabric->fid);
	fi_freeinfo(f->info);
}

static long long fab_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A's completion, progressing B meanwhile (rxm progresses in the calls). */
static int fab_wait(struct fab *f)
{
	struct fi_cq_entry e;
	struct fi_cq_err_entry err = { 0 };
	long long deadline = fab_now() + FAB_TIMEOUT_NS;
	ssize_t r;

	for (;;) {
		r = fi_cq_read(f->cq[0], &e, 1);
		if (r == 1)
			return 0;
		if (r == -FI_EAVAIL) {
			fi_cq_readerr(f->cq[0], &err, 0);
			fprintf(stderr, "fabric: completion error %s (prov errno %d)\n",
				fi_strerror(err.err), err.prov_errno);
			return -err.err ?: -FI_EOTHER;
		}
		if (r != -FI_EAGAIN)
			return (int)r;
		fi_cq_read(f->cq[1], &e, 1);
		if (fab_now() > deadline)
			return -FI_ETIMEDOUT;
	}
}

/* fi_write() (@write) or fi_read() of @len bytes at @buf with B's target. */
static int fab_xfer(struct fab *f, bool write, void *buf, size_t len, void *desc)
{
	struct fi_context ctx;
	struct fi_cq_entry e;
	long long deadline = fab_now() + FAB_TIMEOUT_NS;
	ssize_t r;

	for (;;) {
		r = write ? fi_write(f->ep[0], buf, len, desc, f->peer,
				     (uintptr_t)f->target, f->key, &ctx) :
			    fi_read(f->ep[0], buf, len, desc, f->peer,
				    (uintptr_t)f->target, f->key, &ctx);
		if (r != -FI_EAGAIN)
			break;
		fi_cq_read(f->cq[0], &e, 1);
		fi_cq_read(f->cq[1], &e, 1);
		if (fab_now() > deadline)
			return -FI_ETIMEDOUT;
	}
	return r ? (int)r : fab_wait(f);
}

static void fab_fill(unsigned char *p, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)((seed * 131 + i * 7 + (i >> 9)) ^ (seed >> 3));
}

static long fab_diff(const unsigned char *p, size_t len, uint64_t seed)
{
	long bad = 0;
	size_t i;

	for (i = 0; i < len; i++)
		bad += p[i] != (unsigned char)((seed * 131 + i * 7 + (i >> 9)) ^ (seed >> 3));
	return bad;
}

/*
 * One round on @buf: register it through the cache, write a fresh pattern
 * to B and check B's bytes, read another pattern back from B and check
 * @buf's bytes; the registration is closed (and stays cached).
 */
static int fab_round(struct fab *f, void *buf, size_t len)
{
	uint64_t seed = 2 * (uint64_t)f->rounds + 1;
	struct fid_mr *mr;
	int ret;

	ret = fi_mr_reg(f->domain, buf, len, FI_READ | FI_WRITE, 0, 0, 0, &mr, NULL);
	if (ret)
		return ret;
	fab_fill(buf, len, seed);
	memset(f->target, 0, len);
	ret = fab_xfer(f, true, buf, len, fi_mr_desc(mr));
	if (!ret) {
		f->wrong += fab_diff((unsigned char *)f->target, len, seed);
		fab_fill((unsigned char *)f->target, len, seed + 1);
		memset(buf, 0, len);
		ret = fab_xfer(f, false, buf, len, fi_mr_desc(mr));
	}
	if (!ret)
		f->wrong += fab_diff(buf, len, seed + 1);
	fi_close(&mr->fid);
	f->rounds++;
	return ret;
}

FIXTURE(fabric) {
	struct fab f;
	long rounds;
};

FIXTURE_VARIANT(fabric) {
	uint32_t flags;		/* tether_fabric_import() */
	bool stale;		/* the negative control: wrong bytes expected */
};

FIXTURE_VARIANT_ADD(fabric, tether) {
	.flags = 0,
	.stale = false,
};

FIXTURE_VARIANT_ADD(fabric, unsafe_control) {
	.flags = TETHER_FABRIC_UNSAFE_NO_INVALIDATION,
	.stale = true,
};

FIXTURE_SETUP(fabric)
{
	int ret;

	if (access(TETHER_DEV, F_OK))
		SKIP(return, "no %s", TETHER_DEV);
	if (access("/sys/class/infiniband/rxe0", F_OK))
		SKIP(return, "no rxe0");
	/*
	 * rxm sizes its verbs CQ for the universe (default 256 peers): more
	 * entries than rxe's CQs take. Two endpoints talk here. (Read when
	 * libfabric initializes, which the import does.)
	 */
	setenv("FI_UNIVERSE_SIZE", "4", 0);
	ASSERT_EQ(0, tether_fabric_import(variant->flags));
	ASSERT_EQ(-EALREADY, tether_fabric_import(variant->flags));
	ret = fab_open(&self->f);
	if (ret)
		TH_LOG("opening verbs;ofi_rxm on rxe0: %s", fi_strerror(-ret));
	ASSERT_EQ(0, ret);
	self->rounds = tether_count(50, 10);
}

FIXTURE_TEARDOWN(fabric)
{
	fab_close(&self->f);
}

/* The verdict: none wrong with tether, some wrong in the control. */
static void fab_verdict(struct __test_metadata *_metadata, const struct fab *f,
			bool stale, const char *what)
{
	TH_LOG("%s: %ld rounds, %ld at a reused address, %ld wrong bytes%s", what,
	       f->rounds - f->first, f->reused, f->wrong, stale ? " (negative control)" : "");
	if (stale) {
		ASSERT_LT(0, f->wrong);
	} else {
		ASSERT_EQ(0, f->wrong);
	}
}
/* a mode's counters start from zero (the seeds keep counting) */
static void fab_mode_start(struct fab *f)
{
	f->first = f->rounds;
	f->wrong = 0;
	f->reused = 0;
	f->skipped = 0;
}

/*
 * glibc's malloc() of FAB_ALLOC bytes, above a fixed mmap threshold, maps
 * new pages at the same address every round: free() unmaps them and the
 * next malloc() maps new ones there (a heap chunk reused as it is keeps its
 * pages: nothing changed, nothing to catch). AddressSanitizer's allocator
 * has no such knob (and a quarantine): the malloc modes are then left out,
 * said so in the log; the others run the monitor under it.
 */
#define FAB_ALLOC (1024 * 1024)
#define FAB_MMAP_THRESHOLD (128 * 1024)
static bool fab_glibc_malloc(void)
{
	return mallopt(M_MMAP_THRESHOLD, FAB_MMAP_THRESHOLD) == 1 &&
	       mallopt(M_TRIM_THRESHOLD, 0) == 1 && mallopt(M_TOP_PAD, 0) == 1;
}

/* free() + malloc() at the same address; FAB_LEN of it registered */
static void fab_free_malloc(struct __test_metadata *_metadata, struct fab *f,
			    long rounds, bool stale)
{
	void *prev = NULL, *p;
	long i;

	fab_mode_start(f);
	for (i = 0; i < rounds; i++) {
		p = malloc(FAB_ALLOC);
		ASSERT_NE(NULL, p);
		f->reused += p == prev;
		ASSERT_EQ(0, fab_round(f, p, FAB_LEN));
		free(p);
		prev = p;
	}
	ASSERT_LT(rounds / 2, f->reused);
	fab_verdict(_metadata, f, stale, "free+malloc");
}

/* munmap() + mmap() at the same address */
static void fab_munmap_mmap(struct __test_metadata *_metadata, struct fab *f,
			    long rounds, bool stale)
{
	void *prev = NULL, *p;
	long i;

	fab_mode_start(f);
	for (i = 0; i < rounds; i++) {
		p = mmap(prev, FAB_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | (prev ? MAP_FIXED_NOREPLACE : 0), -1, 0);
		ASSERT_NE(MAP_FAILED, p);
		f->reused += p == prev;
		ASSERT_EQ(0, fab_round(f, p, FAB_LEN));
		ASSERT_EQ(0, munmap(p, FAB_LEN));
		prev = p;
	}
	ASSERT_EQ(rounds - 1, f->reused);
	fab_verdict(_metadata, f, stale, "munmap+mmap");
}

/*
 * realloc() between one and four times FAB_LEN: in place or moving; the
 * first FAB_LEN bytes are registered each round. Data must stay right
 * with tether; whether the control catches anything depends on where the
 * moves land, so the control does not run it.
 */
static void fab_realloc(struct __test_metadata *_metadata, struct fab *f, long rounds)
{
	void *prev = NULL, *p = NULL;
	long i;

	fab_mode_start(f);
	for (i = 0; i < rounds; i++) {
		p = realloc(p, i % 2 ? 4 * FAB_LEN : FAB_LEN);
		ASSERT_NE(NULL, p);
		f->reused += p == prev;
		ASSERT_EQ(0, fab_round(f, p, FAB_LEN));
		prev = p;
	}
	free(p);
	fab_verdict(_metadata, f, false, "realloc");
}

/* the program break shrunk below the buffer and grown again */
static void fab_brk_shrink(struct __test_metadata *_metadata, struct fab *f,
			   long rounds, bool stale)
{
	size_t ps = page_size();
	char *base, *end;
	long i;

	fab_mode_start(f);
	/* page-align the break: the buffer then starts a page */
	base = sbrk(0);
	ASSERT_NE((void *)-1, sbrk((ps - (uintptr_t)base % ps) % ps));
	base = sbrk(0);
	for (i = 0; i < rounds; i++) {
		ASSERT_EQ(base, sbrk(FAB_LEN));
		ASSERT_EQ(0, fab_round(f, base, FAB_LEN));
		end = sbrk(0);
		/* shrink only what is ours: libfabric's malloc may have grown it */
		if (end != base + FAB_LEN) {
			f->skipped++;
			base = end;
			continue;
		}
		ASSERT_EQ(base + FAB_LEN, sbrk(-FAB_LEN));
		f->reused += i > 0;
	}
	TH_LOG("brk: %ld rounds the break had moved past the buffer", f->skipped);
	ASSERT_LT(rounds / 2, f->reused);
	fab_verdict(_metadata, f, stale, "brk shrink");
}

/*
 * Every churn mode in one process (one fabric set-up and one import per
 * variant): with tether no byte wrong in any mode, the control wrong in
 * every mode it runs.
 */
TEST_F(fabric, churn)
{
	bool glibc = fab_glibc_malloc();

	if (glibc)
		fab_free_malloc(_metadata, &self->f, self->rounds, variant->stale);
	else
		TH_LOG("free+malloc and realloc left out: malloc() is not glibc's (a sanitizer's)");
	fab_munmap_mmap(_metadata, &self->f, self->rounds, variant->stale);
	if (glibc && !variant->stale)
		fab_realloc(_metadata, &self->f, self->rounds);
	fab_brk_shrink(_metadata, &self->f, self->rounds, variant->stale);
}

TEST_HARNESS_MAIN
