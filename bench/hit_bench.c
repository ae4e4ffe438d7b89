// SPDX-License-Identifier: GPL-2.0
/*
 * tether-hit-bench: what a registration-cache hit costs, libtether against
 * libfabric 1.17's verbs MR cache (util MR cache, userfaultfd and memhooks
 * monitors), next to the floor of any cache: a bare binary search over the
 * same sorted buffer starts. Each op picks a random one of the N cached 4 KiB
 * buffers (N = 1, 1 000, 100 000); a hit is get+put (tether_cache_get/put,
 * fi_mr_reg/fi_close of a cached buffer). Then 1 vs 2 threads, each on its
 * own buffers, against the same share-nothing floor in 1 and 2 threads.
 *
 * One run: R interleaved rounds; each round runs every system once, each in
 * a process of its own (libfabric reads FI_MR_CACHE_MONITOR once), which
 * measures every size, alternating floor and hit samples. The tables show
 * medians (p25-p75) of all samples, and ratios: absolute times under
 * emulation mean little, ratios within a run are what to read.
 *
 * Usage: tether-hit-bench [--out DIR] [--quick] [-d DEVICE] [--rounds R]
 *   --out DIR  also write DIR/hit.json and DIR/hit-*.dat (bench/hit.gp plots them)
 *   --quick    a smoke run (sizes 1 and 1 000, one round, short samples)
 * Needs tether.ko, the rxe0 device and (for 100 000 entries) root, to raise
 * tether.ko's max_regions.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

#include "bench_stats.h"
#include "tether.h"

#define BUF 4096
#define MAX_SAMPLES 4096

enum { SYS_TETHER, SYS_UFFD, SYS_MEMHOOKS, NSYS };
static const char *const sys_name[NSYS] = { "tether", "libfabric-uffd", "libfabric-memhooks" };
static const char *const sys_monitor[NSYS] = { NULL, "userfaultfd", "memhooks" };

/* what a child measures, per size */
enum { K_FLOOR, K_HIT, K_FLOOR1, K_FLOOR2, K_HIT1, K_HIT2, K_CAS, K_CALLS, NKIND };
static const char *const kind_name[NKIND] = { "floor", "hit", "floor_1t", "floor_2t",
					      "hit_1t", "hit_2t", "cas_pair", "call_pair" };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the child: one system, every size ---------------------------------- */

struct sys {
	int which;
	char *bufs;
	uintptr_t *starts;	/* sorted: the floor's array */
	/* tether */
	struct ibv_pd *pd;
	struct tether_context *ctx;
	struct tether_cache *cache;
	/* libfabric */
	struct fid_fabric *fabric;
	struct fid_domain *domain;
};

static volatile uintptr_t sink;

static inline uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Index of @key in @a[0..n) (present): the bare lookup any cache must beat. */
static inline size_t floor_find(const uintptr_t *a, size_t n, uintptr_t key)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void die(const char *what)
{
	fprintf(stderr, "tether-hit-bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * get+put of buffer @i: a hit once it is cached. Returns what the caller
 * sums into its own accumulator: a store to a shared variable here would be
 * a line written by every thread at every op, and the 2-thread rows would
 * measure that.
 */
static inline uintptr_t hit_op(struct sys *s, size_t i)
{
	char *buf = (char *)s->starts[i];
	uintptr_t v;

	if (s->which == SYS_TETHER) {
		struct tether_mr *mr = tether_cache_get(s->cache, buf, BUF,
							IBV_ACCESS_LOCAL_WRITE);

		if (!mr)
			die("tether_cache_get");
		v = mr->lkey;

		tether_cache_put(s->cache, mr);
		return v;
	} else {
		struct fid_mr *mr;
		int ret = fi_mr_reg(s->domain, buf, BUF, FI_SEND | FI_RECV, 0, 0, 0, &mr, NULL);

		if (ret) {
			fprintf(stderr, "tether-hit-bench: fi_mr_reg: %s\n", fi_strerror(-ret));
			exit(1);
		}
		v = (uintptr_t)fi_mr_desc(mr);

		fi_close(&mr->fid);
		return v;
	}
}

/* ns per op of @ops random ops over buffers [lo, lo + n) */
static double sample(struct sys *s, bool floor, size_t lo, size_t n, unsigned long ops,
		     uint64_t *seed)
{
	uintptr_t acc = 0;
	double t0 = now();
	unsigned long k;

	if (floor) {
		for (k = 0; k < ops; k++) {
			size_t i = lo + rnd(seed) % n;

			acc += floor_find(s->starts, lo + n, s->starts[i]);
		}
	} else {
		for (k = 0; k < ops; k++)
			acc += hit_op(s, lo + rnd(seed) % n);
	}
	sink += acc;
	return (now() - t0) * 1e9 / ops;
}

/*
 * ns per op of two compare-and-swaps on a private line after the same
 * random pick: what any reference-counted get+put pays at least.
 */
static double sample_cas(unsigned long ops, uint64_t *seed)
{
	static uint64_t word __attribute__((aligned(64)));
	double t0 = now();
	unsigned long k;

	for (k = 0; k < ops; k++) {
		uint64_t w = __atomic_load_n(&word, __ATOMIC_RELAXED) + (rnd(seed) & 1);

		__atomic_compare_exchange_n(&word, &w, w + 1, false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED);
		__atomic_compare_exchange_n(&word, &w, w - 1, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_RELAXED);
	}
	sink += word;
	return (now() - t0) * 1e9 / ops;
}

/*
 * ns per op of two calls into libtether after the same random pick, of an
 * exported function that does one load (tether_range_valid()): what get+put,
 * two calls into the library, pay in calls alone (under emulation a call
 * and its return are dear: each return is an indirect jump).
 */
static double sample_calls(const struct tether_context *ctx, unsigned long ops, uint64_t *seed)
{
	struct tether_range r = { .slot = 0 };
	double t0 = now();
	uintptr_t acc = 0;
	unsigned long k;

	for (k = 0; k < ops; k++) {
		r.generation = rnd(seed) & 1;
		acc += tether_range_valid(ctx, &r);
		acc += tether_range_valid(ctx, &r);
	}
	sink += acc;
	return (now() - t0) * 1e9 / ops;
}

struct worker {
	pthread_t th;
	struct sys *s;
	bool floor;
	size_t lo, n;
	unsigned long ops;
	atomic_int *go;
	int cpu;
} __attribute__((aligned(64)));

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull + w->cpu;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	while (!atomic_load(w->go))
		;
	sample(w->s, w->floor, w->lo, w->n, w->ops, &seed);
	return NULL;
}

/*
 * Millions of ops per second from @nthr threads, each over its own half of
 * buffers [0, n) (one thread: the first half too, so both runs touch the
 * same number of buffers per thread).
 */
static double threads_mops(struct sys *s, bool floor, int nthr, size_t n, unsigned long ops)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	struct worker w[2];
	atomic_int go = 0;
	double t0;
	int i;

	for (i = 0; i < nthr; i++) {
		w[i] = (struct worker) { .s = s, .floor = floor, .lo = i * (n / 2), .n = n / 2,
					 .ops = ops, .go = &go, .cpu = ncpu > 1 ? i : 0 };
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i]))
			die("pthread_create");
	}
	t0 = now();
	atomic_store(&go, 1);
	for (i = 0; i < nthr; i++)
		pthread_join(w[i].th, NULL);
	return nthr * ops / (now() - t0) / 1e6;
}

static void setup(struct sys *s, const char *dev, size_t max_n)
{
	if (s->which == SYS_TETHER) {
		struct tether_cache_attr attr = {
			.comp_mask = TETHER_CACHE_ATTR_MAX_ENTRIES,
			.max_entries = max_n + 16,
		};
		struct ibv_device **list;
		struct ibv_context *vctx = NULL;
		int i, n;

		list = ibv_get_device_list(&n);
		for (i = 0; list && i < n; i++)
			if (!strcmp(ibv_get_device_name(list[i]), dev))
				vctx = ibv_open_device(list[i]);
		if (list)
			ibv_free_device_list(list);
		s->pd = vctx ? ibv_alloc_pd(vctx) : NULL;
		if (!s->pd)
			die(dev);
		s->ctx = tether_open();
		if (!s->ctx)
			die("tether_open");
		s->cache = tether_cache_create(s->ctx, s->pd, &attr);
		if (!s->cache)
			die("tether_cache_create");
	} else {
		struct fi_info *hints = fi_allocinfo(), *info;
		int ret;

		if (!hints)
			die("fi_allocinfo");
		hints->fabric_attr->prov_name = strdup("verbs");
		hints->domain_attr->name = strdup(dev);
		hints->ep_attr->type = FI_EP_MSG;
		hints->caps = FI_MSG;
		hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED |
					      FI_MR_PROV_KEY;
		ret = fi_getinfo(FI_VERSION(1, 17), NULL, NULL, 0, hints, &info);
		if (!ret)
			ret = fi_fabric(info->fabric_attr, &s->fabric, NULL);
		if (!ret)
			ret = fi_domain(s->fabric, info, &s->domain, NULL);
		if (ret) {
			fprintf(stderr, "tether-hit-bench: libfabric verbs on %s: %s\n", dev,
				fi_strerror(-ret));
			exit(1);
		}
		fi_freeinfo(hints);
		fi_freeinfo(info);
	}
}

/*
 * Measure system @which at @nsizes sizes; print "S size kind ns-or-mops"
 * lines on stdout for the parent.
 */
static int child(int which, const char *dev, const size_t *sizes, int nsizes, int samples,
		 double sample_secs)
{
	struct sys s = { .which = which };
	size_t max_n = sizes[nsizes - 1], have = 0, i;
	uint64_t seed = 88172645463325252ull;
	int z, k;

	s.bufs = mmap(NULL, max_n * BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	s.starts = malloc(max_n * sizeof(*s.starts));
	if (s.bufs == MAP_FAILED || !s.starts)
		die("buffers");
	memset(s.bufs, 1, max_n * BUF);
	for (i = 0; i < max_n; i++)
		s.starts[i] = (uintptr_t)s.bufs + i * BUF;
	setup(&s, dev, max_n);
	for (z = 0; z < nsizes; z++) {
		size_t n = sizes[z];
		unsigned long ops = 64;
		double t;

		/* cache the new buffers: a miss each */
		for (; have < n; have++)
			hit_op(&s, have);
		/* ops per sample: about sample_secs per hit sample */
		do {
			ops *= 2;
			t = sample(&s, false, 0, n, ops, &seed) * ops / 1e9;
		} while (t < sample_secs / 4 && ops < (1ul << 26));
		ops = (unsigned long)(ops * (sample_secs / t)) + 1;
		for (k = 0; k < samples; k++) {
			/* alternate which goes first, so neither always follows the other */
			bool f = k & 1;
			double x = sample(&s, f, 0, n, ops, &seed);
			double y = sample(&s, !f, 0, n, ops, &seed);

			printf("S %zu %s %.2f\n", n, kind_name[K_FLOOR], f ? x : y);
			printf("S %zu %s %.2f\n", n, kind_name[K_HIT], f ? y : x);
			if (which == SYS_TETHER)
				printf("S %zu %s %.2f\n", n, kind_name[K_CAS],
				       sample_cas(ops, &seed));
			if (which == SYS_TETHER)
				printf("S %zu %s %.2f\n", n, kind_name[K_CALLS],
				       sample_calls(s.ctx, ops, &seed));
		}
		fflush(stdout);
	}
	/* threads: over the largest size up to 1 000 (each thread its own half) */
	for (z = nsizes - 1; z > 0 && sizes[z] > 1000; z--)
		;
	if (sizes[z] >= 2) {
		size_t n = sizes[z];
		unsigned long ops = (unsigned long)(sample_secs * 1e9 /
					(sample(&s, false, 0, n, 1000, &seed) + 1));

		for (k = 0; k < samples; k++) {
			printf("S %zu %s %.4f\n", n, kind_name[K_FLOOR1],
			       threads_mops(&s, true, 1, n, ops * 8));
			printf("S %zu %s %.4f\n", n, kind_name[K_FLOOR2],
			       threads_mops(&s, true, 2, n, ops * 8));
			printf("S %zu %s %.4f\n", n, kind_name[K_HIT1],
			       threads_mops(&s, false, 1, n, ops));
			printf("S %zu %s %.4f\n", n, kind_name[K_HIT2],
			       threads_mops(&s, false, 2, n, ops));
		}
	}
	if (which == SYS_TETHER)
		tether_cache_print_stats(s.cache, stderr);
	fflush(stdout);
	/* the process's exit releases every registration faster than a teardown */
	_exit(0);
}

/* ---- the parent: rounds, statistics, tables, files ----------------------- */

struct series {
	double v[MAX_SAMPLES];
	int n;
};

#define MAX_SIZES 3
static struct series res[NSYS][MAX_SIZES][NKIND];
static size_t sizes[MAX_SIZES] = { 1, 1000, 100000 };
static int nsizes = 3;

/* the @q quantile (0..1) of a series (sorted in place), -1 when empty */
static double quant(struct series *s, double q)
{
	return bench_quantile(s->v, s->n, q, -1);
}

static int size_index(size_t n)
{
	for (int z = 0; z < nsizes; z++)
		if (sizes[z] == n)
			return z;
	return -1;
}

static int run_child(const char *self, int which, const char *dev, int samples,
		     double secs)
{
	char wbuf[8], sbuf[64], nbuf[16], tbuf[32], line[256];
	int pfd[2], status, z, k;
	FILE *f;
	pid_t pid;

	snprintf(wbuf, sizeof(wbuf), "%d", which);
	snprintf(nbuf, sizeof(nbuf), "%d", samples);
	snprintf(tbuf, sizeof(tbuf), "%g", secs);
	sbuf[0] = 0;
	for (z = 0; z < nsizes; z++)
		snprintf(sbuf + strlen(sbuf), sizeof(sbuf) - strlen(sbuf), "%s%zu",
			 z ? "," : "", sizes[z]);
	if (pipe(pfd))
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (!pid) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		if (sys_monitor[which]) {
			setenv("FI_MR_CACHE_MONITOR", sys_monitor[which], 1);
			/* room for every buffer: no capacity eviction */
			setenv("FI_MR_CACHE_MAX_COUNT", "1000000", 1);
			setenv("FI_MR_CACHE_MAX_SIZE", "4294967296", 1);
		}
		execl(self, self, "--child", wbuf, "-d", dev, "--sizes", sbuf, "--samples", nbuf,
		      "--secs", tbuf, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	f = fdopen(pfd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		char kind[32];
		size_t n;
		double v;

		if (sscanf(line, "S %zu %31s %lf", &n, kind, &v) != 3 || (z = size_index(n)) < 0)
			continue;
		for (k = 0; k < NKIND; k++)
			if (!strcmp(kind, kind_name[k]) && res[which][z][k].n < MAX_SAMPLES)
				res[which][z][k].v[res[which][z][k].n++] = v;
	}
	if (f)
		fclose(f);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "tether-hit-bench: %s failed (status %d)\n", sys_name[which],
			status);
		return -1;
	}
	return 0;
}

static void json_series(FILE *f, struct series *s)
{
	fprintf(f, "{\"median\": %.4f, \"p25\": %.4f, \"p75\": %.4f, \"samples\": %d}",
		quant(s, 0.5), quant(s, 0.25), quant(s, 0.75), s->n);
}

static int thread_size(void)
{
	int z;

	for (z = nsizes - 1; z > 0 && sizes[z] > 1000; z--)
		;
	return z;
}

static void print_tables(FILE *f, int rounds)
{
	int z, w, tz = thread_size();

	fprintf(f, "cache hit (get+put of a random one of N cached 4 KiB buffers), ns per op: median (p25-p75), %d round(s)\n",
		rounds);
	fprintf(f, "%8s %22s %22s %10s %22s %22s %12s %12s %10s %10s\n", "N",
		"floor (binary search)", "tether", "/floor", "libfabric uffd", "libfabric memhooks",
		"uffd/tether", "memh/tether", "2 CAS", "2 calls");
	for (z = 0; z < nsizes; z++) {
		double fl = quant(&res[SYS_TETHER][z][K_FLOOR], 0.5);
		double med[NSYS];
		char cell[NSYS][64], fcell[64];

		for (w = 0; w < NSYS; w++) {
			struct series *s = &res[w][z][K_HIT];

			med[w] = quant(s, 0.5);
			snprintf(cell[w], sizeof(cell[w]), "%.1f (%.1f-%.1f)", med[w],
				 quant(s, 0.25), quant(s, 0.75));
		}
		snprintf(fcell, sizeof(fcell), "%.1f (%.1f-%.1f)", fl,
			 quant(&res[SYS_TETHER][z][K_FLOOR], 0.25),
			 quant(&res[SYS_TETHER][z][K_FLOOR], 0.75));
		fprintf(f, "%8zu %22s %22s %9.2fx %22s %22s %11.2fx %11.2fx %10.1f %10.1f\n", sizes[z],
			fcell, cell[SYS_TETHER], med[SYS_TETHER] / fl, cell[SYS_UFFD],
			cell[SYS_MEMHOOKS], med[SYS_UFFD] / med[SYS_TETHER],
			med[SYS_MEMHOOKS] / med[SYS_TETHER],
			quant(&res[SYS_TETHER][z][K_CAS], 0.5),
			quant(&res[SYS_TETHER][z][K_CALLS], 0.5));
	}
	fprintf(f, "(2 CAS: two compare-and-swaps on a private line after the same random pick, ns: the least a reference-counted get+put costs)\n");
	fprintf(f, "(2 calls: two calls of tether_range_valid(), one load each, after the same random pick, ns: what two calls into the library cost)\n");
	fprintf(f, "\nhits from 1 and 2 threads, each on its own %zu buffers: millions per second (medians)\n",
		sizes[tz] / 2);
	fprintf(f, "%20s %10s %10s %9s %22s %18s\n", "system", "1 thread", "2 threads",
		"scaling", "floor scaling (share", "scaling/floor's");
	fprintf(f, "%20s %10s %10s %9s %22s %18s\n", "", "", "", "", "nothing baseline)", "");
	for (w = 0; w < NSYS; w++) {
		double h1 = quant(&res[w][tz][K_HIT1], 0.5), h2 = quant(&res[w][tz][K_HIT2], 0.5);
		double f1 = quant(&res[w][tz][K_FLOOR1], 0.5), f2 = quant(&res[w][tz][K_FLOOR2], 0.5);

		fprintf(f, "%20s %10.3f %10.3f %8.2fx %21.2fx %17.2f\n", sys_name[w], h1, h2,
			h2 / h1, f2 / f1, (h2 / h1) / (f2 / f1));
	}
}

static void write_files(const char *dir, int rounds, bool quick)
{
	int z, w, k, tz = thread_size();
	FILE *f;

	if (mkdir(dir, 0755) && errno != EEXIST)
		die(dir);
	f = bench_out_file(dir, "hit-vs-size.dat");
	fprintf(f, "# N floor(med p25 p75)");
	for (w = 0; w < NSYS; w++)
		fprintf(f, " %s(med p25 p75)", sys_name[w]);
	fprintf(f, "  [ns per get+put]\n");
	for (z = 0; z < nsizes; z++) {
		struct series *fl = &res[SYS_TETHER][z][K_FLOOR];

		fprintf(f, "%zu %.3f %.3f %.3f", sizes[z], quant(fl, 0.5), quant(fl, 0.25),
			quant(fl, 0.75));
		for (w = 0; w < NSYS; w++) {
			struct series *s = &res[w][z][K_HIT];

			fprintf(f, " %.3f %.3f %.3f", quant(s, 0.5), quant(s, 0.25), quant(s, 0.75));
		}
		fprintf(f, "\n");
	}
	fclose(f);
	f = bench_out_file(dir, "hit-threads.dat");
	fprintf(f, "# system hit_1t hit_2t floor_1t floor_2t  [millions of ops per second, medians]\n");
	for (w = 0; w < NSYS; w++)
		fprintf(f, "%s %.4f %.4f %.4f %.4f\n", sys_name[w],
			quant(&res[w][tz][K_HIT1], 0.5), quant(&res[w][tz][K_HIT2], 0.5),
			quant(&res[w][tz][K_FLOOR1], 0.5), quant(&res[w][tz][K_FLOOR2], 0.5));
	fclose(f);
	f = bench_out_file(dir, "hit.json");
	fprintf(f, "{\n  \"benchmark\": \"tether-hit-bench\",\n");
	fprintf(f, "  \"what\": \"registration-cache hit (get+put of a random one of N cached 4 KiB buffers) vs a bare binary search over the same sorted starts (floor); hit_1t/hit_2t and floor_1t/floor_2t: millions of ops per second from 1 and 2 threads on their own buffers\",\n");
	fprintf(f, "  \"units\": {\"floor\": \"ns/op\", \"hit\": \"ns/op\", \"hit_1t\": \"Mops/s\", \"hit_2t\": \"Mops/s\", \"floor_1t\": \"Mops/s\", \"floor_2t\": \"Mops/s\"},\n");
	fprintf(f, "  \"rounds\": %d,\n  \"quick\": %s,\n", rounds, quick ? "true" : "false");
	fprintf(f, "  \"cpus\": %ld,\n  \"systems\": {\n", sysconf(_SC_NPROCESSORS_ONLN));
	for (w = 0; w < NSYS; w++) {
		fprintf(f, "    \"%s\": {\n", sys_name[w]);
		for (z = 0; z < nsizes; z++) {
			bool first = true;

			fprintf(f, "      \"%zu\": {", sizes[z]);
			for (k = 0; k < NKIND; k++) {
				if (!res[w][z][k].n)
					continue;
				fprintf(f, "%s\"%s\": ", first ? "" : ", ", kind_name[k]);
				json_series(f, &res[w][z][k]);
				first = false;
			}
			fprintf(f, "}%s\n", z + 1 < nsizes ? "," : "");
		}
		fprintf(f, "    }%s\n", w + 1 < NSYS ? "," : "");
	}
	fprintf(f, "  }\n}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "child", required_argument, NULL, 'c' },
		{ "sizes", required_argument, NULL, 'z' },
		{ "samples", required_argument, NULL, 'n' },
		{ "secs", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dev = "rxe0", *out = NULL;
	int opt, rounds = 3, samples = 7, which = -1, r, w, failed = 0;
	double secs = 0.02;
	bool quick = false;
	char *p;

	while ((opt = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'o': out = optarg; break;
		case 'q': quick = true; break;
		case 'r': rounds = atoi(optarg); break;
		case 'c': which = atoi(optarg); break;
		case 'n': samples = atoi(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'z':
			nsizes = 0;
			for (p = strtok(optarg, ","); p && nsizes < MAX_SIZES; p = strtok(NULL, ","))
				sizes[nsizes++] = strtoul(p, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: tether-hit-bench [--out DIR] [--quick] [-d DEVICE] [--rounds R]\n");
			return 2;
		}
	}
	if (which >= 0 && which < NSYS && nsizes > 0 && samples > 0)
		return child(which, dev, sizes, nsizes, samples, secs);
	if (rounds < 1 || rounds > 50) {
		fprintf(stderr, "tether-hit-bench: --rounds: 1..50\n");
		return 2;
	}
	if (quick) {
		nsizes = 2;
		rounds = 1;
		samples = 3;
		secs = 0.005;
	} else {
		/* 100 000 cached ranges: more than tether.ko's default max_regions */
		FILE *f = fopen("/sys/module/tether/parameters/max_regions", "w");

		if (!f || fprintf(f, "%u\n", 1u << 18) < 0 || fclose(f))
			fprintf(stderr, "tether-hit-bench: could not raise tether.ko's max_regions: %s\n",
				strerror(errno));
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (r = 0; r < rounds; r++) {
		fprintf(stderr, "tether-hit-bench: round %d of %d\n", r + 1, rounds);
		for (w = 0; w < NSYS; w++)
			failed |= run_child("/proc/self/exe", w, dev, samples, secs);
	}
	print_tables(stdout, rounds);
	if (out)
		write_files(out, rounds, quick);
	return failed ? 1 : 0;
}
