// SPDX-License-Identifier: GPL-2.0
/*
 * tether-numa-bench: what automatic NUMA balancing makes each monitor
 * report, and whether each report was a page that really moved.
 *
 * N anonymous 4 KiB pages (no THP) are first touched on CPU 0 (node 0) and
 * each is watched as a range of its own, unpinned, by tether and, when
 * /dev/kdreg2 exists, by kdreg2 at the same time. With
 * /proc/sys/kernel/numa_balancing set to 1 a thread on CPU 1 (node 1) loads
 * and stores every page for the first half of the run and a thread on CPU 0
 * for the second half, so the hinting faults have pages to move both ways.
 * Meanwhile the main thread reads both monitors' events. For each event it
 * reads the page's frame number from /proc/self/pagemap (root only) and
 * compares it with the frame the page had when the range was last watched:
 * changed (or gone) is a real move, the same frame is a spurious
 * invalidation. The range is then watched again, as a registration cache
 * would register it again, and its frame noted anew.
 *
 * Usage: tether-numa-bench [--quick] [--seconds S] [--pages N] [--out DIR]
 *   --quick   2 s over 1 000 pages (the suite's smoke run)
 *   --out DIR write DIR/numa.json
 * Exit status: 0 when the run completed (whatever it counted), 1 on an
 * error (named on stderr), 2 on a bad option.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
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
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define PM_PRESENT (1ULL << 63)

enum { SYS_TETHER, SYS_KDREG2, NSYS };
static const char *const sys_name[NSYS] = { "tether", "kdreg2" };

static char *area;
static long npages = 10000;
static double seconds = 8;
static int tfd = -1, kfd = -1, pmfd = -1;
static char balancing_was[16];

/* per page: the range watching it and the frame it had then, per system */
static uint64_t *handle;	/* tether's handle */
static uint32_t *kgen;		/* kdreg2: generations, part of the cookie */
static uint64_t *pfn_at[NSYS];
static uint64_t *pfn_start;

/* per system: what its events said */
struct tally {
	long events, real, spurious, unknown;
	long by_reason[8];	/* tether: enum tether_reason */
};

static struct tally tally[NSYS];
static atomic_bool stop;
static atomic_int phase_cpu;

static void set_balancing(const char *v)
{
	int fd = open("/proc/sys/kernel/numa_balancing", O_WRONLY);

	if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v))
		bench_die("/proc/sys/kernel/numa_balancing: %s", strerror(errno));
	close(fd);
}

static void restore_balancing(void)
{
	if (balancing_was[0])
		set_balancing(balancing_was);
}

/*
 * tether's module parameters the run raises (root only; the contexts opened
 * after this see them), put back at exit: later programs see the defaults
 */
static const char *const param[2] = { "/sys/module/tether/parameters/max_regions",
				       "/sys/module/tether/parameters/ring_entries" };
static long param_was[2] = { -1, -1 };

static void set_param(int k, long v)
{
	FILE *f = fopen(param[k], "r+");

	if (!f)
		return;
	if (param_was[k] < 0 && fscanf(f, "%ld", &param_was[k]) != 1)
		param_was[k] = -1;
	rewind(f);
	fprintf(f, "%ld\n", v);
	fclose(f);
}

static void restore_params(void)
{
	int k;

	for (k = 0; k < 2; k++)
		if (param_was[k] >= 0)
			set_param(k, param_was[k]);
}

static void bind_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		bench_die("sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
}

/* page @i's frame, 0 when it is not present (a migration entry, swapped) */
static uint64_t pfn_of(long i)
{
	uint64_t e;
	off_t off = ((uintptr_t)area / PAGE + i) * sizeof(e);

	if (pread(pmfd, &e, sizeof(e), off) != sizeof(e))
		bench_die("/proc/self/pagemap: %s", strerror(errno));
	return e & PM_PRESENT ? e & PM_PFN_MASK : 0;
}

/* the frame once the page is present again (a migration in flight ends) */
static uint64_t settled_pfn(long i)
{
	uint64_t pfn;
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		pfn = pfn_of(i);
		if (pfn)
			return pfn;
		usleep(1000);
	}
	return 0;
}

static void t_watch(long i)
{
	struct tether_cmd_secure s = { .size = sizeof(s), .addr = (uintptr_t)(area + i * PAGE),
				       .length = PAGE, .cookie = i };

	/* the frame first: an event after the secure is a change after this */
	pfn_at[SYS_TETHER][i] = settled_pfn(i);
	if (ioctl(tfd, TETHER_IOC_SECURE, &s))
		bench_die("TETHER_IOC_SECURE of page %ld: %s", i, strerror(errno));
	handle[i] = s.handle;
}

static void t_unwatch(long i)
{
	struct tether_cmd_release r = { .size = sizeof(r), .handle = handle[i] };

	if (ioctl(tfd, TETHER_IOC_RELEASE, &r))
		bench_die("TETHER_IOC_RELEASE of page %ld: %s", i, strerror(errno));
}

/* kdreg2 drops a region when it reports it: watching again is a new one */
static void k_watch(long i)
{
	struct kdreg2_ioctl_monitor m = { .addr = area + i * PAGE, .length = PAGE,
					  .cookie = (uint64_t)kgen[i] << 32 | i };

	pfn_at[SYS_KDREG2][i] = settled_pfn(i);
	if (ioctl(kfd, KDREG2_IOCTL_MONITOR, &m))
		bench_die("KDREG2_IOCTL_MONITOR of page %ld: %s", i, strerror(errno));
}

/* one event for page @i of @sys: real or spurious, then watch it again */
static void classify(int sys, long i)
{
	uint64_t pfn = settled_pfn(i);
	struct tally *t = &tally[sys];

	t->events++;
	if (!pfn || !pfn_at[sys][i])
		t->unknown++;
	else if (pfn != pfn_at[sys][i])
		t->real++;
	else
		t->spurious++;
}

static void tether_events(void)
{
	struct tether_event ev[64];
	ssize_t n;
	int k;

	while ((n = read(tfd, ev, sizeof(ev))) > 0) {
		for (k = 0; k < n / (ssize_t)sizeof(ev[0]); k++) {
			long i = (long)ev[k].cookie;

			if (ev[k].type == TETHER_EVENT_OVERFLOW)
				bench_die("tether's ring overflowed: run with fewer --pages");
			if (ev[k].type != TETHER_EVENT_INVALIDATE || i < 0 || i >= npages)
				bench_die("unexpected tether event type %u cookie %llu", ev[k].type,
				    (unsigned long long)ev[k].cookie);
			if (ev[k].reason < 8)
				tally[SYS_TETHER].by_reason[ev[k].reason]++;
			classify(SYS_TETHER, i);
			t_unwatch(i);
			t_watch(i);
		}
	}
	if (n < 0 && errno != EAGAIN)
		bench_die("read(/dev/tether): %s", strerror(errno));
}

static void kdreg2_events(void)
{
	struct kdreg2_event ev[64];
	ssize_t n;
	int k;

	while ((n = read(kfd, ev, sizeof(ev))) > 0) {
		for (k = 0; k < n / (ssize_t)sizeof(ev[0]); k++) {
			long i = (long)(ev[k].cookie & 0xffffffffu);

			if (ev[k].type != KDREG2_EVENT_MAPPING_CHANGE || i >= npages ||
			    ev[k].cookie >> 32 != kgen[i])
				bench_die("unexpected kdreg2 event type %u cookie %#llx", ev[k].type,
				    (unsigned long long)ev[k].cookie);
			classify(SYS_KDREG2, i);
			kgen[i]++;
			k_watch(i);
		}
	}
	if (n < 0 && errno != EAGAIN)
		bench_die("read(/dev/kdreg2): %s", strerror(errno));
}

/* loads and stores over every page, on the CPU of the current half */
static void *toucher(void *arg)
{
	int cpu = -1;
	long i;

	(void)arg;
	while (!atomic_load(&stop)) {
		if (cpu != atomic_load(&phase_cpu)) {
			cpu = atomic_load(&phase_cpu);
			bind_cpu(cpu);
		}
		for (i = 0; i < npages && !atomic_load(&stop); i++)
			((volatile long *)(area + i * PAGE))[1] += 1;
	}
	return NULL;
}

/* /proc/vmstat's counter @name */
static long vmstat(const char *name)
{
	char key[64];
	long v, found = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		bench_die("/proc/vmstat: %s", strerror(errno));
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

static const char *const counters[] = { "numa_pte_updates", "numa_hint_faults",
					"numa_pages_migrated", "pgmigrate_success",
					"pgmigrate_fail" };
#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

/* pages on node 0 and node 1 (move_pages() without nodes only queries) */
static void nodes_of(long on[2])
{
	void **pages = calloc(npages, sizeof(*pages));
	int *status = calloc(npages, sizeof(*status));
	long i;

	if (!pages || !status)
		bench_die("out of memory");
	for (i = 0; i < npages; i++)
		pages[i] = area + i * PAGE;
	if (syscall(SYS_move_pages, 0, npages, pages, NULL, status, 0))
		bench_die("move_pages: %s", strerror(errno));
	on[0] = on[1] = 0;
	for (i = 0; i < npages; i++)
		if (status[i] == 0 || status[i] == 1)
			on[status[i]]++;
	free(pages);
	free(status);
}

static void setup(void)
{
	struct kdreg2_config_data cfg = { .max_regions = npages + 1024 };
	long i, ring;
	int s, fd;

	if (access("/sys/devices/system/node/node1", F_OK))
		bench_die("needs two NUMA nodes (the test VM has them)");
	fd = open("/proc/sys/kernel/numa_balancing", O_RDONLY);
	if (fd < 0)
		bench_die("/proc/sys/kernel/numa_balancing: %s (CONFIG_NUMA_BALANCING?)",
		    strerror(errno));
	if (read(fd, balancing_was, sizeof(balancing_was) - 1) <= 0)
		bench_die("/proc/sys/kernel/numa_balancing: %s", strerror(errno));
	close(fd);
	atexit(restore_balancing);
	/* room for the ranges, and for an event from each of them at once */
	for (ring = 64; ring < 2 * npages && ring < 1048576; ring *= 2)
		;
	set_param(0, npages + 1024);
	set_param(1, ring);
	atexit(restore_params);
	tfd = open("/dev/tether", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (tfd < 0)
		bench_die("/dev/tether: %s", strerror(errno));
	kfd = open("/dev/kdreg2", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (kfd >= 0 && ioctl(kfd, KDREG2_IOCTL_CONFIG_DATA, &cfg))
		bench_die("KDREG2_IOCTL_CONFIG_DATA: %s", strerror(errno));
	pmfd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pmfd < 0)
		bench_die("/proc/self/pagemap: %s", strerror(errno));

	area = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		bench_die("mmap of %ld pages: %s", npages, strerror(errno));
	if (madvise(area, npages * PAGE, MADV_NOHUGEPAGE))
		bench_die("MADV_NOHUGEPAGE: %s", strerror(errno));
	handle = calloc(npages, sizeof(*handle));
	kgen = calloc(npages, sizeof(*kgen));
	pfn_start = calloc(npages, sizeof(*pfn_start));
	for (s = 0; s < NSYS; s++)
		pfn_at[s] = calloc(npages, sizeof(*pfn_at[s]));
	if (!handle || !kgen || !pfn_start || !pfn_at[SYS_TETHER] || !pfn_at[SYS_KDREG2])
		bench_die("out of memory");
	bind_cpu(0);
	for (i = 0; i < npages; i++)
		area[i * PAGE] = 1;
	for (i = 0; i < npages; i++) {
		pfn_start[i] = pfn_of(i);
		if (!pfn_start[i])
			bench_die("/proc/self/pagemap shows no frame for page %ld: run as root", i);
	}
	for (i = 0; i < npages; i++) {
		t_watch(i);
		if (kfd >= 0)
			k_watch(i);
	}
}

static void json_tally(FILE *f, int s, const char *sep)
{
	const struct tally *t = &tally[s];

	fprintf(f, "    \"%s\": {\"events\": %ld, \"real\": %ld, \"spurious\": %ld, \"unknown\": %ld}%s\n",
		sys_name[s], t->events, t->real, t->spurious, t->unknown, sep);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 's' },
		{ "pages", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ 0 }
	};
	static const char *const reason_name[8] = { "?", "unmap", "clear", "protection",
						    "migrate", "exit", "other", "?" };
	long before[NCOUNTERS], delta[NCOUNTERS], on0[2], on1[2], moved = 0, i;
	const char *out = NULL;
	struct pollfd p[2];
	pthread_t thread;
	double t0, t;
	int c, s, np;

	if (sysconf(_SC_PAGESIZE) != (long)PAGE)
		bench_die("needs 4 KiB pages");
	while ((c = getopt_long(argc, argv, "qs:p:o:", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			seconds = 2;
			npages = 1000;
			break;
		case 's':
			seconds = atof(optarg);
			if (!(seconds > 0 && seconds <= 3600))
				bench_die("--seconds takes 0 < S <= 3600");
			break;
		case 'p':
			npages = atol(optarg);
			if (npages < 1 || npages > 1000000)
				bench_die("--pages takes 1 ... 1000000");
			break;
		case 'o':
			out = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [--quick] [--seconds S] [--pages N] [--out DIR]\n",
				argv[0]);
			return 2;
		}
	}
	setup();
	nodes_of(on0);
	for (i = 0; i < (long)NCOUNTERS; i++)
		before[i] = vmstat(counters[i]);
	atomic_store(&phase_cpu, 1);
	set_balancing("1");
	if (pthread_create(&thread, NULL, toucher, NULL))
		bench_die("pthread_create failed");
	p[0] = (struct pollfd){ .fd = tfd, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = kfd, .events = POLLIN };
	np = kfd >= 0 ? 2 : 1;
	t0 = bench_now();
	while ((t = bench_now() - t0) < seconds + 0.5) {
		if (t >= seconds / 2)
			atomic_store(&phase_cpu, 0);
		if (t >= seconds && !atomic_load(&stop)) {
			atomic_store(&stop, true);
			pthread_join(thread, NULL);
			set_balancing("0");
		}
		poll(p, np, 50);
		tether_events();
		if (kfd >= 0)
			kdreg2_events();
	}
	/* what came after the toucher stopped */
	tether_events();
	if (kfd >= 0)
		kdreg2_events();
	restore_balancing();
	for (i = 0; i < (long)NCOUNTERS; i++)
		delta[i] = vmstat(counters[i]) - before[i];
	nodes_of(on1);
	for (i = 0; i < npages; i++)
		moved += pfn_of(i) != pfn_start[i];

	printf("tether-numa-bench: %ld pages, each its own unpinned range, %.0f s of loads and"
	       " stores (CPU 1 then CPU 0), numa_balancing on; kdreg2 %s\n", npages, seconds,
	       kfd >= 0 ? "loaded" : "absent (no /dev/kdreg2)");
	printf("pages on node 0 / node 1: %ld / %ld before, %ld / %ld after;"
	       " pages whose frame differs at the end: %ld\n", on0[0], on0[1], on1[0], on1[1], moved);
	printf("/proc/vmstat over the run:");
	for (i = 0; i < (long)NCOUNTERS; i++)
		printf(" %s +%ld", counters[i], delta[i]);
	printf("\n\n%-8s %12s %16s %18s %9s\n", "system", "invalidations", "real (new frame)",
	       "spurious (same)", "unknown");
	for (s = 0; s < NSYS; s++) {
		if (s == SYS_KDREG2 && kfd < 0) {
			printf("%-8s %12s\n", sys_name[s], "absent");
			continue;
		}
		printf("%-8s %12ld %16ld %18ld %9ld\n", sys_name[s], tally[s].events,
		       tally[s].real, tally[s].spurious, tally[s].unknown);
	}
	printf("tether's reasons:");
	for (i = 1; i < 7; i++)
		if (tally[SYS_TETHER].by_reason[i])
			printf(" %s %ld", reason_name[i], tally[SYS_TETHER].by_reason[i]);
	printf("\n");
	if (out) {
		FILE *f = bench_out_file(out, "numa.json");

		fprintf(f, "{\n  \"pages\": %ld,\n  \"seconds\": %g,\n  \"moved_at_end\": %ld,\n",
			npages, seconds, moved);
		for (i = 0; i < (long)NCOUNTERS; i++)
			fprintf(f, "  \"%s\": %ld,\n", counters[i], delta[i]);
		fprintf(f, "  \"systems\": {\n");
		json_tally(f, SYS_TETHER, kfd >= 0 ? "," : "");
		if (kfd >= 0)
			json_tally(f, SYS_KDREG2, "");
		fprintf(f, "  }\n}\n");
		fclose(f);
	}
	return 0;
}
