/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the tether selftests (kselftest_harness.h based). */
#ifndef _TETHER_TEST_H
#define _TETHER_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/tether.h>

#include "kselftest_harness.h"

#define TETHER_DEV "/dev/tether"

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

#endif /* _TETHER_TEST_H */
