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
 *	_SECTION_OPEN, _SECTION_QUERY); see "Sections".
 * @TETHER_FEATURE_REQUEST: requests that probe and lock a user output buffer
 *	for write (TETHER_IOC_REQUEST_SUBMIT, _COMPLETE, _CANCEL, _WAIT) and
 *	TETHER_EVENT_REQUEST; see "Requests".
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
 * Call it first: a library checks @abi_version and @features and refuses
 * to run when something it needs is missing. The sizes are fixed for the
 * life of the context (module parameters at open time).
 *
 * Errors: only the general ones.
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
 * DOC: Securing ranges
 *
 * TETHER_IOC_SECURE watches [addr, addr + length), rounded out to whole
 * pages, with an mmu_interval_notifier and returns a handle. Handles are
 * never reused within a context. When the virtual-to-physical mapping of any
 * page of the range is about to change, whoever causes it (this process,
 * another one through move_pages() or process_madvise(), a kernel thread
 * such as khugepaged, kcompactd or the OOM reaper), the range becomes
 * *invalidated*, before the change is made:
 *
 * - its word in the validity table (see "Shared memory") stops being equal
 *   to the generation TETHER_IOC_SECURE returned, and
 * - one TETHER_EVENT_INVALIDATE event is queued.
 *
 * An invalidated range produces no further events; it stays secured (and
 * pinned) until TETHER_IOC_RELEASE, so a device still using its pages never
 * touches freed memory. When the owner's address space goes away (exit,
 * exec), the module releases every range and pin by itself shortly after,
 * even if another process still holds the file: nobody can use them any
 * more (calls from other address spaces get EPERM).
 *
 * Notifier calls that provably leave the range's pages mapped do not
 * invalidate; the stats count them as @kept:
 *
 * - write-protection of individual pages (MMU_NOTIFY_PROTECTION_PAGE): fork
 *   making the parent's private pages copy-on-write (pinned pages are not
 *   even write-protected: the kernel copies them for the child), and
 *   writeback cleaning of shared file pages. If a later write does replace
 *   a page (copy-on-write break), that arrives as its own TETHER_REASON_CLEAR.
 *   (Fork of a hugetlb mapping notifies MMU_NOTIFY_CLEAR instead, so secured
 *   hugetlb ranges are invalidated by a fork: conservative.)
 * - protection changes (MMU_NOTIFY_PROTECTION_VMA) after which every mapping
 *   of the range still grants the access it was secured for: automatic
 *   NUMA balancing's hinting faults and userfaultfd write-protection.
 *   mprotect() that takes away read access, or write access from a range
 *   secured with TETHER_SECURE_WRITE, invalidates (TETHER_REASON_PROTECTION).
 *   The kernel notifies only for pages present in the page tables: a range
 *   none of whose pages was ever touched has no mapping to change, and
 *   mprotect() of it reports nothing (pinned ranges are always present).
 * - soft-dirty tracking (MMU_NOTIFY_SOFT_DIRTY).
 *
 * Some changes are reported although the pages stay, because the notifier
 * cannot tell them apart from ones that move them: splitting or collapsing a
 * transparent huge page mapping, and a migration attempt on a pinned page
 * that the kernel then abandons. These are safe, merely conservative.
 */

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
 * @generation: (out) the value of the range's validity word while it is valid
 * @slot: (out) index of the range's word in the validity table
 * @__reserved: must be 0
 *
 * The reply is written before the range is pinned and published: no event,
 * release or validity word names @handle before the caller holds it. When
 * the call fails after that, the reply's fields name a range that never
 * existed (its handle gets ENOENT).
 *
 * Errors:
 *
 * - EINVAL: @length is 0, @addr + @length wraps around, unknown @flags,
 *   @__reserved not 0.
 * - EFAULT: part of the range is not mapped, is mapped without read access
 *   or (with TETHER_SECURE_WRITE) without write access, is an I/O or PFN
 *   mapping, or lies outside the user address space; or the reply cannot
 *   be written (nothing was secured).
 * - EOPNOTSUPP: TETHER_SECURE_PIN | TETHER_SECURE_WRITE on a MAP_SHARED
 *   mapping of a file that needs dirty tracking (ext4, xfs, ...), on every
 *   kernel: the rule of 6.5's vma_needs_dirty_tracking(), checked by tether
 *   before GUP; shmem/memfd is fine.
 * - ENOSPC: the context already holds max_regions ranges.
 * - ENOMEM: pinning would exceed RLIMIT_MEMLOCK (without CAP_IPC_LOCK) or
 *   the context's max_pinned_bytes, or memory ran out.
 * - EAGAIN: the range kept changing while it was being secured (it was
 *   retried a few times); nothing is held.
 * - EINTR: a fatal signal arrived while pinning.
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
 * Unpins the pages (marking them dirty if secured with TETHER_SECURE_WRITE),
 * stops watching the range and zeroes its validity word.
 *
 * Errors: ENOENT: no range with this handle in this context (never
 * issued, issued by another context, or already released).
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
 * Releases the handles in order and stops at the first that fails.
 *
 * Errors: ENOENT as for TETHER_IOC_RELEASE (see @done); EINVAL: @count is 0
 * or above TETHER_RELEASE_BATCH_MAX; EFAULT: @handles is not readable;
 * EINTR: a fatal signal arrived (@done counts what was released).
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
 * DOC: Events
 *
 * Events are fixed-size records (struct tether_event) in a ring that the
 * kernel fills and the owner empties, either with read() or through the
 * mmap()ed ring, not both. Every queued record, the overflow marker too,
 * carries the next sequence number (from 1, no gaps); dropped events get
 * none.
 *
 * read() returns as many whole events as fit in the buffer (EINVAL if it
 * cannot hold one); it blocks while the ring is empty unless the file is
 * O_NONBLOCK (then EAGAIN). Its other errors: EPERM (called from another
 * address space), EFAULT (the buffer is not writable), EINTR (a signal
 * while blocked), EIO (the consumer page holds a position the ring can
 * never have). poll()/epoll report EPOLLIN while events wait, and EPOLLERR
 * to another address space.
 *
 * When an event finds the ring with one free slot, a TETHER_EVENT_OVERFLOW
 * record takes that slot and the ring stops queueing: later events are
 * dropped and counted (tether_ring_header.dropped), and their ranges'
 * validity words still change, so nothing is lost silently. A consumer
 * that meets the overflow record must, in this order: consume it (publish
 * its position past it), rearm the ring with TETHER_IOC_REARM, then treat
 * every range as possibly invalidated (re-check validity words or release
 * everything). read() rearms by itself when it returns the overflow record.
 */

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
 * DOC: Shared memory
 *
 * Two mmap()s expose a context's state without system calls (offsets and
 * sizes from TETHER_IOC_GET_INFO; only the owner may map them, EPERM for
 * anyone else). Both must be MAP_SHARED and not executable, the consumer
 * page exactly one page, the shared area at most shared_size bytes, at
 * one of the two offsets: anything else is EINVAL. Neither is inherited
 * by fork() (VM_DONTCOPY).
 *
 * - the consumer page (read-write, one page): struct tether_ring_consumer;
 * - the shared area (read-only; a writable or later mprotect(PROT_WRITE)
 *   mapping is refused with EACCES): struct tether_ring_header at
 *   offset 0, the event records at @events_offset, the validity table (an
 *   array of @validity_entries __u64 words) at @validity_offset.
 *
 * The ring: the kernel writes records at index producer % entries and then
 * publishes @producer with a release store; the consumer reads @producer
 * with an acquire load, reads the records between its position and
 * @producer, then publishes its new position with a release store to
 * tether_ring_consumer.consumer, which the kernel reads with an acquire load
 * before reusing a slot. "Anything new?" is one load of @producer.
 *
 * The validity table: while a range is valid, word @slot equals the
 * @generation TETHER_IOC_SECURE returned; the kernel changes it, before
 * the notifier returns and before the mapping changes, when the range is
 * invalidated, and zeroes it on release. Generations are unique within the
 * context, so a reused slot never matches a stale generation. Checking a
 * cached range is one load and one compare. The word publishes no other
 * data, so the kernel's store and the reader's load are both relaxed
 * (WRITE_ONCE(), __atomic_load_n(__ATOMIC_RELAXED)): no barrier pairs, as
 * none is needed; the ring's @producer and consumer are the pairs.
 */

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
 * Harmless when the ring has not overflowed (@dropped is then 0). The
 * reply is written before the ring is restarted: when it cannot be written
 * (EFAULT) the ring stays stopped and a retry gets @dropped.
 *
 * Errors: EBUSY: the ring overflowed and records (the marker among them)
 * are still unread; consume them first, or the next overflow would find no
 * slot for its marker.
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
 * The fields from @requests on were added with TETHER_FEATURE_REQUEST; a
 * structure that ends at @retries (the first version) is still accepted and
 * receives only the fields it has room for.
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
 *   TETHER_SECTION_WRITE; PROT_EXEC;
 *   PROT_WRITE with MAP_SHARED on a section whose backing memfd has
 *   F_SEAL_WRITE or F_SEAL_FUTURE_WRITE.
 * - ENODEV: the backing file's own mmap() set up the view in a way tether
 *   cannot follow (only possible for unusual file systems).
 * - any error of the backing file's own mmap().
 *
 * mprotect() on a view fails with EACCES when it asks for more than the
 * view was allowed at mmap() time: write access to a MAP_SHARED view mapped
 * through a descriptor without TETHER_SECTION_WRITE (or on a write-sealed
 * memfd), or execute access to any view. mremap() cannot grow a view
 * (EFAULT), and remap_file_pages() on a shared view maps through tether
 * again, with the checks above (EINVAL beyond the section's end), so a
 * view never reaches beyond its section.
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
 *   mmap(), or it is not one of the kinds a section accepts: shmem (tmpfs,
 *   memfd), a file system on a block device, NFS, SMB/CIFS, 9p, Ceph, AFS
 *   or FUSE. memfd_secret(), hugetlbfs, procfs, sysfs and other pseudo or
 *   stacking file systems are refused.
 * - EACCES: @backing_fd is not open for reading; @max_prot has
 *   TETHER_SECTION_WRITE and @backing_fd is not open for writing or the
 *   file is append-only (a descriptor opened O_APPEND, or opened before
 *   the flag was set: open() itself refuses O_RDWR without O_APPEND on
 *   such a file); TETHER_SECTION_CREATE_EXTEND is needed and @backing_fd
 *   is not open for writing; @max_prot has TETHER_SECTION_WRITE and @backing_fd is a memfd with
 *   F_SEAL_WRITE or F_SEAL_FUTURE_WRITE; TETHER_SECTION_CREATE_EXTEND on
 *   an append-only or immutable file (truncate(2)'s EPERM).
 * - EEXIST: @name is already taken in the caller's user namespace.
 * - ENOMEM, EMFILE, ENFILE: out of memory, descriptors or files.
 * - ENOSPC: the kernel's internal tmpfs could not make the file of an
 *   anonymous section (out of memory for its inode).
 * - other errors of truncate(2) on the file's path when extending it.
 *
 * A file that TETHER_SECTION_CREATE_EXTEND grew stays grown if the call
 * then fails (out of memory or descriptors, or EEXIST when another caller
 * took @name meanwhile).
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

/**
 * DOC: Requests
 *
 * A request asks the module to write data into a user output buffer that
 * the request names by address (an embedded pointer, as in a
 * METHOD_BUFFERED ioctl on Windows). This is the analogue of
 * WdfRequestProbeAndLockUserBufferForWrite(): TETHER_IOC_REQUEST_SUBMIT
 * checks, in the calling thread and its address space, that every byte of
 * [addr, addr + length) is mapped writable, and pins (locks) all its pages
 * for write before a single byte is written. If any page cannot be pinned
 * the call fails with EFAULT, every pin taken so far is dropped and nothing
 * is written anywhere. The pages stay pinned until the request completes;
 * the module then marks them dirty and unpins them, whatever the outcome.
 *
 * The data comes from a *source* (enum tether_source_type). The module
 * writes it only through the pinned pages, never through the user address,
 * so a buffer that is unmapped, remapped or freed while a request is
 * outstanding is harmless: the write lands in the pinned pages and is lost
 * with them.
 *
 * A request runs either
 *
 * - synchronously (no flags): the data is written before the call returns,
 *   and the call's result is the request's result; or
 * - asynchronously (TETHER_REQUEST_ASYNC): the call returns once the buffer
 *   is locked, and a kernel worker writes the data and completes the
 *   request; or
 * - held (TETHER_REQUEST_ASYNC | TETHER_REQUEST_HOLD): the buffer is locked
 *   and nothing more happens until TETHER_IOC_REQUEST_COMPLETE starts the
 *   transfer (status 0) or fails the request (a negative errno), the way a
 *   driver parks a request in a manual queue until its device has data.
 *
 * An asynchronous request completes with a status: 0, the error of its
 * source, -ECANCELED (TETHER_IOC_REQUEST_CANCEL, or the context being
 * closed), or the error given to TETHER_IOC_REQUEST_COMPLETE. Completion
 * unpins the buffer and queues a TETHER_EVENT_REQUEST event (id in @handle,
 * cookie, buffer range in @start/@end, status in @status). The request then
 * waits, holding no pages, until TETHER_IOC_REQUEST_WAIT collects its
 * status, once, as aio_return() does for POSIX AIO; until then it counts
 * towards the context's limit of outstanding requests. A cancelled request
 * may have written part of its buffer.
 *
 * Request ids are issued from 1, in order, and never reused in a context; a
 * synchronous request has one too. An id that was issued but is no longer
 * outstanding (it completed synchronously or was collected) gets EALREADY;
 * one that was never issued by this context gets ENOENT.
 *
 * Only the process that submitted a request may complete, cancel or wait
 * for it (EPERM otherwise, also for a process sharing its address space);
 * any thread of that process may. Closing the context cancels every
 * outstanding request, stops a transfer in progress (at once if it waits
 * for a source that blocks, such as a FUSE file that never answers: the
 * read is left to finish on its own, holding no page of the request), and
 * unpins everything; so does the owner's exit (or exec), even while another
 * process still holds the file. Cancelling ends such a request at once too.
 *
 * Limits (module parameters, fixed when the context is opened): at most
 * max_requests outstanding requests (ENOSPC), and at most max_request_mb
 * MiB locked by requests at once (ENOMEM). Locked pages count towards the
 * context's max_pinned_bytes too, and every request's, synchronous,
 * asynchronous or held, towards RLIMIT_MEMLOCK as well (unless the caller
 * has CAP_IPC_LOCK) for as long as they stay locked.
 *
 * The errors are the general ones: EINVAL for an invalid parameter or a
 * zero length, EFAULT for a buffer that is not mapped writable, EALREADY
 * for a request that has completed, ENOENT for one never issued, EPERM for
 * a process other than the submitter, ENOSPC and ENOMEM for the limits
 * (the README maps them to WDF's status codes).
 */

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
 * Checks are made in this order: @flags, @__reserved and the source
 * (EINVAL, EBADF), @length and the source range (EINVAL), the buffer
 * lying in the user address space (EFAULT), limits (ENOSPC, ENOMEM), then
 * the buffer's mapping (EFAULT).
 *
 * Errors:
 *
 * - EINVAL: unknown @flags, TETHER_REQUEST_HOLD without
 *   TETHER_REQUEST_ASYNC, unknown @source, @source_fd not -1 for the
 *   pattern, @source_fd not a section descriptor for a section, @length
 *   is 0, @source_offset + @length beyond the end of the source,
 *   @addr + @length wraps around, @__reserved not 0.
 * - EBADF: for a section, @source_fd is not an open descriptor.
 * - EFAULT: part of the buffer is not mapped, is mapped without write
 *   access (read-only, PROT_NONE guard page), is an I/O or PFN mapping, or
 *   lies outside the user address space; nothing was written. Also the
 *   reply cannot be written: a synchronous request writes its @id before
 *   the data, so then nothing was written or counted.
 * - EOPNOTSUPP: TETHER_REQUEST_HOLD (a long-term writable pin) on a
 *   MAP_SHARED mapping of a file that needs dirty tracking (ext4, xfs,
 *   ...), on every kernel; nothing was written or pinned.
 * - ENOSPC: max_requests requests are outstanding.
 * - ENOMEM: locking the buffer would exceed max_request_mb, the context's
 *   max_pinned_bytes or (without CAP_IPC_LOCK) RLIMIT_MEMLOCK, or memory
 *   ran out.
 * - EINTR: a fatal signal arrived while locking or (synchronous) writing.
 * - a synchronous request returns the error its source reported (a
 *   section: EIO when its file shrank, or the file system's read error).
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
 * Errors: EINVAL: @status is positive or below -4095, or @__reserved is
 * not 0; EALREADY: the request is no longer held (it completed, or its
 * completion is under way: completing twice); ENOENT: no such request;
 * EPERM: not the submitting process.
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
 * On success the request completes (or has completed) with -ECANCELED: a
 * held or queued one at once, one being written as soon as the worker
 * reaches the next page.
 *
 * Errors: EALREADY: the request has completed or is completing (also a
 * second cancel); ENOENT: no such request; EPERM: not the submitting
 * process.
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
 * On success the request is gone: its id gets EALREADY from now on. The
 * status is written before the request is taken out: when it cannot be
 * written (EFAULT) the request stays, and a retry collects it.
 *
 * Errors: ETIMEDOUT: not completed within @timeout_ms (it stays
 * outstanding); EINTR: a signal arrived; EALREADY: already collected
 * (waiting twice); ENOENT: no such request; EPERM: not the submitting
 * process.
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
