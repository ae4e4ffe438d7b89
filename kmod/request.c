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
 * writable mapping direct I/O accepts (shared file mappings too), do not
 * migrate pages out of ZONE_MOVABLE or CMA, and, like O_DIRECT, are not
 * charged to RLIMIT_MEMLOCK. A held request (TETHER_REQUEST_HOLD) is
 * different: it stays locked until userspace completes it, for as long as
 * userspace likes, which is a long-term pin in that document's sense (case
 * 2, like RDMA). Held requests therefore pin with FOLL_LONGTERM, so the pages
 * are moved out of movable zones first and file mappings that need dirty
 * tracking are refused (EOPNOTSUPP on every kernel, see tether_pin_pages()),
 * and are charged to RLIMIT_MEMLOCK like ibv_reg_mr().
 * Every request pin counts towards the context's max_pinned_pages and its
 * own max_req_pages.
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
 * turns the final status into -ECANCELED. Ending a request (ENDING, or
 * RUNNING in the worker) releases its pages first, then makes it DONE,
 * queues its event and wakes waiters: a DONE request holds no pages.
 * TETHER_IOC_REQUEST_WAIT removes a DONE request from ctx->requests and
 * frees it. Every state change happens under ctx->lock; whoever moves a
 * request out of HELD/QUEUED/RUNNING is the only one that touches its pages,
 * and only a DONE request is ever freed before the file is closed.
 */

/**
 * DOC: Closing
 *
 * When the file is closed no ioctl can run any more. tether_requests_close()
 * sets ctx->req_closing and empties the queue under ctx->lock, so the worker
 * starts nothing new and stops the request it is writing at its next page
 * (completing it with -ECANCELED); cancel_work_sync() then waits for it.
 * After that no one else can touch a request, and every one left is freed,
 * unpinning what it still holds. A request never outlives its context, and
 * the worker never runs after the last file is closed, so the module can be
 * unloaded.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "tether_private.h"

/* runs the transfers of asynchronous requests, for every context */
static struct workqueue_struct *tether_req_wq;

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
static void tether_request_release_pages(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;

	tether_request_unpin(req);
	kvfree(req->pages);
	req->pages = NULL;
	if (req->charged) {
		tether_uncharge(ctx, req->npages, req->longterm);
		atomic64_sub(req->npages, &ctx->req_pages);
		req->charged = false;
	}
}

/* Free a request no one else can reach any more. May sleep. */
static void tether_request_free(struct tether_request *req)
{
	struct tether_ctx *ctx = req->ctx;

	tether_request_release_pages(req);
	tether_source_put(&req->src);
	put_pid(req->owner);
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
	ret = tether_charge(ctx, req->npages, req->longterm);
	if (ret)
		return ret;
	if (!tether_add_within(&ctx->req_pages, req->npages, ctx->max_req_pages)) {
		tether_uncharge(ctx, req->npages, req->longterm);
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
		ret = req->src.ops->read(&req->src, pos, req->pages[i], offset, n);
		if (ret)
			return ret;
		pos += n;
		left -= n;
		offset = 0;
		cond_resched();
	}
	return 0;
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
 * Complete an asynchronous request: release its pages, then make it DONE,
 * queue its event and wake whoever waits. The caller moved it to ENDING, or
 * is the worker that made it RUNNING, so no one else touches it until it is
 * DONE; after that it may be freed at any time. May sleep.
 */
static void tether_request_end(struct tether_request *req, int status)
{
	struct tether_ctx *ctx = req->ctx;
	struct tether_event ev;

	tether_request_release_pages(req);

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
		tether_request_end(req, tether_request_fill(req, false));
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

int tether_request_submit(struct tether_ucmd *ucmd)
{
	struct tether_request_submit *cmd = ucmd->cmd;
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
		tether_request_release_pages(req);
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

int tether_request_complete(struct tether_ucmd *ucmd)
{
	struct tether_request_complete *cmd = ucmd->cmd;
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
			spin_unlock(&ctx->lock);
			return 0;
		}
		fallthrough;
	default:
		spin_unlock(&ctx->lock);
		return -EALREADY;
	}
}

int tether_request_cancel(struct tether_ucmd *ucmd)
{
	struct tether_request_cancel *cmd = ucmd->cmd;
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

int tether_request_wait(struct tether_ucmd *ucmd)
{
	struct tether_request_wait *cmd = ucmd->cmd;
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
 * Cancel every outstanding request, from the release work once the owner's
 * mm has exited; the file may stay open. Only this work and file release
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
	spin_unlock(&ctx->lock);
	/* the request being written stops at its next page */
	cancel_work_sync(&ctx->req_work);

	xa_for_each(&ctx->requests, id, req) {
		xa_erase(&ctx->requests, id);
		tether_request_free(req);
		cond_resched();
	}
	xa_destroy(&ctx->requests);
}

int tether_request_module_init(void)
{
	tether_req_wq = alloc_workqueue("tether_req", WQ_UNBOUND, 0);
	return tether_req_wq ? 0 : -ENOMEM;
}

void tether_request_module_exit(void)
{
	destroy_workqueue(tether_req_wq);
}
