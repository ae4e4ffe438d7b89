/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Leak checks by slab counts, shared by load_unload and sections.
 *
 * /proc/slabinfo's active count is exact only for debug caches: a normal
 * SLUB cache counts every object of a slab a CPU is allocating from as
 * active, so its count swings by about a slab per CPU between two reads
 * (hundreds of objects for kmalloc-8), which hides a leak of one object per
 * cycle. With slub_debug=F (consistency checks, which scripts/check puts on
 * the test VMs' command line) every cache is a debug cache, allocates
 * without per-CPU slabs and counts exactly. slab_leaks() needs that.
 */
#ifndef _TETHER_SLAB_COUNT_H
#define _TETHER_SLAB_COUNT_H

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tether_test.h"

#define MAX_CACHES 512

struct slab_count {
	char name[64];
	long active;
};

/* Whether the slab counts are exact: every cache runs slub_debug=F. */
static inline bool slab_counts_exact(void)
{
	char buf[8] = "";
	int fd = open("/sys/kernel/slab/kmalloc-8/sanity_checks", O_RDONLY);

	if (fd < 0)
		return false;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return buf[0] == '1';
}

#define SHRINK_THREADS 8

/* The caches to shrink, shared by the shrinking threads. */
struct slab_shrink_list {
	char (*names)[NAME_MAX + 1];
	int n;
	int next;	/* the next to take, atomically */
};

static inline void *slab_shrink_thread(void *arg)
{
	struct slab_shrink_list *l = arg;
	char path[PATH_MAX];
	int i;

	while ((i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) < l->n) {
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", l->names[i]);
		write_file(path, "1");
	}
	return NULL;
}

/*
 * Shrink every slab cache: frees empty slabs and, under KASAN, drains the
 * cache's quarantine, where freed objects otherwise stay counted as active.
 * Under KASAN each shrink waits for an SRCU grace period (quarantine removal),
 * so the debug kernel took about 30 s for its 250 caches one after the
 * other: SHRINK_THREADS threads shrink them at once.
 */
static inline void slab_shrink_all(void)
{
	static char names[MAX_CACHES * 2][NAME_MAX + 1];
	struct slab_shrink_list l = { .names = names };
	pthread_t t[SHRINK_THREADS];
	struct dirent *d;
	int i, started;
	DIR *dir;

	dir = opendir("/sys/kernel/slab");
	if (!dir)
		return;
	while ((d = readdir(dir)) && l.n < MAX_CACHES * 2) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(names[l.n++], sizeof(names[0]), "%s", d->d_name);
	}
	closedir(dir);
	for (started = 0; started < SHRINK_THREADS; started++)
		if (pthread_create(&t[started], NULL, slab_shrink_thread, &l))
			break;
	/* without threads, this one does it all */
	slab_shrink_thread(&l);
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

/*
 * The vmalloc areas in use: /proc/vmallocinfo's lines, less those of areas
 * unmapped but not yet purged ("unpurged vm_area"). The vmap_area cache
 * counts no such thing: vunmap() and vfree() free an area lazily (its
 * vmap_area waits on a purge list until lazy_max_pages of them add up, tens
 * of MiB), purged areas may wait in per-node pools for reuse, and the free
 * address space is itself a tree of vmap_area objects. Closing a context
 * frees its ring's two areas that way, so a sweep that opens contexts grew
 * the cache by 2 per context in every run, not reclaimed by any shrink.
 * Return: the count, or -errno.
 */
static inline long vmalloc_busy(void)
{
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/vmallocinfo", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, "unpurged vm_area"))
			n++;
	fclose(f);
	return n;
}

/*
 * One shrink and read of /proc/slabinfo; @total gets the sum. The
 * vmap_area cache counts the vmalloc areas in use instead (vmalloc_busy()).
 */
static inline int slab_read_once(struct slab_count *s, int max, long *total)
{
	char line[512];
	int n = 0;
	FILE *f;

	slab_shrink_all();
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -errno;
	*total = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld", s[n].name, &s[n].active) == 2 &&
		    s[n].name[0] != '#' && strcmp(s[n].name, "slabinfo")) {
			if (!strcmp(s[n].name, "vmap_area"))
				s[n].active = vmalloc_busy();
			*total += s[n++].active;
		}
	}
	fclose(f);
	return n;
}

/*
 * Active objects of every cache once pending frees have run: unloading a
 * module or closing a file frees kernfs names, files and their security
 * blobs through RCU callbacks and work items, which under TCG and the debug
 * kernel can take seconds. So drop the page and inode caches, then read
 * until the total stops falling (two reads in a row no lower than the
 * lowest so far), at most 30 reads. Returns the number of caches or -errno.
 */
static inline int slab_read(struct slab_count *s, int max)
{
	long total, low = LONG_MAX;
	int n = 0, i, flat = 0;

	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	for (i = 0; i < 30 && flat < 2; i++) {
		usleep(300 * 1000);
		n = slab_read_once(s, max, &total);
		if (n < 0)
			return n;
		if (total < low) {
			low = total;
			flat = 0;
		} else {
			flat++;
		}
	}
	return n;
}

/* The active count of cache @name in @s, or -1 when it is not there. */
static inline long slab_active(const struct slab_count *s, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return s[i].active;
	return -1;
}

/*
 * Where a cache's objects come from: SLUB's debugfs alloc_traces, one
 * block per allocation site and stack ("  COUNT SYMBOL age=... pid=...",
 * the stack's frames indented, a blank line), present only for a cache that
 * stores its users (slub_debug=U). A site is its symbol and stack, the
 * count its live objects.
 */
#define MAX_SITES 512
#define SITE_KEY 768
#define SAVED_CACHES 4

struct slab_site {
	char key[SITE_KEY];
	long count;
};

static inline int slab_sites(const char *cache, struct slab_site *s, int max)
{
	char path[PATH_MAX], line[512];
	int n = 0, cur = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/debug/slab/%s/alloc_traces", cache);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char sym[256];
		long count;
		size_t len;

		if (sscanf(line, " %ld %255s", &count, sym) == 2 && line[0] == ' ' &&
		    line[strspn(line, " ")] != '\n' && strstr(line, " age=")) {
			if (n == max)
				break;
			cur = n++;
			s[cur].count = count;
			snprintf(s[cur].key, SITE_KEY, "%s\n", sym);
		} else if (cur >= 0 && line[0] == ' ') {
			/* a frame: part of the site's key, as far as it fits */
			len = strlen(s[cur].key);
			snprintf(s[cur].key + len, SITE_KEY - len, "%s", line);
		} else {
			cur = -1;
		}
	}
	fclose(f);
	return n;
}

/* Log the sites of @cache whose objects grew from @a to now, most first. */
static inline void slab_log_growth(struct __test_metadata *_metadata,
				   const char *cache, const struct slab_site *a, int na)
{
	static struct slab_site b[MAX_SITES];
	int nb = slab_sites(cache, b, MAX_SITES), i, j, shown;

	if (na < 0 || nb < 0) {
		TH_LOG("slab %s: no allocation sites (boot with slub_debug=U to see them)",
		       cache);
		return;
	}
	for (i = 0; i < nb; i++)
		for (j = 0; j < na; j++)
			if (!strcmp(a[j].key, b[i].key)) {
				b[i].count -= a[j].count;
				break;
			}
	for (shown = 0; shown < 5; shown++) {
		int best = -1;

		for (i = 0; i < nb; i++)
			if (b[i].count > 0 && (best < 0 || b[i].count > b[best].count))
				best = i;
		if (best < 0)
			break;
		TH_LOG("slab %s: +%ld objects from %s", cache, b[best].count, b[best].key);
		b[best].count = 0;
	}
}

/*
 * Run @batch (which must leave nothing behind) repeatedly and return how
 * many slab caches grew by @limit or more objects in every run. A leak of
 * one object per operation grows a cache in every run; the rest of the
 * system allocates and frees too, and has been seen to grow a cache twice
 * in a row, but not to keep growing. So: two runs always; a cache that grew
 * in both gets up to two more, and counts only if it grew in all four.
 * Logs every change, and for a cache that grew in all four runs the sites
 * that allocated what runs 3 and 4 added (where SLUB stores users: see
 * slab_sites()). Asserts (and so ends the test) when slabinfo cannot
 * be read.
 */
static inline int slab_leaks(struct __test_metadata *_metadata, long limit,
			     void (*batch)(struct __test_metadata *_metadata, void *arg),
			     void *arg)
{
	static struct slab_count first[MAX_CACHES], c[2][MAX_CACHES];
	static bool suspect[MAX_CACHES];
	static struct slab_site saved[SAVED_CACHES][MAX_SITES];
	int saved_of[MAX_CACHES], nsaved[SAVED_CACHES], ns = 0;
	int nfirst, n[2], run, i, leaks = 0;

	nfirst = slab_read(first, MAX_CACHES);
	ASSERT_LT(20, nfirst) TH_LOG("cannot read /proc/slabinfo: %d", nfirst);
	memcpy(c[0], first, sizeof(first));
	n[0] = nfirst;
	for (i = 0; i < nfirst; i++) {
		suspect[i] = true;
		saved_of[i] = -1;
	}
	for (run = 0; run < 4; run++) {
		int prev = run % 2, now = (run + 1) % 2, left = 0;

		/* where the caches that grew twice allocate, to tell at the end */
		for (i = 0; run == 2 && i < nfirst; i++) {
			if (suspect[i] && ns < SAVED_CACHES) {
				nsaved[ns] = slab_sites(first[i].name, saved[ns], MAX_SITES);
				saved_of[i] = ns++;
			}
		}
		batch(_metadata, arg);
		n[now] = slab_read(c[now], MAX_CACHES);
		ASSERT_LT(20, n[now]) TH_LOG("cannot read /proc/slabinfo: %d", n[now]);
		for (i = 0; i < nfirst; i++) {
			long x = slab_active(c[prev], n[prev], first[i].name);
			long y = slab_active(c[now], n[now], first[i].name);

			if (x >= 0 && y >= 0 && x != y)
				TH_LOG("run %d: slab %s: %ld -> %ld", run + 1, first[i].name, x, y);
			/* a cache destroyed or created meanwhile is no leak */
			suspect[i] = suspect[i] && x >= 0 && y >= 0 && y - x >= limit;
			left += suspect[i];
		}
		if (run > 0 && !left)
			break;
	}
	for (i = 0; i < nfirst; i++) {
		if (suspect[i]) {
			TH_LOG("slab %s grew by %ld+ objects in each of 4 runs",
			       first[i].name, limit);
			if (saved_of[i] >= 0)
				slab_log_growth(_metadata, first[i].name, saved[saved_of[i]],
						nsaved[saved_of[i]]);
			leaks++;
		}
	}
	return leaks;
}

#endif /* _TETHER_SLAB_COUNT_H */
