// SPDX-License-Identifier: GPL-2.0
/*
 * tether-cache-bench: what a registration costs with and without
 * libtether's cache, and how cache hits scale with threads. Prints tables;
 * absolute times under emulation mean little, the ratios measured in one run
 * are what to read.
 *
 * Usage: tether-cache-bench [-d DEVICE] [-s SECONDS_PER_POINT]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "tether.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct ibv_pd *open_pd(const char *name)
{
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	int i, n;

	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	return ctx ? ibv_alloc_pd(ctx) : NULL;
}

/*
 * ns per operation of @fn, run for about @secs, timed in batches so that
 * reading the clock does not count (it is slow under emulation)
 */
static double per_op(double secs, void (*fn)(void *), void *arg)
{
	unsigned long batch = 1, n = 0, i;
	double t0 = now(), t, b0;

	do {
		b0 = now();
		for (i = 0; i < batch; i++)
			fn(arg);
		n += batch;
		t = now();
		if (t - b0 < 0.01)
			batch *= 2;
	} while (t - t0 < secs);
	return (t - t0) * 1e9 / n;
}

struct op {
	struct ibv_pd *pd;
	struct tether_cache *cache;
	struct tether_context *ctx;
	struct tether_range range;
	char *buf;
	size_t len;
};

static void op_reg_dereg(void *arg)
{
	struct op *o = arg;
	struct ibv_mr *mr = ibv_reg_mr(o->pd, o->buf, o->len, IBV_ACCESS_LOCAL_WRITE);

	if (!mr) {
		perror("ibv_reg_mr");
		exit(1);
	}
	ibv_dereg_mr(mr);
}

static void op_hit(void *arg)
{
	struct op *o = arg;
	struct tether_mr *mr = tether_cache_get(o->cache, o->buf, o->len,
						IBV_ACCESS_LOCAL_WRITE);

	if (!mr) {
		perror("tether_cache_get");
		exit(1);
	}
	tether_cache_put(o->cache, mr);
}

static void op_miss(void *arg)
{
	struct op *o = arg;

	/* a changed mapping: the next get re-secures and re-registers */
	madvise(o->buf, 4096, MADV_DONTNEED);
	op_hit(o);
}

static void op_valid(void *arg)
{
	struct op *o = arg;

	if (!tether_range_valid(o->ctx, &o->range))
		exit(1);
}

/* one per thread, each on its own cache line */
struct hitter {
	pthread_t th;
	struct tether_cache *cache;
	struct tether_context *ctx;	/* validity checks instead of hits */
	struct tether_range range;
	char *buf;
	atomic_int *go;
	double secs;
	unsigned long ops;
	int cpu;
} __attribute__((aligned(64)));

static void *hit_loop(void *arg)
{
	struct hitter *h = arg;
	cpu_set_t set;
	double t0;

	/* one thread per CPU first, so that 2 threads on 2 CPUs use both */
	CPU_ZERO(&set);
	CPU_SET(h->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!atomic_load(h->go))
		;
	t0 = now();
	do {
		for (int i = 0; i < 256; i++) {
			struct tether_mr *mr;

			if (h->ctx) {
				if (!tether_range_valid(h->ctx, &h->range))
					exit(1);
				continue;
			}
			mr = tether_cache_get(h->cache, h->buf, 4096, IBV_ACCESS_LOCAL_WRITE);
			if (!mr)
				exit(1);
			tether_cache_put(h->cache, mr);
		}
		h->ops += 256;
	} while (now() - t0 < h->secs);
	return NULL;
}

/*
 * Thread @i's own 4 KiB buffer: past the first MiB, which the single-thread
 * runs leave registered as one entry, so that each thread hits its own entry.
 */
static char *own_buffer(char *bufs, int i)
{
	return bufs + (1 << 20) + i * 65536;
}

/*
 * Millions of hits per second with @n threads (own buffers, or one shared),
 * or with @valid, of validity checks of one range (a load and a compare: what
 * the machine gives to work that shares nothing).
 */
static double hits_mops(struct op *o, char *bufs, int n, bool shared, bool valid,
			double secs)
{
	static struct hitter h[16];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	atomic_int go = 0;
	unsigned long total = 0;
	double t0;
	int i;

	for (i = 0; i < n; i++) {
		h[i] = (struct hitter) { .cache = o->cache, .go = &go, .secs = secs,
					 .buf = shared ? bufs : own_buffer(bufs, i),
					 .ctx = valid ? o->ctx : NULL, .range = o->range,
					 .cpu = ncpu > 0 ? i % ncpu : 0 };
		pthread_create(&h[i].th, NULL, hit_loop, &h[i]);
	}
	t0 = now();
	atomic_store(&go, 1);
	for (i = 0; i < n; i++) {
		pthread_join(h[i].th, NULL);
		total += h[i].ops;
	}
	return total / (now() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 4096, 65536, 1 << 20 };
	const char *dev = "rxe0";
	double secs = 1.0;
	struct op o = { 0 };
	char *bufs;
	int opt, i;

	while ((opt = getopt(argc, argv, "d:s:")) != -1) {
		if (opt == 'd')
			dev = optarg;
		else if (opt == 's')
			secs = atof(optarg);
		else
			return 2;
	}
	o.pd = open_pd(dev);
	o.ctx = tether_open();
	if (!o.pd || !o.ctx) {
		fprintf(stderr, "tether-cache-bench: needs %s and tether.ko\n", dev);
		return 1;
	}
	o.cache = tether_cache_create(o.ctx, o.pd, NULL);
	bufs = mmap(NULL, 16 * 65536 + (1 << 20), PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!o.cache || bufs == MAP_FAILED)
		return 1;
	memset(bufs, 1, 16 * 65536 + (1 << 20));

	printf("single thread, ns per registration (get+put for the cache)\n");
	printf("%10s %18s %14s %18s %16s\n", "size", "ibv_reg+dereg", "cache hit",
	       "cache miss+inval", "hit speedup");
	for (i = 0; i < 3; i++) {
		double reg, hit, miss;

		o.buf = bufs;
		o.len = sizes[i];
		reg = per_op(secs, op_reg_dereg, &o);
		op_hit(&o);
		hit = per_op(secs, op_hit, &o);
		miss = per_op(secs, op_miss, &o);
		printf("%10zu %18.0f %14.0f %18.0f %15.0fx\n", sizes[i], reg, hit, miss,
		       reg / hit);
	}
	if (tether_secure(o.ctx, bufs, 4096, 0, 0, &o.range)) {
		perror("tether-cache-bench: tether_secure");
		return 1;
	}
	printf("\nvalidity check (tether_range_valid, one load): %.1f ns\n",
	       per_op(secs, op_valid, &o));

	printf("\ncache hits from several threads, millions per second (%ld CPUs)\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%8s %14s %12s %14s %20s\n", "threads", "own buffers", "per thread",
	       "shared buffer", "validity checks");
	for (i = 0; i < 16; i++)
		op_hit(&(struct op) { .cache = o.cache, .buf = own_buffer(bufs, i), .len = 4096 });
	for (int n = 1; n <= 8; n *= 2) {
		double own = hits_mops(&o, bufs, n, false, false, secs);
		double one = hits_mops(&o, bufs, n, true, false, secs);
		double val = hits_mops(&o, bufs, n, false, true, secs);

		printf("%8d %14.2f %12.2f %14.2f %20.2f\n", n, own, own / n, one, val);
	}
	tether_release(o.ctx, o.range.handle);
	tether_cache_print_stats(o.cache, stdout);
	tether_cache_destroy(o.cache);
	tether_close(o.ctx);
	return 0;
}
