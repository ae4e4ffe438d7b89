// SPDX-License-Identifier: GPL-2.0
/*
 * Two hosts (scripts/vm --hosts 2): the receiver's buffers churn while the
 * sender on the other host writes into them with the rkey it was given.
 * Host 0 is the receiver: it registers a buffer through libtether's cache
 * for remote write and hands out its address and rkey; host 1 writes into
 * it with RDMA WRITE. Then the receiver lets go of the buffer and gets new
 * memory at the same address (munmap+mmap, free+malloc), and the sender
 * writes with the old rkey twice:
 *
 *   before the receiver's cache has deregistered the old registration: the
 *   write succeeds, into the old pages (pinned until the deregistration,
 *   so no one else can have them), and the new memory stays untouched;
 *
 *   after the cache has applied the kernel's invalidation (the receiver's
 *   next tether_cache_get() does, and its eviction callback names the old
 *   rkey as it goes): the write fails with IBV_WC_REM_ACCESS_ERR, and the
 *   new memory is still untouched, byte for byte.
 *
 * The two hosts talk over TCP on the segment (TETHER_PEERS). On one host
 * alone every case is skipped.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>

#include "rdma_loop.h"
#include "tether.h"
#include "tether_test.h"

#define CHURN_PORT 18600
#define SENTINEL 0x5a
#define ACC_REMOTE (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)

/* what the hosts tell each other: QP set-up, then one word per step */
struct churn_hello {
	uint32_t qpn;
	uint32_t pad;
	union ibv_gid gid;
};

struct churn_buf {
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
};

/* what the receiver's eviction callback saw */
struct churn_evicted {
	unsigned int n;
	uint32_t rkey;
	enum tether_evict_reason reason;
};

static void churn_evict_cb(const struct tether_mr *mr, enum tether_evict_reason reason,
			   void *arg)
{
	struct churn_evicted *ev = arg;

	ev->n++;
	ev->rkey = mr->rkey;
	ev->reason = reason;
}

static int sock_xfer(int fd, void *p, size_t n, bool out)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = out ? write(fd, (char *)p + done, n - done) : read(fd, (char *)p + done, n - done);
		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

static size_t not_sentinel(const unsigned char *p, size_t len)
{
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		bad += p[i] != SENTINEL;
	return bad;
}

/* The receiver listens, the sender connects (retrying for two minutes). */
static int churn_connect(bool receiver, const char *peer)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(CHURN_PORT) };
	time_t t0 = time(NULL);
	int fd, lfd, one = 1;

	if (receiver) {
		lfd = socket(AF_INET, SOCK_STREAM, 0);
		if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
		    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1))
			return -1;
		fd = accept(lfd, NULL, NULL);
		close(lfd);
	} else {
		if (inet_pton(AF_INET, peer, &sa.sin_addr) != 1)
			return -1;
		for (;;) {
			fd = socket(AF_INET, SOCK_STREAM, 0);
			if (fd < 0 || !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
				break;
			close(fd);
			fd = -1;
			if (time(NULL) - t0 > 120)
				break;
			usleep(200 * 1000);
		}
	}
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

FIXTURE(remote) {
	bool receiver;
	int sock;
	struct rdev dev;
	struct rpair pair;
	struct tether_context *ctx;
	struct tether_cache *cache;
	struct churn_evicted evicted;
};

FIXTURE_SETUP(remote)
{
	const char *hosts = getenv("TETHER_HOSTS"), *peers = getenv("TETHER_PEERS");
	const char *index = getenv("TETHER_HOST_INDEX");
	struct churn_hello me = { 0 }, them;
	char peer[64];

	self->sock = -1;
	if (!hosts || atoi(hosts) < 2 || !peers || !index)
		SKIP(return, "needs two hosts (scripts/vm --hosts 2)");
	self->receiver = !strcmp(index, "0");
	snprintf(peer, sizeof(peer), "%s", peers);
	peer[strcspn(peer, " ")] = 0;
	ASSERT_EQ(0, rdev_open(&self->dev, NULL));
	self->pair.dev = &self->dev;
	self->pair.cq = ibv_create_cq(self->dev.ctx, 16, NULL, NULL, 0);
	ASSERT_NE(NULL, self->pair.cq);
	self->pair.qa = rpair_qp(&self->pair);
	ASSERT_NE(NULL, self->pair.qa);
	if (self->receiver) {
		struct tether_cache_attr attr = {
			.comp_mask = TETHER_CACHE_ATTR_EVICT_CB,
			.evict_cb = churn_evict_cb,
			.evict_arg = &self->evicted,
		};

		self->ctx = tether_open();
		ASSERT_NE(NULL, self->ctx);
		self->cache = tether_cache_create(self->ctx, self->dev.pd, &attr);
		ASSERT_NE(NULL, self->cache);
	}
	self->sock = churn_connect(self->receiver, peer);
	ASSERT_LE(0, self->sock) TH_LOG("no TCP connection with %s", peer);
	me.qpn = self->pair.qa->qp_num;
	me.gid = self->dev.gid;
	ASSERT_EQ(0, sock_xfer(self->sock, &me, sizeof(me), true));
	ASSERT_EQ(0, sock_xfer(self->sock, &them, sizeof(them), false));
	ASSERT_EQ(0, rpair_connect_to(&self->pair, self->pair.qa, them.qpn, &them.gid));
}

FIXTURE_TEARDOWN(remote)
{
	if (self->sock >= 0)
		close(self->sock);
	if (self->cache)
		tether_cache_destroy(self->cache);
	if (self->ctx)
		tether_close(self->ctx);
	rpair_close(&self->pair);
	rdev_close(&self->dev);
}

/* How the receiver gets new memory at the old address. */
enum churn_reuse { REUSE_MUNMAP_MMAP, REUSE_FREE_MALLOC };

static void *churn_alloc(enum churn_reuse how, size_t len, void *hint)
{
	void *p;

	if (how == REUSE_FREE_MALLOC)
		return malloc(len);
	p = mmap(hint, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		 (hint ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void churn_free(enum churn_reuse how, void *p, size_t len)
{
	if (how == REUSE_FREE_MALLOC)
		free(p);
	else
		munmap(p, len);
}

/*
 * The sender's side: three writes of @len bytes with the one rkey it was
 * given, the status of each sent back; the receiver says when to go.
 */
static void churn_send(struct __test_metadata *_metadata, FIXTURE_DATA(remote) *self)
{
	struct churn_buf b;
	struct ibv_mr *mr;
	uint32_t seed, st;
	enum ibv_wc_status status;
	char *local;

	ASSERT_EQ(0, sock_xfer(self->sock, &b, sizeof(b), false));
	local = malloc(b.len);
	ASSERT_NE(NULL, local);
	mr = ibv_reg_mr(self->dev.pd, local, b.len, IBV_ACCESS_LOCAL_WRITE);
	ASSERT_NE(NULL, mr);
	for (seed = 1; seed <= 3; seed++) {
		if (seed > 1)
			ASSERT_EQ(0, sock_xfer(self->sock, &st, sizeof(st), false));
		rpattern_fill(local, b.len, seed);
		status = IBV_WC_GENERAL_ERR;
		rpair_rdma(&self->pair, IBV_WR_RDMA_WRITE, local, mr->lkey, b.addr, b.rkey,
			   b.len, &status);
		TH_LOG("write %u with rkey %#x: %s", seed, b.rkey, ibv_wc_status_str(status));
		st = status;
		ASSERT_EQ(0, sock_xfer(self->sock, &st, sizeof(st), true));
	}
	ibv_dereg_mr(mr);
	free(local);
}

/* The receiver's side of the same, with @how as the churn. */
static void churn_receive(struct __test_metadata *_metadata, FIXTURE_DATA(remote) *self,
			  enum churn_reuse how, size_t len)
{
	struct tether_mr *mr, *mr2;
	struct churn_buf b;
	uint32_t st, go = 1;
	char *buf, *again;

	buf = churn_alloc(how, len, NULL);
	ASSERT_NE(NULL, buf);
	mr = tether_cache_get(self->cache, buf, len, ACC_REMOTE);
	ASSERT_NE(NULL, mr);
	b = (struct churn_buf) { .addr = (uintptr_t)buf, .rkey = mr->rkey, .len = len };
	ASSERT_EQ(0, sock_xfer(self->sock, &b, sizeof(b), true));

	/* 1: the registered buffer gets the data */
	ASSERT_EQ(0, sock_xfer(self->sock, &st, sizeof(st), false));
	ASSERT_EQ(IBV_WC_SUCCESS, st);
	ASSERT_EQ(0, rpattern_bad(buf, len, 1));

	/* done with it: the entry stays cached; new memory at its address */
	ASSERT_EQ(0, tether_cache_put(self->cache, mr));
	churn_free(how, buf, len);
	again = churn_alloc(how, len, buf);
	ASSERT_EQ(buf, again) TH_LOG("the new memory is not at the old address");
	memset(buf, SENTINEL, len);

	/* 2: the old rkey before the cache deregistered: the old pages */
	ASSERT_EQ(0, sock_xfer(self->sock, &go, sizeof(go), true));
	ASSERT_EQ(0, sock_xfer(self->sock, &st, sizeof(st), false));
	ASSERT_EQ(IBV_WC_SUCCESS, st);
	ASSERT_EQ(0, not_sentinel((unsigned char *)buf, len));

	/* the next get applies the invalidation: the old rkey is deregistered */
	self->evicted.n = 0;
	mr2 = tether_cache_get(self->cache, buf, len, ACC_REMOTE);
	ASSERT_NE(NULL, mr2);
	ASSERT_EQ(1, self->evicted.n);
	ASSERT_EQ(b.rkey, self->evicted.rkey);
	ASSERT_EQ(TETHER_EVICT_INVALIDATED, self->evicted.reason);
	ASSERT_NE(b.rkey, mr2->rkey);

	/* 3: the old rkey after that: a remote access error, nothing written */
	ASSERT_EQ(0, sock_xfer(self->sock, &go, sizeof(go), true));
	ASSERT_EQ(0, sock_xfer(self->sock, &st, sizeof(st), false));
	ASSERT_EQ(IBV_WC_REM_ACCESS_ERR, st) TH_LOG("the sender saw %s",
						    ibv_wc_status_str(st));
	ASSERT_EQ(0, not_sentinel((unsigned char *)buf, len));
	ASSERT_EQ(0, tether_cache_put(self->cache, mr2));
	churn_free(how, buf, len);
}

/* munmap + mmap at the same address under the receiver's registration */
TEST_F_TIMEOUT(remote, munmap_mmap_same_address, 180)
{
	if (self->receiver)
		churn_receive(_metadata, self, REUSE_MUNMAP_MMAP, 256 << 10);
	else
		churn_send(_metadata, self);
}

/* free + malloc of a buffer glibc maps: unmapped and mapped again, same address */
TEST_F_TIMEOUT(remote, free_malloc_same_address, 180)
{
	if (self->receiver) {
		mallopt(M_MMAP_THRESHOLD, 128 << 10);
		churn_receive(_metadata, self, REUSE_FREE_MALLOC, 1 << 20);
	} else {
		churn_send(_metadata, self);
	}
}

TEST_HARNESS_MAIN
