// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the /dev/tether misc device, its per-open context and the ioctl
 * dispatcher.
 *
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
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/tether.h>

#include "tether_private.h"

static int tether_get_info(struct tether_ucmd *ucmd)
{
	struct tether_info *info = ucmd->cmd;

	if (info->flags || info->__reserved)
		return -EINVAL;
	info->abi_version = TETHER_ABI_VERSION;
	info->features = TETHER_FEATURE_INFO | TETHER_FEATURE_SECTION;
	return tether_respond(ucmd, sizeof(*info));
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

/* Every ioctl argument structure; sizes the dispatcher's buffer. */
union tether_ucmd_buffer {
	struct tether_info info;
	struct tether_section_create section_create;
	struct tether_section_open section_open;
};

/*
 * One entry of the ioctl table, indexed by TETHER_CMD_*. Every tether ioctl
 * is _IO(TETHER_TYPE, TETHER_CMD_*): the size travels in the structure.
 */
struct tether_ioctl_op {
	/* the kernel's sizeof() of the argument */
	unsigned int size;
	/* the smallest size userspace may pass: the end of the first version */
	unsigned int min_size;
	int (*execute)(struct tether_ucmd *ucmd);
};

#define TETHER_IOCTL_OP(_cmd, _fn, _struct, _last)                       \
	[_cmd] = {                                                       \
		.size = sizeof(_struct) +                                \
			BUILD_BUG_ON_ZERO(sizeof(union tether_ucmd_buffer) < \
					  sizeof(_struct)),               \
		.min_size = offsetofend(_struct, _last),                 \
		.execute = _fn,                                          \
	}

static const struct tether_ioctl_op tether_ioctl_ops[] = {
	TETHER_IOCTL_OP(TETHER_CMD_GET_INFO, tether_get_info,
			struct tether_info, features),
	TETHER_IOCTL_OP(TETHER_CMD_SECTION_CREATE, tether_section_create,
			struct tether_section_create, name),
	TETHER_IOCTL_OP(TETHER_CMD_SECTION_OPEN, tether_section_open,
			struct tether_section_open, name),
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

	nr = _IOC_NR(cmd);
	if (cmd != _IO(TETHER_TYPE, nr) || nr >= ARRAY_SIZE(tether_ioctl_ops))
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
	ret = copy_struct_from_user(&buf, op->size, ucmd.ubuffer,
				    ucmd.user_size);
	if (ret)
		return ret;
	ucmd.cmd = &buf;
	return op->execute(&ucmd);
}

static int tether_fops_open(struct inode *inode, struct file *filp)
{
	struct tether_ctx *ctx;

	if (!current->mm)
		return -EINVAL;
	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL_ACCOUNT);
	if (!ctx)
		return -ENOMEM;
	ctx->mm = current->mm;
	mmgrab(ctx->mm);
	filp->private_data = ctx;
	return 0;
}

static int tether_fops_release(struct inode *inode, struct file *filp)
{
	struct tether_ctx *ctx = filp->private_data;

	mmdrop(ctx->mm);
	kfree(ctx);
	return 0;
}

static const struct file_operations tether_fops = {
	.owner = THIS_MODULE,
	.open = tether_fops_open,
	.release = tether_fops_release,
	.unlocked_ioctl = tether_fops_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
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

	ret = misc_register(&tether_misc);
	if (ret) {
		pr_err("cannot register /dev/%s: %d\n", TETHER_DEVICE_NAME, ret);
		return ret;
	}
	return 0;
}

static void __exit tether_exit(void)
{
	misc_deregister(&tether_misc);
}

module_init(tether_init);
module_exit(tether_exit);

MODULE_DESCRIPTION("tether: secured address ranges and invalidation events");
MODULE_LICENSE("GPL");
