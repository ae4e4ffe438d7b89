// SPDX-License-Identifier: GPL-2.0
/*
 * Requests whose source blocks: a section backed by a file of a FUSE file
 * system written here (libfuse3's low-level API) whose READ is never
 * answered. A request reading it must not hold anything up: REQUEST_CANCEL
 * ends it at once, close() and SIGKILL return promptly (even when the FUSE
 * daemon is the killed process itself), no page stays pinned, its pins
 * count in VmPin (RLIMIT_MEMLOCK) while they are held, and other contexts'
 * requests complete meanwhile.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "tether_test.h"

#define FS_SIZE (1 << 20)
#define FS_FILE "data"
#define FS_INO 2
#define BUF_PAGES 16
#define SENTINEL 0x5a
/* generous: the debug kernel is slow */
#define WAIT_MS 20000
/* what "promptly" means here: far below forever, above a slow VM's noise */
#define PROMPT_MS 5000

static void fs_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = FS_SIZE;
	}
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = FS_INO, .attr_timeout = 3600,
				      .entry_timeout = 3600 };

	if (parent != FUSE_ROOT_ID || strcmp(name, FS_FILE)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_attr(FS_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	if (ino != FUSE_ROOT_ID && ino != FS_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fs_attr(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != FS_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fuse_reply_open(req, fi);
}

/* Never answered: tell the test a read arrived, and leave it hanging. */
static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int fd = (int)(intptr_t)fuse_req_userdata(req);

	if (write(fd, "r", 1) != 1)
		return;
}

static const struct fuse_lowlevel_ops fs_ops = {
	.lookup = fs_lookup,
	.getattr = fs_getattr,
	.open = fs_open,
	.read = fs_read,
};

/* Mount the file system at @dir; each READ writes 'r' to @notify_fd. */
static struct fuse_session *fs_mount(const char *dir, int notify_fd)
{
	char *argv[] = { "tether-fuse-test", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, argv);
	struct fuse_session *se;

	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops),
			      (void *)(intptr_t)notify_fd);
	if (!se)
		return NULL;
	if (fuse_session_mount(se, dir)) {
		fuse_session_destroy(se);
		return NULL;
	}
	return se;
}

static void *fs_loop(void *se)
{
	fuse_session_loop(se);
	return NULL;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait up to @ms for the byte @c on @fd: 0, or -ETIMEDOUT / -errno. */
static int wait_byte(int fd, char c, int ms)
{
	long long end = now_ms() + ms;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char got;

	for (;;) {
		int left = end - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, left) < 0)
			return -errno;
		if (!(p.revents & POLLIN))
			continue;
		if (read(fd, &got, 1) != 1)
			return -EIO;
		if (got == c)
			return 0;
	}
}

/* Reap @pid if it ends within @ms: 0 (status in *status) or -ETIMEDOUT. */
static int reap_within(pid_t pid, int ms, int *status)
{
	long long end = now_ms() + ms;

	while (now_ms() < end) {
		if (waitpid(pid, status, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/*
 * Abort the FUSE connection of the mount at @dev, so that whatever waits
 * for it (a kernel without the fix, stuck in close) is released.
 */
static void fs_abort(dev_t dev)
{
	char path[96];

	mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, NULL);
	snprintf(path, sizeof(path), "/sys/fs/fuse/connections/%u/abort",
		 minor(dev));
	write_file(path, "1");
}

/* Submit a read from any source; 0 or -errno, the id in *id. */
static int tsubmit_from(int fd, uint32_t source, int source_fd, uint32_t flags,
			void *addr, uint64_t len, uint64_t off, uint64_t *id)
{
	struct tether_cmd_request_submit r = {
		.size = sizeof(r),
		.flags = flags,
		.source = source,
		.source_fd = source_fd,
		.source_offset = off,
		.addr = (uintptr_t)addr,
		.length = len,
	};
	int ret = tether_ioctl(fd, TETHER_IOC_REQUEST_SUBMIT, &r);

	if (!ret && id)
		*id = r.id;
	return ret;
}

static int tcancel(int fd, uint64_t id)
{
	struct tether_cmd_request_cancel c = { .size = sizeof(c), .id = id };

	return tether_ioctl(fd, TETHER_IOC_REQUEST_CANCEL, &c);
}

/* Wait and collect; 0 or -errno, the request's status in *status. */
static int twait(int fd, uint64_t id, uint32_t timeout_ms, int32_t *status)
{
	struct tether_cmd_request_wait w = { .size = sizeof(w), .id = id,
					 .timeout_ms = timeout_ms,
					 .status = 12345 };
	int ret = tether_ioctl(fd, TETHER_IOC_REQUEST_WAIT, &w);

	if (status)
		*status = ret ? 12345 : w.status;
	return ret;
}

/* A section of the whole FUSE file at @path, read-only: its fd or -errno. */
static int fs_section(int ctx, const char *path, int *ffd)
{
	struct tether_cmd_section_create c = {
		.size = sizeof(c),
		.max_prot = TETHER_SECTION_READ,
	};
	int ret;

	*ffd = open(path, O_RDONLY | O_CLOEXEC);
	if (*ffd < 0)
		return -errno;
	c.backing_fd = *ffd;
	ret = tether_ioctl(ctx, TETHER_IOC_SECTION_CREATE, &c);
	if (ret) {
		close(*ffd);
		return ret;
	}
	return c.fd;
}

/* Does the kernel know the fuse file system (/proc/filesystems)? */
static bool fuse_in_kernel(void)
{
	char line[64];
	bool found = false;
	FILE *f = fopen("/proc/filesystems", "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "nodev\tfuse\n");
	fclose(f);
	return found;
}

/*
 * /dev/fuse, loading fuse.ko if needed: 0, -ENOSYS when the kernel has no
 * FUSE at all (the debug kernel is built without it), or -errno.
 */
static int fuse_available(void)
{
	if (access("/dev/fuse", R_OK | W_OK)) {
		if (system("modprobe -q fuse 2>/dev/null")) {
			/* nothing: the checks below say */
		}
	}
	if (!fuse_in_kernel())
		return -ENOSYS;
	return access("/dev/fuse", R_OK | W_OK) ? -errno : 0;
}

FIXTURE(fsrc) {
	struct tctx t;
	size_t ps;
	size_t len;
	unsigned char *buf;
	char dir[32];
	char path[64];
	dev_t dev;
	pid_t daemon;
	int notify[2];
	int ffd;
	int sfd;
	long long pins0;
};

FIXTURE_SETUP(fsrc)
{
	struct stat st;
	int r;

	self->t.fd = -1;
	self->ffd = -1;
	self->sfd = -1;
	self->notify[0] = self->notify[1] = -1;
	tctx_open_or_skip(_metadata, &self->t);
	if (!(self->t.info.features & TETHER_FEATURE_REQUEST))
		SKIP(return, "no TETHER_FEATURE_REQUEST");
	r = fuse_available();
	if (r == -ENOSYS)
		SKIP(return, "this kernel has no FUSE (CONFIG_FUSE_FS)");
	if (r) {
		/* a kernel of the test VM with FUSE: there, it must work */
		ASSERT_EQ(NULL, getenv("TETHER_KERNEL"))
			TH_LOG("the test VM has no /dev/fuse");
		SKIP(return, "no /dev/fuse");
	}
	self->ps = page_size();
	self->len = BUF_PAGES * self->ps;
	self->buf = map_anon(self->len);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, SENTINEL, self->len);

	strcpy(self->dir, "/tmp/tether-fuse-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/%s", self->dir, FS_FILE);
	ASSERT_EQ(0, pipe2(self->notify, O_CLOEXEC));
	ASSERT_EQ(0, fcntl(self->notify[1], F_SETFL, O_NONBLOCK));
	self->daemon = fork();
	ASSERT_LE(0, self->daemon);
	if (self->daemon == 0) {
		struct fuse_session *se;
		int null = open("/dev/null", O_WRONLY);

		/* never outlive the test, nor hold its output open */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		se = fs_mount(self->dir, self->notify[1]);
		if (!se)
			_exit(1);
		if (write(self->notify[1], "M", 1) != 1)
			_exit(2);
		fuse_session_loop(se);
		_exit(0);
	}
	ASSERT_EQ(0, wait_byte(self->notify[0], 'M', WAIT_MS)) TH_LOG("no mount");
	ASSERT_EQ(0, stat(self->dir, &st));
	self->dev = st.st_dev;
	r = fs_section(self->t.fd, self->path, &self->ffd);
	ASSERT_LE(0, r) TH_LOG("section of a FUSE file: %s", strerror(-r));
	self->sfd = r;
	self->pins0 = pins_held();
}

FIXTURE_TEARDOWN(fsrc)
{
	int status;

	if (self->sfd >= 0)
		close(self->sfd);
	if (self->ffd >= 0)
		close(self->ffd);
	tctx_close(&self->t);
	if (self->daemon > 0) {
		/* the daemon's exit aborts the connection: the reader ends */
		kill(self->daemon, SIGKILL);
		waitpid(self->daemon, &status, 0);
		umount2(self->dir, MNT_DETACH);
		rmdir(self->dir);
	}
	if (self->notify[0] >= 0) {
		close(self->notify[0]);
		close(self->notify[1]);
	}
	if (self->buf && self->buf != MAP_FAILED)
		munmap(self->buf, self->len);
}

/* Both counters of pins: the kernel's FOLL_PIN count and this mm's VmPin. */
#define ASSERT_NOTHING_PINNED()                                              \
	do {                                                                 \
		struct tether_stats __st;                                    \
		ASSERT_EQ(0, tstats(&self->t, &__st));                       \
		ASSERT_EQ(0, __st.request_pages);                            \
		ASSERT_EQ(0, __st.requests);                                 \
		ASSERT_EQ(0, proc_status_kb("VmPin"));                       \
		ASSERT_EQ(self->pins0, pins_held());                         \
	} while (0)

/*
 * A read the daemon never answers: the request waits, and those queued
 * behind it in the same context wait in order, but REQUEST_CANCEL ends it
 * at once, nothing stays pinned, and another context's requests complete
 * meanwhile.
 */
TEST_F_TIMEOUT(fsrc, cancel_ends_a_blocked_read, 300)
{
	size_t half = self->len / 2;
	struct tether_stats st;
	struct tctx u;
	long long t0;
	uint64_t id1, id2, id3;
	int32_t status;
	unsigned char *ubuf;

	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_SECTION, self->sfd,
				  TETHER_REQUEST_ASYNC, self->buf, half, 0, &id1));
	ASSERT_EQ(0, wait_byte(self->notify[0], 'r', WAIT_MS))
		TH_LOG("the daemon never saw a READ");
	ASSERT_EQ(0, tsubmit_from(self->t.fd, TETHER_SOURCE_PATTERN, -1,
				  TETHER_REQUEST_ASYNC, self->buf + half, half, 0,
				  &id2));
	/* blocked, and the next one of this context waits behind it */
	ASSERT_EQ(-ETIMEDOUT, twait(self->t.fd, id1, 300, NULL));
	ASSERT_EQ(-ETIMEDOUT, twait(self->t.fd, id2, 300, NULL));
	/* both pinned, and charged to this mm's RLIMIT_MEMLOCK (VmPin) */
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(BUF_PAGES, st.request_pages);
	ASSERT_EQ((long)(self->len >> 10), proc_status_kb("VmPin"));

	/* another context goes on: asynchronous and synchronous */
	ASSERT_EQ(0, tctx_open(&u));
	ubuf = map_anon(self->len);
	ASSERT_NE(MAP_FAILED, ubuf);
	t0 = now_ms();
	ASSERT_EQ(0, tsubmit_from(u.fd, TETHER_SOURCE_PATTERN, -1,
				  TETHER_REQUEST_ASYNC, ubuf, self->len, 0, &id3));
	ASSERT_EQ(0, twait(u.fd, id3, WAIT_MS, &status));
	ASSERT_EQ(0, status);
	ASSERT_EQ(0, tsubmit_from(u.fd, TETHER_SOURCE_PATTERN, -1, 0, ubuf,
				  self->len, 0, NULL));
	ASSERT_GT(PROMPT_MS, now_ms() - t0);
	ASSERT_EQ(TETHER_PATTERN_BYTE(self->len - 1), ubuf[self->len - 1]);
	tctx_close(&u);
	munmap(ubuf, self->len);

	/* cancel ends the blocked request now: -ECANCELED, nothing written */
	t0 = now_ms();
	ASSERT_EQ(0, tcancel(self->t.fd, id1));
	ASSERT_EQ(0, twait(self->t.fd, id1, WAIT_MS, &status));
	ASSERT_EQ(-ECANCELED, status);
	ASSERT_GT(PROMPT_MS, now_ms() - t0);
	ASSERT_EQ(0, tstats(&self->t, &st));
	ASSERT_EQ(BUF_PAGES / 2, st.request_pages);
	/* the next one still waits for the read in the file system */
	ASSERT_EQ(-ETIMEDOUT, twait(self->t.fd, id2, 300, NULL));
	ASSERT_EQ(0, tcancel(self->t.fd, id2));
	ASSERT_EQ(0, twait(self->t.fd, id2, WAIT_MS, &status));
	ASSERT_EQ(-ECANCELED, status);
	ASSERT_NOTHING_PINNED();
	ASSERT_EQ(SENTINEL, self->buf[0]);
	ASSERT_EQ(SENTINEL, self->buf[self->len - 1]);

	/* and close returns at once, the reader still in the file system */
	t0 = now_ms();
	tctx_close(&self->t);
	ASSERT_GT(PROMPT_MS, now_ms() - t0);
	ASSERT_EQ(self->pins0, pins_held());
}

/* In a child: requests behind a blocked read, then close(). */
static int close_child(const char *path, int notify_fd, size_t len)
{
	unsigned char *buf = map_anon(len);
	struct tctx t;
	long long t0;
	int ffd, sfd, i;

	if (buf == MAP_FAILED || tctx_open(&t))
		return 10;
	sfd = fs_section(t.fd, path, &ffd);
	if (sfd < 0)
		return 11;
	if (tsubmit_from(t.fd, TETHER_SOURCE_SECTION, sfd, TETHER_REQUEST_ASYNC,
			 buf, len / 2, 0, NULL))
		return 12;
	if (wait_byte(notify_fd, 'r', WAIT_MS))
		return 13;
	for (i = 0; i < 4; i++)
		if (tsubmit_from(t.fd, TETHER_SOURCE_PATTERN, -1,
				 TETHER_REQUEST_ASYNC, buf + len / 2, len / 2,
				 0, NULL))
			return 14;
	close(sfd);
	close(ffd);
	t0 = now_ms();
	tctx_close(&t);
	if (now_ms() - t0 >= PROMPT_MS)
		return 15;
	return 0;
}

/* close() with a request blocked in its source returns promptly. */
TEST_F_TIMEOUT(fsrc, close_returns_with_a_blocked_read, 300)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(close_child(self->path, self->notify[0], self->len));
	if (reap_within(pid, WAIT_MS, &status)) {
		/* stuck in close: release it, then fail */
		fs_abort(self->dev);
		waitpid(pid, &status, 0);
		ASSERT_TRUE(0) TH_LOG("close() hung on a blocked source");
	}
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
	ASSERT_EQ(self->pins0, pins_held());
}

/*
 * In a child that is its own FUSE daemon: a request blocked on its own
 * file system, then wait to be killed. Writes 'k' to @report when ready.
 */
static int own_daemon_child(int report, size_t len)
{
	char dir[] = "/tmp/tether-fuse-own-XXXXXX";
	unsigned char *buf = map_anon(len);
	struct fuse_session *se;
	char path[64];
	int notify[2];
	pthread_t th;
	struct tctx t;
	int ffd, sfd;

	/*
	 * /dev/fuse first, the context after it: exit closes descriptors in
	 * order and runs their releases last-closed first, so the context's
	 * release comes before /dev/fuse's, which is what would end the read:
	 * a release that waited for the read would never return.
	 */
	if (buf == MAP_FAILED || !mkdtemp(dir) || pipe(notify))
		return 10;
	fcntl(notify[1], F_SETFL, O_NONBLOCK);
	se = fs_mount(dir, notify[1]);
	if (!se)
		return 11;
	if (pthread_create(&th, NULL, fs_loop, se))
		return 12;
	if (tctx_open(&t) || t.fd < fuse_session_fd(se))
		return 13;
	snprintf(path, sizeof(path), "%s/%s", dir, FS_FILE);
	sfd = fs_section(t.fd, path, &ffd);
	if (sfd < 0)
		return 14;
	/*
	 * Only the section holds the file: closing a FUSE file sends FLUSH,
	 * which an exiting daemon cannot answer (FUSE's own limit).
	 */
	close(ffd);
	if (tsubmit_from(t.fd, TETHER_SOURCE_SECTION, sfd, TETHER_REQUEST_ASYNC,
			 buf, len, 0, NULL))
		return 15;
	if (wait_byte(notify[0], 'r', WAIT_MS))
		return 16;
	if (write(report, dir, sizeof(dir)) != sizeof(dir) || write(report, "k", 1) != 1)
		return 17;
	for (;;)
		pause();
}

/*
 * SIGKILL of a process whose request blocks on the FUSE file system that
 * very process serves: exit must not wait for the read (it never ends
 * until the process's /dev/fuse is closed, later in the same exit).
 */
TEST_F_TIMEOUT(fsrc, sigkill_of_its_own_daemon_returns, 300)
{
	char dir[sizeof("/tmp/tether-fuse-own-XXXXXX")];
	int report[2], status;
	struct stat st;
	bool hung;
	pid_t pid;

	ASSERT_EQ(0, pipe2(report, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* nothing of the fixture's FUSE file system either */
		close(self->sfd);
		close(self->ffd);
		_exit(own_daemon_child(report[1], self->len));
	}
	ASSERT_EQ((ssize_t)sizeof(dir), read(report[0], dir, sizeof(dir)));
	ASSERT_EQ(0, wait_byte(report[0], 'k', WAIT_MS));
	ASSERT_EQ(0, stat(dir, &st));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	hung = reap_within(pid, PROMPT_MS, &status);
	if (hung) {
		/* stuck in exit: release it, then fail */
		fs_abort(st.st_dev);
		waitpid(pid, &status, 0);
	}
	umount2(dir, MNT_DETACH);
	rmdir(dir);
	close(report[0]);
	close(report[1]);
	ASSERT_FALSE(hung) TH_LOG("exit hung on its own blocked source");
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(SIGKILL, WTERMSIG(status));
	ASSERT_EQ(self->pins0, pins_held());
}

TEST_HARNESS_MAIN
