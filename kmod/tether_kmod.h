/* SPDX-License-Identifier: GPL-2.0 */
/* tether.ko private declarations shared by the module's files. */
#ifndef _TETHER_KMOD_H
#define _TETHER_KMOD_H

#include <linux/atomic.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include <linux/tether.h>

/* Counters kept under tether_ctx.lock (they change in the notifier). */
struct tether_ev_stats {
	u64 invalidated;
	u64 events;
	u64 dropped;
	u64 overflows;
	u64 kept;
	/* invalidations by reason, indexed by TETHER_REASON_* (debugfs) */
	u64 by_reason[TETHER_REASON_OTHER + 1];
};

struct tether_read;

/*
 * The event ring and the validity table of a context (ring.c): one page for
 * the consumer, one read-only area for the rest, both mapped by userspace.
 */
struct tether_ring {
	/*
	 * producer side, under tether_ctx.lock: @prod, @seq, @overflowed,
	 * @dropped_since_overflow and the header's fields
	 */
	u64 prod;
	u64 seq;
	bool overflowed;
	u64 dropped_since_overflow;

	/* serializes read() consumers; taken before mmap_lock (faults) */
	struct mutex read_mutex;
	/* read() and poll() wait here for events */
	wait_queue_head_t wq;

	/* fixed from open to close: */
	struct tether_ring_consumer *consumer;
	struct page **consumer_pages;
	void *shared;
	struct page **shared_pages;
	size_t shared_size;
	struct tether_ring_header *hdr;
	struct tether_event *events;
	/* the validity table: one word per slot, written under tether_ctx.lock */
	u64 *validity;
	u32 entries;
};

/* The requests of a context (request.c). */
struct tether_requests {
	/*
	 * id -> struct tether_request, from submit until collected; its own
	 * lock nests inside tether_ctx.lock
	 */
	struct xarray table;
	/* the last request id issued; ids above it were never issued */
	atomic64_t last_id;
	/* outstanding requests (in @table, or running synchronously) */
	atomic64_t nr;
	/* pages locked by requests now */
	atomic64_t pages;
	atomic64_t submitted;
	atomic64_t succeeded;
	atomic64_t failed;
	atomic64_t cancelled;
	/* limits, fixed at open from the module parameters */
	u32 max;
	u64 max_pages;
	/* requests waiting for the worker, oldest first; under tether_ctx.lock */
	struct list_head queue;
	/* set under tether_ctx.lock when the file is being closed */
	bool closing;
	/* writes queued requests into their pages, one at a time */
	struct work_struct work;
	/* the worker's detached read still running, if any; under tether_ctx.lock */
	struct tether_read *read;
	/* woken when a request completes */
	wait_queue_head_t wq;
};

/*
 * One open of /dev/tether: bound to the opener's mm. Its ranges are here
 * (region.c), its ring in @ring (ring.c), its requests in @reqs (request.c).
 *
 * Locking (outermost first):
 *   mmap_lock of @mm (GUP takes it; the kernel calls the notifier with it
 *   held or with other locks: rmap, migration, exit_mmap) -> @lock
 *   @ring.read_mutex -> (page faults on the read() buffer) -> mmap_lock
 *   @lock -> the @reqs.table xarray's own lock
 * @lock is a spinlock and is the only lock the notifier takes, so the
 * notifier never sleeps, blockable or not, and never needs to fail. Nothing
 * is allocated and no user memory is touched under it.
 * @slots_lock guards the slot table and is taken alone: no other lock is
 * held with it, nothing is allocated and nothing sleeps under it. Limits
 * and the counters that change outside the notifier are atomics.
 * @exit_work and closing the file are the only ones left to touch the
 * slot table and @reqs once @mm has exited (every ioctl from another mm
 * gets EPERM);
 * closing the file cancels @exit_work before it frees anything.
 * Request states and @reqs.queue change only under @lock; pages are
 * unpinned outside it.
 */
struct tether_ctx {
	/* the opener's mm, held with mmgrab() (not mmget()) for the file's life */
	struct mm_struct *mm;
	/* on @mm for the file's life: its ->release queues @exit_work */
	struct mmu_notifier mn;
	pid_t owner_pid;
	char owner_comm[TASK_COMM_LEN];
	/* on tether_ctx_list, under tether_ctx_list_lock (debugfs) */
	struct list_head node;

	/* secured ranges (region.c): */
	/*
	 * The slot table, @slots_cap entries (doubled up to max_regions as
	 * secures need them), one per word of the validity table. Entry i
	 * is a struct tether_region * (low bit 0) while the range in slot i
	 * is secured; 0 while slot i is held by a secure that has not
	 * published its range yet, or by a release that has not finished;
	 * (next << 1) | 1 while slot i is free, next being the next free
	 * slot or TETHER_NO_SLOT. Slots at @slots_used and above were never
	 * handed out.
	 */
	unsigned long *slot_map;
	/* protects @slot_map, @slots_cap, @free_slot, @slots_used, @next_seq */
	spinlock_t slots_lock;
	u32 slots_cap;
	/* the most recently freed slot (reused first), or TETHER_NO_SLOT */
	u32 free_slot;
	u32 slots_used;
	/* the sequence number of the next handle: 1, 2, ... */
	u64 next_seq;
	atomic64_t nr_regions;
	atomic64_t pinned_pages;
	atomic64_t secured;
	atomic64_t released;
	atomic64_t retries;
	/* limits, fixed at open from the module parameters */
	u32 max_regions;
	u64 max_pinned_pages;

	/*
	 * protects: region states, validity table writes, the ring's
	 * producer side, @ev, request states, @reqs.queue, @reqs.closing,
	 * @reqs.read, @exiting
	 */
	spinlock_t lock;
	struct tether_ev_stats ev;

	/* set (under @lock) once @mm is exiting */
	bool exiting;
	/* unsecures every range and cancels every request once @mm exits */
	struct work_struct exit_work;

	struct tether_ring ring;
	struct tether_requests reqs;
};

/* A secured range's life: SECURING until its first valid snapshot, then ACTIVE. */
enum tether_region_state {
	TETHER_REGION_SECURING,
	TETHER_REGION_ACTIVE,
	TETHER_REGION_INVALIDATED,
};

/*
 * Handles: (slot << TETHER_SEQ_BITS) | seq, seq counting the context's
 * secures from 1. No handle is 0 and none repeats in a context (seq never
 * does; a context refuses secures once seq would reach 1 << TETHER_SEQ_BITS),
 * and a handle names its slot, so finding a range takes no search. The
 * handle is also the range's generation (its validity word while valid).
 */
#define TETHER_SLOT_BITS 20
#define TETHER_SEQ_BITS (64 - TETHER_SLOT_BITS)
#define TETHER_MAX_REGIONS BIT(TETHER_SLOT_BITS)
#define TETHER_NO_SLOT U32_MAX
/* the slot table's size at open (entries; it doubles from there) */
#define TETHER_SLOTS_MIN 64

/*
 * One secured range of the owner's address space, from its own kmem_cache
 * (tether_region_cache; with TETHER_SECURE_PIN a struct tether_pinned_region
 * from tether_pinned_cache). Its page-aligned bounds are the notifier's
 * interval (tether_region_start(), tether_region_end()).
 */
struct tether_region {
	struct mmu_interval_notifier notifier;
	struct tether_ctx *ctx;
	u64 handle;
	u64 cookie;
	/* TETHER_SECURE_* */
	u8 flags;
	/* protected by ctx->lock */
	u8 state;
	/* the pages of a tether_pinned_region are pinned */
	bool pinned;
};

struct tether_pinned_region {
	struct tether_region r;
	/*
	 * The range's pages: a one-page range keeps its page here, a longer
	 * one points to a kvmalloc'ed array, one per page (see
	 * tether_region_pages()).
	 */
	union {
		struct page **pages;
		struct page *page;
	};
};

struct tether_source;

/* How a request's data source reads. */
struct tether_source_ops {
	/*
	 * Copy @len bytes from offset @pos of the source into the kernel
	 * buffer @buf, the bytes copied in *@done. Called in the submitter's
	 * context or from a kernel worker (no user mm); may sleep. Returns 0
	 * (all copied) or a negative errno, which becomes the request's
	 * status (-EIO when the source ends early).
	 */
	int (*read_buf)(const struct tether_source *src, u64 pos, void *buf,
			size_t len, size_t *done);
	/* drop what tether_source_get() took (optional); may sleep */
	void (*put)(struct tether_source *src);
};

/* A request's data source, held for the request's life. */
struct tether_source {
	const struct tether_source_ops *ops;
	/* bytes the source holds: a request must lie within [0, size) */
	u64 size;
	/* the source's own state (for a file source: its struct file) */
	void *priv;
	/* a read may wait without bound (not shmem): read detached if async */
	bool may_block;
};

/* One ioctl call in flight: what the dispatcher hands to a handler. */
struct tether_ucmd {
	struct tether_ctx *ctx;
	void __user *ubuffer;
	u32 user_size;
	/* the kernel copy of the argument, at least the op's size */
	void *cmd;
};

/* mmap() offsets of the consumer page and the shared area */
#define TETHER_CONSUMER_OFFSET 0
#define TETHER_SHARED_OFFSET PAGE_SIZE

int tether_respond(struct tether_ucmd *ucmd, size_t cmd_len);
int tether_respond_nofault(struct tether_ucmd *ucmd, size_t cmd_len);
int tether_respond_fault_in(struct tether_ucmd *ucmd, size_t cmd_len);

/* region.c */
int tether_region_module_init(void);
void tether_region_module_exit(void);
int tether_slots_init(struct tether_ctx *ctx);
void tether_slots_free(struct tether_ctx *ctx);
bool tether_add_within(atomic64_t *counter, u64 n, u64 limit);
int tether_charge(struct tether_ctx *ctx, unsigned long npages, bool memlock);
void tether_uncharge(struct tether_ctx *ctx, unsigned long npages, bool memlock);
int tether_ioctl_secure(struct tether_ucmd *ucmd);
int tether_ioctl_release(struct tether_ucmd *ucmd);
int tether_ioctl_release_batch(struct tether_ucmd *ucmd);
void tether_unsecure_all(struct tether_ctx *ctx);
void tether_exit_work(struct work_struct *work);
int tether_pin_pages(unsigned long start, unsigned long npages,
		     unsigned int gup_flags, struct page **pages,
		     unsigned long *npinned);

/* ring.c */
int tether_ring_validity_alloc(struct tether_ctx *ctx, u32 entries,
			       u32 max_regions);
void tether_ring_validity_free(struct tether_ctx *ctx);
void tether_ring_post(struct tether_ctx *ctx, struct tether_event *ev);
ssize_t tether_ring_read(struct tether_ctx *ctx, char __user *buf, size_t len,
			 bool nonblock);
__poll_t tether_ring_poll(struct tether_ctx *ctx, struct file *filp,
			  poll_table *wait);
int tether_ring_mmap(struct tether_ctx *ctx, struct vm_area_struct *vma);
int tether_ioctl_rearm(struct tether_ucmd *ucmd);

/* section.c */
int tether_section_module_init(void);
void tether_section_module_exit(void);
int tether_ioctl_section_create(struct tether_ucmd *ucmd);
int tether_ioctl_section_open(struct tether_ucmd *ucmd);
struct file *tether_section_backing(struct file *filp, u64 *length);

/* request.c */
int tether_ioctl_request_submit(struct tether_ucmd *ucmd);
int tether_ioctl_request_complete(struct tether_ucmd *ucmd);
int tether_ioctl_request_cancel(struct tether_ucmd *ucmd);
int tether_ioctl_request_wait(struct tether_ucmd *ucmd);
void tether_requests_init(struct tether_ctx *ctx, u32 max_requests,
			  u64 max_pages);
void tether_requests_close(struct tether_ctx *ctx);
void tether_requests_cancel_all(struct tether_ctx *ctx);
int tether_request_module_init(void);
void tether_request_module_exit(void);

/* source.c */
int tether_source_get(struct tether_source *src, u32 type, s32 fd);
int tether_source_read(const struct tether_source *src, u64 pos,
		       struct page *page, unsigned int offset, unsigned int len);
void tether_source_clone(struct tether_source *dst,
			 const struct tether_source *src);
void tether_source_put(struct tether_source *src);

/* debugfs.c */
void tether_debugfs_init(void);
void tether_debugfs_exit(void);
extern struct list_head tether_ctx_list;
extern struct mutex tether_ctx_list_lock;

/*
 * Set and clear vma flags in ->mmap. vm_flags_mod() came with 6.3; before,
 * vm_flags was written directly (Kbuild defines TETHER_HAVE_VM_FLAGS_MOD
 * from the kernel's headers).
 */
static inline void tether_vm_flags_mod(struct vm_area_struct *vma,
				       vm_flags_t set, vm_flags_t clear)
{
#ifdef TETHER_HAVE_VM_FLAGS_MOD
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

#endif /* _TETHER_KMOD_H */
