// SPDX-License-Identifier: GPL-2.0
/*
 * tether_pinleak: a test-only module that pins one page of the loading
 * process (insmod) with FOLL_PIN and never unpins it. The suite boots a VM
 * with it loaded and expects scripts/vm to fail the run on its pin check
 * (nr_foll_pin_acquired != nr_foll_pin_released at the end); if it did
 * not, that check would be blind. The page stays pinned until the VM is
 * gone; nothing else is affected.
 */
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>

static int __init tether_pinleak_init(void)
{
	struct page *page;
	unsigned long addr;
	int ret;

	addr = vm_mmap(NULL, 0, PAGE_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, 0);
	if (IS_ERR_VALUE(addr))
		return (int)addr;
	ret = pin_user_pages_fast(addr, 1, FOLL_WRITE, &page);
	if (ret != 1)
		return ret < 0 ? ret : -EFAULT;
	/* deliberately never unpin_user_page(page) */
	return 0;
}

static void __exit tether_pinleak_exit(void)
{
}

module_init(tether_pinleak_init);
module_exit(tether_pinleak_exit);

MODULE_DESCRIPTION("tether test: leak one FOLL_PIN pin on load");
MODULE_LICENSE("GPL");
