// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/tether basics: open/close, the API/version handshake, unknown ioctls,
 * the size/flags rules every ioctl struct follows, and calls from another mm.
 */
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "tether_test.h"

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	tether_open_or_skip(_metadata, &self->fd);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST(device_node)
{
	struct stat st;

	if (stat(TETHER_DEV, &st) && errno == ENOENT)
		SKIP(return, "tether.ko not loaded");
	ASSERT_EQ(0, stat(TETHER_DEV, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	ASSERT_EQ(10, major(st.st_rdev)); /* a misc device */
}

TEST(open_close_many)
{
	int fds[64];
	int i;

	for (i = 0; i < 64; i++) {
		fds[i] = open(TETHER_DEV, O_RDWR | O_CLOEXEC);
		if (fds[i] < 0 && errno == ENOENT)
			SKIP(return, "tether.ko not loaded");
		ASSERT_LE(0, fds[i]);
	}
	for (i = 0; i < 64; i++)
		ASSERT_EQ(0, close(fds[i]));
}

TEST_F(dev, get_info)
{
	struct tether_info info = { .size = sizeof(info) };

	ASSERT_IOCTL_OK(self->fd, TETHER_IOC_GET_INFO, &info);
	ASSERT_EQ(TETHER_ABI_VERSION, info.abi_version);
	ASSERT_TRUE(info.features & TETHER_FEATURE_INFO);
	ASSERT_EQ(sizeof(info), info.size);
}

TEST_F(dev, unknown_ioctl)
{
	struct tether_info info = { .size = sizeof(info) };

	/* another driver's type */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO('T', 0), &info);
	/* our type, a number never assigned */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO(TETHER_TYPE, 0x7f), &info);
	/* our number with size/direction bits that are not ours */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd,
			 _IOWR(TETHER_TYPE, TETHER_CMD_GET_INFO, info), &info);
	/* a terminal ioctl on a misc device */
	ASSERT_EQ(-1, ioctl(self->fd, TCGETS, &info));
	ASSERT_EQ(ENOTTY, errno);
}

TEST_F(dev, size_boundaries)
{
	struct {
		struct tether_info info;
		uint64_t tail[4];
	} big;
	struct tether_info info;

	/* min - 1: EINVAL */
	memset(&info, 0, sizeof(info));
	info.size = sizeof(info) - 1;
	ASSERT_IOCTL_ERR(EINVAL, self->fd, TETHER_IOC_GET_INFO, &info);
	info.size = 0;
	ASSERT_IOCTL_ERR(EINVAL, self->fd, TETHER_IOC_GET_INFO, &info);

	/* larger with a zero tail: accepted, tail untouched */
	memset(&big, 0, sizeof(big));
	big.info.size = sizeof(big);
	ASSERT_IOCTL_OK(self->fd, TETHER_IOC_GET_INFO, &big);
	ASSERT_EQ(TETHER_ABI_VERSION, big.info.abi_version);
	ASSERT_EQ(0, big.tail[0]);

	/* larger with a non-zero tail: E2BIG */
	big.tail[3] = 1;
	ASSERT_IOCTL_ERR(E2BIG, self->fd, TETHER_IOC_GET_INFO, &big);

	/* beyond a page: E2BIG without looking at the tail */
	char *page = mmap(NULL, 2 * getpagesize(), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, page);
	info.size = getpagesize() + 1;
	memcpy(page, &info, sizeof(info));
	ASSERT_IOCTL_ERR(E2BIG, self->fd, TETHER_IOC_GET_INFO, page);
	munmap(page, 2 * getpagesize());
}

TEST_F(dev, flags_and_reserved)
{
	struct tether_info info = { .size = sizeof(info), .flags = 1 };

	ASSERT_IOCTL_ERR(EINVAL, self->fd, TETHER_IOC_GET_INFO, &info);
	info.flags = 0;
	info.__reserved = 1;
	ASSERT_IOCTL_ERR(EINVAL, self->fd, TETHER_IOC_GET_INFO, &info);
}

TEST_F(dev, bad_pointer)
{
	ASSERT_IOCTL_ERR(EFAULT, self->fd, TETHER_IOC_GET_INFO, NULL);
	ASSERT_IOCTL_ERR(EFAULT, self->fd, TETHER_IOC_GET_INFO, (void *)8);
}

TEST_F(dev, other_mm_gets_eperm)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct tether_info info = { .size = sizeof(info) };

		/* the inherited fd belongs to the parent's address space */
		_exit(tether_ioctl(self->fd, TETHER_IOC_GET_INFO, &info) == -EPERM ?
		      0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));

	/* the owner is unaffected */
	struct tether_info info = { .size = sizeof(info) };

	ASSERT_IOCTL_OK(self->fd, TETHER_IOC_GET_INFO, &info);
}

TEST_HARNESS_MAIN
