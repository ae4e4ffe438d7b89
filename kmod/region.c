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

static struct kmem_cache *tether_region_cache;
static struct kmem_cache *tether_pinned_cache;

static unsigned long tether_region_start(const struct tether_region *r)
{
	return r->notifier.interval_tree.start;
}

static unsigned long tether_region_end(const struct tether_region *r)
{
	return r->notifier.interval_tree.last + 1;
}

static unsigned long tether_region_npages(const struct tether_region *r)
{
	return (tether_region_end(r) - tether_region_start(r)) >> PAGE_SHIFT;
}

static u32 tether_region_slot(const struct tether_region *r)
{
	return r->handle >> TETHER_SEQ_BITS;
}

/*
 * The page array of a range secured with TETHER_SECURE_PIN, else NULL: a
 * one-page range (the common registration) keeps its page in the range
 * itself, which saves a kmalloc and a kfree per secure and release.
 */
static struct page **tether_region_pages(struct tether_region *r)
{
	struct tether_pinned_region *pr;

	if (!(r->flags & TETHER_SECURE_PIN))
		return NULL;
	pr = container_of(r, struct tether_pinned_region, r);
	return tether_region_npages(r) == 1 ? &pr->page : pr->pages;
}

/* Free the page array of a pinned range, if it has one of its own. */
static void tether_region_pages_free(struct tether_region *r)
{
	if (tether_region_npages(r) > 1)
		kvfree(tether_region_pages(r));
}

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
	unsigned long start = max(range->start, tether_region_start(r));
	unsigned long end = min(range->end, tether_region_end(r));
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
			WRITE_ONCE(ctx->ring.validity[tether_region_slot(r)], 0);
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
		wake_up_interruptible_poll(&ctx->ring.wq, EPOLLIN | EPOLLRDNORM);
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
	if (!r->pinned)
		return;
	unpin_user_pages_dirty_lock(tether_region_pages(r),
				    tether_region_npages(r),
				    r->flags & TETHER_SECURE_WRITE);
	r->pinned = false;
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
	unsigned int gup_flags = FOLL_LONGTERM;
	struct page **pages = tether_region_pages(r);
	unsigned long npinned = 0;
	int ret;

	if (r->flags & TETHER_SECURE_WRITE)
		gup_flags |= FOLL_WRITE;
	ret = tether_pin_pages(tether_region_start(r), tether_region_npages(r),
			       gup_flags, pages, &npinned);
	if (ret) {
		if (npinned)
			unpin_user_pages(pages, npinned);
		return ret;
	}
	r->pinned = true;
	return 0;
}

/* Without pinning: every page must be mapped with the access asked for. */
static int tether_check_mapped(struct tether_region *r)
{
	bool ok;

	if (mmap_read_lock_killable(r->ctx->mm))
		return -EINTR;
	ok = tether_vmas_grant(r->ctx->mm, tether_region_start(r),
			       tether_region_end(r), tether_need(r));
	mmap_read_unlock(r->ctx->mm);
	return ok ? 0 : -EFAULT;
}

/**
 * DOC: The slot table
 *
 * A context's ranges are found by handle in a flat table, one entry per
 * word of the validity table: entry i holds the range whose validity word
 * is word i. The table starts at TETHER_SLOTS_MIN entries (a small kmalloc
 * at open) and doubles, up to max_regions, when a secure finds every entry
 * taken, so a context pays for the slots it has used, not for the limit
 * (a table of max_regions entries at every open was a vmalloc per context:
 * 128 KiB by default). A handle is (slot << 44) | seq,
 * seq counting the context's secures from 1, so it names its slot and a
 * release is one indexed load and one compare of the handle stored in the
 * range, under ctx->slots_lock. Free slots form a list threaded through
 * the table and the most recently freed one is reused first; the handle of
 * a reused slot differs from every earlier one in its seq, so handles are
 * never reused in a context and a stale handle finds a range with another
 * handle, or none, and gets ENOENT. Securing and releasing allocate and
 * free nothing but the range itself (from its own kmem_cache) and, when
 * pinning more than one page, its page array.
 */

/* Is table entry @e a range (not a held or a free slot)? */
static struct tether_region *tether_slot_region(unsigned long e)
{
	return e && !(e & 1) ? (struct tether_region *)e : NULL;
}

/**
 * tether_slots_init() - set up a context's slot table
 * @ctx: the context, its max_regions set
 *
 * Return: 0, or -ENOMEM.
 */
int tether_slots_init(struct tether_ctx *ctx)
{
	ctx->slots_cap = min_t(u32, TETHER_SLOTS_MIN, ctx->max_regions);
	ctx->slot_map = kvcalloc(ctx->slots_cap, sizeof(*ctx->slot_map),
				 GFP_KERNEL_ACCOUNT);
	if (!ctx->slot_map)
		return -ENOMEM;
	spin_lock_init(&ctx->slots_lock);
	ctx->free_slot = TETHER_NO_SLOT;
	ctx->slots_used = 0;
	ctx->next_seq = 1;
	return 0;
}

/*
 * Double the slot table (up to max_regions entries), which was full with
 * @cap entries when the caller looked. Allocates outside the lock; another
 * secure may have grown it meanwhile, and then this one frees its copy.
 * Return: 0, or -ENOMEM.
 */
static int tether_slots_grow(struct tether_ctx *ctx, u32 cap)
{
	u32 ncap = min_t(u32, cap * 2, ctx->max_regions);
	unsigned long *map, *old;

	map = kvcalloc(ncap, sizeof(*map), GFP_KERNEL_ACCOUNT);
	if (!map)
		return -ENOMEM;
	spin_lock(&ctx->slots_lock);
	if (ctx->slots_cap == cap) {
		memcpy(map, ctx->slot_map, ctx->slots_used * sizeof(*map));
		old = ctx->slot_map;
		ctx->slot_map = map;
		ctx->slots_cap = ncap;
	} else {
		old = map;
	}
	spin_unlock(&ctx->slots_lock);
	kvfree(old);
	return 0;
}

/* Free the slot table of a context that holds no range any more. */
void tether_slots_free(struct tether_ctx *ctx)
{
	kvfree(ctx->slot_map);
}

/*
 * Hold a slot (its entry 0) for a new range and issue its handle.
 * Return: 0, -ENOSPC when every slot is held or the context has issued
 * its last handle, or -ENOMEM when the table cannot grow.
 */
static int tether_slot_reserve(struct tether_ctx *ctx, u64 *handle)
{
	u32 slot, cap;
	int ret;

again:
	ret = 0;
	spin_lock(&ctx->slots_lock);
	if (ctx->next_seq >= BIT_ULL(TETHER_SEQ_BITS)) {
		ret = -ENOSPC;
	} else if (ctx->free_slot != TETHER_NO_SLOT) {
		slot = ctx->free_slot;
		ctx->free_slot = ctx->slot_map[slot] >> 1;
	} else if (ctx->slots_used < ctx->slots_cap) {
		slot = ctx->slots_used++;
	} else if (ctx->slots_cap < ctx->max_regions) {
		ret = -EAGAIN;
	} else {
		ret = -ENOSPC;
	}
	if (!ret) {
		ctx->slot_map[slot] = 0;
		*handle = (u64)slot << TETHER_SEQ_BITS | ctx->next_seq++;
	}
	cap = ctx->slots_cap;
	spin_unlock(&ctx->slots_lock);
	if (ret == -EAGAIN) {
		ret = tether_slots_grow(ctx, cap);
		if (!ret)
			goto again;
	}
	return ret;
}

/* Make a held slot free again, to be reused first. */
static void tether_slot_put(struct tether_ctx *ctx, u32 slot)
{
	spin_lock(&ctx->slots_lock);
	ctx->slot_map[slot] = (unsigned long)ctx->free_slot << 1 | 1;
	ctx->free_slot = slot;
	spin_unlock(&ctx->slots_lock);
}

/* Store a range into the slot its handle names, which it holds. */
static void tether_slot_publish(struct tether_ctx *ctx, struct tether_region *r)
{
	spin_lock(&ctx->slots_lock);
	ctx->slot_map[r->handle >> TETHER_SEQ_BITS] = (unsigned long)r;
	spin_unlock(&ctx->slots_lock);
}

/*
 * Take the range out of @slot, leaving the slot held, if @handle is its
 * handle (any handle, when @handle is 0). A range is freed only after it
 * is taken out, so it can be looked at under the lock.
 */
static struct tether_region *tether_slot_take(struct tether_ctx *ctx, u32 slot,
					      u64 handle)
{
	struct tether_region *r;

	spin_lock(&ctx->slots_lock);
	r = slot < ctx->slots_used ? tether_slot_region(ctx->slot_map[slot]) : NULL;
	if (r && handle && r->handle != handle)
		r = NULL;
	if (r)
		ctx->slot_map[slot] = 0;
	spin_unlock(&ctx->slots_lock);
	return r;
}

static void tether_region_kfree(struct tether_region *r)
{
	if (r->flags & TETHER_SECURE_PIN)
		kmem_cache_free(tether_pinned_cache,
				container_of(r, struct tether_pinned_region, r));
	else
		kmem_cache_free(tether_region_cache, r);
}

/*
 * Tear down a region that no notifier call can reach any more, and free
 * the slot it holds.
 */
static void tether_region_free(struct tether_region *r)
{
	struct tether_ctx *ctx = r->ctx;
	u32 slot = tether_region_slot(r);

	WRITE_ONCE(ctx->ring.validity[slot], 0);
	tether_unpin(r);
	if (r->flags & TETHER_SECURE_PIN) {
		tether_region_pages_free(r);
		tether_uncharge(ctx, tether_region_npages(r), true);
	}
	tether_slot_put(ctx, slot);
	atomic64_dec(&ctx->nr_regions);
	tether_region_kfree(r);
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
		if (r->flags & TETHER_SECURE_PIN)
			ret = tether_pin(r);
		else
			ret = tether_check_mapped(r);
		if (ret)
			return ret;

		spin_lock(&ctx->lock);
		if (!mmu_interval_read_retry(&r->notifier, seq)) {
			r->state = TETHER_REGION_ACTIVE;
			WRITE_ONCE(ctx->ring.validity[tether_region_slot(r)],
				   r->handle);
			spin_unlock(&ctx->lock);
			return 0;
		}
		spin_unlock(&ctx->lock);
		tether_unpin(r);
		atomic64_inc(&ctx->retries);
	}
	return -EAGAIN;
}

/* A zeroed range from the cache its flags call for. */
static struct tether_region *tether_region_alloc(u32 flags)
{
	struct tether_pinned_region *pr;
	struct tether_region *r;

	if (flags & TETHER_SECURE_PIN) {
		pr = kmem_cache_zalloc(tether_pinned_cache, GFP_KERNEL);
		r = pr ? &pr->r : NULL;
	} else {
		r = kmem_cache_zalloc(tether_region_cache, GFP_KERNEL);
	}
	if (r)
		r->flags = flags;
	return r;
}

int tether_ioctl_secure(struct tether_ucmd *ucmd)
{
	struct tether_cmd_secure *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	bool pin = cmd->flags & TETHER_SECURE_PIN;
	unsigned long start, end, last;
	struct page **pages = NULL;
	struct tether_region *r;
	unsigned long npages;
	int ret;

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
	/* kvmalloc() refuses arrays above INT_MAX bytes */
	if (pin && npages > INT_MAX / sizeof(*pages))
		goto err_count;
	r = tether_region_alloc(cmd->flags);
	if (!r)
		goto err_count;
	r->ctx = ctx;
	r->cookie = cmd->cookie;
	r->state = TETHER_REGION_SECURING;

	if (pin) {
		ret = tether_charge(ctx, npages, true);
		if (ret)
			goto err_free;
		ret = -ENOMEM;
		if (npages > 1) {
			pages = kvmalloc_array(npages, sizeof(*pages),
					       GFP_KERNEL_ACCOUNT);
			if (!pages)
				goto err_uncharge;
			container_of(r, struct tether_pinned_region, r)->pages = pages;
		}
	}

	/*
	 * Hold the slot, reply, and only then make the range live and
	 * store it: no event, release or validity word can name a handle
	 * before the caller holds it, and a reply that cannot be written
	 * has nothing to undo but the slot. (On a later failure the reply's
	 * fields name a range that never existed.) A release of the handle
	 * before the range is stored finds the slot held and gets ENOENT.
	 */
	ret = tether_slot_reserve(ctx, &r->handle);
	if (ret)
		goto err_pages;
	cmd->handle = r->handle;
	cmd->generation = r->handle;
	cmd->slot = tether_region_slot(r);
	ret = tether_respond(ucmd, sizeof(*cmd));
	if (ret)
		goto err_slot;
	ret = mmu_interval_notifier_insert(&r->notifier, ctx->mm, start,
					   end - start, &tether_region_ops);
	if (ret)
		goto err_slot;
	ret = tether_region_activate(r);
	if (ret) {
		mmu_interval_notifier_remove(&r->notifier);
		goto err_slot;
	}
	tether_slot_publish(ctx, r);
	atomic64_inc(&ctx->secured);
	return 0;

err_slot:
	tether_slot_put(ctx, tether_region_slot(r));
err_pages:
	kvfree(pages);
err_uncharge:
	if (pin)
		tether_uncharge(ctx, npages, true);
err_free:
	tether_region_kfree(r);
err_count:
	atomic64_dec(&ctx->nr_regions);
	return ret;
}

static int tether_unsecure(struct tether_ctx *ctx, u64 handle)
{
	struct tether_region *r;

	if (!handle || handle >> TETHER_SEQ_BITS >= ctx->max_regions)
		return -ENOENT;
	r = tether_slot_take(ctx, handle >> TETHER_SEQ_BITS, handle);
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
	u32 slot;

	/* nothing secures now: no ioctl from @mm runs, or @mm has exited */
	for (slot = 0; slot < READ_ONCE(ctx->slots_used); slot++) {
		r = tether_slot_take(ctx, slot, 0);
		if (!r)
			continue;
		tether_region_destroy(r);
		atomic64_inc(&ctx->released);
		cond_resched();
	}
}

/* The ranges' caches: objects of their exact size, no kmalloc rounding. */
int tether_region_module_init(void)
{
	tether_region_cache = KMEM_CACHE(tether_region, SLAB_ACCOUNT);
	if (!tether_region_cache)
		return -ENOMEM;
	tether_pinned_cache = KMEM_CACHE(tether_pinned_region, SLAB_ACCOUNT);
	if (!tether_pinned_cache) {
		kmem_cache_destroy(tether_region_cache);
		return -ENOMEM;
	}
	return 0;
}

void tether_region_module_exit(void)
{
	kmem_cache_destroy(tether_pinned_cache);
	kmem_cache_destroy(tether_region_cache);
}
