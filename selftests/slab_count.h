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

/* One shrink and read of /proc/slabinfo; @total gets the sum. */
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
		    s[n].name[0] != '#' && strcmp(s[n].name, "slabinfo"))
			*total += s[n++].active;
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
 * Run @batch (which must leave nothing behind) repeatedly and return how
 * many slab caches grew by @limit or more objects in every run. A leak of
 * one object per operation grows a cache in every run; the rest of the
 * system allocates and frees too, and has been seen to grow a cache twice
 * in a row, but not to keep growing. So: two runs always; a cache that grew
 * in both gets up to two more, and counts only if it grew in all four.
 * Logs every change. Asserts (and so ends the test) when slabinfo cannot
 * be read.
 */
static inline int slab_leaks(struct __test_metadata *_metadata, long limit,
			     void (*batch)(struct __test_metadata *_metadata, void *arg),
			     void *arg)
{
	static struct slab_count first[MAX_CACHES], c[2][MAX_CACHES];
	static bool suspect[MAX_CACHES];
	int nfirst, n[2], run, i, leaks = 0;

	nfirst = slab_read(first, MAX_CACHES);
	ASSERT_LT(20, nfirst) TH_LOG("cannot read /proc/slabinfo: %d", nfirst);
	memcpy(c[0], first, sizeof(first));
	n[0] = nfirst;
	for (i = 0; i < nfirst; i++)
		suspect[i] = true;
	for (run = 0; run < 4; run++) {
		int prev = run % 2, now = (run + 1) % 2, left = 0;

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
			leaks++;
		}
	}
	return leaks;
}

#endif /* _TETHER_SLAB_COUNT_H */
