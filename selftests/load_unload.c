// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading tether.ko: /dev/tether appears on load and goes on
 * unload, and 100 load/unload cycles leak nothing.
 *
 * The cycles run from this one process with finit_module()/delete_module(),
 * so no exec or filesystem churn disturbs the slab counts, and every cache
 * is shrunk before it is counted (which also drains KASAN's quarantine on
 * the debug kernel). The first cycles after boot grow the kernfs/dentry
 * caches once (stock modules do the same), so 100 warm-up cycles come
 * first; then no slab cache may grow by half the cycle count or more in each
 * of two runs of 100 cycles: a leak of one object per load shows as about
 * 100 in both. The debug kernel (TETHER_QUICK) runs 20-cycle intervals.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "tether_test.h"

#define MAX_CACHES 512

struct slab_count {
	char name[64];
	long active;
};

/*
 * Shrink every slab cache: frees empty slabs and per-cpu partials and, under
 * KASAN, drains the cache's quarantine, where freed objects otherwise stay
 * counted as active for a long time.
 */
static void shrink_slabs(void)
{
	char path[PATH_MAX];
	struct dirent *d;
	DIR *dir;

	dir = opendir("/sys/kernel/slab");
	if (!dir)
		return;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s/shrink", d->d_name);
		write_file(path, "1");
	}
	closedir(dir);
}

static int read_slabs(struct slab_count *s, int max)
{
	char line[512];
	int n = 0;
	FILE *f;

	sync();
	write_file("/proc/sys/vm/drop_caches", "3");
	usleep(500 * 1000); /* let RCU-deferred frees run */
	shrink_slabs();
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %ld", s[n].name, &s[n].active) == 2 &&
		    s[n].name[0] != '#')
			n++;
	}
	fclose(f);
	return n;
}

static bool dev_present(void)
{
	struct stat st;

	return stat(TETHER_DEV, &st) == 0 && S_ISCHR(st.st_mode);
}

static bool module_loaded(void)
{
	return access("/sys/module/tether", F_OK) == 0;
}

FIXTURE(mod) {
	char ko[PATH_MAX];
};

FIXTURE_SETUP(mod)
{
	if (geteuid() != 0)
		SKIP(return, "needs root");
	if (tether_ko_path(self->ko, sizeof(self->ko)))
		SKIP(return, "no tether.ko (TETHER_BUILD/TETHER_KERNEL)");
	if (!module_loaded())
		ASSERT_EQ(0, tether_module_load(self->ko));
}

FIXTURE_TEARDOWN(mod)
{
	/* leave the module loaded, as the VM runner expects */
	if (!module_loaded())
		tether_module_load(self->ko);
}

TEST_F(mod, device_follows_module)
{
	ASSERT_TRUE(dev_present());
	ASSERT_EQ(0, tether_module_unload());
	ASSERT_FALSE(dev_present());
	ASSERT_EQ(-ENOENT, tether_module_unload());
	ASSERT_EQ(0, tether_module_load(self->ko));
	ASSERT_TRUE(dev_present());
	ASSERT_EQ(-EEXIST, tether_module_load(self->ko));
}

TEST_F(mod, busy_while_open)
{
	int fd = open(TETHER_DEV, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd);
	/* an open context pins the module */
	ASSERT_EQ(-EWOULDBLOCK, tether_module_unload());
	ASSERT_TRUE(dev_present());
	close(fd);
	ASSERT_EQ(0, tether_module_unload());
	ASSERT_EQ(0, tether_module_load(self->ko));
}

/* Load and unload @cycles times, checking the device node each time. */
static int cycle(struct __test_metadata *_metadata, const char *ko, long cycles)
{
	long i;

	for (i = 0; i < cycles; i++) {
		if (tether_module_unload() || dev_present() || tether_module_load(ko) || !dev_present()) {
			TH_LOG("cycle %ld failed", i);
			return -1;
		}
	}
	return 0;
}

/* The count of cache @name in @s, or -1. */
static long slab_active(const struct slab_count *s, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return s[i].active;
	return -1;
}

TEST_F_TIMEOUT(mod, cycles_leak_nothing, 900)
{
	static struct slab_count c[3][MAX_CACHES];
	long cycles = tether_count(100, 20), limit = cycles / 2;
	int n[3], i, k, leaks = 0;

	TH_LOG("%ld warm-up cycles, then two runs of %ld", cycles, cycles);
	ASSERT_EQ(0, cycle(_metadata, self->ko, cycles)); /* warm-up */
	for (k = 0; k < 3; k++) {
		if (k)
			ASSERT_EQ(0, cycle(_metadata, self->ko, cycles));
		n[k] = read_slabs(c[k], MAX_CACHES);
		ASSERT_LT(20, n[k]) TH_LOG("cannot read /proc/slabinfo: %d", n[k]);
	}
	/*
	 * A leak grows a cache by about @cycles in each interval; the debug
	 * kernel's noise (KASAN quarantine batches) swings single intervals
	 * by more than @limit, but not two in a row upwards.
	 */
	for (i = 0; i < n[0]; i++) {
		long a = c[0][i].active;
		long b = slab_active(c[1], n[1], c[0][i].name);
		long d = slab_active(c[2], n[2], c[0][i].name);

		if (b < 0 || d < 0)
			continue; /* a cache created or destroyed meanwhile */
		if (a != b || b != d)
			TH_LOG("slab %s: %ld -> %ld -> %ld", c[0][i].name, a, b, d);
		if (b - a >= limit && d - b >= limit)
			leaks++;
	}
	ASSERT_EQ(0, leaks) TH_LOG("%d slab caches grew by %ld+ objects in each of two runs of %ld cycles",
				   leaks, limit, cycles);
}

TEST_HARNESS_MAIN
