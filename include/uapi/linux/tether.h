/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tether: secure ranges of a process's address space and learn when the
 * mappings under them change. The ABI of /dev/tether.
 */
#ifndef _UAPI_LINUX_TETHER_H
#define _UAPI_LINUX_TETHER_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define TETHER_DEVICE_NAME "tether"
#define TETHER_TYPE 0xB7

/* The ABI version reported by TETHER_IOC_GET_INFO. */
#define TETHER_ABI_VERSION 1

/**
 * DOC: General ioctl format
 *
 * Every ioctl takes a pointer to a structure whose first __u32 is its size
 * in bytes as userspace knows it, and whose second __u32 is a flags word. The
 * kernel reads min(size, its own size) bytes; if userspace's structure is
 * larger, the bytes the kernel does not know must be zero. Output is written
 * back for min(size, its own size) bytes. This lets old binaries run on new
 * kernels and new binaries use the old subset on old kernels.
 *
 * Every ioctl reports these errors the same way:
 *
 * - ENOTTY: the command is not a tether ioctl.
 * - EINVAL: size is smaller than the first version of the structure, a
 *   flags bit or a reserved field that must be zero is not, or an argument
 *   is out of range (each ioctl lists its own cases).
 * - E2BIG: size is larger than the kernel's structure and the extra bytes
 *   are not all zero.
 * - EFAULT: the structure itself, or memory it names, cannot be accessed.
 * - EPERM: the call comes from a process whose address space is not the
 *   one that opened the file (the descriptor was inherited across fork or
 *   passed over a unix socket). Nothing is changed.
 */

enum {
	TETHER_CMD_GET_INFO = 0x00,
};

/**
 * enum tether_feature - what this module supports (tether_info.features)
 * @TETHER_FEATURE_INFO: TETHER_IOC_GET_INFO; always set.
 */
enum tether_feature {
	TETHER_FEATURE_INFO = 1 << 0,
};

/**
 * struct tether_info - TETHER_IOC_GET_INFO: the API/version handshake
 * @size: (in) sizeof(struct tether_info)
 * @flags: (in) must be 0
 * @abi_version: (out) TETHER_ABI_VERSION of the running module
 * @__reserved: must be 0
 * @features: (out) mask of enum tether_feature the module supports
 *
 * Call it first: a library checks @abi_version and @features and refuses
 * to run when something it needs is missing.
 *
 * Errors: only the general ones.
 */
struct tether_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 __reserved;
	__aligned_u64 features;
};

#define TETHER_IOC_GET_INFO _IO(TETHER_TYPE, TETHER_CMD_GET_INFO)

/**
 * DOC: Sections
 *
 * A section is a piece of memory that processes map as views, after
 * ZwCreateSection / ZwOpenSection / ZwMapViewOfSection: anonymous (the
 * "paging file" case, a kernel-internal tmpfs file) or backed by a regular
 * file. TETHER_IOC_SECTION_CREATE and TETHER_IOC_SECTION_OPEN, issued on
 * /dev/tether, return a section file descriptor (close-on-exec); mmap() of
 * that descriptor maps a view, munmap() unmaps it, close() closes the
 * handle. A view keeps its section alive: closing every descriptor right
 * after mapping is fine, and the section, its name and its memory go when
 * the last view is unmapped. TETHER_IOC_SECTION_QUERY, issued on a section
 * descriptor, reports its state. Section descriptors are not bound to an
 * address space: any process holding one (inherited or received over a unix
 * socket) may query and map it.
 *
 * Protection. A section has a maximum protection (TETHER_SECTION_READ, and
 * TETHER_SECTION_WRITE or not); each descriptor has an access no larger
 * than it (the maximum for the creator's descriptor, the desired access for
 * TETHER_IOC_SECTION_OPEN). A MAP_SHARED view may be writable only through a
 * descriptor with TETHER_SECTION_WRITE. A MAP_PRIVATE view is copy-on-write
 * (PAGE_WRITECOPY): it may be made writable through any descriptor, and its
 * writes stay in the view, never reaching the section or its file. Views are
 * never executable.
 *
 * mmap() of a section descriptor fails with:
 *
 * - EINVAL: the offset is not a multiple of the page size (the kernel's
 *   mmap() checks this before tether sees the call); the offset is at or
 *   beyond the end of the section; the view would extend beyond the end
 *   of the section (the section's length rounded up to a whole page).
 * - EACCES: PROT_WRITE with MAP_SHARED through a descriptor without
 *   TETHER_SECTION_WRITE; PROT_EXEC.
 * - EPERM: PROT_WRITE with MAP_SHARED on a section whose backing memfd has
 *   F_SEAL_WRITE or F_SEAL_FUTURE_WRITE.
 * - ENODEV: the backing file's own mmap() set up the view in a way tether
 *   cannot follow (only possible for unusual file systems).
 * - any error of the backing file's own mmap().
 *
 * mprotect() on a view fails with EACCES when it asks for more than the
 * view was allowed at mmap() time: write access to a MAP_SHARED view mapped
 * through a descriptor without TETHER_SECTION_WRITE (or on a write-sealed
 * memfd), or execute access to any view. mremap() cannot grow a view
 * (EFAULT), so a view never reaches beyond its section.
 *
 * Memory appears on first touch (demand paging): mapping a view allocates
 * nothing; a page of an anonymous section is allocated, zeroed, when first
 * touched; a page of a file-backed section is read from the file when first
 * touched. Writes through a shared writable view of a file-backed section
 * reach the file as writes through a MAP_SHARED mapping of the file itself
 * would: msync(MS_SYNC) writes them back, otherwise ordinary writeback does.
 *
 * Names. A named section is found by TETHER_IOC_SECTION_OPEN in the user
 * namespace its creator was in; other user namespaces have their own names.
 * Only a caller whose effective uid is the creator's, or one with
 * CAP_IPC_OWNER in that user namespace, may open it. The name disappears
 * when the last descriptor and the last view of the section are gone; it
 * can then be used again.
 */

/* Section ioctls (numbers 0x10 and up). */
enum {
	TETHER_CMD_SECTION_CREATE = 0x10,
	TETHER_CMD_SECTION_OPEN = 0x11,
	TETHER_CMD_SECTION_QUERY = 0x12,
};

/**
 * enum tether_section_feature - the sections bit of tether_info.features
 * @TETHER_FEATURE_SECTION: TETHER_IOC_SECTION_CREATE, TETHER_IOC_SECTION_OPEN
 *	and TETHER_IOC_SECTION_QUERY are supported.
 */
enum tether_section_feature {
	TETHER_FEATURE_SECTION = 1 << 2,
};

/* The longest section name, including its terminating NUL. */
#define TETHER_SECTION_NAME_MAX 64

/**
 * enum tether_section_prot - a section's maximum protection, a descriptor's
 * access (same values as PROT_READ and PROT_WRITE)
 * @TETHER_SECTION_READ: views may be read; always required.
 * @TETHER_SECTION_WRITE: MAP_SHARED views may be written.
 */
enum tether_section_prot {
	TETHER_SECTION_READ = 1 << 0,
	TETHER_SECTION_WRITE = 1 << 1,
};

/**
 * enum tether_section_create_flags - tether_section_create.flags
 * @TETHER_SECTION_CREATE_EXTEND: for a file-backed section longer than its
 *	file, extend the file to the section's length (as truncate(2) on the
 *	file's path would) instead of failing.
 */
enum tether_section_create_flags {
	TETHER_SECTION_CREATE_EXTEND = 1 << 0,
};

/**
 * enum tether_section_backing - tether_section_info.backing
 * @TETHER_SECTION_BACKING_ANON: anonymous memory (a kernel-internal tmpfs
 *	file, charged page by page when touched, like a memfd).
 * @TETHER_SECTION_BACKING_FILE: the regular file given at creation.
 */
enum tether_section_backing {
	TETHER_SECTION_BACKING_ANON = 0,
	TETHER_SECTION_BACKING_FILE = 1,
};

/**
 * struct tether_section_create - TETHER_IOC_SECTION_CREATE: a new section
 * @size: (in) sizeof(struct tether_section_create)
 * @flags: (in) mask of enum tether_section_create_flags
 * @length: (in) the section's length in bytes. Anonymous: at least 1.
 *	File-backed: 0 means the file's current size (which must not be 0);
 *	otherwise at most the file's size unless TETHER_SECTION_CREATE_EXTEND.
 *	Views may cover it rounded up to a whole page.
 * @max_prot: (in) the maximum protection: TETHER_SECTION_READ, optionally
 *	with TETHER_SECTION_WRITE
 * @backing_fd: (in) -1 for anonymous memory, or an open regular file
 * @fd: (out) the new section descriptor (O_CLOEXEC), with access @max_prot
 * @__reserved: must be 0
 * @name: (in) a NUL-terminated name to open the section by, or "" for an
 *	unnamed section; the bytes after the NUL must be 0
 *
 * Anonymous sections reserve no memory up front, so one may be far larger
 * than RAM; memory is charged (memory cgroup, overcommit) page by page as it
 * is touched, and a touch the system cannot satisfy raises SIGBUS, as for a
 * memfd. A file-backed section holds a reference to the file as it was
 * opened; its views share the file's page cache.
 *
 * Errors, besides the general ones:
 *
 * - EINVAL: an unknown @flags bit; @__reserved not 0; @max_prot without
 *   TETHER_SECTION_READ or with an unknown bit; anonymous with @length 0,
 *   with @length beyond the largest file size, or with
 *   TETHER_SECTION_CREATE_EXTEND; file-backed with @length 0 on an empty
 *   file, or longer than the file without TETHER_SECTION_CREATE_EXTEND;
 *   bytes after the NUL of @name not 0.
 * - ENAMETOOLONG: @name has no NUL within TETHER_SECTION_NAME_MAX bytes.
 * - EBADF: @backing_fd is neither -1 nor an open descriptor (O_PATH
 *   descriptors do not count).
 * - ENODEV: @backing_fd is not a regular file, its file system cannot
 *   mmap(), or it is on hugetlbfs.
 * - EACCES: @backing_fd is not open for reading; @max_prot has
 *   TETHER_SECTION_WRITE and @backing_fd is not open for writing or the
 *   file is append-only; TETHER_SECTION_CREATE_EXTEND is needed and
 *   @backing_fd is not open for writing.
 * - EPERM: @max_prot has TETHER_SECTION_WRITE and @backing_fd is a memfd
 *   with F_SEAL_WRITE or F_SEAL_FUTURE_WRITE.
 * - EEXIST: @name is already taken in the caller's user namespace.
 * - ENOMEM, EMFILE, ENFILE: out of memory, descriptors or files.
 * - ENOSPC: the kernel's internal tmpfs could not make the file of an
 *   anonymous section (out of memory for its inode).
 * - errors of truncate(2) on the file's path when extending it.
 *
 * A file that TETHER_SECTION_CREATE_EXTEND grew stays grown if the call
 * then fails (out of memory or descriptors, or EEXIST when another caller
 * took @name meanwhile).
 */
struct tether_section_create {
	__u32 size;
	__u32 flags;
	__aligned_u64 length;
	__u32 max_prot;
	__s32 backing_fd;
	__s32 fd;
	__u32 __reserved;
	char name[TETHER_SECTION_NAME_MAX];
};

#define TETHER_IOC_SECTION_CREATE _IO(TETHER_TYPE, TETHER_CMD_SECTION_CREATE)

/**
 * struct tether_section_open - TETHER_IOC_SECTION_OPEN: another descriptor
 * for a named section
 * @size: (in) sizeof(struct tether_section_open)
 * @flags: (in) must be 0
 * @access: (in) the desired access: TETHER_SECTION_READ, optionally with
 *	TETHER_SECTION_WRITE
 * @fd: (out) the new section descriptor (O_CLOEXEC), with access @access
 * @name: (in) the NUL-terminated name; the bytes after the NUL must be 0
 *
 * Errors, besides the general ones:
 *
 * - EINVAL: @flags not 0; @access without TETHER_SECTION_READ or with an
 *   unknown bit; @name empty; bytes after the NUL of @name not 0.
 * - ENAMETOOLONG: @name has no NUL within TETHER_SECTION_NAME_MAX bytes.
 * - ENOENT: no section has that name in the caller's user namespace.
 * - EACCES: @access exceeds the section's maximum protection; the caller
 *   is neither the creator's effective uid nor has CAP_IPC_OWNER.
 * - ENOMEM, EMFILE, ENFILE: out of memory, descriptors or files.
 */
struct tether_section_open {
	__u32 size;
	__u32 flags;
	__u32 access;
	__s32 fd;
	char name[TETHER_SECTION_NAME_MAX];
};

#define TETHER_IOC_SECTION_OPEN _IO(TETHER_TYPE, TETHER_CMD_SECTION_OPEN)

/**
 * struct tether_section_info - TETHER_IOC_SECTION_QUERY, on a section
 * descriptor: the section's state
 * @size: (in) sizeof(struct tether_section_info)
 * @flags: (in) must be 0
 * @length: (out) the section's length in bytes
 * @max_prot: (out) the section's maximum protection
 * @access: (out) this descriptor's access
 * @backing: (out) enum tether_section_backing
 * @views: (out) the number of mappings of the section in all processes: one
 *	per mmap(), plus one for each copy made by fork() and each piece made
 *	by a partial munmap() or mprotect() of a view
 * @resident_pages: (out) pages of the section's range that are in memory now
 *	(in the backing file's page cache), whether or not any view maps them;
 *	copy-on-write copies of MAP_PRIVATE views are not counted
 * @name: (out) the section's name, or "" if unnamed
 *
 * The counts are a snapshot; other processes may change them at any time.
 *
 * Errors, besides the general ones (EPERM does not apply):
 *
 * - ENOTTY: the descriptor is not a section descriptor.
 * - EINVAL: @flags not 0.
 * - EINTR: a fatal signal arrived while counting resident pages.
 */
struct tether_section_info {
	__u32 size;
	__u32 flags;
	__aligned_u64 length;
	__u32 max_prot;
	__u32 access;
	__u32 backing;
	__u32 views;
	__aligned_u64 resident_pages;
	char name[TETHER_SECTION_NAME_MAX];
};

#define TETHER_IOC_SECTION_QUERY _IO(TETHER_TYPE, TETHER_CMD_SECTION_QUERY)

#endif /* _UAPI_LINUX_TETHER_H */
