/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A mapping change in the middle of a pin: two anonymous pages, the first
 * present, the second missing and registered with userfaultfd. Whatever
 * pins the range (TETHER_IOC_SECURE, ibv_reg_mr) faults on the missing page
 * and waits; the handler thread changes the range first (MADV_DONTNEED of
 * the other page, an invalidation) and then resolves the fault with a
 * writable copy of a filled page. Once, or (@every_time) on every fault,
 * so that the pinning side sees a change on every try.
 *
 * Long-term GUP waits for userfaultfd only since 6.3; before, the pin
 * fails with EFAULT and no fault reaches the handler.
 */
#ifndef _TETHER_UFFD_RACE_H
#define _TETHER_UFFD_RACE_H

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "tether_test.h"

struct uffd_racer {
	int uffd;
	char *buf;	/* the two pages */
	char *fill;	/* what a fault gets */
	size_t ps;
	bool every_time;
	pthread_t thread;
	atomic_int stop;
	atomic_int faults;
	atomic_int changes;
	int error;	/* the handler's errno, if it gave up */
};

static void *uffd_racer_main(void *arg)
{
	struct uffd_racer *u = arg;

	while (!atomic_load(&u->stop)) {
		struct pollfd pfd = { .fd = u->uffd, .events = POLLIN };
		struct uffdio_copy copy = { .len = u->ps, .src = (uintptr_t)u->fill };
		struct uffd_msg msg;
		uintptr_t page;
		char *other;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(u->uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN)
				continue;
			u->error = errno;
			return NULL;
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		page = msg.arg.pagefault.address & ~(uintptr_t)(u->ps - 1);
		other = (char *)page == u->buf ? u->buf + u->ps : u->buf;
		if (u->every_time || atomic_load(&u->changes) == 0) {
			/* zaps the other page if present: an invalidation */
			if (madvise(other, u->ps, MADV_DONTNEED)) {
				u->error = errno;
				return NULL;
			}
			atomic_fetch_add(&u->changes, 1);
		}
		atomic_fetch_add(&u->faults, 1);
		/* a writable page (the zero page would be replaced at a write pin) */
		copy.dst = page;
		if (ioctl(u->uffd, UFFDIO_COPY, &copy) && errno != EEXIST) {
			u->error = errno;
			return NULL;
		}
	}
	return NULL;
}

static inline void uffd_racer_free(struct uffd_racer *u)
{
	if (u->uffd >= 0)
		close(u->uffd);
	if (u->buf && u->buf != MAP_FAILED)
		munmap(u->buf, 2 * u->ps);
	if (u->fill && u->fill != MAP_FAILED)
		munmap(u->fill, u->ps);
	u->uffd = -1;
	u->buf = u->fill = NULL;
}

/* Set up and start the handler: 0, or -errno (-ENOSYS/-EPERM: no userfaultfd). */
static inline int uffd_racer_start(struct uffd_racer *u, bool every_time)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	int err;

	memset(u, 0, sizeof(*u));
	u->ps = page_size();
	u->every_time = every_time;
	u->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (u->uffd < 0)
		return -errno;
	u->buf = mmap(NULL, 2 * u->ps, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u->fill = map_anon(u->ps);
	if (u->buf == MAP_FAILED || u->fill == MAP_FAILED)
		goto err;
	u->buf[0] = 1;	/* page 0 present, page 1 missing */
	reg.range.start = (uintptr_t)u->buf;
	reg.range.len = 2 * u->ps;
	if (ioctl(u->uffd, UFFDIO_API, &api) || ioctl(u->uffd, UFFDIO_REGISTER, &reg))
		goto err;
	err = pthread_create(&u->thread, NULL, uffd_racer_main, u);
	if (err) {
		errno = err;
		goto err;
	}
	return 0;
err:
	err = -errno;
	uffd_racer_free(u);
	return err;
}

static inline void uffd_racer_stop(struct uffd_racer *u)
{
	atomic_store(&u->stop, 1);
	pthread_join(u->thread, NULL);
}

#endif /* _TETHER_UFFD_RACE_H */
