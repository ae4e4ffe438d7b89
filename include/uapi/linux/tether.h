/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * tether: secure ranges of a process's address space and learn when the
 * mappings under them change. The ABI of /dev/tether; the rules of each
 * call and how the parts work together are in Documentation/tether.rst.
 */
#ifndef _UAPI_LINUX_TETHER_H
#define _UAPI_LINUX_TETHER_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define TETHER_DEVICE_NAME "tether"

/*
 * The ioctl type. Documentation/userspace-api/ioctl/ioctl-number.rst gives
 * 0xB7 to nsfs and remoteproc and 0xB8 01-02 to mrvl_cn10k_dpi, and leaves
 * 0xB9 to 0xBF to nobody: tether takes 0xB9, all of it. A tether call on
 * the wrong descriptor then fails with ENOTTY instead of running another
 * driver's ioctl (the selftest abi.c checks every tether number against
 * every _IO* number of the installed <linux/...> headers).
 */
#define TETHER_TYPE 0xB9

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
 * A descriptor field that names no descriptor is -1 (@backing_fd,
 * @source_fd), as mmap()'s fd is for anonymous memory: 0 is a valid
 * descriptor.
 *
 * Each errno has one meaning, the same in every ioctl and in read(),
 * poll() and mmap() of tether's descriptors; each ioctl lists its cases:
 *
 * - ENOTTY: not a tether ioctl, or not one of this kind of descriptor.
 * - EINVAL: an invalid argument: size below the structure's first
 *   version, an unknown flags bit, a reserved field that is not 0, a
 *   value out of range, a length of 0, a descriptor of the wrong kind.
 * - E2BIG: size beyond the kernel's structure with non-zero bytes past it,
 *   or beyond a page.
 * - EFAULT: the structure, or memory it names, cannot be accessed as the
 *   call needs (unmapped, without the access, I/O or PFN mapping).
 * - EPERM: the calling process is not the one the object belongs to: the
 *   context's owner (the address space that opened the file; the
 *   descriptor was inherited across fork or passed over a unix socket),
 *   or a request's submitter. Nothing is changed.
 * - EACCES: the access asked for exceeds what is granted: a descriptor's
 *   mode, a section's maximum protection, a file that is append-only or
 *   write-sealed, a credential, the read-only shared area.
 * - EBADF: a descriptor field holds no open descriptor.
 * - ENOENT: no such object in this context or namespace (handle, request,
 *   name); EALREADY: the request existed and is done.
 * - ENOSPC: a count limit; ENOMEM: a memory limit, or out of memory.
 * - EINTR: a signal arrived; EAGAIN, EBUSY, ETIMEDOUT, EEXIST, ENODEV,
 *   ENAMETOOLONG, EOPNOTSUPP, EIO, EMFILE, ENFILE: as in errno(3), where
 *   the ioctl says.
 */

/*
 * The command numbers: TETHER_IOC_* is _IO(TETHER_TYPE, TETHER_CMD_*), the
 * size travelling in the structure. All are issued on /dev/tether except
 * TETHER_IOC_SECTION_QUERY, issued on a section descriptor. They start at
 * 0x80 because some drivers match low numbers without looking at the type
 * (nsfs in 6.12 takes any number 10-12 for its NS_MNT_GET_* ioctls).
 */
enum {
	TETHER_CMD_BASE = 0x80,
	TETHER_CMD_GET_INFO = TETHER_CMD_BASE,
	TETHER_CMD_SECURE,
	TETHER_CMD_RELEASE,
	TETHER_CMD_RELEASE_BATCH,
	TETHER_CMD_REARM,
	TETHER_CMD_GET_STATS,
	TETHER_CMD_SECTION_CREATE,
	TETHER_CMD_SECTION_OPEN,
	TETHER_CMD_SECTION_QUERY,
	TETHER_CMD_REQUEST_SUBMIT,
	TETHER_CMD_REQUEST_COMPLETE,
	TETHER_CMD_REQUEST_CANCEL,
	TETHER_CMD_REQUEST_WAIT,
};

/**
 * enum tether_feature - what this module supports (tether_info.features)
 * @TETHER_FEATURE_INFO: TETHER_IOC_GET_INFO; always set.
 * @TETHER_FEATURE_SECURE: securing ranges, invalidation events, the event
 *	ring and validity table (TETHER_IOC_SECURE, _RELEASE, _RELEASE_BATCH,
 *	_REARM, _GET_STATS, read(), poll(), mmap()).
 * @TETHER_FEATURE_SECTION: sections (TETHER_IOC_SECTION_CREATE,
 *	_SECTION_OPEN, _SECTION_QUERY); see Documentation/tether.rst.
 * @TETHER_FEATURE_REQUEST: requests that probe and lock a user output buffer
 *	for write (TETHER_IOC_REQUEST_SUBMIT, _COMPLETE, _CANCEL, _WAIT) and
 *	TETHER_EVENT_REQUEST; see Documentation/tether.rst.
 */
enum tether_feature {
	TETHER_FEATURE_INFO = 1 << 0,
	TETHER_FEATURE_SECURE = 1 << 1,
	TETHER_FEATURE_SECTION = 1 << 2,
	TETHER_FEATURE_REQUEST = 1 << 3,
};

/**
 * struct tether_info - TETHER_IOC_GET_INFO: the API/version handshake
 * @size: (in) sizeof(struct tether_info)
 * @flags: (in) must be 0
 * @abi_version: (out) TETHER_ABI_VERSION of the running module
 * @__reserved: must be 0
 * @features: (out) mask of enum tether_feature the module supports
 * @ring_entries: (out) capacity of this context's event ring (a power of 2)
 * @max_regions: (out) how many ranges this context may hold secured at
 *	once; also the number of words in its validity table
 * @consumer_offset: (out) mmap() offset of the consumer page (one page,
 *	mappable read-write)
 * @shared_offset: (out) mmap() offset of the shared area (read-only)
 * @shared_size: (out) size in bytes of the shared area
 * @max_pinned_bytes: (out) pinned-memory limit of this context (before
 *	RLIMIT_MEMLOCK, which applies too unless the caller has CAP_IPC_LOCK)
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_info".
 */
struct tether_info {
	__u32 size;
	__u32 flags;
	__u32 abi_version;
	__u32 __reserved;
	__aligned_u64 features;
	__u32 ring_entries;
	__u32 max_regions;
	__aligned_u64 consumer_offset;
	__aligned_u64 shared_offset;
	__aligned_u64 shared_size;
	__aligned_u64 max_pinned_bytes;
};

#define TETHER_IOC_GET_INFO _IO(TETHER_TYPE, TETHER_CMD_GET_INFO)

/**
 * enum tether_secure_flags - flags of struct tether_cmd_secure
 * @TETHER_SECURE_PIN: also pin the pages (pin_user_pages() with
 *	FOLL_LONGTERM), charged to RLIMIT_MEMLOCK like ibv_reg_mr(); they stay
 *	pinned until release, even after the range is invalidated.
 * @TETHER_SECURE_WRITE: the range will be written (by a device): every page
 *	must be mapped writable, pins use FOLL_WRITE and are marked dirty on
 *	release, and losing write access invalidates.
 */
enum tether_secure_flags {
	TETHER_SECURE_PIN = 1 << 0,
	TETHER_SECURE_WRITE = 1 << 1,
};

/**
 * struct tether_cmd_secure - TETHER_IOC_SECURE: secure a range of this process
 * @size: (in) sizeof(struct tether_cmd_secure)
 * @flags: (in) enum tether_secure_flags
 * @addr: (in) start of the range (any alignment)
 * @length: (in) length of the range in bytes
 * @cookie: (in) any value; returned in this range's events
 * @handle: (out) the range's handle, never 0, never reused in this context
 *	(not consecutive: compare handles only for equality)
 * @generation: (out) the value of the range's validity word while it is
 *	valid, never 0, never reused in this context
 * @slot: (out) index of the range's word in the validity table
 * @__reserved: must be 0
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_secure".
 */
struct tether_cmd_secure {
	__u32 size;
	__u32 flags;
	__aligned_u64 addr;
	__aligned_u64 length;
	__aligned_u64 cookie;
	__aligned_u64 handle;
	__aligned_u64 generation;
	__u32 slot;
	__u32 __reserved;
};

#define TETHER_IOC_SECURE _IO(TETHER_TYPE, TETHER_CMD_SECURE)

/**
 * struct tether_cmd_release - TETHER_IOC_RELEASE: release one secured range
 * @size: (in) sizeof(struct tether_cmd_release)
 * @flags: (in) must be 0
 * @handle: (in) a handle TETHER_IOC_SECURE returned on this context
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_release".
 */
struct tether_cmd_release {
	__u32 size;
	__u32 flags;
	__aligned_u64 handle;
};

#define TETHER_IOC_RELEASE _IO(TETHER_TYPE, TETHER_CMD_RELEASE)

/**
 * struct tether_cmd_release_batch - TETHER_IOC_RELEASE_BATCH: release many
 * @size: (in) sizeof(struct tether_cmd_release_batch)
 * @flags: (in) must be 0
 * @handles: (in) user pointer to an array of @count __u64 handles
 * @count: (in) number of handles, at most TETHER_RELEASE_BATCH_MAX
 * @done: (out) how many were released, in order, before the first failure
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_release_batch".
 */
struct tether_cmd_release_batch {
	__u32 size;
	__u32 flags;
	__aligned_u64 handles;
	__u32 count;
	__u32 done;
};

#define TETHER_RELEASE_BATCH_MAX (1U << 20)
#define TETHER_IOC_RELEASE_BATCH _IO(TETHER_TYPE, TETHER_CMD_RELEASE_BATCH)

/**
 * enum tether_event_type - struct tether_event.type
 * @TETHER_EVENT_INVALIDATE: a secured range was invalidated.
 * @TETHER_EVENT_OVERFLOW: the ring filled up; events after this record are
 *	dropped (counted, not queued) until TETHER_IOC_REARM.
 * @TETHER_EVENT_REQUEST: an asynchronous request (TETHER_REQUEST_ASYNC)
 *	completed; its status is in @status. See "Requests".
 */
enum tether_event_type {
	TETHER_EVENT_INVALIDATE = 1,
	TETHER_EVENT_OVERFLOW = 2,
	TETHER_EVENT_REQUEST = 3,
};

/**
 * enum tether_reason - why a range was invalidated (struct tether_event.reason)
 * @TETHER_REASON_UNMAP: the mapping goes away or moves: munmap(), mremap(),
 *	mmap(MAP_FIXED) over it, brk() shrinking, the OOM reaper.
 * @TETHER_REASON_CLEAR: pages are zapped or replaced under an unchanged
 *	mapping: madvise(MADV_DONTNEED/MADV_FREE/MADV_REMOVE), truncation or
 *	hole punching of a shared file, copy-on-write break, page migration
 *	(move_pages(), migrate_pages(), compaction, NUMA balancing), huge page
 *	split or collapse, KSM merging, reclaim.
 * @TETHER_REASON_PROTECTION: mprotect() took away an access the range was
 *	secured for.
 * @TETHER_REASON_MIGRATE: migration to device memory (migrate_vma).
 * @TETHER_REASON_EXIT: the address space is being torn down (process exit).
 * @TETHER_REASON_OTHER: any other change (device-exclusive access, ...).
 */
enum tether_reason {
	TETHER_REASON_UNMAP = 1,
	TETHER_REASON_CLEAR = 2,
	TETHER_REASON_PROTECTION = 3,
	TETHER_REASON_MIGRATE = 4,
	TETHER_REASON_EXIT = 5,
	TETHER_REASON_OTHER = 6,
};

/**
 * struct tether_event - one record of the event ring (64 bytes)
 * @type: enum tether_event_type
 * @reason: enum tether_reason (TETHER_EVENT_INVALIDATE), else 0
 * @seq: sequence number of the event in this context, from 1
 * @handle: the range (TETHER_EVENT_INVALIDATE), the request's id
 *	(TETHER_EVENT_REQUEST), else 0
 * @cookie: the range's cookie (TETHER_EVENT_INVALIDATE), the request's
 *	cookie (TETHER_EVENT_REQUEST), else 0
 * @start: first byte of the part of the range affected by the change
 *	(TETHER_EVENT_INVALIDATE), first byte of the request's output buffer
 *	(TETHER_EVENT_REQUEST), else 0
 * @end: end (exclusive) of the affected part, or of the request's output
 *	buffer, else 0
 * @status: the request's completion status, 0 or a negative errno
 *	(TETHER_EVENT_REQUEST), else 0
 * @__reserved1: 0
 * @__reserved2: 0, except in a TETHER_EVENT_OVERFLOW record returned by
 *	read(): the events dropped since the overflow (the marker's own event
 *	included), which that read() discards by rearming, as
 *	TETHER_IOC_REARM's @dropped would have reported
 */
struct tether_event {
	__u32 type;
	__u32 reason;
	__aligned_u64 seq;
	__aligned_u64 handle;
	__aligned_u64 cookie;
	__aligned_u64 start;
	__aligned_u64 end;
	__s32 status;
	__u32 __reserved1;
	__aligned_u64 __reserved2;
};

/**
 * struct tether_ring_header - start of the shared area
 * @producer: number of records ever written to the ring
 * @dropped: number of events dropped because the ring was full
 * @entries: capacity of the ring (a power of 2)
 * @event_size: sizeof(struct tether_event)
 * @events_offset: byte offset of the records from the start of the area
 * @validity_offset: byte offset of the validity table
 * @validity_entries: number of words in the validity table
 * @overflowed: 1 while the ring is stopped after an overflow, else 0;
 *   set with a release store after the overflow marker's @producer, so an
 *   acquire load that sees 1 also sees the marker
 */
struct tether_ring_header {
	__aligned_u64 producer;
	__aligned_u64 dropped;
	__u32 entries;
	__u32 event_size;
	__u32 events_offset;
	__u32 validity_offset;
	__u32 validity_entries;
	__u32 overflowed;
};

/**
 * struct tether_ring_consumer - the consumer page
 * @consumer: number of records the owner has consumed; written by the owner
 *	(or by read()). A value the kernel cannot make sense of makes read()
 *	fail with EIO and further events count as dropped.
 */
struct tether_ring_consumer {
	__aligned_u64 consumer;
};

/**
 * struct tether_cmd_rearm - TETHER_IOC_REARM: restart the ring after an
 *	overflow
 * @size: (in) sizeof(struct tether_cmd_rearm)
 * @flags: (in) must be 0
 * @dropped: (out) events dropped since the overflow
 * @next_seq: (out) the sequence number the next event will carry
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_rearm".
 */
struct tether_cmd_rearm {
	__u32 size;
	__u32 flags;
	__aligned_u64 dropped;
	__aligned_u64 next_seq;
};

#define TETHER_IOC_REARM _IO(TETHER_TYPE, TETHER_CMD_REARM)

/**
 * struct tether_stats - TETHER_IOC_GET_STATS: this context's counters
 * @size: (in) sizeof(struct tether_stats)
 * @flags: (in) must be 0
 * @regions: (out) ranges secured now
 * @pinned_pages: (out) pages pinned now
 * @secured: (out) successful TETHER_IOC_SECURE calls
 * @released: (out) ranges released
 * @invalidated: (out) ranges invalidated
 * @events: (out) records queued (invalidations and overflow markers)
 * @dropped: (out) events dropped while the ring was full
 * @overflows: (out) times the ring overflowed
 * @kept: (out) notifier calls on a valid range that left it valid (see
 *	"Securing ranges")
 * @retries: (out) secure attempts repeated because the range changed
 *	meanwhile
 * @requests: (out) requests outstanding: submitted asynchronously and not
 *	yet collected with TETHER_IOC_REQUEST_WAIT, or running synchronously
 * @request_pages: (out) pages locked by requests now (also counted in
 *	@pinned_pages)
 * @requests_submitted: (out) requests accepted by TETHER_IOC_REQUEST_SUBMIT
 * @requests_succeeded: (out) requests completed with status 0
 * @requests_failed: (out) requests completed with an error other than
 *	-ECANCELED
 * @requests_cancelled: (out) requests completed with -ECANCELED
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_stats".
 */
struct tether_stats {
	__u32 size;
	__u32 flags;
	__aligned_u64 regions;
	__aligned_u64 pinned_pages;
	__aligned_u64 secured;
	__aligned_u64 released;
	__aligned_u64 invalidated;
	__aligned_u64 events;
	__aligned_u64 dropped;
	__aligned_u64 overflows;
	__aligned_u64 kept;
	__aligned_u64 retries;
	__aligned_u64 requests;
	__aligned_u64 request_pages;
	__aligned_u64 requests_submitted;
	__aligned_u64 requests_succeeded;
	__aligned_u64 requests_failed;
	__aligned_u64 requests_cancelled;
};

#define TETHER_IOC_GET_STATS _IO(TETHER_TYPE, TETHER_CMD_GET_STATS)

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
 * enum tether_section_create_flags - flags of struct tether_cmd_section_create
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
 * struct tether_cmd_section_create - TETHER_IOC_SECTION_CREATE: a new section
 * @size: (in) sizeof(struct tether_cmd_section_create)
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
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_section_create".
 */
struct tether_cmd_section_create {
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
 * struct tether_cmd_section_open - TETHER_IOC_SECTION_OPEN: another descriptor
 * for a named section
 * @size: (in) sizeof(struct tether_cmd_section_open)
 * @flags: (in) must be 0
 * @access: (in) the desired access: TETHER_SECTION_READ, optionally with
 *	TETHER_SECTION_WRITE
 * @fd: (out) the new section descriptor (O_CLOEXEC), with access @access
 * @name: (in) the NUL-terminated name; the bytes after the NUL must be 0
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_section_open".
 */
struct tether_cmd_section_open {
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
 * Rules and errors: Documentation/tether.rst, "struct tether_section_info".
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

/**
 * enum tether_source_type - where a request's data comes from
 * @TETHER_SOURCE_PATTERN: a built-in read-only source of
 *	TETHER_PATTERN_SIZE bytes whose byte at offset o is
 *	TETHER_PATTERN_BYTE(o), so any part of it can be checked.
 * @TETHER_SOURCE_SECTION: a section (TETHER_IOC_SECTION_CREATE/OPEN),
 *	named by a section descriptor in @source_fd; its size is the section's
 *	length. The request holds the section from submit until it is
 *	collected, so the descriptor may be closed meanwhile. The data is what
 *	the section's views see at the time of the transfer (its page cache;
 *	holes read as zeros). A file-backed section whose file was truncated
 *	below the range since submit fails the request with EIO.
 */
enum tether_source_type {
	TETHER_SOURCE_PATTERN = 1,
	TETHER_SOURCE_SECTION = 2,
};

#define TETHER_PATTERN_SIZE (1ULL << 40)
#define TETHER_PATTERN_BYTE(o) \
	((__u8)(((__u64)(o) * 0x9E3779B97F4A7C15ULL) >> 56))

/**
 * enum tether_request_flags - flags of struct tether_cmd_request_submit
 * @TETHER_REQUEST_ASYNC: return once the buffer is locked; a kernel worker
 *	writes the data and completes the request.
 * @TETHER_REQUEST_HOLD: with TETHER_REQUEST_ASYNC only: keep the locked
 *	request until TETHER_IOC_REQUEST_COMPLETE. Its pages are pinned
 *	long-term (FOLL_LONGTERM); like every request's, they are charged to
 *	RLIMIT_MEMLOCK.
 */
enum tether_request_flags {
	TETHER_REQUEST_ASYNC = 1 << 0,
	TETHER_REQUEST_HOLD = 1 << 1,
};

/**
 * struct tether_cmd_request_submit - TETHER_IOC_REQUEST_SUBMIT: read from a
 *	source into a user buffer
 * @size: (in) sizeof(struct tether_cmd_request_submit)
 * @flags: (in) enum tether_request_flags
 * @source: (in) enum tether_source_type
 * @source_fd: (in) the section descriptor for TETHER_SOURCE_SECTION; -1
 *	for TETHER_SOURCE_PATTERN
 * @source_offset: (in) where in the source to read from
 * @addr: (in) the user output buffer (any alignment)
 * @length: (in) bytes to read into it; [source_offset, source_offset +
 *	length) must lie within the source
 * @cookie: (in) any value; returned in the completion event
 * @id: (out) the request's id, never 0, never reused in this context;
 *	meaningful only when the call returns 0, and usable by other calls
 *	(wait, cancel, complete) once it has returned
 * @__reserved: must be 0
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_request_submit".
 */
struct tether_cmd_request_submit {
	__u32 size;
	__u32 flags;
	__u32 source;
	__s32 source_fd;
	__aligned_u64 source_offset;
	__aligned_u64 addr;
	__aligned_u64 length;
	__aligned_u64 cookie;
	__aligned_u64 id;
	__aligned_u64 __reserved;
};

#define TETHER_IOC_REQUEST_SUBMIT _IO(TETHER_TYPE, TETHER_CMD_REQUEST_SUBMIT)

/**
 * struct tether_cmd_request_complete - TETHER_IOC_REQUEST_COMPLETE: finish a
 *	held request
 * @size: (in) sizeof(struct tether_cmd_request_complete)
 * @flags: (in) must be 0
 * @id: (in) a held request (TETHER_REQUEST_HOLD)
 * @status: (in) 0: write the data (the worker does it, then the request
 *	completes as an asynchronous one); a negative errno: complete the
 *	request now with this status, writing nothing
 * @__reserved: must be 0
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_request_complete".
 */
struct tether_cmd_request_complete {
	__u32 size;
	__u32 flags;
	__aligned_u64 id;
	__s32 status;
	__u32 __reserved;
};

#define TETHER_IOC_REQUEST_COMPLETE _IO(TETHER_TYPE, TETHER_CMD_REQUEST_COMPLETE)

/**
 * struct tether_cmd_request_cancel - TETHER_IOC_REQUEST_CANCEL: cancel a
 *	request
 * @size: (in) sizeof(struct tether_cmd_request_cancel)
 * @flags: (in) must be 0
 * @id: (in) an outstanding request
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_request_cancel".
 */
struct tether_cmd_request_cancel {
	__u32 size;
	__u32 flags;
	__aligned_u64 id;
};

#define TETHER_IOC_REQUEST_CANCEL _IO(TETHER_TYPE, TETHER_CMD_REQUEST_CANCEL)

/**
 * struct tether_cmd_request_wait - TETHER_IOC_REQUEST_WAIT: wait for a request
 *	to complete and collect its status
 * @size: (in) sizeof(struct tether_cmd_request_wait)
 * @flags: (in) must be 0
 * @id: (in) an outstanding request
 * @timeout_ms: (in) how long to wait; 0: do not block
 * @status: (out) the request's status, 0 or a negative errno
 *
 * Rules and errors: Documentation/tether.rst, "struct tether_cmd_request_wait".
 */
struct tether_cmd_request_wait {
	__u32 size;
	__u32 flags;
	__aligned_u64 id;
	__u32 timeout_ms;
	__s32 status;
};

#define TETHER_IOC_REQUEST_WAIT _IO(TETHER_TYPE, TETHER_CMD_REQUEST_WAIT)

#endif /* _UAPI_LINUX_TETHER_H */
