// SPDX-License-Identifier: GPL-2.0
/*
 * tether: securing ranges of the owner's address space, and the notifier
 * that invalidates them.
 */

/**
 * DOC: Securing without races
 *
 * TETHER_IOC_SECURE inserts the range's mmu_interval_notifier first, then
 * loops: mmu_interval_read_begin(), pin the pages (or check the VMAs when
 * not pinning), take ctx->lock and mmu_interval_read_retry(). If nothing
 * changed since read_begin, the range becomes ACTIVE under the same lock
 * that the notifier takes to bump the sequence, so every later change is
 * seen by the notifier as a change of an ACTIVE range and reported. If
 * something changed, the pins are dropped and the loop retries; after
 * TETHER_SECURE_TRIES attempts the call fails with -EAGAIN. Pinning after
 * the notifier is armed closes the window in which an unmap between pin and
 * registration would go unnoticed.
 */

/**
 * DOC: The notifier
 *
 * tether_invalidate() runs for every change of the mapping under a secured
 * range, whoever makes it, in whatever context (also non-blockable ones such
 * as the OOM reaper). It allocates nothing and takes only ctx->lock, a
 * spinlock, so it never sleeps and never has to return false. For an ACTIVE
 * range whose mapping really changes it zeroes the range's validity word and
 * queues one event into a preallocated ring slot before returning, that is
 * before the kernel changes the page tables.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/pagemap.h>
#include <linux/sched/signal.h>
#include <linux/backing-dev.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "tether_kmod.h"

/* how often a secure is tried when the range keeps changing under it */
#define TETHER_SECURE_TRIES 4
/* pages pinned per pin_user_pages_fast() call */
#define TETHER_PIN_CHUNK 512

/*
 * Does every VMA over [start, end) exist and grant @need (VM_READ and maybe
 * VM_WRITE), without being an I/O or PFN mapping? The caller holds the
 * mmap_lock (secure takes it; the kernel holds it around every
 * MMU_NOTIFY_PROTECTION_VMA notification).
 */
static bool tether_vmas_grant(struct mm_struct *mm, unsigned long start,
			      unsigned long end, unsigned long need)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;
	unsigned long covered = start;

	lockdep_assert_held(&mm->mmap_lock);
	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > covered)
			return false;
		if ((vma->vm_flags & need) != need ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP)))
			return false;
		covered = vma->vm_end;
		if (covered >= end)
			return true;
	}
	return false;
}

static unsigned long tether_need(const struct tether_region *r)
{
	return VM_READ | (r->flags & TETHER_SECURE_WRITE ? VM_WRITE : 0);
}

/*
 * Does this notification change the mapping of [start, end) of @r? If so,
 * return true and the reason to report.
 */
static bool tether_changes_mapping(struct tether_region *r,
				   const struct mmu_notifier_range *range,
				   unsigned long start, unsigned long end,
				   u32 *reason)
{
	switch (range->event) {
	case MMU_NOTIFY_UNMAP:
		*reason = TETHER_REASON_UNMAP;
		return true;
	case MMU_NOTIFY_CLEAR:
		*reason = TETHER_REASON_CLEAR;
		return true;
	case MMU_NOTIFY_PROTECTION_VMA:
		/*
		 * mprotect() sets the new vm_flags before it changes the page
		 * tables; NUMA hinting and uffd-wp leave vm_flags alone. Every
		 * caller (mprotect, task_numa_work, userfaultfd, hugetlb,
		 * PAGEMAP_SCAN) holds the mmap_lock: the VMA walk is safe.
		 */
		*reason = TETHER_REASON_PROTECTION;
		return !tether_vmas_grant(range->mm, start, end, tether_need(r));
	case MMU_NOTIFY_PROTECTION_PAGE:
	case MMU_NOTIFY_SOFT_DIRTY:
		/* write-protect in place: a later replacement comes as CLEAR */
		return false;
	case MMU_NOTIFY_MIGRATE:
		*reason = TETHER_REASON_MIGRATE;
		return true;
	case MMU_NOTIFY_RELEASE:
		*reason = TETHER_REASON_EXIT;
		return true;
	default:
		*reason = TETHER_REASON_OTHER;
		return true;
	}
}

static bool tether_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct tether_region *r = container_of(mni, struct tether_region, notifier);
	struct tether_ctx *ctx = r->ctx;
	unsigned long start = max(range->start, r->start);
	unsigned long end = min(range->end, r->end);
	struct tether_event ev;
	bool posted = false;
	u32 reason;

	spin_lock(&ctx->lock);
	mmu_interval_set_seq(mni, cur_seq);
	if (r->state == TETHER_REGION_ACTIVE) {
		if (tether_changes_mapping(r, range, start, end, &reason)) {
			r->state = TETHER_REGION_INVALIDATED;
			/*
			 * Relaxed, as userspace's load of it (tether_range_valid()):
			 * the word publishes nothing but itself, and the mapping
			 * changes only after this notifier returns.
			 */
			WRITE_ONCE(ctx->validity[r->slot], 0);
			ctx->ev.invalidated++;
			ctx->ev.by_reason[reason]++;
			ev = (struct tether_event) {
				.type = TETHER_EVENT_INVALIDATE,
				.reason = reason,
				.handle = r->handle,
				.cookie = r->cookie,
				.start = start,
				.end = end,
			};
			tether_ring_post(ctx, &ev);
			posted = true;
		} else {
			ctx->ev.kept++;
		}
	}
	spin_unlock(&ctx->lock);
	if (posted)
		wake_up_interruptible_poll(&ctx->wq, EPOLLIN | EPOLLRDNORM);
	return true;
}

static const struct mmu_interval_notifier_ops tether_region_ops = {
	.invalidate = tether_invalidate,
};

/**
 * tether_add_within() - add to a counter unless that exceeds a limit
 * @counter: the counter
 * @n: what to add
 * @limit: the largest value @counter may reach
 *
 * Compare first, then add, in one compare-and-exchange: the counter never
 * shows a value above @limit, and a call that does not fit never makes a
 * concurrent one that does fit fail (add, compare, subtract would).
 *
 * Return: true if @n was added.
 */
bool tether_add_within(atomic64_t *counter, u64 n, u64 limit)
{
	s64 old = atomic64_read(counter);

	do {
		if (n > limit || (u64)old > limit - n)
			return false;
	} while (!atomic64_try_cmpxchg(counter, &old, old + n));
	return true;
}

/**
 * tether_charge() - account for pins before taking them
 * @ctx: the context
 * @npages: pages about to be pinned
 * @memlock: long-term pins: also charge the mm's RLIMIT_MEMLOCK
 *
 * Each counter is compared to its limit before anything is added to it
 * (tether_add_within()), and a call larger than RLIMIT_MEMLOCK by itself
 * fails before it reserves anything: a call that cannot fit never makes a
 * concurrent one that fits fail, and GET_STATS never shows more than
 * max_pinned_pages.
 *
 * Return: 0, or -ENOMEM when the context's max_pinned_pages or (@memlock,
 * without CAP_IPC_LOCK) RLIMIT_MEMLOCK would be exceeded; then nothing is
 * charged.
 */
int tether_charge(struct tether_ctx *ctx, unsigned long npages, bool memlock)
{
	unsigned long lock_limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;

	/* over RLIMIT_MEMLOCK by itself: fail before reserving anything */
	if (memlock && npages > lock_limit && !capable(CAP_IPC_LOCK))
		return -ENOMEM;
	if (!tether_add_within(&ctx->pinned_pages, npages, ctx->max_pinned_pages))
		return -ENOMEM;
	if (!memlock)
		return 0;
	/* as ib_umem_get(): pinned_vm is what RLIMIT_MEMLOCK bounds */
	if (tether_add_within(&ctx->mm->pinned_vm, npages, lock_limit))
		return 0;
	if (capable(CAP_IPC_LOCK)) {
		atomic64_add(npages, &ctx->mm->pinned_vm);
		return 0;
	}
	atomic64_sub(npages, &ctx->pinned_pages);
	return -ENOMEM;
}

/* Undo tether_charge() with the same arguments. */
void tether_uncharge(struct tether_ctx *ctx, unsigned long npages, bool memlock)
{
	if (memlock)
		atomic64_sub(npages, &ctx->mm->pinned_vm);
	atomic64_sub(npages, &ctx->pinned_pages);
}

static void tether_unpin(struct tether_region *r)
{
	if (!r->npinned)
		return;
	unpin_user_pages_dirty_lock(r->pages, r->npinned,
				    r->flags & TETHER_SECURE_WRITE);
	r->npinned = 0;
}

/*
 * Does @vma need dirty tracking? The rule of vma_needs_dirty_tracking() in
 * mm/mmap.c since 6.5: a shared writable mapping whose file is notified of
 * writes (->page_mkwrite or ->pfn_mkwrite), or whose pages are written back
 * (ext4, xfs, NFS, ...). shmem, memfd and other files without writeback do
 * not. Since 6.5 GUP refuses long-term writable pins of such mappings
 * (writable_file_mapping_allowed() in mm/gup.c, with EFAULT); 6.1 takes
 * them, and writeback can then clean and strip a page that is written
 * through the pin afterwards.
 */
static bool tether_vma_needs_dirty_tracking(struct vm_area_struct *vma)
{
	if ((vma->vm_flags & (VM_SHARED | VM_WRITE)) != (VM_SHARED | VM_WRITE))
		return false;
	if (vma->vm_ops && (vma->vm_ops->page_mkwrite || vma->vm_ops->pfn_mkwrite))
		return true;
	if (vma->vm_flags & VM_PFNMAP)
		return false;
	return vma->vm_file && vma->vm_file->f_mapping &&
	       mapping_can_writeback(vma->vm_file->f_mapping);
}

/* -EOPNOTSUPP if a VMA over [start, end) needs dirty tracking, else 0. */
static int tether_check_dirty_tracking(struct mm_struct *mm, unsigned long start,
				       unsigned long end)
{
	VMA_ITERATOR(vmi, mm, start);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for_each_vma_range(vmi, vma, end) {
		if (tether_vma_needs_dirty_tracking(vma))
			return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Is @page, pinned, a page of a file that is written back? The folio lock
 * keeps truncation, and so the inode's eviction, away while its mapping is
 * looked at. Anonymous pages (KSM and swap cache included) and shmem are
 * not.
 */
static bool tether_page_written_back(struct page *page)
{
	struct folio *folio = page_folio(page);
	bool ret = false;

	if (folio_test_anon(folio))
		return false;
	folio_lock(folio);
	if (folio->mapping)
		ret = mapping_can_writeback(folio->mapping);
	folio_unlock(folio);
	return ret;
}

/*
 * A long-term writable pin (FOLL_LONGTERM | FOLL_WRITE) of a mapping that
 * needs dirty tracking is refused with -EOPNOTSUPP on every kernel: the
 * VMAs are checked before GUP (whose own refusal on 6.5+ says -EFAULT), and
 * the pinned pages after it, so a mapping replaced in between is caught
 * too. Faults during the pin stay retryable (userfaultfd, the mmap_lock
 * dropped), which holding the mmap_lock across the pin would forbid.
 */
static bool tether_longterm_write(unsigned int gup_flags)
{
	return (gup_flags & (FOLL_LONGTERM | FOLL_WRITE)) ==
	       (FOLL_LONGTERM | FOLL_WRITE);
}

static int tether_check_vmas_before_pin(unsigned long start, unsigned long end)
{
	struct mm_struct *mm = current->mm;
	int ret;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	ret = tether_check_dirty_tracking(mm, start, end);
	mmap_read_unlock(mm);
	return ret;
}

static int tether_check_pages_after_pin(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		if (tether_page_written_back(pages[i]))
			return -EOPNOTSUPP;
		if (!(i % TETHER_PIN_CHUNK))
			cond_resched();
	}
	return 0;
}

/**
 * tether_pin_pages() - pin user pages of the current mm, in chunks
 * @start: the first page's address
 * @npages: how many pages
 * @gup_flags: FOLL_* flags for pin_user_pages_fast()
 * @pages: the array to fill, @npages long
 * @npinned: pages of @pages already pinned; advanced as pages are pinned
 *
 * Stops early, with *@npinned telling what to unpin, on an error or a fatal
 * signal. Used by securing and by requests.
 *
 * Return: 0 when all are pinned, -EINTR on a fatal signal, -EOPNOTSUPP for
 * a long-term writable pin (FOLL_LONGTERM | FOLL_WRITE) of a mapping that
 * needs dirty tracking, else the error of GUP (-EFAULT when it pinned
 * nothing).
 */
int tether_pin_pages(unsigned long start, unsigned long npages,
		     unsigned int gup_flags, struct page **pages,
		     unsigned long *npinned)
{
	int ret;

	if (tether_longterm_write(gup_flags)) {
		ret = tether_check_vmas_before_pin(start,
						   start + (npages << PAGE_SHIFT));
		if (ret)
			return ret;
	}
	while (*npinned < npages) {
		unsigned long addr = start + (*npinned << PAGE_SHIFT);
		int chunk = min_t(unsigned long, npages - *npinned,
				  TETHER_PIN_CHUNK);

		ret = pin_user_pages_fast(addr, chunk, gup_flags,
					  pages + *npinned);
		if (ret <= 0)
			return ret ?: -EFAULT;
		*npinned += ret;
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	if (tether_longterm_write(gup_flags))
		return tether_check_pages_after_pin(pages, npages);
	return 0;
}

/* Pin all pages of @r, or none: a partial pin is unwound. */
static int tether_pin(struct tether_region *r)
{
	unsigned long npages = (r->end - r->start) >> PAGE_SHIFT;
	unsigned int gup_flags = FOLL_LONGTERM;
	int ret;

	if (r->flags & TETHER_SECURE_WRITE)
		gup_flags |= FOLL_WRITE;
	ret = tether_pin_pages(r->start, npages, gup_flags, r->pages,
			       &r->npinned);
	if (ret)
		tether_unpin(r);
	return ret;
}

/* Without pinning: every page must be mapped with the access asked for. */
static int tether_check_mapped(struct tether_region *r)
{
	bool ok;

	if (mmap_read_lock_killable(r->ctx->mm))
		return -EINTR;
	ok = tether_vmas_grant(r->ctx->mm, r->start, r->end, tether_need(r));
	mmap_read_unlock(r->ctx->mm);
	return ok ? 0 : -EFAULT;
}

/* Tear down a region that no notifier call can reach any more. */
static void tether_region_free(struct tether_region *r)
{
	struct tether_ctx *ctx = r->ctx;
	unsigned long npages = (r->end - r->start) >> PAGE_SHIFT;

	WRITE_ONCE(ctx->validity[r->slot], 0);
	tether_unpin(r);
	if (r->pages) {
		kvfree(r->pages);
		tether_uncharge(ctx, npages, true);
	}
	ida_free(&ctx->slots, r->slot);
	atomic64_dec(&ctx->nr_regions);
	kfree(r);
}

/* Stop watching @r and free it. May sleep. */
static void tether_region_destroy(struct tether_region *r)
{
	mmu_interval_notifier_remove(&r->notifier);
	tether_region_free(r);
}

/*
 * Pin or check the range, retrying while it changes, and make it ACTIVE.
 * On success the range is valid and published in the validity table.
 */
static int tether_region_activate(struct tether_region *r)
{
	struct tether_ctx *ctx = r->ctx;
	unsigned long seq;
	int tries, ret;

	for (tries = 0; tries < TETHER_SECURE_TRIES; tries++) {
		seq = mmu_interval_read_begin(&r->notifier);
		if (r->pages)
			ret = tether_pin(r);
		else
			ret = tether_check_mapped(r);
		if (ret)
			return ret;

		spin_lock(&ctx->lock);
		if (!mmu_interval_read_retry(&r->notifier, seq)) {
			r->state = TETHER_REGION_ACTIVE;
			WRITE_ONCE(ctx->validity[r->slot], r->generation);
			spin_unlock(&ctx->lock);
			return 0;
		}
		spin_unlock(&ctx->lock);
		tether_unpin(r);
		atomic64_inc(&ctx->retries);
	}
	return -EAGAIN;
}

int tether_ioctl_secure(struct tether_ucmd *ucmd)
{
	struct tether_cmd_secure *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	unsigned long start, end, last;
	struct tether_region *r;
	unsigned long npages;
	int slot, ret;

	if (cmd->flags & ~(TETHER_SECURE_PIN | TETHER_SECURE_WRITE) ||
	    cmd->__reserved || !cmd->length)
		return -EINVAL;
	if (check_add_overflow(cmd->addr, cmd->length - 1, &last) ||
	    last > ULONG_MAX - PAGE_SIZE)
		return -EINVAL;
	start = round_down(cmd->addr, PAGE_SIZE);
	end = round_up(last + 1, PAGE_SIZE);
	if (!access_ok((void __user *)start, end - start))
		return -EFAULT;
	npages = (end - start) >> PAGE_SHIFT;

	if (atomic64_inc_return(&ctx->nr_regions) > ctx->max_regions) {
		atomic64_dec(&ctx->nr_regions);
		return -ENOSPC;
	}
	ret = -ENOMEM;
	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		goto err_count;
	slot = ida_alloc_max(&ctx->slots, ctx->max_regions - 1, GFP_KERNEL);
	if (slot < 0) {
		ret = slot == -ENOSPC ? -ENOSPC : -ENOMEM;
		goto err_free;
	}
	r->ctx = ctx;
	r->slot = slot;
	r->flags = cmd->flags;
	r->cookie = cmd->cookie;
	r->start = start;
	r->end = end;
	r->state = TETHER_REGION_SECURING;
	r->handle = atomic64_inc_return(&ctx->next_handle);

	if (cmd->flags & TETHER_SECURE_PIN) {
		ret = -ENOMEM;
		/* kvmalloc() refuses arrays above INT_MAX bytes */
		if (npages > INT_MAX / sizeof(*r->pages))
			goto err_slot;
		ret = tether_charge(ctx, npages, true);
		if (ret)
			goto err_slot;
		ret = -ENOMEM;
		r->pages = kvmalloc_array(npages, sizeof(*r->pages), GFP_KERNEL_ACCOUNT);
		if (!r->pages)
			goto err_uncharge;
	}

	spin_lock(&ctx->lock);
	r->generation = ++ctx->next_gen;
	spin_unlock(&ctx->lock);
	/*
	 * Reserve the handle, reply, and only then make the range live and
	 * store it: no event, release or validity word can name a handle
	 * before the caller holds it, and a reply that cannot be written
	 * has nothing to undo but the reservation. (On a later failure the
	 * reply's fields name a range that never existed.)
	 */
	ret = xa_reserve(&ctx->regions, r->handle, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_pages;
	cmd->handle = r->handle;
	cmd->generation = r->generation;
	cmd->slot = r->slot;
	ret = tether_respond(ucmd, sizeof(*cmd));
	if (ret)
		goto err_reserved;
	ret = mmu_interval_notifier_insert(&r->notifier, ctx->mm, start,
					   end - start, &tether_region_ops);
	if (ret)
		goto err_reserved;
	ret = tether_region_activate(r);
	if (ret) {
		mmu_interval_notifier_remove(&r->notifier);
		goto err_reserved;
	}
	/*
	 * Into the reserved slot, which allocates nothing, unless another
	 * thread released the handle it read from the reply meanwhile (that
	 * got ENOENT and dropped the reservation): then this may allocate.
	 */
	ret = xa_err(xa_store(&ctx->regions, r->handle, r, GFP_KERNEL_ACCOUNT));
	if (ret) {
		tether_region_destroy(r);
		return ret;
	}
	atomic64_inc(&ctx->secured);
	return 0;

err_reserved:
	xa_release(&ctx->regions, r->handle);
err_pages:
	tether_unpin(r);
	kvfree(r->pages);
err_uncharge:
	if (cmd->flags & TETHER_SECURE_PIN)
		tether_uncharge(ctx, npages, true);
err_slot:
	ida_free(&ctx->slots, slot);
err_free:
	kfree(r);
err_count:
	atomic64_dec(&ctx->nr_regions);
	return ret;
}

static int tether_unsecure(struct tether_ctx *ctx, u64 handle)
{
	struct tether_region *r;

	r = xa_erase(&ctx->regions, handle);
	if (!r)
		return -ENOENT;
	tether_region_destroy(r);
	atomic64_inc(&ctx->released);
	return 0;
}

int tether_ioctl_release(struct tether_ucmd *ucmd)
{
	struct tether_cmd_release *cmd = ucmd->cmd;

	if (cmd->flags)
		return -EINVAL;
	return tether_unsecure(ucmd->ctx, cmd->handle);
}

int tether_ioctl_release_batch(struct tether_ucmd *ucmd)
{
	struct tether_cmd_release_batch *cmd = ucmd->cmd;
	u64 __user *uhandles = u64_to_user_ptr(cmd->handles);
	int ret = 0, err;
	u64 handle;

	if (cmd->flags || !cmd->count || cmd->count > TETHER_RELEASE_BATCH_MAX)
		return -EINVAL;
	for (cmd->done = 0; cmd->done < cmd->count; cmd->done++) {
		if (get_user(handle, uhandles + cmd->done)) {
			ret = -EFAULT;
			break;
		}
		ret = tether_unsecure(ucmd->ctx, handle);
		if (ret)
			break;
		if (fatal_signal_pending(current)) {
			cmd->done++;
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	err = tether_respond(ucmd, sizeof(*cmd));
	return ret ?: err;
}

/*
 * The owner's address space went away (exit, exec) while the file stays
 * open somewhere (a forked child, a socket peer, or just not closed yet).
 * Nobody can use the ranges or requests any more (EPERM): unsecure and
 * cancel them now rather than when the last holder closes the file.
 */
void tether_exit_work(struct work_struct *work)
{
	struct tether_ctx *ctx = container_of(work, struct tether_ctx,
					      exit_work);

	tether_requests_cancel_all(ctx);
	tether_unsecure_all(ctx);
}

/* Release every range (the owner's mm exited, or the file is closed). */
void tether_unsecure_all(struct tether_ctx *ctx)
{
	struct tether_region *r;
	unsigned long handle;

	xa_for_each(&ctx->regions, handle, r) {
		xa_erase(&ctx->regions, handle);
		tether_region_destroy(r);
		atomic64_inc(&ctx->released);
		cond_resched();
	}
}
