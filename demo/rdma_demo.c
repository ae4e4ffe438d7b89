// SPDX-License-Identifier: GPL-2.0
/*
 * tether-rdma-demo: a sender and a receiver process exchange messages over
 * RC queue pairs on an rxe device. The sender takes its buffers the way an
 * allocator-heavy application does (malloc/free with addresses reused,
 * mmap/munmap, realloc growth, long-lived buffers), registers each one for
 * every message, and RDMA-writes it into the receiver, which checks every
 * byte. Three runs:
 *
 *   cache            libtether's registration cache (coherent with tether.ko)
 *   no cache         ibv_reg_mr()/ibv_dereg_mr() for every message
 *   no invalidation  a cache that ignores invalidations, as caches without
 *                    kernel help behave: it hands out stale registrations,
 *                    and the receiver sees (and reports) wrong data
 *
 * and two more with buffer reuse, the way an MPI application sends from the
 * same message buffers again and again (eight buffers, 4 KiB to 512 KiB):
 *
 *   cache, reuse     libtether's cache
 *   no cache, reuse  ibv_reg_mr()/ibv_dereg_mr() for every message
 *
 * Each run also reports the time spent registering and deregistering (the
 * get and put, or ibv_reg_mr and ibv_dereg_mr): what a cache removes. Under
 * emulation moving the bytes dominates the messages' time; that column
 * shows the part a cache can save.
 *
 * Usage: tether-rdma-demo [-n MESSAGES] [-d DEVICE]
 *        tether-rdma-demo -r [-p PORT] [-d DEVICE]
 *        tether-rdma-demo -s HOST [-p PORT] [-n MESSAGES] [-d DEVICE]
 *
 * Alone, both processes run on this host over one device. With -r this host
 * is only the receiver: it waits on TCP port PORT (default 18515) for one
 * sender and serves its runs; with -s the sender on another host connects
 * to it (retrying for two minutes while the receiver starts), and the two
 * exchange QP numbers, GIDs and the landing buffer's rkey over that TCP
 * connection, as ibv_rc_pingpong does.
 *
 * Exit status 0 when the cache and no-cache runs delivered every byte right
 * and the no-invalidation run was caught delivering wrong data (the
 * sender's); the receiver's is 0 when it served every run to its end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../selftests/rdma_loop.h"
#include "tether.h"

#define SLOTS 8
#define MAX_MSG (1U << 20)

enum mode { MODE_CACHE, MODE_NOCACHE, MODE_NOINVAL, MODE_CACHE_REUSE, MODE_NOCACHE_REUSE,
	    MODES };

static const char *const mode_name[MODES] = {
	[MODE_CACHE] = "cache",
	[MODE_NOCACHE] = "no cache",
	[MODE_NOINVAL] = "no invalidation",
	[MODE_CACHE_REUSE] = "cache, reuse",
	[MODE_NOCACHE_REUSE] = "no cache, reuse",
};

static bool mode_cached(enum mode m)
{
	return m != MODE_NOCACHE && m != MODE_NOCACHE_REUSE;
}

static bool mode_reuse(enum mode m)
{
	return m == MODE_CACHE_REUSE || m == MODE_NOCACHE_REUSE;
}

/* the run without a cache that a run is compared with */
static enum mode mode_baseline(enum mode m)
{
	return mode_reuse(m) ? MODE_NOCACHE_REUSE : MODE_NOCACHE;
}

/* what the processes tell each other over the socket */
struct hello {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
	union ibv_gid gid;
};

/* the sender to a receiver on another host (-s/-r): the next run */
struct run_hdr {
	uint32_t magic;
	uint32_t mode;
	uint64_t messages;
};

#define RUN_MAGIC 0x74657468u	/* "teth" */

struct ack {
	uint32_t seq;
	uint32_t wrong;		/* bytes that did not match */
};

/* the result of one run, sent back by the sender */
struct result {
	uint64_t messages, bytes, wrong_messages, wrong_bytes;
	double seconds;
	double reg_seconds;	/* in registering and deregistering */
	struct tether_cache_stats cs;
	int error;
};

static uint32_t pattern_word(uint32_t seq, size_t i)
{
	return (seq * 2654435761u) ^ (uint32_t)(i * 40503u) ^ 0xa5a5a5a5u;
}

static void fill(void *p, size_t len, uint32_t seq)
{
	uint32_t *w = p;
	size_t i;

	for (i = 0; i < len / 4; i++)
		w[i] = pattern_word(seq, i);
}

static uint32_t check(const void *p, size_t len, uint32_t seq)
{
	const uint32_t *w = p;
	uint32_t bad = 0;
	size_t i;

	for (i = 0; i < len / 4; i++)
		if (w[i] != pattern_word(seq, i))
			bad += 4;
	return bad;
}

static int xwrite(int fd, const void *p, size_t n)
{
	return write(fd, p, n) == (ssize_t)n ? 0 : -1;
}

static int xread(int fd, void *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, (char *)p + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- receiver ----------------------------------------------------------- */

static int post_recv(struct ibv_qp *qp, uint32_t slot)
{
	struct ibv_recv_wr wr = { .wr_id = slot }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

static int receiver(const char *devname, int sock, uint64_t messages)
{
	struct rdev dev;
	struct rpair p = { .dev = &dev };
	struct ibv_mr *mr;
	struct hello me, peer;
	struct ibv_wc wc;
	char *land;
	uint64_t done = 0;
	uint32_t i;

	if (rdev_open(&dev, devname))
		return 1;
	p.cq = ibv_create_cq(dev.ctx, 2 * SLOTS, NULL, NULL, 0);
	p.qa = p.cq ? rpair_qp(&p) : NULL;
	land = mmap(NULL, (size_t)SLOTS * MAX_MSG, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!p.qa || land == MAP_FAILED)
		return 1;
	mr = ibv_reg_mr(dev.pd, land, (size_t)SLOTS * MAX_MSG,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		return 1;
	me = (struct hello) { .qpn = p.qa->qp_num, .rkey = mr->rkey, .addr = (uintptr_t)land,
			      .gid = dev.gid };
	if (xwrite(sock, &me, sizeof(me)) || xread(sock, &peer, sizeof(peer)) ||
	    rpair_connect_to(&p, p.qa, peer.qpn, &peer.gid))
		return 1;
	for (i = 0; i < SLOTS; i++)
		if (post_recv(p.qa, i))
			return 1;
	/* the QP is ready to receive: let the sender go */
	if (xwrite(sock, &me, sizeof(me)))
		return 1;
	while (done < messages) {
		int n = ibv_poll_cq(p.cq, 1, &wc);

		if (n < 0 || (n == 1 && wc.status != IBV_WC_SUCCESS))
			return 1;
		if (n == 0)
			continue;
		{
			uint32_t seq = ntohl(wc.imm_data);
			uint32_t slot = seq % SLOTS;
			struct ack a = {
				.seq = seq,
				.wrong = check(land + (size_t)slot * MAX_MSG, wc.byte_len, seq),
			};

			if (post_recv(p.qa, slot) || xwrite(sock, &a, sizeof(a)))
				return 1;
		}
		done++;
	}
	ibv_dereg_mr(mr);
	rpair_close(&p);
	rdev_close(&dev);
	return 0;
}

/* ---- sender ------------------------------------------------------------- */

/* The buffers of an allocator-heavy application. */
struct workload {
	char *longlived[4];
	char *grow;
	size_t grow_len;
	unsigned int step;
};

/*
 * The next message's buffer, in a mix like an application's: heap buffers
 * freed and allocated again (same address, same pages: a correct hit),
 * large buffers that glibc gives back with munmap() and maps again at the
 * same address (new pages: must be invalidated), mmap()/munmap(), a buffer
 * grown with realloc() (moves), and long-lived buffers. *@release says how
 * to let go of it after the message.
 */
static char *next_buffer(struct workload *w, size_t *len, int *release)
{
	static const size_t small[] = { 4 << 10, 16 << 10, 32 << 10, 64 << 10 };
	unsigned int s = w->step++;

	*release = 0;
	switch (s % 8) {
	case 0:
	case 1: /* heap malloc/free */
		*len = small[(s / 8) % 4];
		*release = 1;
		return malloc(*len);
	case 2: /* large malloc/free: glibc maps and unmaps it */
		*len = 256 << 10;
		*release = 1;
		return malloc(*len);
	case 3: /* mmap/munmap */
		*len = 64 << 10;
		*release = 2;
		return mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	case 4: /* a buffer grown with realloc, restarted when it is large */
		if (!w->grow || w->grow_len >= (512 << 10)) {
			free(w->grow);
			w->grow = NULL;
			w->grow_len = 0;
		}
		w->grow_len += 64 << 10;
		w->grow = realloc(w->grow, w->grow_len);
		*len = w->grow_len;
		return w->grow;
	default: /* long-lived buffers, used again and again */
		*len = small[s % 4];
		if (!w->longlived[s % 4])
			w->longlived[s % 4] = malloc(64 << 10);
		return w->longlived[s % 4];
	}
}

/*
 * The next message's buffer when the application reuses its message buffers
 * (allocated once, sent from again and again).
 */
static char *next_reused_buffer(struct workload *w, size_t *len, int *release)
{
	static const size_t sizes[] = { 4 << 10, 16 << 10, 256 << 10, 64 << 10,
					512 << 10, 32 << 10, 64 << 10, 4 << 10 };
	static char *bufs[8];
	unsigned int k = w->step++ % 8;

	*release = 0;
	*len = sizes[k];
	if (!bufs[k])
		bufs[k] = malloc(sizes[k]);
	return bufs[k];
}

static void release_buffer(char *buf, size_t len, int how)
{
	if (how == 1)
		free(buf);
	else if (how == 2)
		munmap(buf, len);
}

static int sender(enum mode mode, const char *devname, int sock, uint64_t messages,
		  struct result *res)
{
	struct tether_cache_attr attr = {
		.comp_mask = TETHER_CACHE_ATTR_FLAGS | TETHER_CACHE_ATTR_MAX_BYTES,
		.flags = mode == MODE_NOINVAL ? TETHER_CACHE_UNSAFE_NO_INVALIDATION : 0,
		.max_bytes = 256 << 20,
	};
	struct tether_context *ctx = NULL;
	struct tether_cache *cache = NULL;
	struct workload w = { 0 };
	struct rdev dev;
	struct rpair p = { .dev = &dev };
	struct hello me, peer;
	struct ack a;
	double t0, last, r0;
	uint64_t i, acked = 0;
	const char *term = getenv("TERM");
	/* a progress line that rewrites itself on a terminal; plain lines else */
	int tty = isatty(2) && term && strcmp(term, "dumb");

	memset(res, 0, sizeof(*res));
	/* glibc keeps these sizes on mmap, and reuses freed addresses */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	if (rdev_open(&dev, devname))
		return -ENODEV;
	p.cq = ibv_create_cq(dev.ctx, 2 * SLOTS, NULL, NULL, 0);
	p.qa = p.cq ? rpair_qp(&p) : NULL;
	if (!p.qa)
		return -ENOMEM;
	if (mode_cached(mode)) {
		ctx = tether_open();
		if (!ctx)
			return -errno;
		cache = tether_cache_create(ctx, dev.pd, &attr);
		if (!cache)
			return -errno;
	}
	me = (struct hello) { .qpn = p.qa->qp_num, .gid = dev.gid };
	if (xwrite(sock, &me, sizeof(me)) || xread(sock, &peer, sizeof(peer)) ||
	    rpair_connect_to(&p, p.qa, peer.qpn, &peer.gid) || xread(sock, &peer, sizeof(peer)))
		return -EIO;

	t0 = last = now();
	for (i = 0; i < messages; i++) {
		struct tether_mr *tmr = NULL;
		struct ibv_mr *mr = NULL;
		size_t len;
		int how;
		char *buf = mode_reuse(mode) ? next_reused_buffer(&w, &len, &how) :
					       next_buffer(&w, &len, &how);
		uint32_t lkey;
		struct ibv_sge sge;
		struct ibv_send_wr wr = { 0 }, *bad;
		struct ibv_wc wc;
		int n;

		if (!buf || buf == MAP_FAILED)
			return -ENOMEM;
		fill(buf, len, (uint32_t)i);
		r0 = now();
		if (cache) {
			tmr = tether_cache_get(cache, buf, len, 0);
			if (!tmr)
				return -errno;
			lkey = tmr->lkey;
		} else {
			mr = ibv_reg_mr(dev.pd, buf, len, 0);
			if (!mr)
				return -errno;
			lkey = mr->lkey;
		}
		res->reg_seconds += now() - r0;
		/* a slot may be reused once the receiver checked what was in it */
		while (i - acked >= SLOTS) {
			if (xread(sock, &a, sizeof(a)))
				return -EIO;
			acked++;
			res->wrong_bytes += a.wrong;
			res->wrong_messages += !!a.wrong;
		}
		sge = (struct ibv_sge) { .addr = (uintptr_t)buf, .length = len, .lkey = lkey };
		wr.wr_id = i;
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.imm_data = htonl((uint32_t)i);
		wr.wr.rdma.remote_addr = peer.addr + (i % SLOTS) * (uint64_t)MAX_MSG;
		wr.wr.rdma.rkey = peer.rkey;
		if (ibv_post_send(p.qa, &wr, &bad))
			return -EIO;
		do {
			n = ibv_poll_cq(p.cq, 1, &wc);
		} while (n == 0);
		if (n < 0 || wc.status != IBV_WC_SUCCESS)
			return -EIO;
		r0 = now();
		if (cache)
			tether_cache_put(cache, tmr);
		else
			ibv_dereg_mr(mr);
		res->reg_seconds += now() - r0;
		release_buffer(buf, len, how);
		res->bytes += len;
		if (now() - last >= (tty ? 0.5 : 5.0)) {
			last = now();
			fprintf(stderr, "%s  %-16s %6llu/%llu messages  %7.1f MB/s  %llu wrong%s",
				tty ? "\r" : "", mode_name[mode], (unsigned long long)i + 1,
				(unsigned long long)messages, res->bytes / (last - t0) / 1e6,
				(unsigned long long)res->wrong_messages, tty ? "   " : "\n");
		}
	}
	while (acked < messages) {
		if (xread(sock, &a, sizeof(a)))
			return -EIO;
		acked++;
		res->wrong_bytes += a.wrong;
		res->wrong_messages += !!a.wrong;
	}
	res->seconds = now() - t0;
	res->messages = messages;
	if (tty)
		fprintf(stderr, "\r%78s\r", "");
	if (cache) {
		tether_cache_query_stats(cache, &res->cs);
		tether_cache_destroy(cache);
		tether_close(ctx);
	}
	for (i = 0; i < 4; i++)
		free(w.longlived[i]);
	free(w.grow);
	rpair_close(&p);
	rdev_close(&dev);
	return 0;
}

/*
 * One run: the sender in a child of this process; the receiver in another
 * child over a socket pair, or (@peer >= 0, a TCP connection) on another
 * host, told to start the run first.
 */
static int run(enum mode mode, const char *devname, int peer, uint64_t messages,
	       struct result *res)
{
	struct run_hdr h = { .magic = RUN_MAGIC, .mode = mode, .messages = messages };
	int sv[2] = { peer, -1 }, rp[2], st1, st2;
	pid_t recv_pid = -1, send_pid;

	if (peer < 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -errno;
	if (peer >= 0 && xwrite(peer, &h, sizeof(h)))
		return -EIO;
	if (pipe(rp))
		return -errno;
	if (peer < 0) {
		recv_pid = fork();
		if (recv_pid == 0) {
			close(sv[0]);
			_exit(receiver(devname, sv[1], messages));
		}
	}
	send_pid = fork();
	if (send_pid == 0) {
		if (sv[1] >= 0)
			close(sv[1]);
		res->error = sender(mode, devname, sv[0], messages, res);
		_exit(xwrite(rp[1], res, sizeof(*res)) ? 1 : 0);
	}
	if (peer < 0) {
		close(sv[0]);
		close(sv[1]);
	}
	close(rp[1]);
	if (xread(rp[0], res, sizeof(*res)))
		res->error = -EIO;
	close(rp[0]);
	waitpid(send_pid, &st2, 0);
	if (recv_pid < 0)
		return res->error;
	if (res->error)
		kill(recv_pid, SIGKILL);
	waitpid(recv_pid, &st1, 0);
	if (!res->error && (!WIFEXITED(st1) || WEXITSTATUS(st1)))
		res->error = -EIO;
	return res->error;
}

static void nodelay(int fd)
{
	int one = 1;

	/* the acks are small and the sender waits for them */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* -s HOST: a TCP connection to the receiver, retried for two minutes. */
static int connect_receiver(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai, *a;
	double t0 = now();
	int fd, ret;

	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret) {
		fprintf(stderr, "tether-rdma-demo: %s port %s: %s\n", host, port, gai_strerror(ret));
		return -1;
	}
	do {
		for (a = ai; a; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
			if (fd < 0)
				continue;
			if (!connect(fd, a->ai_addr, a->ai_addrlen)) {
				freeaddrinfo(ai);
				nodelay(fd);
				return fd;
			}
			close(fd);
		}
		usleep(500 * 1000);
	} while (now() - t0 < 120);
	freeaddrinfo(ai);
	fprintf(stderr, "tether-rdma-demo: no receiver at %s port %s after 120 s\n", host, port);
	return -1;
}

/* -r: wait for one sender and serve its runs until it hangs up. */
static int serve(const char *devname, const char *port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct run_hdr h;
	int lfd, fd, one = 1, runs = 0, st;
	char *end;
	long pn = strtol(port, &end, 10);
	pid_t pid;

	if (*end || pn <= 0 || pn > 65535) {
		fprintf(stderr, "tether-rdma-demo: -p needs a port number, not '%s'\n", port);
		return 2;
	}
	sa.sin6_port = htons(pn);
	lfd = socket(AF_INET6, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
		fprintf(stderr, "tether-rdma-demo: cannot listen on port %s: %s\n", port,
			strerror(errno));
		return 1;
	}
	printf("receiver: waiting for a sender on port %s\n", port);
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	close(lfd);
	if (fd < 0)
		return 1;
	nodelay(fd);
	while (!xread(fd, &h, sizeof(h))) {
		if (h.magic != RUN_MAGIC || h.mode >= MODES || !h.messages) {
			fprintf(stderr, "tether-rdma-demo: the sender speaks another protocol\n");
			return 1;
		}
		pid = fork();
		if (pid == 0)
			_exit(receiver(devname, fd, h.messages));
		if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "tether-rdma-demo: receiver of the %s run failed\n",
				mode_name[h.mode]);
			return 1;
		}
		printf("receiver: %s run: %llu messages received, every byte checked\n",
		       mode_name[h.mode], (unsigned long long)h.messages);
		fflush(stdout);
		runs++;
	}
	close(fd);
	printf("receiver: the sender hung up after %d runs\n", runs);
	return runs ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct result r[MODES];
	uint64_t messages = 2000;
	const char *devname = NULL, *host = NULL, *port = "18515";
	bool ok = true, recv_only = false;
	int opt, m, peer = -1;

	while ((opt = getopt(argc, argv, "n:d:rs:p:h")) != -1) {
		switch (opt) {
		case 'n':
			messages = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			devname = optarg;
			break;
		case 'r':
			recv_only = true;
			break;
		case 's':
			host = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-n MESSAGES] [-d DEVICE]\n"
				"       %s -r [-p PORT] [-d DEVICE]\n"
				"       %s -s HOST [-p PORT] [-n MESSAGES] [-d DEVICE]\n",
				argv[0], argv[0], argv[0]);
			return 2;
		}
	}
	if (recv_only && host) {
		fprintf(stderr, "tether-rdma-demo: -r and -s exclude each other\n");
		return 2;
	}
	if (recv_only)
		return serve(devname, port);
	if (!messages) {
		fprintf(stderr, "tether-rdma-demo: -n needs a positive count\n");
		return 2;
	}
	if (host) {
		peer = connect_receiver(host, port);
		if (peer < 0)
			return 1;
	}
	printf("tether RDMA demo: %llu messages per run, 4 KiB to 512 KiB, over %s%s%s\n",
	       (unsigned long long)messages, devname ? devname : "rxe0",
	       host ? " to a receiver on " : "", host ? host : "");
	printf("buffers: heap malloc/free, large malloc/free (unmapped and remapped at the same\n"
	       "address), mmap/munmap, realloc growth, long-lived; \"reuse\": eight message\n"
	       "buffers sent from again and again, as MPI applications do; every byte checked\n\n");
	for (m = 0; m < MODES; m++) {
		if (run(m, devname, peer, messages, &r[m])) {
			fprintf(stderr, "tether-rdma-demo: %s run failed: %s\n", mode_name[m],
				strerror(-r[m].error));
			return 1;
		}
	}
	printf("%-16s %8s %7s %11s %7s %7s %8s %9s %8s %7s %8s %10s %9s %8s\n", "run",
	       "messages", "wrong", "wrong bytes", "hits", "misses", "invalid.", "evictions",
	       "msg/s", "MB/s", "vs none", "(de)reg ms", "us/msg", "saved");
	for (m = 0; m < MODES; m++) {
		const struct tether_cache_stats *cs = &r[m].cs;
		const struct result *base = &r[mode_baseline(m)];
		uint64_t ev = 0;
		int k;

		for (k = 0; k < TETHER_EVICT_REASONS; k++)
			ev += cs->evictions[k];
		if (!mode_cached(m))
			printf("%-16s %8llu %7llu %11llu %7s %7s %8s %9s", mode_name[m],
			       (unsigned long long)r[m].messages,
			       (unsigned long long)r[m].wrong_messages,
			       (unsigned long long)r[m].wrong_bytes, "-", "-", "-", "-");
		else
			printf("%-16s %8llu %7llu %11llu %7llu %7llu %8llu %9llu", mode_name[m],
			       (unsigned long long)r[m].messages,
			       (unsigned long long)r[m].wrong_messages,
			       (unsigned long long)r[m].wrong_bytes,
			       (unsigned long long)cs->hits, (unsigned long long)cs->misses,
			       (unsigned long long)cs->invalidations, (unsigned long long)ev);
		printf(" %8.0f %7.1f %7.2fx %10.1f %9.1f", r[m].messages / r[m].seconds,
		       r[m].bytes / r[m].seconds / 1e6, base->seconds / r[m].seconds,
		       r[m].reg_seconds * 1e3, r[m].reg_seconds * 1e6 / r[m].messages);
		if (mode_cached(m))
			printf(" %7.0f%%\n", 100.0 * (1 - r[m].reg_seconds / base->reg_seconds));
		else
			printf(" %8s\n", "-");
	}
	printf("\n(de)reg ms: time spent registering and deregistering in the run (get+put with\n"
	       "a cache); saved: how much of the no-cache run's (same buffers) the cache removed.\n"
	       "vs none: the whole run's speed against no cache; moving the bytes (emulated\n"
	       "here) is most of it.\n");
	printf("\n");
	if (r[MODE_CACHE].wrong_messages || r[MODE_NOCACHE].wrong_messages) {
		printf("FAIL: wrong data with the coherent cache or without a cache\n");
		ok = false;
	} else {
		printf("cache: every byte of every message arrived right\n");
	}
	if (r[MODE_NOINVAL].wrong_messages)
		printf("no invalidation: %llu of %llu messages carried stale data (detected by the receiver)\n",
		       (unsigned long long)r[MODE_NOINVAL].wrong_messages,
		       (unsigned long long)r[MODE_NOINVAL].messages);
	else {
		printf("FAIL: the cache without invalidation was not caught delivering stale data\n");
		ok = false;
	}
	return ok ? 0 : 1;
}
