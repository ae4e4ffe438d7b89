// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the /dev/tether misc device, its per-open context and the ioctl
 * dispatcher.
 */

/**
 * DOC: Contexts
 *
 * Each open of /dev/tether creates a context bound to the opener's mm. The
 * mm is held with mmgrab(), which keeps the struct alive but not the address
 * space, so a context never prolongs the life of a process's memory. Every
 * ioctl checks that the caller runs in that mm and fails with -EPERM
 * otherwise (a descriptor inherited across fork or passed over a unix
 * socket), so a context only ever acts on its owner's address space.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/log2.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/nospec.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/tether.h>

#include "tether_kmod.h"

/*
 * Per-context limits, read when a context is opened: changing them affects
 * contexts opened afterwards.
 */
static unsigned int ring_entries = 4096;
static unsigned int max_regions = 16384;
static unsigned int max_pinned_mb = 65536;
static unsigned int max_requests = 4096;
static unsigned int max_request_mb = 256;

static int tether_set_ring_entries(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret;

	ret = kstrtouint(val, 0, &n);
	if (ret)
		return ret;
	if (n < 64 || n > (1U << 20) || !is_power_of_2(n))
		return -EINVAL;
	WRITE_ONCE(ring_entries, n);
	return 0;
}

static const struct kernel_param_ops tether_ring_entries_ops = {
	.set = tether_set_ring_entries,
	.get = param_get_uint,
};

module_param_cb(ring_entries, &tether_ring_entries_ops, &ring_entries, 0644);
MODULE_PARM_DESC(ring_entries,
		 "event ring capacity of each context (power of 2, 64..1048576; default 4096)");

static int tether_set_max_regions(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, TETHER_MAX_REGIONS);
}

static const struct kernel_param_ops tether_max_regions_ops = {
	.set = tether_set_max_regions,
	.get = param_get_uint,
};

module_param_cb(max_regions, &tether_max_regions_ops, &max_regions, 0644);
MODULE_PARM_DESC(max_regions,
		 "ranges one context may hold secured (1..1048576; default 16384)");

static int tether_set_max_pinned_mb(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, UINT_MAX);
}

static const struct kernel_param_ops tether_max_pinned_mb_ops = {
	.set = tether_set_max_pinned_mb,
	.get = param_get_uint,
};

module_param_cb(max_pinned_mb, &tether_max_pinned_mb_ops, &max_pinned_mb, 0644);
MODULE_PARM_DESC(max_pinned_mb,
		 "MiB one context may pin, besides RLIMIT_MEMLOCK (default 65536)");

static int tether_set_max_requests(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 1U << 20);
}

static const struct kernel_param_ops tether_max_requests_ops = {
	.set = tether_set_max_requests,
	.get = param_get_uint,
};

module_param_cb(max_requests, &tether_max_requests_ops, &max_requests, 0644);
MODULE_PARM_DESC(max_requests,
		 "requests one context may have outstanding (1..1048576; default 4096)");

static int tether_set_max_request_mb(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, UINT_MAX);
}

static const struct kernel_param_ops tether_max_request_mb_ops = {
	.set = tether_set_max_request_mb,
	.get = param_get_uint,
};

module_param_cb(max_request_mb, &tether_max_request_mb_ops, &max_request_mb, 0644);
MODULE_PARM_DESC(max_request_mb,
		 "MiB one context's requests may lock at once (default 256)");

static int tether_ioctl_get_info(struct tether_ucmd *ucmd)
{
	struct tether_info *info = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;

	if (info->flags || info->__reserved)
		return -EINVAL;
	info->abi_version = TETHER_ABI_VERSION;
	info->features = TETHER_FEATURE_INFO | TETHER_FEATURE_SECURE |
			 TETHER_FEATURE_SECTION | TETHER_FEATURE_REQUEST;
	info->ring_entries = ctx->ring.entries;
	info->max_regions = ctx->max_regions;
	info->consumer_offset = TETHER_CONSUMER_OFFSET;
	info->shared_offset = TETHER_SHARED_OFFSET;
	info->shared_size = ctx->ring.shared_size;
	info->max_pinned_bytes = ctx->max_pinned_pages << PAGE_SHIFT;
	return tether_respond(ucmd, sizeof(*info));
}

static int tether_ioctl_get_stats(struct tether_ucmd *ucmd)
{
	struct tether_stats *st = ucmd->cmd;
	struct tether_ctx *ctx = ucmd->ctx;
	struct tether_ev_stats ev;

	if (st->flags)
		return -EINVAL;
	spin_lock(&ctx->lock);
	ev = ctx->ev;
	spin_unlock(&ctx->lock);
	st->regions = atomic64_read(&ctx->nr_regions);
	st->pinned_pages = atomic64_read(&ctx->pinned_pages);
	st->secured = atomic64_read(&ctx->secured);
	st->released = atomic64_read(&ctx->released);
	st->retries = atomic64_read(&ctx->retries);
	st->invalidated = ev.invalidated;
	st->events = ev.events;
	st->dropped = ev.dropped;
	st->overflows = ev.overflows;
	st->kept = ev.kept;
	st->requests = atomic64_read(&ctx->reqs.nr);
	st->request_pages = atomic64_read(&ctx->reqs.pages);
	st->requests_submitted = atomic64_read(&ctx->reqs.submitted);
	st->requests_succeeded = atomic64_read(&ctx->reqs.succeeded);
	st->requests_failed = atomic64_read(&ctx->reqs.failed);
	st->requests_cancelled = atomic64_read(&ctx->reqs.cancelled);
	return tether_respond(ucmd, sizeof(*st));
}

/**
 * tether_respond() - copy an ioctl's result back to userspace
 * @ucmd: the call
 * @cmd_len: the kernel's size of the structure
 *
 * Writes min(user size, kernel size) bytes: an older, smaller userspace
 * structure gets the part it knows.
 *
 * Return: 0 or -EFAULT.
 */
int tether_respond(struct tether_ucmd *ucmd, size_t cmd_len)
{
	if (copy_to_user(ucmd->ubuffer, ucmd->cmd,
			 min_t(size_t, ucmd->user_size, cmd_len)))
		return -EFAULT;
	return 0;
}

/**
 * tether_respond_nofault() - tether_respond() under a spinlock
 * @ucmd: the call
 * @cmd_len: the kernel's size of the structure
 *
 * Copies without taking page faults, so a call can write its reply and
 * commit its change under one hold of the lock that guards the change: a
 * reply that cannot be written changes nothing. On -EFAULT the caller
 * drops its lock, calls tether_respond_fault_in() and tries again.
 *
 * Return: 0, or -EFAULT when the reply's pages are not mapped writable now.
 */
int tether_respond_nofault(struct tether_ucmd *ucmd, size_t cmd_len)
{
	size_t len = min_t(size_t, ucmd->user_size, cmd_len);
	unsigned long left;

	if (!access_ok(ucmd->ubuffer, len))
		return -EFAULT;
	pagefault_disable();
	left = __copy_to_user_inatomic(ucmd->ubuffer, ucmd->cmd, len);
	pagefault_enable();
	return left ? -EFAULT : 0;
}

/**
 * tether_respond_fault_in() - make the reply's pages writable, or fail
 * @ucmd: the call
 * @cmd_len: the kernel's size of the structure
 *
 * Faults the reply's pages in for write without writing to them, for a
 * retry of tether_respond_nofault(). May sleep.
 *
 * Return: 0, -EFAULT when the reply cannot be written (not mapped,
 * read-only), or -EINTR on a fatal signal.
 */
int tether_respond_fault_in(struct tether_ucmd *ucmd, size_t cmd_len)
{
	size_t len = min_t(size_t, ucmd->user_size, cmd_len);

	if (fatal_signal_pending(current))
		return -EINTR;
	if (fault_in_safe_writeable(ucmd->ubuffer, len))
		return -EFAULT;
	return 0;
}

/* Every ioctl argument structure; sizes the dispatcher's buffer. */
union tether_ucmd_buffer {
	struct tether_info info;
	struct tether_cmd_secure secure;
	struct tether_cmd_release release;
	struct tether_cmd_release_batch release_batch;
	struct tether_cmd_rearm rearm;
	struct tether_stats stats;
	struct tether_cmd_section_create section_create;
	struct tether_cmd_section_open section_open;
	struct tether_cmd_request_submit request_submit;
	struct tether_cmd_request_complete request_complete;
	struct tether_cmd_request_cancel request_cancel;
	struct tether_cmd_request_wait request_wait;
};

/*
 * One entry of the ioctl table, indexed by TETHER_CMD_* - TETHER_CMD_BASE.
 * Every tether ioctl is _IO(TETHER_TYPE, TETHER_CMD_*): the size travels in
 * the structure.
 */
struct tether_ioctl_op {
	/* the kernel's sizeof() of the argument */
	unsigned int size;
	/*
	 * the smallest size userspace may pass: the end of the first version,
	 * which stays put when fields are appended
	 */
	unsigned int min_size;
	int (*execute)(struct tether_ucmd *ucmd);
};

#define TETHER_IOCTL_OP(_cmd, _fn, _struct, _last)                       \
	[(_cmd) - TETHER_CMD_BASE] = {                                   \
		.size = sizeof(_struct) +                                \
			BUILD_BUG_ON_ZERO(sizeof(union tether_ucmd_buffer) < \
					  sizeof(_struct)),               \
		.min_size = offsetofend(_struct, _last),                 \
		.execute = _fn,                                          \
	}

static const struct tether_ioctl_op tether_ioctl_ops[] = {
	TETHER_IOCTL_OP(TETHER_CMD_GET_INFO, tether_ioctl_get_info,
			struct tether_info, max_pinned_bytes),
	TETHER_IOCTL_OP(TETHER_CMD_SECURE, tether_ioctl_secure,
			struct tether_cmd_secure, __reserved),
	TETHER_IOCTL_OP(TETHER_CMD_RELEASE, tether_ioctl_release,
			struct tether_cmd_release, handle),
	TETHER_IOCTL_OP(TETHER_CMD_RELEASE_BATCH, tether_ioctl_release_batch,
			struct tether_cmd_release_batch, done),
	TETHER_IOCTL_OP(TETHER_CMD_REARM, tether_ioctl_rearm,
			struct tether_cmd_rearm, next_seq),
	TETHER_IOCTL_OP(TETHER_CMD_GET_STATS, tether_ioctl_get_stats,
			struct tether_stats, retries),
	TETHER_IOCTL_OP(TETHER_CMD_SECTION_CREATE, tether_ioctl_section_create,
			struct tether_cmd_section_create, name),
	TETHER_IOCTL_OP(TETHER_CMD_SECTION_OPEN, tether_ioctl_section_open,
			struct tether_cmd_section_open, name),
	/* TETHER_CMD_SECTION_QUERY: on section descriptors (section.c) */
	TETHER_IOCTL_OP(TETHER_CMD_REQUEST_SUBMIT, tether_ioctl_request_submit,
			struct tether_cmd_request_submit, __reserved),
	TETHER_IOCTL_OP(TETHER_CMD_REQUEST_COMPLETE,
			tether_ioctl_request_complete,
			struct tether_cmd_request_complete, __reserved),
	TETHER_IOCTL_OP(TETHER_CMD_REQUEST_CANCEL, tether_ioctl_request_cancel,
			struct tether_cmd_request_cancel, id),
	TETHER_IOCTL_OP(TETHER_CMD_REQUEST_WAIT, tether_ioctl_request_wait,
			struct tether_cmd_request_wait, status),
};

static long tether_fops_ioctl(struct file *filp, unsigned int cmd,
			      unsigned long arg)
{
	struct tether_ctx *ctx = filp->private_data;
	const struct tether_ioctl_op *op;
	union tether_ucmd_buffer buf;
	struct tether_ucmd ucmd = {};
	unsigned int nr;
	int ret;

	nr = _IOC_NR(cmd) - TETHER_CMD_BASE;
	if (cmd != _IO(TETHER_TYPE, _IOC_NR(cmd)) || _IOC_NR(cmd) < TETHER_CMD_BASE ||
	    nr >= ARRAY_SIZE(tether_ioctl_ops))
		return -ENOTTY;
	nr = array_index_nospec(nr, ARRAY_SIZE(tether_ioctl_ops));
	op = &tether_ioctl_ops[nr];
	if (!op->execute)
		return -ENOTTY;
	if (current->mm != ctx->mm)
		return -EPERM;

	ucmd.ctx = ctx;
	ucmd.ubuffer = (void __user *)arg;
	ret = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (ret)
		return ret;
	if (ucmd.user_size < op->min_size)
		return -EINVAL;
	/* beyond a page, the unknown tail is not worth scanning (as clone3) */
	if (ucmd.user_size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&buf, op->size, ucmd.ubuffer,
				    ucmd.user_size);
	if (ret)
		return ret;
	ucmd.cmd = &buf;
	return op->execute(&ucmd);
}

static ssize_t tether_fops_read(struct file *filp, char __user *buf,
				size_t len, loff_t *ppos)
{
	struct tether_ctx *ctx = filp->private_data;

	if (current->mm != ctx->mm)
		return -EPERM;
	return tether_ring_read(ctx, buf, len, filp->f_flags & O_NONBLOCK);
}

static __poll_t tether_fops_poll(struct file *filp, poll_table *wait)
{
	struct tether_ctx *ctx = filp->private_data;

	if (current->mm != ctx->mm)
		return EPOLLERR;
	return tether_ring_poll(ctx, filp, wait);
}

static int tether_fops_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct tether_ctx *ctx = filp->private_data;

	if (current->mm != ctx->mm)
		return -EPERM;
	return tether_ring_mmap(ctx, vma);
}

/*
 * The owner's mm is exiting (exit_mmap(), after the interval notifiers have
 * posted their TETHER_REASON_EXIT events), or the file is being closed
 * (mmu_notifier_unregister()). Sleeping is allowed here but nothing needs
 * it: queue the exit work.
 */
static void tether_mm_exit(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct tether_ctx *ctx = container_of(mn, struct tether_ctx, mn);

	spin_lock(&ctx->lock);
	if (!ctx->exiting) {
		ctx->exiting = true;
		schedule_work(&ctx->exit_work);
	}
	spin_unlock(&ctx->lock);
}

static const struct mmu_notifier_ops tether_mm_ops = {
	.release = tether_mm_exit,
};

static int tether_fops_open(struct inode *inode, struct file *filp)
{
	struct tether_ctx *ctx;
	int ret;

	if (!current->mm)
		return -EINVAL;
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->max_regions = READ_ONCE(max_regions);
	ctx->max_pinned_pages = (u64)READ_ONCE(max_pinned_mb) << (20 - PAGE_SHIFT);
	ret = tether_ring_validity_alloc(ctx, READ_ONCE(ring_entries),
					 ctx->max_regions);
	if (ret)
		goto err_free;
	ret = tether_slots_init(ctx);
	if (ret)
		goto err_validity;
	tether_requests_init(ctx, READ_ONCE(max_requests),
			     (u64)READ_ONCE(max_request_mb) << (20 - PAGE_SHIFT));
	spin_lock_init(&ctx->lock);
	INIT_WORK(&ctx->exit_work, tether_exit_work);
	mutex_init(&ctx->ring.read_mutex);
	init_waitqueue_head(&ctx->ring.wq);
	ctx->owner_pid = task_tgid_vnr(current);
	get_task_comm(ctx->owner_comm, current);
	ctx->mm = current->mm;
	ctx->mn.ops = &tether_mm_ops;
	/* takes its own mmgrab(), dropped by mmu_notifier_unregister() */
	ret = mmu_notifier_register(&ctx->mn, ctx->mm);
	if (ret)
		goto err_slots;
	mmgrab(ctx->mm);
	filp->private_data = ctx;

	mutex_lock(&tether_ctx_list_lock);
	list_add_tail(&ctx->node, &tether_ctx_list);
	mutex_unlock(&tether_ctx_list_lock);
	return stream_open(inode, filp);

err_slots:
	tether_slots_free(ctx);
err_validity:
	tether_ring_validity_free(ctx);
err_free:
	kfree(ctx);
	return ret;
}

static int tether_fops_close(struct inode *inode, struct file *filp)
{
	struct tether_ctx *ctx = filp->private_data;

	mutex_lock(&tether_ctx_list_lock);
	list_del(&ctx->node);
	mutex_unlock(&tether_ctx_list_lock);

	/*
	 * Unregistering runs ->release if exit_mmap() has not yet, which
	 * queues the exit work; whether queued by it or by the exit, let
	 * it finish before anything is freed, then clean up what is left.
	 */
	mmu_notifier_unregister(&ctx->mn, ctx->mm);
	cancel_work_sync(&ctx->exit_work);
	tether_requests_close(ctx);
	tether_unsecure_all(ctx);
	tether_slots_free(ctx);
	tether_ring_validity_free(ctx);
	mmdrop(ctx->mm);
	kfree(ctx);
	return 0;
}

static const struct file_operations tether_fops = {
	.owner = THIS_MODULE,
	.open = tether_fops_open,
	.release = tether_fops_close,
	.unlocked_ioctl = tether_fops_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = tether_fops_read,
	.poll = tether_fops_poll,
	.mmap = tether_fops_mmap,
	.llseek = noop_llseek,
};

static struct miscdevice tether_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = TETHER_DEVICE_NAME,
	.fops = &tether_fops,
	.mode = 0666,
};

static int __init tether_init(void)
{
	int ret;

	/* handles and slot table entries are u64 */
	BUILD_BUG_ON(BITS_PER_LONG != 64);
	ret = tether_region_module_init();
	if (ret)
		return ret;
	ret = tether_section_module_init();
	if (ret)
		goto err_regions;
	ret = tether_request_module_init();
	if (ret)
		goto err_sections;
	tether_debugfs_init();
	ret = misc_register(&tether_misc);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", TETHER_DEVICE_NAME, ret);
		goto err_debugfs;
	}
	return 0;

err_debugfs:
	tether_debugfs_exit();
	tether_request_module_exit();
err_sections:
	tether_section_module_exit();
err_regions:
	tether_region_module_exit();
	return ret;
}

static void __exit tether_exit(void)
{
	misc_deregister(&tether_misc);
	tether_debugfs_exit();
	tether_request_module_exit();
	tether_section_module_exit();
	tether_region_module_exit();
}

module_init(tether_init);
module_exit(tether_exit);

MODULE_DESCRIPTION("tether: secured address ranges and invalidation events");
MODULE_LICENSE("GPL");
