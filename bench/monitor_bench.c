// SPDX-License-Identifier: GPL-2.0
/*
 * tether-monitor-bench: what watching memory costs in the kernel, tether.ko
 * side by side with HPE's kdreg2 and a raw userfaultfd monitor thread, in
 * one run, in interleaved rounds (each round samples every system once).
 *
 *  - secure + release of a 4 KiB range (kdreg2: monitor + unmonitor) with
 *    1 ... 100 000 ranges held, tether pinned and unpinned measured apart;
 *  - kernel memory per held range (slab bytes from /proc/slabinfo, vmalloc
 *    from /proc/meminfo);
 *  - munmap and MADV_DONTNEED of a watched 4 KiB page against an unwatched
 *    one;
 *  - the cost of producing and of consuming (read()) one event.
 *
 * Times are medians of the samples with their 25th-75th percentiles; under
 * emulation only the ratios within one run mean something.
 *
 * Usage: tether-monitor-bench [--quick] [--rounds N] [--out DIR]
 *   --quick   a smoke run of a few seconds (small sizes, few rounds)
 *   --out DIR write DIR/monitor.json and DIR/{secure,overhead,events}.dat
 * kdreg2 is measured when /dev/kdreg2 exists, else its columns say "absent".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/tether.h>

#include "bench_stats.h"
#include "kdreg2_uapi.h"

#define PAGE 4096UL
#define MAX_HELD 100000
#define MAX_SAMPLES 64

static bool quick;
static int rounds = 7;
static long page_size;

/* the samples of one figure, in ns per operation */
struct samples {
	double v[MAX_SAMPLES];
	int n;
};

static void add(struct samples *s, double ns)
{
	if (s->n < MAX_SAMPLES)
		s->v[s->n++] = ns;
}

/* the @q quantile (0..1) of a series (sorted in place), 0 when empty */
static double quant(struct samples *s, double q)
{
	return bench_quantile(s->v, s->n, q, 0);
}

static double med(struct samples *s)
{
	return quant(s, 0.5);
}

/* ---- the systems ---------------------------------------------------- */

static int tfd = -1, kfd = -1, ufd = -1;

static void *map_pages(size_t n, bool touch)
{
	char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		bench_die("mmap of %zu pages: %s", n, strerror(errno));
	for (i = 0; touch && i < n; i++)
		p[i * PAGE] = 1;
	return p;
}

static uint64_t t_secure(void *addr, uint32_t flags)
{
	struct tether_cmd_secure s = { .size = sizeof(s), .flags = flags,
				   .addr = (uintptr_t)addr, .length = PAGE };

	if (ioctl(tfd, TETHER_IOC_SECURE, &s))
		bench_die("TETHER_IOC_SECURE: %s", strerror(errno));
	return s.handle;
}

static void t_release(uint64_t handle)
{
	struct tether_cmd_release r = { .size = sizeof(r), .handle = handle };

	if (ioctl(tfd, TETHER_IOC_RELEASE, &r))
		bench_die("TETHER_IOC_RELEASE: %s", strerror(errno));
}

static struct kdreg2_ioctl_monitor k_monitor(void *addr, uint64_t cookie)
{
	struct kdreg2_ioctl_monitor m = { .addr = addr, .length = PAGE, .cookie = cookie };

	if (ioctl(kfd, KDREG2_IOCTL_MONITOR, &m))
		bench_die("KDREG2_IOCTL_MONITOR: %s", strerror(errno));
	return m;
}

static void k_unmonitor(const struct kdreg2_ioctl_monitor *m)
{
	struct kdreg2_ioctl_unmonitor u = { .cookie = m->cookie,
					    .monitoring_params = m->monitoring_params };

	if (ioctl(kfd, KDREG2_IOCTL_UNMONITOR, &u))
		bench_die("KDREG2_IOCTL_UNMONITOR: %s", strerror(errno));
}

/* read() events from @fd until @want of @size bytes came; returns how many */
static long drain(int fd, size_t size, long want)
{
	static char buf[256 * 1024];
	long got = 0;
	ssize_t n;

	while (got < want) {
		n = read(fd, buf, sizeof(buf) - sizeof(buf) % size);
		if (n <= 0)
			break;
		got += n / size;
	}
	return got;
}

/* the raw userfaultfd monitor: a thread reading every event */
static atomic_bool uffd_stop;
static atomic_long uffd_events;

static void *uffd_reader(void *arg)
{
	struct uffd_msg msg[64];
	struct pollfd p = { .fd = ufd, .events = POLLIN };
	ssize_t n;

	(void)arg;
	while (!atomic_load(&uffd_stop)) {
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = read(ufd, msg, sizeof(msg));
		if (n > 0)
			atomic_fetch_add(&uffd_events, n / (long)sizeof(msg[0]));
	}
	return NULL;
}

static void uffd_register(void *addr, size_t len)
{
	struct uffdio_register r = { .range = { (uintptr_t)addr, len },
				     .mode = UFFDIO_REGISTER_MODE_MISSING };

	if (ioctl(ufd, UFFDIO_REGISTER, &r))
		bench_die("UFFDIO_REGISTER: %s", strerror(errno));
}

static void open_systems(void)
{
	struct tether_info info = { .size = sizeof(info) };
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE };
	struct kdreg2_config_data cfg = { .max_regions = MAX_HELD + 4096 };
	FILE *f;

	/* room for the held ranges (a root-only module parameter) */
	f = fopen("/sys/module/tether/parameters/max_regions", "w");
	if (f) {
		fprintf(f, "%d\n", MAX_HELD + 4096);
		fclose(f);
	}
	tfd = open("/dev/tether", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (tfd < 0 || ioctl(tfd, TETHER_IOC_GET_INFO, &info))
		bench_die("/dev/tether: %s", strerror(errno));
	if (info.max_regions < (quick ? 2048 : MAX_HELD + 2048))
		bench_die("/dev/tether allows %u ranges; need %d (set max_regions as root)",
		    info.max_regions, MAX_HELD + 2048);
	kfd = open("/dev/kdreg2", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (kfd >= 0 && ioctl(kfd, KDREG2_IOCTL_CONFIG_DATA, &cfg))
		bench_die("KDREG2_IOCTL_CONFIG_DATA: %s", strerror(errno));
	ufd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (ufd < 0 || ioctl(ufd, UFFDIO_API, &api))
		bench_die("userfaultfd: %s", strerror(errno));
}

/* ---- kernel memory -------------------------------------------------- */

/* bytes of every slab object in use (/proc/slabinfo) */
static double slab_bytes(void)
{
	char line[512], name[128];
	long active, total, objsize;
	double sum = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		bench_die("/proc/slabinfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld %ld %ld", name, &active, &total, &objsize) == 4)
			sum += (double)active * objsize;
	fclose(f);
	return sum;
}

static double vmalloc_bytes(void)
{
	char line[256];
	long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmallocUsed: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024.0;
}

/* ---- secure + release vs ranges held -------------------------------- */

#define NSIZES 6
static const int sizes[NSIZES] = { 1, 10, 100, 1000, 10000, 100000 };
static int nsizes;

enum { S_UNPINNED, S_PINNED, S_KDREG2, NSYS_SR };
static struct samples sr[NSIZES][NSYS_SR];
static double mem_tether = -1, mem_kdreg2 = -1;
static long mem_ranges;

static int pairs_per_sample(void)
{
	return quick ? 200 : 2000;
}

static double sample_pairs(int sys, char *page)
{
	int i, n = pairs_per_sample();
	double t0 = bench_now();

	for (i = 0; i < n; i++) {
		if (sys == S_KDREG2) {
			struct kdreg2_ioctl_monitor m = k_monitor(page, 1ULL << 40 | i);

			k_unmonitor(&m);
		} else {
			t_release(t_secure(page, sys == S_PINNED ? TETHER_SECURE_PIN : 0));
		}
	}
	return (bench_now() - t0) * 1e9 / n;
}

static void bench_secure(void)
{
	static uint64_t handles[MAX_HELD];
	static struct kdreg2_ioctl_monitor mons[MAX_HELD];
	char *held, *page = map_pages(1, true);
	int held_t = 0, held_k = 0, s, r, sys;

	nsizes = quick ? 4 : NSIZES;
	held = map_pages(sizes[nsizes - 1], false);
	for (s = 0; s < nsizes; s++) {
		int want = sizes[s] - 1;	/* the measured range is one of them */
		double m0 = slab_bytes(), m1, m2;
		int from_t = held_t, from_k = held_k;

		while (held_t < want) {
			handles[held_t] = t_secure(held + (size_t)held_t * PAGE, 0);
			held_t++;
		}
		m1 = slab_bytes();
		while (kfd >= 0 && held_k < want) {
			mons[held_k] = k_monitor(held + (size_t)held_k * PAGE, held_k);
			held_k++;
		}
		m2 = slab_bytes();
		if (want - from_t >= 10000) {
			mem_ranges = want - from_t;
			mem_tether = (m1 - m0) / (want - from_t);
			if (kfd >= 0)
				mem_kdreg2 = (m2 - m1) / (want - from_k);
		}
		for (r = 0; r < rounds; r++)
			for (sys = 0; sys < NSYS_SR; sys++)
				if (sys != S_KDREG2 || kfd >= 0)
					add(&sr[s][sys], sample_pairs(sys, page));
	}
	while (held_t > 0)
		t_release(handles[--held_t]);
	while (held_k > 0)
		k_unmonitor(&mons[--held_k]);
	munmap(held, sizes[nsizes - 1] * PAGE);
	munmap(page, PAGE);
}

/* ---- munmap / MADV_DONTNEED of a watched page ------------------------- */

enum { M_NONE, M_TETHER, M_UFFD, M_KDREG2, NSYS_M };
static const char *const msys[NSYS_M] = { "none", "tether", "uffd", "kdreg2" };
enum { OP_MUNMAP, OP_DONTNEED, NOPS };
static const char *const ops[NOPS] = { "munmap", "madv_dontneed" };
static struct samples mo[NOPS][NSYS_M];
#define OP_PAGES 256

#define EV_PAGES 1024
static uint64_t op_handles[EV_PAGES];
static struct kdreg2_ioctl_monitor op_mons[EV_PAGES];

static void watch(int sys, char *p, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (sys == M_TETHER)
			op_handles[i] = t_secure(p + i * PAGE, 0);
		else if (sys == M_KDREG2)
			op_mons[i] = k_monitor(p + i * PAGE, i);
	}
	if (sys == M_UFFD)
		uffd_register(p, n * PAGE);
}

/* drop the watch after the pages changed, and the events it produced */
static void unwatch(int sys, int n)
{
	int i;

	if (sys == M_TETHER) {
		for (i = 0; i < n; i++)
			t_release(op_handles[i]);
		drain(tfd, sizeof(struct tether_event), n);
	} else if (sys == M_KDREG2) {
		ioctl(kfd, KDREG2_IOCTL_UNMONITOR_ALL);
		drain(kfd, sizeof(struct kdreg2_event), n);
	}
}

static double sample_op(int op, int sys)
{
	char *p = map_pages(OP_PAGES, true);
	double t0, t;
	int i;

	watch(sys, p, OP_PAGES);
	t0 = bench_now();
	for (i = 0; i < OP_PAGES; i++) {
		if (op == OP_MUNMAP)
			munmap(p + i * PAGE, PAGE);
		else
			madvise(p + i * PAGE, PAGE, MADV_DONTNEED);
	}
	t = bench_now() - t0;
	if (op == OP_DONTNEED)
		munmap(p, OP_PAGES * PAGE);
	unwatch(sys, OP_PAGES);
	return t * 1e9 / OP_PAGES;
}

/* ---- events: producing and consuming ---------------------------------- */

enum { E_TETHER, E_KDREG2, NSYS_E };
static struct samples ev_prod[NSYS_E], ev_cons[NSYS_E];
static long ev_short;	/* events that did not arrive */

/* one MADV_DONTNEED over EV_PAGES pages, each its own watched range */
static void sample_events(int sys, double base)
{
	char *p = map_pages(EV_PAGES, true);
	int w = sys == E_TETHER ? M_TETHER : M_KDREG2;
	size_t size = sys == E_TETHER ? sizeof(struct tether_event) : sizeof(struct kdreg2_event);
	double t0, t1, t2;
	long got;

	watch(w, p, EV_PAGES);
	t0 = bench_now();
	madvise(p, EV_PAGES * PAGE, MADV_DONTNEED);
	t1 = bench_now();
	got = drain(sys == E_TETHER ? tfd : kfd, size, EV_PAGES);
	t2 = bench_now();
	ev_short += EV_PAGES - got;
	add(&ev_prod[sys], ((t1 - t0) * 1e9 - base) / EV_PAGES);
	if (got)
		add(&ev_cons[sys], (t2 - t1) * 1e9 / got);
	munmap(p, EV_PAGES * PAGE);
	if (sys == E_TETHER) {
		int i;

		for (i = 0; i < EV_PAGES; i++)
			t_release(op_handles[i]);
	} else {
		ioctl(kfd, KDREG2_IOCTL_UNMONITOR_ALL);
	}
}

static double dontneed_unwatched(void)
{
	char *p = map_pages(EV_PAGES, true);
	double t0 = bench_now(), t;

	madvise(p, EV_PAGES * PAGE, MADV_DONTNEED);
	t = (bench_now() - t0) * 1e9;
	munmap(p, EV_PAGES * PAGE);
	return t;
}

static void bench_ops(void)
{
	pthread_t th;
	int r, op, sys;

	if (pthread_create(&th, NULL, uffd_reader, NULL))
		bench_die("pthread_create failed");
	for (r = 0; r < rounds; r++) {
		for (op = 0; op < NOPS; op++)
			for (sys = 0; sys < NSYS_M; sys++)
				if (sys != M_KDREG2 || kfd >= 0)
					add(&mo[op][sys], sample_op(op, sys));
		for (sys = 0; sys < NSYS_E; sys++)
			if (sys != E_KDREG2 || kfd >= 0)
				sample_events(sys, dontneed_unwatched());
	}
	atomic_store(&uffd_stop, true);
	pthread_join(th, NULL);
}

/* ---- output ----------------------------------------------------------- */

static void print_tables(void)
{
	int s, op, sys;
	bool k = kfd >= 0;

	printf("\nsecure + release of a 4 KiB range (kdreg2: monitor + unmonitor), us per pair,"
	       " median [p25-p75] of %d samples\n", rounds);
	printf("%8s  %-22s %-22s %-22s %9s %9s\n", "held", "tether unpinned", "tether pinned",
	       "kdreg2", "unpin/k2", "pin/k2");
	for (s = 0; s < nsizes; s++) {
		char c[NSYS_SR][40];

		for (sys = 0; sys < NSYS_SR; sys++)
			snprintf(c[sys], sizeof(c[sys]), "%.2f [%.2f-%.2f]", med(&sr[s][sys]) / 1e3,
				 quant(&sr[s][sys], .25) / 1e3, quant(&sr[s][sys], .75) / 1e3);
		if (!k)
			snprintf(c[S_KDREG2], sizeof(c[0]), "absent");
		printf("%8d  %-22s %-22s %-22s", sizes[s], c[0], c[1], c[2]);
		if (k)
			printf(" %8.2fx %8.2fx\n", med(&sr[s][S_UNPINNED]) / med(&sr[s][S_KDREG2]),
			       med(&sr[s][S_PINNED]) / med(&sr[s][S_KDREG2]));
		else
			printf("\n");
	}
	if (mem_tether >= 0)
		printf("\nkernel memory per held range (slab bytes over %ld ranges): tether %.0f B,"
		       " kdreg2 %s%.0f B\n", mem_ranges, mem_tether, k ? "" : "absent ",
		       k ? mem_kdreg2 : 0);

	printf("\n4 KiB page operation, watched / unwatched (unwatched: us per op), median of %d\n",
	       rounds);
	printf("%-14s %10s %10s %10s %10s\n", "operation", "none(us)", "tether", "uffd", "kdreg2");
	for (op = 0; op < NOPS; op++) {
		double base = med(&mo[op][M_NONE]);

		printf("%-14s %10.2f", ops[op], base / 1e3);
		for (sys = 1; sys < NSYS_M; sys++)
			if (sys == M_KDREG2 && !k)
				printf(" %10s", "absent");
			else
				printf(" %9.2fx", med(&mo[op][sys]) / base);
		printf("\n");
	}
	printf("\nevents, us per event: produced (one MADV_DONTNEED over %d watched pages,"
	       " beyond the unwatched cost) / consumed (read())\n", EV_PAGES);
	printf("  tether %.2f / %.2f", med(&ev_prod[E_TETHER]) / 1e3, med(&ev_cons[E_TETHER]) / 1e3);
	if (k)
		printf("   kdreg2 %.2f / %.2f", med(&ev_prod[E_KDREG2]) / 1e3,
		       med(&ev_cons[E_KDREG2]) / 1e3);
	printf("%s\n", ev_short ? "   (some events did not arrive!)" : "");
}

static void json_stat(FILE *f, const char *name, struct samples *s, const char *sep)
{
	fprintf(f, "\"%s\": {\"median_ns\": %.1f, \"p25_ns\": %.1f, \"p75_ns\": %.1f, \"samples\": %d}%s",
		name, med(s), quant(s, .25), quant(s, .75), s->n, sep);
}

static void write_out(const char *dir)
{
	static const char *const srn[NSYS_SR] = { "tether_unpinned", "tether_pinned", "kdreg2" };
	FILE *j = bench_out_file(dir, "monitor.json"), *d;
	int s, op, sys;
	bool k = kfd >= 0;

	fprintf(j, "{\"bench\": \"monitor\", \"quick\": %s, \"rounds\": %d, \"kdreg2\": %s,\n",
		quick ? "true" : "false", rounds, k ? "true" : "false");
	fprintf(j, " \"secure_release\": [\n");
	for (s = 0; s < nsizes; s++) {
		fprintf(j, "  {\"held\": %d, ", sizes[s]);
		for (sys = 0; sys < NSYS_SR; sys++)
			json_stat(j, srn[sys], &sr[s][sys], sys + 1 < NSYS_SR ? ", " : "");
		fprintf(j, "}%s\n", s + 1 < nsizes ? "," : "");
	}
	fprintf(j, " ],\n \"bytes_per_range\": {\"ranges\": %ld, \"tether\": %.1f, \"kdreg2\": %.1f},\n",
		mem_ranges, mem_tether, k ? mem_kdreg2 : -1);
	fprintf(j, " \"page_ops\": {\n");
	for (op = 0; op < NOPS; op++) {
		fprintf(j, "  \"%s\": {", ops[op]);
		for (sys = 0; sys < NSYS_M; sys++)
			json_stat(j, msys[sys], &mo[op][sys], sys + 1 < NSYS_M ? ", " : "");
		fprintf(j, "}%s\n", op + 1 < NOPS ? "," : "");
	}
	fprintf(j, " },\n \"events\": {");
	json_stat(j, "tether_produced", &ev_prod[E_TETHER], ", ");
	json_stat(j, "tether_consumed", &ev_cons[E_TETHER], ", ");
	json_stat(j, "kdreg2_produced", &ev_prod[E_KDREG2], ", ");
	json_stat(j, "kdreg2_consumed", &ev_cons[E_KDREG2], "");
	fprintf(j, "}\n}\n");
	fclose(j);

	d = bench_out_file(dir, "secure.dat");
	fprintf(d, "# held, then median p25 p75 (us per pair) of: tether unpinned, tether pinned, kdreg2\n");
	for (s = 0; s < nsizes; s++) {
		fprintf(d, "%d", sizes[s]);
		for (sys = 0; sys < NSYS_SR; sys++)
			fprintf(d, " %.3f %.3f %.3f", med(&sr[s][sys]) / 1e3,
				quant(&sr[s][sys], .25) / 1e3, quant(&sr[s][sys], .75) / 1e3);
		fprintf(d, "\n");
	}
	fclose(d);

	d = bench_out_file(dir, "overhead.dat");
	fprintf(d, "# operation, then watched/unwatched of: tether uffd kdreg2 (0: absent)\n");
	for (op = 0; op < NOPS; op++) {
		fprintf(d, "%s", ops[op]);
		for (sys = 1; sys < NSYS_M; sys++)
			fprintf(d, " %.3f", med(&mo[op][sys]) / med(&mo[op][M_NONE]));
		fprintf(d, "\n");
	}
	fclose(d);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 }
	};
	const char *out = NULL;
	double v0, v1;
	int c;

	page_size = sysconf(_SC_PAGESIZE);
	if (page_size != (long)PAGE)
		bench_die("needs 4 KiB pages");
	while ((c = getopt_long(argc, argv, "qr:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = true;
			break;
		case 'r':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > MAX_SAMPLES)
				bench_die("--rounds takes 1..%d", MAX_SAMPLES);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [--quick] [--rounds N] [--out DIR]\n", argv[0]);
			return 2;
		}
	}
	if (quick && rounds == 7)
		rounds = 3;
	v0 = vmalloc_bytes();
	open_systems();
	v1 = vmalloc_bytes();
	printf("tether-monitor-bench: %d interleaved rounds%s; kdreg2 %s;"
	       " vmalloc of the open contexts %.0f KiB\n", rounds, quick ? " (quick)" : "",
	       kfd >= 0 ? "loaded" : "absent (no /dev/kdreg2)", (v1 - v0) / 1024);
	bench_secure();
	bench_ops();
	print_tables();
	if (out)
		write_out(out);
	return ev_short ? 1 : 0;
}
