// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading tether.ko: /dev/tether appears on load and goes on
 * unload, and 100 load/unload cycles leak nothing.
 *
 * The cycles run from this one process with finit_module()/delete_module(),
 * so no exec or filesystem churn disturbs the slab counts, which are read
 * exactly (slab_count.h: the VM runs slub_debug=F). The first cycles after
 * boot grow the kernfs/dentry caches once (stock modules do the same), so
 * 100 warm-up cycles come first; then no slab cache may grow by half the
 * cycle count or more in each of the runs of 100 cycles that follow: a
 * leak of one object per load shows as 100 in every run. The debug kernel
 * (TETHER_QUICK) runs 20-cycle runs.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "slab_count.h"
#include "tether_test.h"

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

struct cycles_arg {
	const char *ko;
	long cycles;
};

/* Unload and load @arg->cycles times, checking the device node each time. */
static void cycles_batch(struct __test_metadata *_metadata, void *arg)
{
	struct cycles_arg *c = arg;
	long i;

	for (i = 0; i < c->cycles; i++) {
		ASSERT_EQ(0, tether_module_unload()) TH_LOG("cycle %ld", i);
		ASSERT_FALSE(dev_present()) TH_LOG("cycle %ld", i);
		ASSERT_EQ(0, tether_module_load(c->ko)) TH_LOG("cycle %ld", i);
		ASSERT_TRUE(dev_present()) TH_LOG("cycle %ld", i);
	}
}

TEST_F_TIMEOUT(mod, cycles_leak_nothing, 900)
{
	struct cycles_arg arg = { self->ko, tether_count(100, 20) };
	int leaks;

	if (!slab_counts_exact())
		SKIP(return, "slab counts are not exact: boot with slub_debug=F (scripts/check does)");
	TH_LOG("%ld warm-up cycles, then runs of %ld", arg.cycles, arg.cycles);
	cycles_batch(_metadata, &arg); /* warm-up */
	leaks = slab_leaks(_metadata, arg.cycles / 2, cycles_batch, &arg);
	ASSERT_EQ(0, leaks) TH_LOG("%d slab caches leak", leaks);
}

TEST_HARNESS_MAIN
