// SPDX-License-Identifier: GPL-2.0
/*
 * tether_warn: a test-only module that raises a kernel WARNING when loaded.
 * The suite boots a VM with it loaded and expects scripts/vm to fail the run
 * on the guest log check; if it did not, that check would be blind.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init tether_warn_init(void)
{
	WARN_ON(1);
	return 0;
}

static void __exit tether_warn_exit(void)
{
}

module_init(tether_warn_init);
module_exit(tether_warn_exit);

MODULE_DESCRIPTION("tether test: WARN_ON(1) on load");
MODULE_LICENSE("GPL");
