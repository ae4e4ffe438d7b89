// SPDX-License-Identifier: GPL-2.0
/*
 * tether_leak: a test-only module that allocates 256 bytes at load and
 * drops the only pointer to them. On a kernel booted with kmemleak=on the
 * suite expects scripts/vm to fail the run on its kmemleak check (an
 * unreferenced object whose backtrace names tether); if it did not, that
 * check would be blind. The 256 bytes stay allocated until the VM is gone.
 */
#include <linux/module.h>
#include <linux/slab.h>

/*
 * Not __init and not a tail call, so that the backtrace kmemleak records
 * holds an address of this module's .text (init text is freed after load
 * and would print as a bare address, as a real leak in tether.ko would not).
 */
static noinline int tether_leak_alloc(void)
{
	void *p = kmalloc(256, GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	/* deliberately never kfree(p): the pointer dies with this frame */
	memset(p, 0x6b, 256);
	return 0;
}

static int __init tether_leak_init(void)
{
	return tether_leak_alloc();
}

static void __exit tether_leak_exit(void)
{
}

module_init(tether_leak_init);
module_exit(tether_leak_exit);

MODULE_DESCRIPTION("tether test: leak one kmalloc() object on load");
MODULE_LICENSE("GPL");
