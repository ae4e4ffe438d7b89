// SPDX-License-Identifier: GPL-2.0
/*
 * tether: requests that probe and lock a user output buffer for write, the
 * worker that completes them, and their ioctls.
 */

/**
 * DOC: Probe and lock
 *
 * TETHER_IOC_REQUEST_SUBMIT runs in the submitting thread, in its address
 * space, and pins every page of the output buffer with pin_user_pages_fast()
 * and FOLL_WRITE before anything is written. FOLL_WRITE is the probe: the
 * pin fails on a page that is not mapped, is mapped without write access or
 * is a PFN/I/O mapping, and it breaks copy-on-write so the pages pinned are
 * the ones the process will read. The pin is all or nothing: a failure at
 * any page unpins what was pinned and the call fails, with nothing written.
 *
 * Which pin (Documentation/core-api/pin_user_pages.rst): the module writes
 * to the data of the pages (case 5, so FOLL_PIN and not FOLL_GET) for the
 * duration of one I/O request, exactly like direct I/O (case 1, see
 * iov_iter_extract_pages()). Synchronous requests unpin before the ioctl
 * returns and asynchronous ones as soon as the worker has written them, so
 * these pins are short-term: no FOLL_LONGTERM, which means they work on any
 * writable mapping direct I/O accepts (shared file mappings too) and do not
 * migrate pages out of ZONE_MOVABLE or CMA. A held request
 * (TETHER_REQUEST_HOLD) is different: it stays locked until userspace
 * completes it, for as long as userspace likes, which is a long-term pin in
 * that document's sense (case 2, like RDMA). Held requests therefore pin
 * with FOLL_LONGTERM, so the pages are moved out of movable zones first and
 * file mappings that need dirty tracking are refused (EOPNOTSUPP on every
 * kernel, see tether_pin_pages()).
 *
 * Every request pin, short-term or not, synchronous or not, is charged to
 * the owner's mm->pinned_vm against RLIMIT_MEMLOCK (unless CAP_IPC_LOCK),
 * exactly as SECURE|PIN ranges are (region.c) and as io_uring and iommufd
 * charge their pins: an asynchronous request's pages stay locked for as
 * long as its source takes, which the submitter controls, so unlike O_DIRECT
 * the pin is not bounded by the kernel. Going over the limit fails the
 * submit with -ENOMEM, nothing pinned. Every request pin also counts
 * towards the context's max_pinned_pages and its own max_req_pages.
 *
 * The data is written only through the pinned pages (kmap_local_page() in
 * the source's read()), never through the user address, from the submitter
 * or from a kernel worker that has no mm at all. If the process unmaps or
 * remaps the buffer meanwhile, the write lands in the pinned pages, which
 * stay allocated until the unpin, and is lost with them. Completion unpins
 * with unpin_user_pages_dirty_lock(), marking the pages dirty if anything was
 * written (the _lock variant because they may be file pages).
 */

/**
 * DOC: Request life
 *
 * An asynchronous request is HELD (TETHER_REQUEST_HOLD) or QUEUED on
 * ctx->req_queue; TETHER_IOC_REQUEST_COMPLETE moves a HELD one to QUEUED
 * (status 0) or ends it (an error). The per-context worker takes QUEUED
 * requests in order, makes them RUNNING, writes them and completes them.
 * Cancelling a HELD or QUEUED request ends it at once; cancelling a RUNNING
 * one sets ->cancel, which the worker checks before each page and which
 * turns the final status into -ECANCELED, and wakes the worker if it waits
 * for a detached read (below), so a cancel always ends the request within
 * a page's copy, whatever its source does. Ending a request (ENDING, or
 * RUNNING in the worker) releases its pages first, then makes it DONE,
 * queues its event and wakes waiters: a DONE request holds no pages.
 * TETHER_IOC_REQUEST_WAIT removes a DONE request from ctx->requests and
 * frees it. Every state change happens under ctx->lock; whoever moves a
 * request out of HELD/QUEUED/RUNNING is the only one that touches its pages,
 * and only a DONE request is ever freed before the file is closed.
 */

/**
 * DOC: Blocking sources
 *
 * A source marked may_block (a section on a disk, network or FUSE file
 * system, see source.c) can make a read wait without bound: a FUSE daemon
 * that never answers keeps the reading thread in the file system forever,
 * and a kernel worker cannot be sent a signal to end the wait. The worker
 * therefore never reads such a source itself. It hands each piece (up to
 * TETHER_READ_CHUNK bytes) to a detached reader, struct tether_read: a
 * work item on tether_read_wq that reads into its own kernel buffer, with
 * the submitter's credentials and its own hold on the source, and that
 * pins, charges and references nothing of the request or of the context.
 * The worker waits for it (ctx->req_read) in TASK_IDLE until it finishes,
 * the request is cancelled or the file is closing, and only then copies
 * the buffer into the pinned pages, checking ->cancel before each page.
 *
 * A cancel during the read ends the request at once (its pages unpinned,
 * its charges returned, -ECANCELED); the worker then waits for that reader
 * before it starts the context's next request, so a context never has more
 * than one reader, and its requests keep their order. Close abandons the
 * reader: the worker drops its reference and returns, and the reader
 * finishes on its own whenever the file system answers (or its connection
 * is aborted, as when a FUSE daemon exits), then frees itself. It holds a
 * module reference meanwhile, so the module cannot be unloaded (EBUSY)
 * under it.
 *
 * Each context has its own work item on an unbound workqueue with a high
 * max_active, so a context whose source blocks holds one worker (and one
 * reader) and no one else's: other contexts' requests keep running.
 */

/**
 * DOC: Closing
 *
 * When the file is closed no ioctl can run any more. tether_requests_close()
 * sets ctx->req_closing and empties the queue under ctx->lock, so the worker
 * starts nothing new and stops the request it is writing at its next page
 * (completing it with -ECANCELED), or at once if it waits for a detached
 * read; cancel_work_sync() then waits for it, which never takes longer than
 * a page's copy. After that no one else can touch a request, and every one
 * left is freed, unpinning what it still holds. A request never outlives
 * its context, and the worker never runs after the last file is closed; a
 * reader may, but holds the module.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/err.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "tether_kmod.h"

/* runs the transfers of asynchronous requests, for every context */
static struct workqueue_struct *tether_req_wq;
/* runs the detached reads of sources that may block */
static struct workqueue_struct *tether_read_wq;

/* the most a detached reader reads at once */
#define TETHER_READ_CHUNK (16 * PAGE_SIZE)

/* A detached read of a blocking source (see "Blocking sources"). */
struct tether_read {
	struct work_struct work;
	/* the reader's and, until it lets go, the worker's */
	refcount_t refs;
	/* woken when @done is set */
	wait_queue_head_t wq;
	/* its own hold on the request's source */
	struct tether_source src;
	/* the submitter's, worn for the read */
	const struct cred *cred;
	u64 pos;
	size_t len;
	/* @len bytes of kernel memory, the reader's own */
	void *buf;
	/* 0 or the read's errno, and the bytes read; valid once @done */
	int result;
	size_t nread;
	/* set by the reader with release semantics once @result is final */
	bool done;
};

/* Where a request is in its life (see "Request life"). */
enum tether_req_state {
	TETHER_REQ_HELD,
	TETHER_REQ_QUEUED,
	TETHER_REQ_RUNNING,
	TETHER_REQ_ENDING,
	TETHER_REQ_DONE,
};

/* One request: its locked output buffer, its source and its state. */
struct tether_request {
	struct tether_ctx *ctx;
	u64 id;
	u64 cookie;
	/* the submitting process (thread group leader's pid) */
	struct pid *owner;
	/* the submitter's credentials: the worker reads the source with them */
	const struct cred *cred;
	struct tether_source src;
	u64 src_off;
	/* the user buffer, as given */
	unsigned long addr;
	size_t length;
	/* its pages, pinned for write: pages[0..npinned) of npages */
	struct page **pages;
	unsigned long npages;
	unsigned long npinned;
	/* npages are charged to the limits */
	bool charged;
	/* FOLL_LONGTERM pins, charged to RLIMIT_MEMLOCK too (held requests) */
	bool longterm;
	/* something may have been written: unpin dirty */
	bool written;
	/* on ctx->req_queue while QUEUED; under ctx->lock */
	struct list_head node;
	/* under ctx->lock */
	enum tether_req_state state;
	/* cancel asked while RUNNING; set under ctx->lock, read by the worker */
	bool cancel;
	/* the completion status, once DONE */
	int status;
};

static void tether_request_unpin(struct tether_request *req)
{
	if (!req->npinned)
		return;
	unpin_user_pages_dirty_lock(req->pages, req->npinned, req->written);
	req->npinned = 0;
}

/* Unpin the buffer and give back its charges. May sleep. */
static void tether_request_drop_pages(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;

	tether_request_unpin(req);
	kvfree(req->pages);
	req->pages = NULL;
	if (req->charged) {
		tether_uncharge(ctx, req->npages, true);
		atomic64_sub(req->npages, &ctx->req_pages);
		req->charged = false;
	}
}

/* Free a request no one else can reach any more. May sleep. */
static void tether_request_free(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;

	tether_request_drop_pages(req);
	tether_source_put(&req->src);
	put_pid(req->owner);
	if (req->cred)
		put_cred(req->cred);
	kfree(req);
	atomic64_dec(&ctx->nr_requests);
}

/* Charge the buffer's pages to the request limit and the pin limits. */
static int tether_request_charge(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;
	int ret;

	/*
	 * Check before adding (tether_add_within()): a buffer that cannot
	 * fit fails without reserving anything that would make a concurrent
	 * request that fits fail.
	 */
	if (req->npages > ctx->max_req_pages)
		return -ENOMEM;
	ret = tether_charge(ctx, req->npages, true);
	if (ret)
		return ret;
	if (!tether_add_within(&ctx->req_pages, req->npages, ctx->max_req_pages)) {
		tether_uncharge(ctx, req->npages, true);
		return -ENOMEM;
	}
	req->charged = true;
	return 0;
}

/*
 * Probe and lock: pin every page of the buffer for write, or none. Runs in
 * the submitter's context (pin_user_pages_fast() works on current->mm).
 */
static int tether_request_lock(struct tether_request *req)
{
	unsigned int gup_flags = FOLL_WRITE;
	int ret;

	if (req->longterm)
		gup_flags |= FOLL_LONGTERM;
	ret = tether_pin_pages(req->addr & PAGE_MASK, req->npages, gup_flags,
			       req->pages, &req->npinned);
	if (!ret)
		return 0;
	/*
	 * a hole, no write access, PFN/I/O map, poison: EFAULT; a held
	 * request's file mapping that needs dirty tracking: EOPNOTSUPP
	 */
	if (ret != -ENOMEM && ret != -EINTR && ret != -EOPNOTSUPP)
		ret = -EFAULT;
	tether_request_unpin(req);
	return ret;
}

/* Must the transfer stop? Synchronous: a fatal signal; else cancel or close. */
static int tether_request_stopped(struct tether_request *req, bool sync)
{
	if (sync)
		return fatal_signal_pending(current) ? -EINTR : 0;
	if (READ_ONCE(req->cancel) || READ_ONCE(req->ctx->req_closing))
		return -ECANCELED;
	return 0;
}

/* Write the source's data into the pinned pages, page by page. */
static int tether_request_fill(struct tether_request *req, bool sync)
{
	unsigned int offset = offset_in_page(req->addr);
	size_t left = req->length;
	u64 pos = req->src_off;
	unsigned long i;
	int ret;

	for (i = 0; i < req->npages; i++) {
		unsigned int n = min_t(size_t, left, PAGE_SIZE - offset);

		ret = tether_request_stopped(req, sync);
		if (ret)
			return ret;
		req->written = true;
		ret = tether_source_read(&req->src, pos, req->pages[i], offset, n);
		if (ret)
			return ret;
		pos += n;
		left -= n;
		offset = 0;
		cond_resched();
	}
	return 0;
}

static void tether_read_put(struct tether_read *rd)
{
	if (!refcount_dec_and_test(&rd->refs))
		return;
	tether_source_put(&rd->src);
	put_cred(rd->cred);
	kvfree(rd->buf);
	kfree(rd);
}

/* The detached reader: may wait as long as the source does. */
static void tether_read_work(struct work_struct *work)
{
	struct tether_read *rd = container_of(work, struct tether_read, work);
	const struct cred *old;
	int ret;

	old = override_creds(rd->cred);
	ret = rd->src.ops->read_buf(&rd->src, rd->pos, rd->buf, rd->len,
				    &rd->nread);
	revert_creds(old);
	rd->result = ret;
	/* pairs with smp_load_acquire() in tether_read_finished() */
	smp_store_release(&rd->done, true);
	wake_up(&rd->wq);
	tether_read_put(rd);
	/* destroy_workqueue() in module exit waits for this function's return */
	module_put(THIS_MODULE);
}

static bool tether_read_finished(struct tether_read *rd)
{
	/* pairs with smp_store_release() in tether_read_work(): @result, @buf */
	return smp_load_acquire(&rd->done);
}

/* Start a detached read of @len bytes of @req's source at @pos. */
static struct tether_read *tether_read_start(struct tether_request *req,
					     u64 pos, size_t len)
{
	struct tether_ctx *ctx = req->ctx;
	struct tether_read *rd;

	rd = kzalloc(sizeof(*rd), GFP_KERNEL);
	if (!rd)
		return NULL;
	rd->buf = kvmalloc(len, GFP_KERNEL);
	if (!rd->buf) {
		kfree(rd);
		return NULL;
	}
	INIT_WORK(&rd->work, tether_read_work);
	/* the reader's and the worker's */
	refcount_set(&rd->refs, 2);
	init_waitqueue_head(&rd->wq);
	tether_source_clone(&rd->src, &req->src);
	rd->cred = get_cred(req->cred);
	rd->pos = pos;
	rd->len = len;
	/* the file is open, so the module is held already */
	__module_get(THIS_MODULE);

	spin_lock(&ctx->lock);
	ctx->req_read = rd;
	spin_unlock(&ctx->lock);
	queue_work(tether_read_wq, &rd->work);
	return rd;
}

/*
 * Wait for the context's reader until it finishes, or @req (if any) is
 * cancelled, or the file is closing. On closing, abandon it. Returns the
 * reader if it finished (the caller still holds it), else NULL.
 */
static struct tether_read *tether_read_wait(struct tether_ctx *ctx,
					    struct tether_request *req)
{
	struct tether_read *rd = ctx->req_read;

	wait_event_idle(rd->wq, tether_read_finished(rd) ||
			READ_ONCE(ctx->req_closing) ||
			(req && READ_ONCE(req->cancel)));
	if (tether_read_finished(rd))
		return rd;
	if (READ_ONCE(ctx->req_closing)) {
		spin_lock(&ctx->lock);
		ctx->req_read = NULL;
		spin_unlock(&ctx->lock);
		tether_read_put(rd);
	}
	return NULL;
}

/* Let go of the context's finished reader. */
static void tether_read_done(struct tether_ctx *ctx, struct tether_read *rd)
{
	spin_lock(&ctx->lock);
	ctx->req_read = NULL;
	spin_unlock(&ctx->lock);
	tether_read_put(rd);
}

/* Wake the worker if it waits for a reader. Under ctx->lock. */
static void tether_read_kick(struct tether_ctx *ctx)
{
	lockdep_assert_held(&ctx->lock);
	if (ctx->req_read)
		wake_up(&ctx->req_read->wq);
}

/* Copy @len bytes of @buf into the pinned pages at byte @at of the buffer. */
static int tether_request_copy(struct tether_request *req, size_t at,
			       const u8 *buf, size_t len)
{
	while (len) {
		size_t off = offset_in_page(req->addr) + at;
		unsigned int o = offset_in_page(off);
		size_t n = min_t(size_t, len, PAGE_SIZE - o);
		int ret;

		ret = tether_request_stopped(req, false);
		if (ret)
			return ret;
		req->written = true;
		memcpy_to_page(req->pages[off >> PAGE_SHIFT], o, buf, n);
		buf += n;
		at += n;
		len -= n;
	}
	return 0;
}

/*
 * Fill an asynchronous request from a source that may block, through
 * detached reads (see "Blocking sources"). A cancel or close during a read
 * returns -ECANCELED at once; the reader then stays ctx->req_read (cancel)
 * or is abandoned (close).
 */
static int tether_request_fill_detached(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;
	struct tether_read *rd;
	size_t at = 0;
	int ret;

	while (at < req->length) {
		size_t len = min_t(size_t, req->length - at, TETHER_READ_CHUNK);

		ret = tether_request_stopped(req, false);
		if (ret)
			return ret;
		if (!tether_read_start(req, req->src_off + at, len))
			return -ENOMEM;
		rd = tether_read_wait(ctx, req);
		if (!rd)
			return -ECANCELED;
		/* what was read before an error is written, as read() does */
		ret = tether_request_copy(req, at, rd->buf, rd->nread);
		if (!ret)
			ret = rd->result;
		tether_read_done(ctx, rd);
		if (ret)
			return ret;
		at += len;
		cond_resched();
	}
	return 0;
}

/* Fill an asynchronous request, in the worker. */
static int tether_request_fill_async(struct tether_request *req)
{
	const struct cred *old;
	int ret;

	if (req->src.may_block)
		return tether_request_fill_detached(req);
	old = override_creds(req->cred);
	ret = tether_request_fill(req, false);
	revert_creds(old);
	return ret;
}

static void tether_request_count(struct tether_ctx *ctx, int status)
{
	if (!status)
		atomic64_inc(&ctx->req_succeeded);
	else if (status == -ECANCELED)
		atomic64_inc(&ctx->req_cancelled);
	else
		atomic64_inc(&ctx->req_failed);
}

/*
 * Complete an asynchronous request: drop its pages, then make it DONE,
 * queue its event and wake whoever waits. The caller moved it to ENDING, or
 * is the worker that made it RUNNING, so no one else touches it until it is
 * DONE; after that it may be freed at any time. May sleep.
 */
static void tether_request_end(struct tether_request *req, int status)
{
	struct tether_ctx *ctx = req->ctx;
	struct tether_event ev;

	tether_request_drop_pages(req);

	spin_lock(&ctx->lock);
	if (req->cancel)
		status = -ECANCELED;
	req->status = status;
	req->state = TETHER_REQ_DONE;
	ev = (struct tether_event) {
		.type = TETHER_EVENT_REQUEST,
		.handle = req->id,
		.cookie = req->cookie,
		.start = req->addr,
		.end = req->addr + req->length,
		.status = status,
	};
	tether_ring_post(ctx, &ev);
	spin_unlock(&ctx->lock);
	/* @req may be gone now */
	tether_request_count(ctx, status);
	wake_up_all(&ctx->req_wq);
	wake_up_interruptible_poll(&ctx->wq, EPOLLIN | EPOLLRDNORM);
}

/* The worker: write and complete the queued requests, oldest first. */
static void tether_request_work(struct work_struct *work)
{
	struct tether_ctx *ctx = container_of(work, struct tether_ctx, req_work);
	struct tether_request *req;

	for (;;) {
		/* a cancelled request's reader: the next one waits for it */
		if (ctx->req_read) {
			struct tether_read *rd = tether_read_wait(ctx, NULL);

			if (!rd)
				return;
			tether_read_done(ctx, rd);
		}
		spin_lock(&ctx->lock);
		req = list_first_entry_or_null(&ctx->req_queue,
					       struct tether_request, node);
		if (req) {
			list_del_init(&req->node);
			req->state = TETHER_REQ_RUNNING;
		}
		spin_unlock(&ctx->lock);
		if (!req)
			return;
		tether_request_end(req, tether_request_fill_async(req));
		cond_resched();
	}
}

/* Make a locked request visible under its id, held or queued. */
static void tether_request_publish(struct tether_request *req, bool hold)
{
	struct tether_ctx *ctx = req->ctx;

	/* the slot is reserved: the store under the spinlock cannot allocate */
	spin_lock(&ctx->lock);
	xa_store(&ctx->requests, req->id, req, GFP_NOWAIT);
	if (hold) {
		req->state = TETHER_REQ_HELD;
	} else {
		req->state = TETHER_REQ_QUEUED;
		list_add_tail(&req->node, &ctx->req_queue);
	}
	spin_unlock(&ctx->lock);
	/* @req may be completed and collected by now: do not touch it */
	if (!hold)
		queue_work(tether_req_wq, &ctx->req_work);
}

int tether_ioctl_request_submit(struct tether_ucmd *ucmd)
{
	struct tether_cmd_request_submit *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	bool async = cmd->flags & TETHER_REQUEST_ASYNC;
	bool hold = cmd->flags & TETHER_REQUEST_HOLD;
	struct tether_request *req;
	struct tether_source src;
	u64 src_end, last;
	int ret;

	if (cmd->flags & ~(TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD) ||
	    (hold && !async) || cmd->__reserved)
		return -EINVAL;
	ret = tether_source_get(&src, cmd->source, cmd->source_fd);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (!cmd->length)
		goto err_src;
	ret = -EINVAL;
	if (check_add_overflow(cmd->source_offset, cmd->length, &src_end) ||
	    src_end > src.size)
		goto err_src;
	if (check_add_overflow(cmd->addr, cmd->length - 1, &last) ||
	    last > ULONG_MAX - PAGE_SIZE)
		goto err_src;
	ret = -EFAULT;
	if (!access_ok(u64_to_user_ptr(cmd->addr), cmd->length))
		goto err_src;

	ret = -ENOSPC;
	if (atomic64_inc_return(&ctx->nr_requests) > ctx->max_requests)
		goto err_count;
	ret = -ENOMEM;
	req = kzalloc(sizeof(*req), GFP_KERNEL_ACCOUNT);
	if (!req)
		goto err_count;
	/* from here on tether_request_free() undoes everything */
	req->ctx = ctx;
	req->src = src;
	req->src_off = cmd->source_offset;
	req->addr = cmd->addr;
	req->length = cmd->length;
	req->cookie = cmd->cookie;
	req->longterm = hold;
	req->npages = (last >> PAGE_SHIFT) - (req->addr >> PAGE_SHIFT) + 1;
	req->owner = get_pid(task_tgid(current));
	req->cred = get_current_cred();
	INIT_LIST_HEAD(&req->node);

	ret = tether_request_charge(req);
	if (ret)
		goto err_free;
	ret = -ENOMEM;
	/* kvmalloc() refuses arrays above INT_MAX bytes */
	if (req->npages > INT_MAX / sizeof(*req->pages))
		goto err_free;
	req->pages = kvmalloc_array(req->npages, sizeof(*req->pages),
				    GFP_KERNEL_ACCOUNT);
	if (!req->pages)
		goto err_free;
	ret = tether_request_lock(req);
	if (ret)
		goto err_free;

	req->id = atomic64_inc_return(&ctx->last_req_id);
	cmd->id = req->id;

	if (!async) {
		/*
		 * The reply (the id) first: when it cannot be written the call
		 * fails with nothing written and nothing counted.
		 */
		ret = tether_respond(ucmd, sizeof(*cmd));
		if (ret)
			goto err_free;
		atomic64_inc(&ctx->req_submitted);
		ret = tether_request_fill(req, true);
		tether_request_drop_pages(req);
		tether_request_count(ctx, ret);
		tether_request_free(req);
		return ret;
	}

	/*
	 * Everything that can fail comes before the request counts as
	 * submitted (a failed submit leaves the stats as they were, though
	 * its id is not handed out again): the slot first, then the id to
	 * the caller, who must learn it before anyone can complete the
	 * request.
	 */
	ret = xa_reserve(&ctx->requests, req->id, GFP_KERNEL_ACCOUNT);
	if (ret)
		goto err_free;
	ret = tether_respond(ucmd, sizeof(*cmd));
	if (ret) {
		xa_release(&ctx->requests, req->id);
		goto err_free;
	}
	atomic64_inc(&ctx->req_submitted);
	tether_request_publish(req, hold);
	return 0;

err_free:
	tether_request_free(req);
	return ret;

err_count:
	atomic64_dec(&ctx->nr_requests);
err_src:
	tether_source_put(&src);
	return ret;
}

/*
 * The request @id of @ctx, if the calling process may act on it. Returns an
 * ERR_PTR: -ENOENT (never issued), -EALREADY (issued, no longer
 * outstanding), -EPERM (another process's).
 */
static struct tether_request *tether_request_find(struct tether_ctx *ctx, u64 id)
{
	struct tether_request *req;

	lockdep_assert_held(&ctx->lock);
	if (!id || id > (u64)atomic64_read(&ctx->last_req_id))
		return ERR_PTR(-ENOENT);
	req = xa_load(&ctx->requests, id);
	if (!req)
		return ERR_PTR(-EALREADY);
	if (req->owner != task_tgid(current))
		return ERR_PTR(-EPERM);
	return req;
}

int tether_ioctl_request_complete(struct tether_ucmd *ucmd)
{
	struct tether_cmd_request_complete *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	struct tether_request *req;

	if (cmd->flags || cmd->__reserved || cmd->status > 0 ||
	    cmd->status < -MAX_ERRNO)
		return -EINVAL;
	spin_lock(&ctx->lock);
	req = tether_request_find(ctx, cmd->id);
	if (IS_ERR(req)) {
		spin_unlock(&ctx->lock);
		return PTR_ERR(req);
	}
	if (req->state != TETHER_REQ_HELD) {
		spin_unlock(&ctx->lock);
		return -EALREADY;
	}
	if (!cmd->status) {
		req->state = TETHER_REQ_QUEUED;
		list_add_tail(&req->node, &ctx->req_queue);
		spin_unlock(&ctx->lock);
		queue_work(tether_req_wq, &ctx->req_work);
		return 0;
	}
	req->state = TETHER_REQ_ENDING;
	spin_unlock(&ctx->lock);
	tether_request_end(req, cmd->status);
	return 0;
}

/*
 * Cancel @req. Called with ctx->lock held; drops it. A held or queued
 * request completes now with -ECANCELED; a running one stops at its next
 * page. Returns 0, or -EALREADY when it is complete or already cancelled.
 */
static int tether_request_cancel_unlock(struct tether_ctx *ctx,
					struct tether_request *req)
	__releases(&ctx->lock)
{
	switch (req->state) {
	case TETHER_REQ_HELD:
	case TETHER_REQ_QUEUED:
		list_del_init(&req->node);
		req->state = TETHER_REQ_ENDING;
		spin_unlock(&ctx->lock);
		tether_request_end(req, -ECANCELED);
		return 0;
	case TETHER_REQ_RUNNING:
		if (!req->cancel) {
			WRITE_ONCE(req->cancel, true);
			tether_read_kick(ctx);
			spin_unlock(&ctx->lock);
			return 0;
		}
		fallthrough;
	default:
		spin_unlock(&ctx->lock);
		return -EALREADY;
	}
}

int tether_ioctl_request_cancel(struct tether_ucmd *ucmd)
{
	struct tether_cmd_request_cancel *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	struct tether_request *req;

	if (cmd->flags)
		return -EINVAL;
	spin_lock(&ctx->lock);
	req = tether_request_find(ctx, cmd->id);
	if (IS_ERR(req)) {
		spin_unlock(&ctx->lock);
		return PTR_ERR(req);
	}
	return tether_request_cancel_unlock(ctx, req);
}

/* Is request @id complete, or gone? */
static bool tether_request_settled(struct tether_ctx *ctx, u64 id)
{
	struct tether_request *req;
	bool settled;

	spin_lock(&ctx->lock);
	req = xa_load(&ctx->requests, id);
	settled = !req || req->state == TETHER_REQ_DONE;
	spin_unlock(&ctx->lock);
	return settled;
}

int tether_ioctl_request_wait(struct tether_ucmd *ucmd)
{
	struct tether_cmd_request_wait *cmd = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	struct tether_request *req;
	long timeout, left;
	int ret;

	if (cmd->flags)
		return -EINVAL;
	spin_lock(&ctx->lock);
	req = tether_request_find(ctx, cmd->id);
	spin_unlock(&ctx->lock);
	if (IS_ERR(req))
		return PTR_ERR(req);
	/* @req is not ours until it is taken out of the table below */
	if (cmd->timeout_ms) {
		timeout = msecs_to_jiffies(cmd->timeout_ms);
		left = wait_event_interruptible_timeout(ctx->req_wq,
							tether_request_settled(ctx, cmd->id),
							timeout);
		if (left < 0)
			return -EINTR;
	}
	for (;;) {
		spin_lock(&ctx->lock);
		req = tether_request_find(ctx, cmd->id);
		if (IS_ERR(req)) {
			/* another thread collected it meanwhile */
			spin_unlock(&ctx->lock);
			return PTR_ERR(req);
		}
		if (req->state != TETHER_REQ_DONE) {
			spin_unlock(&ctx->lock);
			return -ETIMEDOUT;
		}
		/*
		 * The status reaches userspace before the request is taken
		 * out: a reply that cannot be written leaves it for a retry.
		 */
		cmd->status = req->status;
		if (!tether_respond_nofault(ucmd, sizeof(*cmd)))
			break;
		spin_unlock(&ctx->lock);
		ret = tether_respond_fault_in(ucmd, sizeof(*cmd));
		if (ret)
			return ret;
	}
	xa_erase(&ctx->requests, cmd->id);
	spin_unlock(&ctx->lock);
	tether_request_free(req);
	return 0;
}

void tether_requests_init(struct tether_ctx *ctx, u32 max_requests,
			  u64 max_pages)
{
	xa_init(&ctx->requests);
	INIT_LIST_HEAD(&ctx->req_queue);
	INIT_WORK(&ctx->req_work, tether_request_work);
	init_waitqueue_head(&ctx->req_wq);
	ctx->max_requests = max_requests;
	ctx->max_req_pages = max_pages;
}

/*
 * Cancel every outstanding request, from the exit work once the owner's
 * mm has exited; the file may stay open. Only this work and closing the file
 * (which cancels the work first) remove requests then, so each @req stays
 * valid here. Completed ones wait, holding no pages, for close. May sleep.
 */
void tether_requests_cancel_all(struct tether_ctx *ctx)
{
	struct tether_request *req;
	unsigned long id;

	xa_for_each(&ctx->requests, id, req) {
		spin_lock(&ctx->lock);
		tether_request_cancel_unlock(ctx, req);
		cond_resched();
	}
}

/* Cancel and free every request (the file is being closed). May sleep. */
void tether_requests_close(struct tether_ctx *ctx)
{
	struct tether_request *req, *next;
	unsigned long id;

	spin_lock(&ctx->lock);
	WRITE_ONCE(ctx->req_closing, true);
	list_for_each_entry_safe(req, next, &ctx->req_queue, node)
		list_del_init(&req->node);
	tether_read_kick(ctx);
	spin_unlock(&ctx->lock);
	/*
	 * The request being written stops at its next page, or at once if
	 * it waits for a reader, which the worker then abandons.
	 */
	cancel_work_sync(&ctx->req_work);
	WARN_ON_ONCE(ctx->req_read);

	xa_for_each(&ctx->requests, id, req) {
		xa_erase(&ctx->requests, id);
		tether_request_free(req);
		cond_resched();
	}
	xa_destroy(&ctx->requests);
}

int tether_request_module_init(void)
{
	/*
	 * One work item per context; unbound with the highest max_active so
	 * a context that waits for its source does not hold up the others.
	 */
	tether_req_wq = alloc_workqueue("tether_req", WQ_UNBOUND,
					WQ_UNBOUND_MAX_ACTIVE);
	if (!tether_req_wq)
		return -ENOMEM;
	tether_read_wq = alloc_workqueue("tether_read", WQ_UNBOUND,
					 WQ_UNBOUND_MAX_ACTIVE);
	if (!tether_read_wq) {
		destroy_workqueue(tether_req_wq);
		return -ENOMEM;
	}
	return 0;
}

void tether_request_module_exit(void)
{
	/* a reader holds the module, so none is left by now */
	destroy_workqueue(tether_read_wq);
	destroy_workqueue(tether_req_wq);
}
