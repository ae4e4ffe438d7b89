// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the event ring and validity table a context shares with its owner.
 */

/**
 * DOC: Ring
 *
 * The records live in a vmalloc_user() area mapped read-only into the owner
 * (with the header and the validity table); the consumer position lives in a
 * separate page that the owner may write. The kernel is the only producer:
 * tether_ring_post() runs under ctx->lock, writes a record, then publishes
 * the producer position with a release store. It never trusts the consumer
 * position: a value that does not describe a sane ring makes the ring count
 * as full, which only hurts the owner that wrote it.
 *
 * One slot is kept for the overflow marker: an event that finds a single free
 * slot writes a TETHER_EVENT_OVERFLOW record there and stops the ring until
 * TETHER_IOC_REARM (or read() returning the marker, with the count of
 * events dropped in its __reserved2), so the consumer always learns, in
 * order, that events were dropped, and how many.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>

#include "tether_kmod.h"

/*
 * Zeroed pages charged to the caller's memory cgroup, mapped contiguously
 * for the kernel and mappable into userspace with remap_vmalloc_range()
 * (VM_USERMAP). vmalloc_user() would do, but it does not charge the memory
 * cgroup, and any user may open /dev/tether (as kernel/bpf/ringbuf.c does).
 */
static void *tether_area_alloc(size_t size, struct page ***pagesp)
{
	unsigned int n = size >> PAGE_SHIFT, i;
	struct page **pages;
	void *addr;

	pages = kvmalloc_array(n, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	if (!pages)
		return NULL;
	for (i = 0; i < n; i++) {
		pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!pages[i])
			goto err;
	}
	addr = vmap(pages, n, VM_MAP | VM_USERMAP, PAGE_KERNEL);
	if (!addr)
		goto err;
	*pagesp = pages;
	return addr;
err:
	while (i--)
		__free_page(pages[i]);
	kvfree(pages);
	return NULL;
}

static void tether_area_free(void *addr, size_t size, struct page **pages)
{
	unsigned int i;

	if (!addr)
		return;
	vunmap(addr);
	for (i = 0; i < size >> PAGE_SHIFT; i++)
		__free_page(pages[i]);
	kvfree(pages);
}

int tether_ring_alloc(struct tether_ctx *ctx, u32 entries, u32 max_regions)
{
	size_t events_off = PAGE_SIZE;
	size_t validity_off = events_off +
		PAGE_ALIGN(array_size(entries, sizeof(struct tether_event)));
	size_t size = validity_off + PAGE_ALIGN(array_size(max_regions, sizeof(u64)));

	ctx->consumer = tether_area_alloc(PAGE_SIZE, &ctx->consumer_pages);
	if (!ctx->consumer)
		return -ENOMEM;
	ctx->shared = tether_area_alloc(size, &ctx->shared_pages);
	if (!ctx->shared) {
		tether_area_free(ctx->consumer, PAGE_SIZE, ctx->consumer_pages);
		return -ENOMEM;
	}
	ctx->shared_size = size;
	ctx->ring_entries = entries;
	ctx->hdr = ctx->shared;
	ctx->events = ctx->shared + events_off;
	ctx->validity = ctx->shared + validity_off;
	ctx->hdr->entries = entries;
	ctx->hdr->event_size = sizeof(struct tether_event);
	ctx->hdr->events_offset = events_off;
	ctx->hdr->validity_offset = validity_off;
	ctx->hdr->validity_entries = max_regions;
	return 0;
}

void tether_ring_free(struct tether_ctx *ctx)
{
	tether_area_free(ctx->shared, ctx->shared_size, ctx->shared_pages);
	tether_area_free(ctx->consumer, PAGE_SIZE, ctx->consumer_pages);
}

/*
 * Records the consumer has not read yet; more than the ring's capacity if
 * the owner wrote a position the ring can never have.
 */
static u64 tether_ring_used(struct tether_ctx *ctx, u64 prod)
{
	/* pairs with the owner's release store after it read the records */
	u64 cons = smp_load_acquire(&ctx->consumer->consumer);

	return prod - cons;
}

/**
 * tether_ring_post() - queue one event, or count it as dropped
 * @ctx: the context; ctx->lock held
 * @ev: the event; its @seq is filled in here
 *
 * Never sleeps and allocates nothing: callable from the notifier.
 */
void tether_ring_post(struct tether_ctx *ctx, struct tether_event *ev)
{
	struct tether_event marker = { .type = TETHER_EVENT_OVERFLOW };
	u32 mask = ctx->ring_entries - 1;
	u64 prod = ctx->prod;
	u64 used;

	lockdep_assert_held(&ctx->lock);
	if (ctx->overflowed)
		goto drop;
	used = tether_ring_used(ctx, prod);
	/*
	 * Full without a marker: only a consumer position the ring can never
	 * have gets here (a marker always takes the last slot, and REARM
	 * needs an empty ring).
	 */
	if (used >= ctx->ring_entries)
		goto overflow_no_room;
	if (used == ctx->ring_entries - 1) {
		/* the last free slot: the overflow marker takes it */
		ev = &marker;
		ctx->overflowed = true;
		ctx->ev.overflows++;
		ctx->ev.dropped++;
		ctx->dropped_since_overflow = 1;
		WRITE_ONCE(ctx->hdr->dropped, ctx->ev.dropped);
	}
	ev->seq = ++ctx->seq;
	ctx->events[prod & mask] = *ev;
	ctx->prod = prod + 1;
	ctx->ev.events++;
	/* pairs with the owner's acquire load of producer before it reads records */
	smp_store_release(&ctx->hdr->producer, ctx->prod);
	if (ev == &marker) {
		/*
		 * Pairs with the owner's acquire load of overflowed: seeing
		 * it set, the owner also sees the marker published above
		 * (stopped == overflowed with nothing left to consume).
		 */
		smp_store_release(&ctx->hdr->overflowed, 1);
	}
	return;

overflow_no_room:
	ctx->overflowed = true;
	ctx->ev.overflows++;
	WRITE_ONCE(ctx->hdr->overflowed, 1);
drop:
	ctx->ev.dropped++;
	ctx->dropped_since_overflow++;
	WRITE_ONCE(ctx->hdr->dropped, ctx->ev.dropped);
}

/*
 * Restart the ring after an overflow, once every record (the marker too) is
 * consumed: rearming a full ring would leave no slot for the next marker.
 * With @ucmd (TETHER_IOC_REARM) the reply is written under ctx->lock before
 * anything changes, so a reply that cannot be written leaves the overflow
 * and its count for a retry. Returns 0, -EBUSY, -EFAULT or -EINTR.
 */
static int tether_ring_rearm(struct tether_ctx *ctx, struct tether_ucmd *ucmd,
			     struct tether_cmd_rearm *cmd)
{
	u64 cons;
	int ret;

	for (;;) {
		spin_lock(&ctx->lock);
		/* pairs with the owner's release store after it read the records */
		cons = smp_load_acquire(&ctx->consumer->consumer);
		if (ctx->overflowed && cons != ctx->prod) {
			spin_unlock(&ctx->lock);
			return -EBUSY;
		}
		cmd->dropped = ctx->dropped_since_overflow;
		cmd->next_seq = ctx->seq + 1;
		if (!ucmd || !tether_respond_nofault(ucmd, sizeof(*cmd)))
			break;
		spin_unlock(&ctx->lock);
		ret = tether_respond_fault_in(ucmd, sizeof(*cmd));
		if (ret)
			return ret;
	}
	ctx->dropped_since_overflow = 0;
	ctx->overflowed = false;
	WRITE_ONCE(ctx->hdr->overflowed, 0);
	spin_unlock(&ctx->lock);
	return 0;
}

int tether_ioctl_rearm(struct tether_ucmd *ucmd)
{
	struct tether_cmd_rearm *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EINVAL;
	return tether_ring_rearm(ucmd->ctx, ucmd, cmd);
}

static bool tether_ring_empty(struct tether_ctx *ctx)
{
	u64 cons = READ_ONCE(ctx->consumer->consumer);

	/* pairs with the release store of producer in tether_ring_post() */
	return cons == smp_load_acquire(&ctx->hdr->producer);
}

/*
 * read() reaching the overflow marker at @cons: copy it to @ubuf with the
 * events dropped since the overflow in its __reserved2, consume it and
 * rearm, all under one hold of ctx->lock (the copy takes no page fault), so
 * the count read is exactly the count rearming discards. Returns 0, -EFAULT
 * (nothing consumed, nothing rearmed) or -EINTR.
 */
static int tether_ring_read_marker(struct tether_ctx *ctx, char __user *ubuf,
				   u64 cons)
{
	struct tether_event marker;
	unsigned long left;

	if (!access_ok(ubuf, sizeof(marker)))
		return -EFAULT;
	for (;;) {
		spin_lock(&ctx->lock);
		marker = ctx->events[cons & (ctx->ring_entries - 1)];
		marker.__reserved2 = ctx->dropped_since_overflow;
		pagefault_disable();
		left = __copy_to_user_inatomic(ubuf, &marker, sizeof(marker));
		pagefault_enable();
		if (!left)
			break;
		spin_unlock(&ctx->lock);
		if (fatal_signal_pending(current))
			return -EINTR;
		if (fault_in_safe_writeable(ubuf, sizeof(marker)))
			return -EFAULT;
	}
	/* pairs with the acquire load in tether_ring_used() */
	smp_store_release(&ctx->consumer->consumer, cons + 1);
	/* nothing is posted while overflowed: the marker is the last record */
	if (ctx->overflowed && cons + 1 == ctx->prod) {
		ctx->dropped_since_overflow = 0;
		ctx->overflowed = false;
		WRITE_ONCE(ctx->hdr->overflowed, 0);
	}
	spin_unlock(&ctx->lock);
	return 0;
}

ssize_t tether_ring_read(struct tether_ctx *ctx, char __user *buf, size_t len,
			 bool nonblock)
{
	const size_t esz = sizeof(struct tether_event);
	u32 mask = ctx->ring_entries - 1;
	size_t copied = 0;
	u64 prod, cons;
	int ret;

	if (len < esz)
		return -EINVAL;
	if (mutex_lock_interruptible(&ctx->read_mutex))
		return -ERESTARTSYS;
	while (tether_ring_empty(ctx)) {
		ret = -EAGAIN;
		if (nonblock)
			goto out;
		mutex_unlock(&ctx->read_mutex);
		ret = wait_event_interruptible(ctx->wq, !tether_ring_empty(ctx));
		if (ret)
			return ret;
		if (mutex_lock_interruptible(&ctx->read_mutex))
			return -ERESTARTSYS;
	}
	cons = READ_ONCE(ctx->consumer->consumer);
	/* pairs with the release store in tether_ring_post() */
	prod = smp_load_acquire(&ctx->hdr->producer);
	ret = -EIO;
	if (prod - cons > ctx->ring_entries)
		goto out; /* the owner wrote a position the ring can never have */
	ret = 0;
	while (cons != prod && copied + esz <= len) {
		const struct tether_event *ev = &ctx->events[cons & mask];

		if (ev->type == TETHER_EVENT_OVERFLOW) {
			/* publish what was copied, then the marker and the rearm */
			smp_store_release(&ctx->consumer->consumer, cons);
			ret = tether_ring_read_marker(ctx, buf + copied, cons);
			if (ret)
				break;
			copied += esz;
			cons++;
			break;
		}
		if (copy_to_user(buf + copied, ev, esz)) {
			ret = -EFAULT;
			break;
		}
		copied += esz;
		cons++;
	}
	/* pairs with the acquire load in tether_ring_used() */
	smp_store_release(&ctx->consumer->consumer, cons);
out:
	mutex_unlock(&ctx->read_mutex);
	return copied ? copied : ret;
}

__poll_t tether_ring_poll(struct tether_ctx *ctx, struct file *filp,
			  poll_table *wait)
{
	poll_wait(filp, &ctx->wq, wait);
	return tether_ring_empty(ctx) ? 0 : EPOLLIN | EPOLLRDNORM;
}

/*
 * A page of a ring mapping whose page table entry is gone (MADV_DONTNEED,
 * MADV_PAGEOUT): map the same page again, so the ring reads and writes as
 * before; without ->fault a shared mapping would raise SIGBUS. vm_pgoff is
 * the mmap() offset (TETHER_CONSUMER_OFFSET or TETHER_SHARED_OFFSET), and
 * the mapping holds the file, so the context and its pages outlive it.
 */
static vm_fault_t tether_ring_fault(struct vm_fault *vmf)
{
	struct tether_ctx *ctx = vmf->vma->vm_file->private_data;
	pgoff_t pgoff = vmf->pgoff;
	struct page *page;

	if (pgoff == TETHER_CONSUMER_OFFSET >> PAGE_SHIFT)
		page = ctx->consumer_pages[0];
	else if (pgoff - (TETHER_SHARED_OFFSET >> PAGE_SHIFT) <
		 ctx->shared_size >> PAGE_SHIFT)
		page = ctx->shared_pages[pgoff - (TETHER_SHARED_OFFSET >> PAGE_SHIFT)];
	else
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct tether_ring_vm_ops = {
	.fault = tether_ring_fault,
};

int tether_ring_mmap(struct tether_ctx *ctx, struct vm_area_struct *vma)
{
	unsigned long size = vma->vm_end - vma->vm_start;
	unsigned long pgoff = vma->vm_pgoff;

	/* VM_MAYSHARE: do_mmap() drops VM_SHARED for a read-only descriptor */
	if (!(vma->vm_flags & VM_MAYSHARE) || (vma->vm_flags & VM_EXEC))
		return -EINVAL;
	/*
	 * Not inherited by a forked child (which only hurts the owner if it
	 * undoes this with MADV_DOFORK), never executable.
	 */
	tether_vm_flags_mod(vma, VM_DONTCOPY, VM_MAYEXEC);
	vma->vm_ops = &tether_ring_vm_ops;
	if (pgoff == TETHER_CONSUMER_OFFSET >> PAGE_SHIFT) {
		if (size != PAGE_SIZE)
			return -EINVAL;
		return remap_vmalloc_range(vma, ctx->consumer, 0);
	}
	if (pgoff == TETHER_SHARED_OFFSET >> PAGE_SHIFT) {
		if (size > ctx->shared_size)
			return -EINVAL;
		if (vma->vm_flags & VM_WRITE)
			return -EACCES;
		tether_vm_flags_mod(vma, 0, VM_MAYWRITE);
		return remap_vmalloc_range(vma, ctx->shared, 0);
	}
	return -EINVAL;
}
