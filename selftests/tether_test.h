/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the tether selftests (kselftest_harness.h based). */
#ifndef _TETHER_TEST_H
#define _TETHER_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/tether.h>

#include "kselftest_harness.h"

#define TETHER_DEV "/dev/tether"

static inline size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * Automatic NUMA balancing may migrate a test's pages at any moment (the VM
 * has two nodes), which would add genuine but unplanned invalidations to
 * tests that assert an exact list of events. Bind every test program's
 * memory to node 0; tests that want balancing or migration undo or bypass
 * this explicitly.
 */
__attribute__((constructor)) static void tether_test_bind_node0(void)
{
	unsigned long mask = 1;

	set_mempolicy(MPOL_BIND, &mask, sizeof(mask) * 8);
}

/*
 * Iteration counts for the long-running tests. scripts/check sets
 * TETHER_QUICK=1 for the debug kernel, where KASAN and lockdep make every
 * cycle ten to twenty times slower: there the test runs @quick iterations,
 * enough to drive every path under the bug detectors, while 6.1 and 6.12
 * run the full @full count. The test logs the count it used.
 */
static inline long tether_count(long full, long quick)
{
	const char *s = getenv("TETHER_QUICK");

	return s && *s && strcmp(s, "0") ? quick : full;
}

/* ioctl() that retries on EINTR and returns 0 or -errno. */
static inline int tether_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/* Open the device, or SKIP the test when the module is not loaded. */
#define tether_open_or_skip(_metadata, fd_out)                               \
	do {                                                                 \
		*(fd_out) = open(TETHER_DEV, O_RDWR | O_CLOEXEC);            \
		if (*(fd_out) < 0 && errno == ENOENT)                        \
			SKIP(return, "%s absent: tether.ko not loaded", TETHER_DEV); \
		ASSERT_LE(0, *(fd_out)) TH_LOG("open %s: %s", TETHER_DEV,   \
					       strerror(errno));             \
	} while (0)

/* Assert that an ioctl fails with exactly this errno. */
#define ASSERT_IOCTL_ERR(_errno, fd, cmd, arg) \
	ASSERT_EQ(-(_errno), tether_ioctl(fd, cmd, arg))

/* Assert that an ioctl succeeds. */
#define ASSERT_IOCTL_OK(fd, cmd, arg)                                       \
	do {                                                                \
		int __r = tether_ioctl(fd, cmd, arg);                       \
		ASSERT_EQ(0, __r) TH_LOG(#cmd ": %s", strerror(-__r));      \
	} while (0)

/* A context with its ring and validity table mapped. */
struct tctx {
	int fd;
	struct tether_info info;
	struct tether_ring_consumer *cons;
	void *shared;
	struct tether_ring_header *hdr;
	struct tether_event *events;
	uint64_t *validity;
};

/* Open /dev/tether and map its shared memory; 0 or -errno. */
static inline int tctx_open(struct tctx *t)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->fd = open(TETHER_DEV, O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	t->info.size = sizeof(t->info);
	ret = tether_ioctl(t->fd, TETHER_IOC_GET_INFO, &t->info);
	if (ret)
		goto err;
	t->cons = mmap(NULL, page_size(), PROT_READ | PROT_WRITE, MAP_SHARED,
		       t->fd, t->info.consumer_offset);
	if (t->cons == MAP_FAILED) {
		ret = -errno;
		goto err;
	}
	t->shared = mmap(NULL, t->info.shared_size, PROT_READ, MAP_SHARED,
			 t->fd, t->info.shared_offset);
	if (t->shared == MAP_FAILED) {
		ret = -errno;
		munmap(t->cons, page_size());
		goto err;
	}
	t->hdr = t->shared;
	t->events = (struct tether_event *)((char *)t->shared + t->hdr->events_offset);
	t->validity = (uint64_t *)((char *)t->shared + t->hdr->validity_offset);
	return 0;
err:
	close(t->fd);
	t->fd = -1;
	return ret;
}

static inline void tctx_close(struct tctx *t)
{
	if (t->fd < 0)
		return;
	munmap(t->shared, t->info.shared_size);
	munmap(t->cons, page_size());
	close(t->fd);
	t->fd = -1;
}

#define tctx_open_or_skip(_metadata, t)                                      \
	do {                                                                 \
		int __r = tctx_open(t);                                      \
		if (__r == -ENOENT)                                          \
			SKIP(return, "%s absent: tether.ko not loaded", TETHER_DEV); \
		ASSERT_EQ(0, __r) TH_LOG("tctx_open: %s", strerror(-__r));   \
	} while (0)

/* Secure [addr, addr + len); 0 or -errno, the result in *s. */
static inline int tsecure(struct tctx *t, const void *addr, size_t len,
			  uint32_t flags, uint64_t cookie, struct tether_cmd_secure *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	s->flags = flags;
	s->addr = (uintptr_t)addr;
	s->length = len;
	s->cookie = cookie;
	return tether_ioctl(t->fd, TETHER_IOC_SECURE, s);
}

static inline int trelease(struct tctx *t, uint64_t handle)
{
	struct tether_cmd_release r = { .size = sizeof(r), .handle = handle };

	return tether_ioctl(t->fd, TETHER_IOC_RELEASE, &r);
}

/* Is the secured range still valid? One load, as a cache would do it. */
static inline int tvalid(const struct tctx *t, const struct tether_cmd_secure *s)
{
	return __atomic_load_n(&t->validity[s->slot], __ATOMIC_RELAXED) ==
	       s->generation;
}

/* Take the next event from the mmap()ed ring: 1 if there was one, else 0. */
static inline int tnext(struct tctx *t, struct tether_event *ev)
{
	uint64_t cons = t->cons->consumer;
	/* pairs with the kernel's release store of producer */
	uint64_t prod = __atomic_load_n(&t->hdr->producer, __ATOMIC_ACQUIRE);

	if (cons == prod)
		return 0;
	*ev = t->events[cons & (t->hdr->entries - 1)];
	/* pairs with the kernel's acquire load before it reuses the slot */
	__atomic_store_n(&t->cons->consumer, cons + 1, __ATOMIC_RELEASE);
	return 1;
}

/* Events waiting in the ring. */
static inline uint64_t tpending(const struct tctx *t)
{
	return __atomic_load_n(&t->hdr->producer, __ATOMIC_ACQUIRE) - t->cons->consumer;
}

static inline int tstats(struct tctx *t, struct tether_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	return tether_ioctl(t->fd, TETHER_IOC_GET_STATS, st);
}

/* The next event must be exactly this invalidation. */
#define ASSERT_EVENT(t, s, _reason, _start, _end)                            \
	do {                                                                 \
		struct tether_event __ev;                                    \
		ASSERT_EQ(1, tnext(t, &__ev)) TH_LOG("no event");            \
		ASSERT_EQ(TETHER_EVENT_INVALIDATE, __ev.type);               \
		ASSERT_EQ((s)->handle, __ev.handle);                         \
		ASSERT_EQ((s)->cookie, __ev.cookie);                         \
		ASSERT_EQ((uint32_t)(_reason), __ev.reason)                  \
			TH_LOG("reason %u, expected %u", __ev.reason,        \
			       (uint32_t)(_reason));                         \
		ASSERT_EQ((uint64_t)(uintptr_t)(_start), __ev.start);        \
		ASSERT_EQ((uint64_t)(uintptr_t)(_end), __ev.end);            \
		ASSERT_FALSE(tvalid(t, s));                                  \
	} while (0)

/* No event is waiting. */
#define ASSERT_NO_EVENT(t)                                                   \
	do {                                                                 \
		struct tether_event __ev = { 0 };                            \
		int __got = tnext(t, &__ev);                                 \
		ASSERT_EQ(0, __got) TH_LOG("unexpected event: type %u reason %u handle %llu [%llx, %llx)", \
					   __ev.type, __ev.reason,          \
					   (unsigned long long)__ev.handle,  \
					   (unsigned long long)__ev.start,   \
					   (unsigned long long)__ev.end);    \
	} while (0)

/* A new anonymous read-write section of @len bytes on context fd @ctx: its fd, or -errno. */
static inline int section_anon(int ctx, uint64_t len)
{
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.length = len,
		.max_prot = TETHER_SECTION_READ | TETHER_SECTION_WRITE,
		.backing_fd = -1,
	};
	int ret = tether_ioctl(ctx, TETHER_IOC_SECTION_CREATE, &c);

	return ret ? ret : (int)c.fd;
}

/* TETHER_IOC_SECTION_QUERY on a section descriptor; 0 or -errno. */
static inline int section_query(int fd, struct tether_section_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return tether_ioctl(fd, TETHER_IOC_SECTION_QUERY, info);
}

/* The query's resident page count, or -errno. */
static inline long long section_resident(int fd)
{
	struct tether_section_info info;
	int ret = section_query(fd, &info);

	return ret ? ret : (long long)info.resident_pages;
}

/* Anonymous private memory, touched so every page is present. */
static inline void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		memset(p, 0x5a, len);
	return p;
}

/* A field of /proc/self/status in kB (VmPin, VmLck, ...), or -1. */
static inline long proc_status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long val = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, field, n) && line[n] == ':') {
			val = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * Fold the per-CPU deltas of the vm counters in (as root), or the pin
 * counters lag by up to a second.
 */
static inline void vmstat_refresh(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			errno = 0; /* not root: read what there is */
		close(fd);
	}
}

/* A counter of /proc/vmstat as it is, or -1. */
static inline long long vmstat_read(const char *name)
{
	char key[128];
	long long val;
	long long found = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%127s %lld", key, &val) == 2) {
		if (!strcmp(key, name)) {
			found = val;
			break;
		}
	}
	fclose(f);
	return found;
}

/* A counter of /proc/vmstat, its per-CPU deltas folded in, or -1. */
static inline long long vmstat(const char *name)
{
	vmstat_refresh();
	return vmstat_read(name);
}

/* Is the running kernel @major.@minor or later? 1, 0, or -1 if unknown. */
static inline int kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma, mi;

	if (uname(&u) || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return -1;
	return ma > major || (ma == major && mi >= minor);
}

/* The page frame behind @addr, from /proc/self/pagemap (root sees PFNs); 0 if none. */
static inline uint64_t pfn_of(const void *addr)
{
	uint64_t ent = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), ((uintptr_t)addr / page_size()) * 8) != 8)
		ent = 0;
	close(fd);
	return (ent & (1ULL << 63)) ? ent & ((1ULL << 55) - 1) : 0;
}

/* The /proc/kpageflags word of the page mapped at @addr, or -1 (root only). */
static inline long long kpage_flags(const void *addr)
{
	uint64_t pfn = pfn_of(addr), flags;
	ssize_t n;
	int fd;

	if (!pfn)
		return -1;
	fd = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = pread(fd, &flags, sizeof(flags), pfn * sizeof(flags));
	close(fd);
	return n == sizeof(flags) ? (long long)flags : -1;
}

#define KPF_DIRTY 4

/* Is PG_dirty set on the page at @addr? 1, 0, or -1 (unknown). */
static inline int page_dirty(const void *addr)
{
	long long flags = kpage_flags(addr);

	return flags < 0 ? -1 : !!(flags & (1ULL << KPF_DIRTY));
}

/*
 * A 32 MiB ext4 file system on a loop device, mounted at a fresh directory
 * under /tmp: a real disk for write-back and O_DIRECT checks.
 */
struct ext4_disk {
	char dir[64];
	char img[80];
	bool mounted;
};

/* Make and mount it; 0, or -1 with nothing left behind. */
static inline int ext4_disk_mount(struct ext4_disk *d)
{
	char cmd[512];

	d->mounted = false;
	snprintf(d->dir, sizeof(d->dir), "/tmp/tether-ext4-XXXXXX");
	if (!mkdtemp(d->dir))
		return -1;
	snprintf(d->img, sizeof(d->img), "%s.img", d->dir);
	/* loop and ext4 are modules on 6.1/6.12, built in on debug */
	snprintf(cmd, sizeof(cmd),
		 "{ modprobe -q loop; modprobe -q ext4; } 2>/dev/null; "
		 "truncate -s 32M %s && mkfs.ext4 -q -F %s >/dev/null 2>&1 && "
		 "mount -o loop %s %s 2>/dev/null",
		 d->img, d->img, d->img, d->dir);
	if (system(cmd)) {
		rmdir(d->dir);
		unlink(d->img);
		return -1;
	}
	d->mounted = true;
	return 0;
}

/* Unmount and remove it: 0, or -1 if the unmount failed (said on stderr). */
static inline int ext4_disk_unmount(struct ext4_disk *d)
{
	char cmd[128];
	int ret = 0;

	if (d->mounted) {
		snprintf(cmd, sizeof(cmd), "umount %s", d->dir);
		if (system(cmd)) {
			fprintf(stderr, "umount %s failed\n", d->dir);
			ret = -1;
		}
		d->mounted = false;
	}
	rmdir(d->dir);
	unlink(d->img);
	return ret;
}

/*
 * Read [@off, @off + @len) of @path from the disk itself, bypassing the
 * page cache (O_DIRECT; @off page-aligned): 0, or -1.
 */
static inline int read_direct(const char *path, size_t off, void *out, size_t len)
{
	size_t span = (len + page_size() - 1) & ~(page_size() - 1);
	void *buf;
	int fd, ret = -1;

	if (posix_memalign(&buf, page_size(), span))
		return -1;
	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd >= 0 && pread(fd, buf, span, off) >= (ssize_t)len) {
		memcpy(out, buf, len);
		ret = 0;
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	return ret;
}

/*
 * In a fixture's setup: mount @d, or skip; but in the test VM
 * (TETHER_KERNEL set) the disk tests must run, so there it fails.
 */
#define EXT4_DISK_MOUNT_OR_SKIP(d)						\
	do {									\
		if (ext4_disk_mount(d)) {					\
			ASSERT_EQ(NULL, getenv("TETHER_KERNEL"))		\
				TH_LOG("the test VM cannot mount an ext4 image on a loop device"); \
			SKIP(return, "cannot mount an ext4 image on a loop device"); \
		}								\
	} while (0)

/* Open descriptors of this process (/proc/self/fd), -1 if unreadable. */
static inline int fds_open(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *d;
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n - 1;	/* the directory's own descriptor */
}

/* Pages pinned (FOLL_PIN) by anyone now, from the kernel's counters. */
static inline long long pins_held(void)
{
	long long acquired;

	vmstat_refresh();	/* once for both */
	acquired = vmstat_read("nr_foll_pin_acquired");
	return acquired - vmstat_read("nr_foll_pin_released");
}

/* Write @val to a /proc or /sys file: 0 or -errno. */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

/* A /proc/meminfo value in kB after folding the per-cpu counters, or -1. */
static inline long meminfo_kb(const char *key)
{
	char line[256];
	long val = -1;
	size_t klen = strlen(key);
	FILE *f;

	write_file("/proc/sys/vm/stat_refresh", "1");
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

/* Set or read a tether.ko parameter (the tests run as root in the VM). */
static inline int tether_param_set(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/tether/parameters/%s", name);
	return write_file(path, val);
}

static inline int tether_param_get(const char *name, char *val, size_t len)
{
	char path[128];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/tether/parameters/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, val, len - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	val[n] = 0;
	val[strcspn(val, "\n")] = 0;
	return 0;
}

/* Drop CAP_IPC_LOCK from this (forked) process, as an unprivileged user has. */
static inline int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	data[CAP_IPC_LOCK / 32].permitted &= ~(1u << (CAP_IPC_LOCK % 32));
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* The tether.ko built for the running kernel (TETHER_BUILD, TETHER_KERNEL). */
static inline int tether_ko_path(char *path, size_t len)
{
	const char *build = getenv("TETHER_BUILD"), *kernel = getenv("TETHER_KERNEL");

	if (!build || !kernel)
		return -ENOENT;
	snprintf(path, len, "%s/%s/kmod/tether.ko", build, kernel);
	return access(path, R_OK) ? -errno : 0;
}

/* Load a module file, or tether.ko when @ko is NULL: 0 or -errno. */
static inline int tether_module_load(const char *ko)
{
	char path[PATH_MAX];
	int fd, ret;

	if (!ko) {
		ret = tether_ko_path(path, sizeof(path));
		if (ret)
			return ret;
		ko = path;
	}
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline int tether_module_unload(void)
{
	return syscall(SYS_delete_module, "tether", O_NONBLOCK) ? -errno : 0;
}

/*
 * Fork a child that keeps sharing this process's memory until *@release is
 * closed, then exits 0: the pid, or -1.
 */
static inline pid_t fork_holder(int *release)
{
	int go[2];
	pid_t pid;
	char c;

	if (pipe(go))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	*release = go[1];
	return pid;
}

/* Pass a descriptor over a unix socket (SCM_RIGHTS); 0 or -1. */
static inline int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

/* Receive one passed by send_fd(): the descriptor, or -1. */
static inline int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * Run @fn(@how) in a forked child and reap it. True when it ended as asked:
 * killed by SIGKILL if @killed, else exited with status 0.
 */
static inline bool child_ends(int (*fn)(int how), int how, bool killed)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return false;
	if (pid == 0)
		_exit(fn(how));
	if (waitpid(pid, &status, 0) != pid)
		return false;
	if (killed)
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif /* _TETHER_TEST_H */
