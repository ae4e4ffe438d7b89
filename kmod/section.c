// SPDX-License-Identifier: GPL-2.0
/*
 * tether: sections, memory that processes map as views (ZwCreateSection /
 * ZwOpenSection / ZwMapViewOfSection / ZwUnmapViewOfSection / ZwClose).
 */

/**
 * DOC: Sections
 *
 * A section owns a backing file: a shmem file from shmem_file_setup() for
 * an anonymous section, or the user's regular file (the struct file it
 * passed, with the access it was opened with). Each section descriptor is an
 * anon-inode file holding one reference on the section; the file is opened
 * O_RDWR when the descriptor's access includes TETHER_SECTION_WRITE and
 * O_RDONLY otherwise, so do_mmap() itself refuses a shared writable view
 * through a read-only descriptor and drops VM_MAYWRITE from its shared views.
 *
 * Backings are an allow-list (tether_backing_allowed()): shmem files,
 * file systems on a block device (FS_REQUIRES_DEV) and a few network and
 * FUSE file systems; everything else is ENODEV at create, secretmem first
 * of all (its pages are not in the direct map, so neither the module's
 * kmap nor /proc/<pid>/mem may touch them), and hugetlbfs, procfs, kernfs,
 * debugfs, ramfs and stacking or pseudo file systems.
 *
 * Views follow ipc/shm.c. mmap() of a descriptor checks the range and the
 * protection, clears VM_MAYEXEC (and VM_MAYWRITE where a shared view may
 * not write, so a later mprotect() upgrade fails with EACCES), sets
 * VM_DONTEXPAND, then makes a view file the vma's vm_file: a file made by
 * alloc_file_pseudo() on the backing's mount and inode, so its f_mapping is
 * the backing's and rmap, truncate, writeback and the page cache are the
 * kernel's own, with our tether_view_fops, which hold a reference on the
 * section. Every later mmap() of that file (remap_file_pages(), which maps
 * vma->vm_file again) reaches tether_view_fops_mmap() and the same checks,
 * so no vma of a view leaves the section's range, becomes executable or
 * grows (VM_DONTEXPAND makes mremap() refuse growth). The backing file's
 * own ->mmap() then sets up the vma; its vm_ops are saved in
 * vm_private_data and the vma gets one of two static tables that forward
 * to them (with and without ->page_mkwrite, whose presence is what the
 * core reads as "this file wants write notification"). A backing whose
 * ->mmap() needs vm_private_data, moves the vma to another file, or makes
 * a DAX, PFN, mixed or IO mapping is refused (ENODEV).
 *
 * Core predicates of the form vma->vm_ops == &X are false for views:
 * vma_is_shmem() and vma_is_anon_shmem() for shmem backings, exactly as for
 * SysV segments (userfaultfd does not register views; shmem_file() still
 * holds, so tmpfs THP rules apply), and vma_is_secretmem() never needs to
 * be true since secretmem is refused. Predicates on the file or mapping
 * (shmem_file(), vma_is_dax(), mapping_can_writeback()) see the backing.
 *
 * ->open (fork, split, mremap) and ->close count the views; the vma's file
 * holds the section, so the last put of a section always runs from a
 * file's ->release (a descriptor's or a view file's), in process context
 * after the vma is gone and with the module pinned by the file's f_op;
 * never from ->close under the mmap_lock. VM_DONTEXPAND (part of
 * VM_SPECIAL) also keeps views out of vma merging.
 *
 * A shared view that may become writable also holds the backing mapping's
 * i_mmap_writable count from mmap() to ->close, on top of the core's (which
 * the view file's shared mapping gets from vma_link), so F_SEAL_WRITE
 * cannot be added to a backing memfd between the seal check and the vma
 * being linked.
 *
 * Names live in one resizable hash table for the module (an rhashtable
 * that grows and shrinks with the number of names), keyed by the pair
 * (user namespace, name): each namespace sees only its own names, and a
 * lookup costs the same with ten names or a million. The key is compared
 * whole: names are NUL-padded to TETHER_SECTION_NAME_MAX, which
 * tether_section_check_name() enforces for the caller's copy. A section
 * leaves the table under tether_section_names_lock when its last reference
 * goes (kref_put_mutex), so a lookup under that lock only ever sees live
 * sections; the lock also makes the check for a taken name and the insert
 * one step.
 *
 * Resident pages are counted from the backing file's page cache over the
 * section's range with filemap_get_folios(), which skips swap and shadow
 * entries: a page counts while it is in memory, mapped or not.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hashtable.h>
#include <linux/kref.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mutex.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/user_namespace.h>

#include <linux/tether.h>

#include "tether_kmod.h"

#define TETHER_SECTION_PROT_ALL (TETHER_SECTION_READ | TETHER_SECTION_WRITE)

/* A section's name: its creator's user namespace and the NUL-padded name. */
struct tether_section_key {
	struct user_namespace *user_ns;
	char name[TETHER_SECTION_NAME_MAX];
};

/* A section: memory that processes map as views. */
struct tether_section {
	/* one per section descriptor (open file); views hold a descriptor */
	struct kref ref;
	/* the shmem file or the user's file; one reference, put on free */
	struct file *backing;
	/* the section's length in bytes; views may cover it page-rounded */
	u64 length;
	/* TETHER_SECTION_READ [| TETHER_SECTION_WRITE] */
	u32 max_prot;
	/* TETHER_SECTION_BACKING_* */
	u32 backing_kind;
	/* vmas mapping the section, in every process */
	atomic_t views;
	/* in tether_section_names while key.name[0] */
	struct rhash_head name_node;
	/* the creator's effective uid: who may open the section by name */
	kuid_t owner;
	/* the table's key; key.user_ns is held */
	struct tether_section_key key;
};

static const struct rhashtable_params tether_section_names_params = {
	.key_len = sizeof(struct tether_section_key),
	.key_offset = offsetof(struct tether_section, key),
	.head_offset = offsetof(struct tether_section, name_node),
	.automatic_shrinking = true,
};

/* Named sections, keyed by struct tether_section_key. */
static struct rhashtable tether_section_names;
/* serializes inserts and removals of tether_section_names (lookups too) */
static DEFINE_MUTEX(tether_section_names_lock);

/*
 * Does the core count @vma as a writable mapping of its file? Views hold
 * the backing's writable count by the same rule, so that a write seal
 * (i_mmap_writable < 0) refuses them exactly when it would refuse the core.
 */
static bool tether_shared_maywrite(struct vm_area_struct *vma)
{
#ifdef TETHER_HAVE_SHARED_MAYWRITE
	return (vma->vm_flags & (VM_SHARED | VM_MAYWRITE)) ==
	       (VM_SHARED | VM_MAYWRITE);
#else
	/* before 6.7 (without the backport) every shared mapping counts */
	return vma->vm_flags & VM_SHARED;
#endif
}

/* Does the file carry a memfd write seal (F_SEAL_WRITE/F_SEAL_FUTURE_WRITE)? */
static bool tether_write_sealed(struct file *file)
{
	if (!shmem_mapping(file->f_mapping))
		return false;
	return READ_ONCE(SHMEM_I(file_inode(file))->seals) &
	       (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE);
}

static u32 tether_section_access(struct file *filp)
{
	return TETHER_SECTION_READ |
	       (filp->f_mode & FMODE_WRITE ? TETHER_SECTION_WRITE : 0);
}

/* Called with tether_section_names_lock held; releases it. */
static void tether_section_free(struct kref *ref)
	__releases(&tether_section_names_lock)
{
	struct tether_section *sec = container_of(ref, struct tether_section,
						  ref);
	if (sec->key.name[0])
		rhashtable_remove_fast(&tether_section_names, &sec->name_node,
				       tether_section_names_params);
	mutex_unlock(&tether_section_names_lock);

	put_user_ns(sec->key.user_ns);
	fput(sec->backing);
	kfree(sec);
}

static void tether_section_put(struct tether_section *sec)
{
	kref_put_mutex(&sec->ref, tether_section_free,
		       &tether_section_names_lock);
}

static const struct file_operations tether_view_fops;

/* The backing file's own vm_ops for @vma, saved by tether_view_map(). */
static const struct vm_operations_struct *
tether_view_orig(struct vm_area_struct *vma)
{
	return vma->vm_private_data;
}

/* The section of a view: the vma's file is one of its view files. */
static struct tether_section *tether_view_section(struct vm_area_struct *vma)
{
	return vma->vm_file->private_data;
}

/* A new vma of a view: fork, split, mremap. */
static void tether_view_open(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);
	struct tether_section *sec = tether_view_section(vma);

	atomic_inc(&sec->views);
	if (tether_shared_maywrite(vma))
		mapping_allow_writable(sec->backing->f_mapping);
	if (orig->open)
		orig->open(vma);
}

/* The vma's file (and through it the section) is put after this returns. */
static void tether_view_close(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);
	struct tether_section *sec = tether_view_section(vma);

	if (orig->close)
		orig->close(vma);
	if (tether_shared_maywrite(vma))
		mapping_unmap_writable(sec->backing->f_mapping);
	atomic_dec(&sec->views);
}

static int tether_view_may_split(struct vm_area_struct *vma,
				 unsigned long addr)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);

	return orig->may_split ? orig->may_split(vma, addr) : 0;
}

static int tether_view_mremap(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);

	return orig->mremap ? orig->mremap(vma) : 0;
}

static int tether_view_mprotect(struct vm_area_struct *vma,
				unsigned long start, unsigned long end,
				unsigned long newflags)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);

	return orig->mprotect ? orig->mprotect(vma, start, end, newflags) : 0;
}

static vm_fault_t tether_view_fault(struct vm_fault *vmf)
{
	return tether_view_orig(vmf->vma)->fault(vmf);
}

static vm_fault_t tether_view_map_pages(struct vm_fault *vmf,
					pgoff_t start_pgoff,
					pgoff_t end_pgoff)
{
	const struct vm_operations_struct *orig = tether_view_orig(vmf->vma);

	/* nothing mapped around: the fault itself maps its page */
	return orig->map_pages ? orig->map_pages(vmf, start_pgoff, end_pgoff) :
				 0;
}

static vm_fault_t tether_view_page_mkwrite(struct vm_fault *vmf)
{
	return tether_view_orig(vmf->vma)->page_mkwrite(vmf);
}

static unsigned long tether_view_pagesize(struct vm_area_struct *vma)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);

	return orig->pagesize ? orig->pagesize(vma) : PAGE_SIZE;
}

static int tether_view_access(struct vm_area_struct *vma, unsigned long addr,
			      void *buf, int len, int write)
{
	const struct vm_operations_struct *orig = tether_view_orig(vma);

	return orig->access ? orig->access(vma, addr, buf, len, write) :
			      -EINVAL;
}

/*
 * The vm_ops of every view. The core tells a file that wants write
 * notification by ->page_mkwrite being there (vma_wants_writenotify(),
 * vma_needs_dirty_tracking()), so there are two tables, with and without
 * it, and a view gets the one that matches its backing's own vm_ops.
 */
static const struct vm_operations_struct tether_view_vm_ops = {
	.open = tether_view_open,
	.close = tether_view_close,
	.may_split = tether_view_may_split,
	.mremap = tether_view_mremap,
	.mprotect = tether_view_mprotect,
	.fault = tether_view_fault,
	.map_pages = tether_view_map_pages,
	.pagesize = tether_view_pagesize,
	.access = tether_view_access,
};

static const struct vm_operations_struct tether_view_mkwrite_vm_ops = {
	.open = tether_view_open,
	.close = tether_view_close,
	.may_split = tether_view_may_split,
	.mremap = tether_view_mremap,
	.mprotect = tether_view_mprotect,
	.fault = tether_view_fault,
	.map_pages = tether_view_map_pages,
	.page_mkwrite = tether_view_page_mkwrite,
	.pagesize = tether_view_pagesize,
	.access = tether_view_access,
};

/*
 * Check a new vma of @sec mapped through @filp (a section descriptor or a
 * view file, whose f_mode is the access) and set its flags. Runs with the
 * caller's mmap_lock held for writing.
 */
static int tether_view_check(struct tether_section *sec, struct file *filp,
			     struct vm_area_struct *vma)
{
	pgoff_t sec_pages = DIV_ROUND_UP(sec->length, PAGE_SIZE);
	vm_flags_t clear = VM_MAYEXEC;

	if (vma->vm_pgoff >= sec_pages ||
	    vma_pages(vma) > sec_pages - vma->vm_pgoff)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EACCES;
	if (vma->vm_flags & VM_MAYSHARE) {
		/*
		 * do_mmap() already refused PROT_WRITE and dropped VM_MAYWRITE
		 * for a read-only descriptor; write seals are checked here
		 * because do_mmap() saw our file, not the backing one.
		 */
		if (!(filp->f_mode & FMODE_WRITE)) {
			if (vma->vm_flags & VM_WRITE)
				return -EACCES;
			clear |= VM_MAYWRITE;
		} else if (tether_write_sealed(sec->backing)) {
			if (vma->vm_flags & VM_WRITE)
				return -EACCES;
			clear |= VM_MAYWRITE;
		}
	}
	tether_vm_flags_mod(vma, VM_DONTEXPAND, clear);
	return 0;
}

/*
 * Hand @vma, checked and with one of @sec's view files as its vm_file, to
 * the backing file's ->mmap(), then put our vm_ops in front of the ones it
 * chose.
 */
static int tether_view_map(struct tether_section *sec,
			   struct vm_area_struct *vma)
{
	struct file *backing = sec->backing;
	struct file *view = vma->vm_file;
	const struct vm_operations_struct *orig;
	bool writable_held = false;
	int ret;

	if (tether_shared_maywrite(vma)) {
		/* F_SEAL_WRITE denies writable mappings: EACCES, as above */
		ret = mapping_map_writable(backing->f_mapping);
		if (ret)
			return ret == -EPERM ? -EACCES : ret;
		writable_held = true;
	}
	ret = call_mmap(backing, vma);
	if (ret)
		goto err_writable;
	if (writable_held && !tether_shared_maywrite(vma)) {
		/*
		 * The backing's ->mmap() dropped VM_MAYWRITE (a seal added
		 * since the check): close will not see a writable view.
		 */
		mapping_unmap_writable(backing->f_mapping);
		writable_held = false;
	}

	/*
	 * Only page-cache mappings that stay ours: vm_private_data keeps the
	 * backing's vm_ops, a file that moves the vma to another file (as
	 * stacking file systems do) would escape the view file, and DAX,
	 * PFN and pfn_mkwrite-only mappings are not page cache.
	 */
	orig = vma->vm_ops;
	ret = -ENODEV;
	if (!orig || !orig->fault || vma->vm_private_data ||
	    vma->vm_file != view || vma_is_dax(vma) ||
	    (orig->pfn_mkwrite && !orig->page_mkwrite) ||
	    (vma->vm_flags & (VM_PFNMAP | VM_MIXEDMAP | VM_IO | VM_HUGETLB)))
		goto err_close;

	/* const to every reader: only tether_view_orig() reads it */
	vma->vm_private_data = (void *)orig;
	vma->vm_ops = orig->page_mkwrite ? &tether_view_mkwrite_vm_ops :
					   &tether_view_vm_ops;
	atomic_inc(&sec->views);
	return 0;

err_close:
	/* mmap_region() calls no vm_ops after a failed ->mmap() */
	if (orig && orig->close)
		orig->close(vma);
err_writable:
	if (writable_held)
		mapping_unmap_writable(backing->f_mapping);
	return ret;
}

/*
 * A file for the views of one mmap() of a descriptor: the backing's inode
 * and mapping on a new pseudo dentry of the backing's mount, so rmap,
 * truncate, writeback and the page cache are the backing's own, with our
 * f_op, so every later mmap() of a view's file comes back through
 * tether_view_fops_mmap(). Holds a reference on @sec.
 */
static struct file *tether_view_file(struct tether_section *sec, bool write)
{
	struct file *backing = sec->backing;
	struct inode *inode = file_inode(backing);
	struct file *view;

	ihold(inode);
	/* the caller's file pins the module; __fput() puts the f_op's owner */
	__module_get(THIS_MODULE);
	view = alloc_file_pseudo(inode, backing->f_path.mnt, "tether_view",
				 write ? O_RDWR : O_RDONLY, &tether_view_fops);
	if (IS_ERR(view)) {
		module_put(THIS_MODULE);
		iput(inode);
		return view;
	}
	/* a view going away is no close of the backing for its watchers */
	view->f_mode |= FMODE_NONOTIFY;
	file_ra_state_init(&view->f_ra, view->f_mapping);
	kref_get(&sec->ref);
	view->private_data = sec;
	return view;
}

/* remap_file_pages() of a view: a new vma, checked like the first one. */
static int tether_view_fops_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct tether_section *sec = filp->private_data;
	int ret;

	ret = tether_view_check(sec, filp, vma);
	if (ret)
		return ret;
	return tether_view_map(sec, vma);
}

/* msync(MS_SYNC) of a view; the range lies within the view's vma. */
static int tether_view_fops_fsync(struct file *filp, loff_t start, loff_t end,
				  int datasync)
{
	struct tether_section *sec = filp->private_data;

	return vfs_fsync_range(sec->backing, start, end, datasync);
}

/* Both kinds of tether file (descriptor and view) hold one section reference. */
static int tether_section_fops_close(struct inode *inode, struct file *filp)
{
	tether_section_put(filp->private_data);
	return 0;
}

static const struct file_operations tether_view_fops = {
	.owner = THIS_MODULE,
	.release = tether_section_fops_close,
	.mmap = tether_view_fops_mmap,
	.fsync = tether_view_fops_fsync,
	.llseek = noop_llseek,
};

/* Runs with the caller's mmap_lock held for writing. */
static int tether_section_mmap(struct file *filp, struct vm_area_struct *vma)
{
	struct tether_section *sec = filp->private_data;
	struct file *view;
	int ret;

	ret = tether_view_check(sec, filp, vma);
	if (ret)
		return ret;
	view = tether_view_file(sec, filp->f_mode & FMODE_WRITE);
	if (IS_ERR(view))
		return PTR_ERR(view);
	/* the vma holds the view file now; mmap_region() puts it on error */
	vma_set_file(vma, view);
	fput(view);
	return tether_view_map(sec, vma);
}

/* Pages of the section's range in the backing file's page cache. */
static int tether_section_resident(struct tether_section *sec, u64 *pages)
{
	struct address_space *mapping = sec->backing->f_mapping;
	pgoff_t last = DIV_ROUND_UP(sec->length, PAGE_SIZE) - 1;
	struct folio_batch fbatch;
	pgoff_t index = 0;
	unsigned int i, nr;
	u64 count = 0;

	folio_batch_init(&fbatch);
	while ((nr = filemap_get_folios(mapping, &index, last, &fbatch))) {
		for (i = 0; i < nr; i++) {
			struct folio *folio = fbatch.folios[i];
			pgoff_t end = folio->index + folio_nr_pages(folio) - 1;

			/* a large folio may reach past the section's end */
			count += min(end, last) - folio->index + 1;
		}
		folio_batch_release(&fbatch);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
	*pages = count;
	return 0;
}

static int tether_ioctl_section_query(struct file *filp,
				      struct tether_ucmd *ucmd)
{
	struct tether_section_info *info = ucmd->cmd;
	struct tether_section *sec = filp->private_data;
	int ret;

	if (info->flags)
		return -EINVAL;
	ret = tether_section_resident(sec, &info->resident_pages);
	if (ret)
		return ret;
	info->length = sec->length;
	info->max_prot = sec->max_prot;
	info->access = tether_section_access(filp);
	info->backing = sec->backing_kind;
	info->views = atomic_read(&sec->views);
	memcpy(info->name, sec->key.name, sizeof(info->name));
	return tether_respond(ucmd, sizeof(*info));
}

static long tether_section_fops_ioctl(struct file *filp, unsigned int cmd,
				      unsigned long arg)
{
	struct tether_section_info info;
	struct tether_ucmd ucmd = {};
	int ret;

	if (cmd != TETHER_IOC_SECTION_QUERY)
		return -ENOTTY;
	ucmd.ubuffer = (void __user *)arg;
	ret = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
	if (ret)
		return ret;
	if (ucmd.user_size < offsetofend(struct tether_section_info, name))
		return -EINVAL;
	/* as on the context: beyond a page, the tail is not scanned */
	if (ucmd.user_size > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&info, sizeof(info), ucmd.ubuffer,
				    ucmd.user_size);
	if (ret)
		return ret;
	ucmd.cmd = &info;
	return tether_ioctl_section_query(filp, &ucmd);
}

static const struct file_operations tether_section_fops = {
	.owner = THIS_MODULE,
	.release = tether_section_fops_close,
	.mmap = tether_section_mmap,
	.unlocked_ioctl = tether_section_fops_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/**
 * tether_section_backing() - what a section descriptor reads from
 * @filp: any file
 * @length: set to the section's length in bytes
 *
 * For the request path's section source, which holds @filp for as long as
 * it reads. Every section descriptor may read.
 *
 * Return: the section's backing file, valid while @filp is held, or NULL
 * when @filp is not a section descriptor.
 */
struct file *tether_section_backing(struct file *filp, u64 *length)
{
	struct tether_section *sec;

	if (filp->f_op != &tether_section_fops)
		return NULL;
	sec = filp->private_data;
	*length = sec->length;
	return sec->backing;
}

/*
 * Give the caller a new descriptor for @sec, consuming the caller's
 * reference in every case. The descriptor number is written to *@ufd (as
 * part of the reply) before it is installed, so a failed copy leaves no
 * descriptor behind.
 */
static int tether_section_install_fd(struct tether_section *sec, u32 access,
				     struct tether_ucmd *ucmd, s32 *ufd,
				     size_t cmd_len)
{
	struct file *filp;
	int fd, ret;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0) {
		tether_section_put(sec);
		return fd;
	}
	filp = anon_inode_getfile("[tether_section]", &tether_section_fops, sec,
				  access & TETHER_SECTION_WRITE ? O_RDWR :
								  O_RDONLY);
	if (IS_ERR(filp)) {
		put_unused_fd(fd);
		tether_section_put(sec);
		return PTR_ERR(filp);
	}
	/* the file owns the reference now */
	*ufd = fd;
	ret = tether_respond(ucmd, cmd_len);
	if (ret) {
		put_unused_fd(fd);
		fput(filp);
		return ret;
	}
	fd_install(fd, filp);
	return 0;
}

/* Check a name field: NUL-terminated, zero after the NUL. */
static int tether_section_check_name(const char *name)
{
	size_t len = strnlen(name, TETHER_SECTION_NAME_MAX);

	if (len == TETHER_SECTION_NAME_MAX)
		return -ENAMETOOLONG;
	if (memchr_inv(name + len, 0, TETHER_SECTION_NAME_MAX - len))
		return -EINVAL;
	return 0;
}

/*
 * Called with tether_section_names_lock held. @name has passed
 * tether_section_check_name(): NUL-padded to TETHER_SECTION_NAME_MAX.
 */
static struct tether_section *tether_section_lookup(struct user_namespace *ns,
						    const char *name)
{
	struct tether_section_key key = { .user_ns = ns };

	lockdep_assert_held(&tether_section_names_lock);
	memcpy(key.name, name, sizeof(key.name));
	return rhashtable_lookup_fast(&tether_section_names, &key,
				      tether_section_names_params);
}

/**
 * tether_section_module_init() - set up the table of section names
 *
 * Return: 0, or a negative errno.
 */
int tether_section_module_init(void)
{
	return rhashtable_init(&tether_section_names,
			       &tether_section_names_params);
}

/**
 * tether_section_module_exit() - free the table of section names
 *
 * Every section holds the module through its files, so the table is empty.
 */
void tether_section_module_exit(void)
{
	WARN_ON(atomic_read(&tether_section_names.nelems));
	rhashtable_destroy(&tether_section_names);
}

/* Is @name taken in the caller's user namespace? */
static bool tether_section_name_taken(const char *name)
{
	bool taken;

	mutex_lock(&tether_section_names_lock);
	taken = tether_section_lookup(current_user_ns(), name);
	mutex_unlock(&tether_section_names_lock);
	return taken;
}

/*
 * The kinds of file a section may map: shmem (tmpfs, memfd), file systems
 * on a block device, and the network and FUSE file systems below. Every
 * other file system is refused, whatever its ->mmap(): procfs, sysfs and
 * kernfs, debugfs, secretmem (memfd_secret(), whose pages are not in the
 * direct map), hugetlbfs, ramfs, anon-inode and pseudo file systems. The
 * view file shares the backing's inode, so it must be on the mount's own
 * super block.
 */
static bool tether_backing_allowed(struct file *file)
{
	struct super_block *sb = file_inode(file)->i_sb;

	if (sb != file->f_path.mnt->mnt_sb)
		return false;
	if (shmem_file(file) || (sb->s_type->fs_flags & FS_REQUIRES_DEV))
		return true;
	switch (sb->s_magic) {
	case NFS_SUPER_MAGIC:
	case CIFS_SUPER_MAGIC:
	case SMB2_SUPER_MAGIC:
	case V9FS_MAGIC:
	case CEPH_SUPER_MAGIC:
	case AFS_FS_MAGIC:
	case FUSE_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/* Validate a backing file for @cmd and take it; returns it or an error. */
static struct file *
tether_section_backing_file(struct tether_cmd_section_create *cmd)
{
	struct inode *inode;
	struct file *file;
	loff_t isize;
	int ret;

	file = fget(cmd->backing_fd);
	if (!file)
		return ERR_PTR(-EBADF);
	inode = file_inode(file);
	ret = -ENODEV;
	if (!S_ISREG(inode->i_mode) || !file->f_op->mmap ||
	    !tether_backing_allowed(file))
		goto err;
	ret = -EACCES;
	if (!(file->f_mode & FMODE_READ))
		goto err;
	if ((cmd->max_prot & TETHER_SECTION_WRITE) &&
	    (!(file->f_mode & FMODE_WRITE) || IS_APPEND(inode)))
		goto err;
	ret = -EACCES;
	if ((cmd->max_prot & TETHER_SECTION_WRITE) && tether_write_sealed(file))
		goto err;

	isize = i_size_read(inode);
	ret = -EINVAL;
	if (!cmd->length) {
		if (!isize)
			goto err;
		cmd->length = isize;
	}
	if (cmd->length > isize) {
		if (!(cmd->flags & TETHER_SECTION_CREATE_EXTEND))
			goto err;
		ret = -EACCES;
		if (!(file->f_mode & FMODE_WRITE))
			goto err;
		ret = vfs_truncate(&file->f_path, cmd->length);
		/* append-only or immutable: EACCES, as for a writable section */
		if (ret == -EPERM)
			ret = -EACCES;
		if (ret)
			goto err;
	}
	return file;
err:
	fput(file);
	return ERR_PTR(ret);
}

/**
 * tether_ioctl_section_create() - TETHER_IOC_SECTION_CREATE
 * @ucmd: the call; ucmd->cmd is a struct tether_cmd_section_create
 *
 * Return: 0 with the new descriptor in the reply, or a negative errno.
 */
int tether_ioctl_section_create(struct tether_ucmd *ucmd)
{
	struct tether_cmd_section_create *cmd = ucmd->cmd;
	struct tether_section *sec;
	struct file *backing;
	u32 kind;
	int ret;

	if (cmd->flags & ~TETHER_SECTION_CREATE_EXTEND || cmd->__reserved ||
	    cmd->length > MAX_LFS_FILESIZE)
		return -EINVAL;
	if (!(cmd->max_prot & TETHER_SECTION_READ) ||
	    cmd->max_prot & ~TETHER_SECTION_PROT_ALL)
		return -EINVAL;
	ret = tether_section_check_name(cmd->name);
	if (ret)
		return ret;
	if (cmd->backing_fd == -1 &&
	    (!cmd->length || cmd->flags & TETHER_SECTION_CREATE_EXTEND))
		return -EINVAL;
	/* fail early, before EXTEND grows a file; rechecked below */
	if (cmd->name[0] && tether_section_name_taken(cmd->name))
		return -EEXIST;

	sec = kzalloc(sizeof(*sec), GFP_KERNEL_ACCOUNT);
	if (!sec)
		return -ENOMEM;
	if (cmd->backing_fd == -1) {
		/* sparse, like a memfd: each page is charged when touched */
		backing = shmem_file_setup("tether_section", cmd->length,
					   VM_NORESERVE);
		kind = TETHER_SECTION_BACKING_ANON;
	} else {
		backing = tether_section_backing_file(cmd);
		kind = TETHER_SECTION_BACKING_FILE;
	}
	if (IS_ERR(backing)) {
		kfree(sec);
		return PTR_ERR(backing);
	}

	kref_init(&sec->ref);
	sec->backing = backing;
	sec->length = cmd->length;
	sec->max_prot = cmd->max_prot;
	sec->backing_kind = kind;
	atomic_set(&sec->views, 0);
	sec->key.user_ns = get_user_ns(current_user_ns());
	sec->owner = current_euid();

	if (cmd->name[0]) {
		mutex_lock(&tether_section_names_lock);
		ret = tether_section_lookup(sec->key.user_ns, cmd->name) ?
		      -EEXIST : 0;
		if (!ret) {
			/* NUL-padded, as checked: the whole key is the name */
			memcpy(sec->key.name, cmd->name, sizeof(sec->key.name));
			ret = rhashtable_insert_fast(&tether_section_names,
						     &sec->name_node,
						     tether_section_names_params);
			if (ret)
				memset(sec->key.name, 0, sizeof(sec->key.name));
		}
		mutex_unlock(&tether_section_names_lock);
		if (ret) {
			/* unnamed: the put leaves the table alone */
			tether_section_put(sec);
			return ret == -EEXIST ? ret : -ENOMEM;
		}
	}

	return tether_section_install_fd(sec, sec->max_prot, ucmd, &cmd->fd,
					 sizeof(*cmd));
}

/**
 * tether_ioctl_section_open() - TETHER_IOC_SECTION_OPEN
 * @ucmd: the call; ucmd->cmd is a struct tether_cmd_section_open
 *
 * Return: 0 with the new descriptor in the reply, or a negative errno.
 */
int tether_ioctl_section_open(struct tether_ucmd *ucmd)
{
	struct tether_cmd_section_open *cmd = ucmd->cmd;
	struct user_namespace *ns = current_user_ns();
	struct tether_section *sec;
	int ret;

	if (cmd->flags)
		return -EINVAL;
	if (!(cmd->access & TETHER_SECTION_READ) ||
	    cmd->access & ~TETHER_SECTION_PROT_ALL)
		return -EINVAL;
	ret = tether_section_check_name(cmd->name);
	if (ret)
		return ret;
	if (!cmd->name[0])
		return -EINVAL;

	mutex_lock(&tether_section_names_lock);
	sec = tether_section_lookup(ns, cmd->name);
	if (!sec) {
		ret = -ENOENT;
	} else if (cmd->access & ~sec->max_prot) {
		ret = -EACCES;
	} else if (!uid_eq(current_euid(), sec->owner) &&
		   !ns_capable(sec->key.user_ns, CAP_IPC_OWNER)) {
		ret = -EACCES;
	} else {
		/* in the table, so its count is not zero */
		kref_get(&sec->ref);
	}
	mutex_unlock(&tether_section_names_lock);
	if (ret)
		return ret;

	return tether_section_install_fd(sec, cmd->access, ucmd, &cmd->fd,
					 sizeof(*cmd));
}
