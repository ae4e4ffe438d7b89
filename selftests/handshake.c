// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/tether basics: open/close, the API/version handshake, unknown ioctls,
 * flags and reserved fields, and calls from another mm. The size rules of
 * every ioctl are tested from one table in abi.c.
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
	/* our type, numbers never assigned: below, past and far from ours */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO(TETHER_TYPE, TETHER_CMD_BASE - 1), &info);
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO(TETHER_TYPE, TETHER_CMD_REQUEST_WAIT + 1),
			 &info);
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO(TETHER_TYPE, 0), &info);
	/* the section descriptor's one */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, TETHER_IOC_SECTION_QUERY, &info);
	/* tether's first numbers, nsfs's: NS_GET_USERNS */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd, _IO(0xB7, 0x01), &info);
	/* our number with size/direction bits that are not ours */
	ASSERT_IOCTL_ERR(ENOTTY, self->fd,
			 _IOWR(TETHER_TYPE, TETHER_CMD_GET_INFO, info), &info);
	/* a terminal ioctl on a misc device */
	ASSERT_EQ(-1, ioctl(self->fd, TCGETS, &info));
	ASSERT_EQ(ENOTTY, errno);
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
