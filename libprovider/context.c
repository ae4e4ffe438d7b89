// SPDX-License-Identifier: LGPL-2.1-or-later
/* libtether: opening /dev/tether and the version handshake. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tether_private.h"

#define TETHER_PATH "/dev/" TETHER_DEVICE_NAME

int tether_do_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

TETHER_EXPORT struct tether_context *tether_open(void)
{
	struct tether_context *ctx;
	int err;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return NULL;
	ctx->fd = open(TETHER_PATH, O_RDWR | O_CLOEXEC);
	if (ctx->fd < 0) {
		err = errno == ENOENT || errno == ENXIO ? ENODEV : errno;
		if (err == ENODEV)
			fprintf(stderr, "libtether: %s not found: tether.ko is not loaded\n",
				TETHER_PATH);
		else
			fprintf(stderr, "libtether: cannot open %s: %s\n", TETHER_PATH,
				strerror(err));
		goto err_free;
	}
	ctx->info.size = sizeof(ctx->info);
	err = -tether_do_ioctl(ctx->fd, TETHER_IOC_GET_INFO, &ctx->info);
	if (err) {
		fprintf(stderr, "libtether: %s handshake failed: %s\n", TETHER_PATH,
			strerror(err));
		goto err_close;
	}
	if (ctx->info.abi_version != TETHER_ABI_VERSION) {
		fprintf(stderr, "libtether: %s speaks ABI %u, this library ABI %u\n",
			TETHER_PATH, ctx->info.abi_version, TETHER_ABI_VERSION);
		err = EPROTO;
		goto err_close;
	}
	return ctx;

err_close:
	close(ctx->fd);
err_free:
	free(ctx);
	errno = err;
	return NULL;
}

TETHER_EXPORT int tether_close(struct tether_context *ctx)
{
	int ret = 0;

	if (!ctx)
		return 0;
	if (close(ctx->fd))
		ret = -errno;
	free(ctx);
	return ret;
}

TETHER_EXPORT int tether_query(struct tether_context *ctx, struct tether_info *info)
{
	*info = ctx->info;
	return 0;
}

TETHER_EXPORT int tether_fd(const struct tether_context *ctx)
{
	return ctx->fd;
}
