// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: opening /dev/tether, the version handshake, secured ranges and
 * the event ring.
 *
 * The ring and the validity table are mapped once at open. Memory ordering
 * follows linux/tether.h ("Shared memory"): the producer position is read
 * with an acquire load (pairs with the kernel's release store after it wrote
 * the record), the consumer position is published with a release store
 * (pairs with the kernel's acquire load before it reuses a slot).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libtether_private.h"

#define TETHER_PATH "/dev/" TETHER_DEVICE_NAME

int tether_do_ioctl(int fd, unsigned long cmd, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, cmd, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

void tether_copy_out(void *dst, size_t dst_size, const void *src, size_t src_size)
{
	size_t n = dst_size < src_size ? dst_size : src_size;

	memcpy(dst, src, n);
	memset((char *)dst + n, 0, dst_size - n);
}

/* A struct that starts with __u32 size: say how much of it was filled. */
static void tether_copy_out_sized(void *dst, size_t dst_size, void *src, size_t src_size)
{
	uint32_t filled = dst_size < src_size ? dst_size : src_size;

	memcpy(src, &filled, sizeof(filled));
	tether_copy_out(dst, dst_size, src, src_size);
}

static int tether_map(struct tether_context *ctx)
{
	long ps = sysconf(_SC_PAGESIZE);

	ctx->cons = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED, ctx->fd,
			 ctx->info.consumer_offset);
	if (ctx->cons == MAP_FAILED)
		return -errno;
	ctx->shared = mmap(NULL, ctx->info.shared_size, PROT_READ, MAP_SHARED,
			   ctx->fd, ctx->info.shared_offset);
	if (ctx->shared == MAP_FAILED) {
		int err = -errno;

		munmap(ctx->cons, ps);
		return err;
	}
	ctx->hdr = ctx->shared;
	ctx->events = (const struct tether_event *)((const char *)ctx->shared +
						    ctx->hdr->events_offset);
	ctx->validity = (const uint64_t *)((const char *)ctx->shared +
					   ctx->hdr->validity_offset);
	return 0;
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
	if (ctx->info.abi_version != TETHER_ABI_VERSION ||
	    !(ctx->info.features & TETHER_FEATURE_SECURE)) {
		fprintf(stderr, "libtether: %s speaks ABI %u (features 0x%llx), this library ABI %u with securing\n",
			TETHER_PATH, ctx->info.abi_version,
			(unsigned long long)ctx->info.features, TETHER_ABI_VERSION);
		err = EPROTO;
		goto err_close;
	}
	err = -tether_map(ctx);
	if (err) {
		fprintf(stderr, "libtether: cannot map the %s ring: %s\n", TETHER_PATH,
			strerror(err));
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
	/* the cache reads the ring and releases its ranges through ctx */
	if (__atomic_load_n(&ctx->cache, __ATOMIC_ACQUIRE))
		return -EBUSY;
	munmap(ctx->shared, ctx->info.shared_size);
	munmap(ctx->cons, sysconf(_SC_PAGESIZE));
	if (close(ctx->fd))
		ret = -errno;
	free(ctx);
	return ret;
}

TETHER_EXPORT int tether_query_sized(struct tether_context *ctx, struct tether_info *info,
				     size_t info_size)
{
	struct tether_info mine = ctx->info;

	tether_copy_out_sized(info, info_size, &mine, sizeof(mine));
	return 0;
}

TETHER_EXPORT int tether_fd(const struct tether_context *ctx)
{
	return ctx->fd;
}

TETHER_EXPORT int tether_secure(struct tether_context *ctx, const void *addr,
				size_t length, uint32_t flags, uint64_t cookie,
				struct tether_range *range)
{
	struct tether_cmd_secure s = {
		.size = sizeof(s),
		.flags = flags,
		.addr = (uintptr_t)addr,
		.length = length,
		.cookie = cookie,
	};
	int ret;

	if (flags & ~TETHER_SECURE_KNOWN)
		return -EOPNOTSUPP;
	ret = tether_do_ioctl(ctx->fd, TETHER_IOC_SECURE, &s);
	if (ret)
		return ret;
	range->handle = s.handle;
	range->generation = s.generation;
	range->slot = s.slot;
	range->reserved = 0;
	return 0;
}

TETHER_EXPORT int tether_release(struct tether_context *ctx, uint64_t handle)
{
	struct tether_cmd_release r = { .size = sizeof(r), .handle = handle };

	return tether_do_ioctl(ctx->fd, TETHER_IOC_RELEASE, &r);
}

TETHER_EXPORT int tether_range_valid(const struct tether_context *ctx,
				     const struct tether_range *range)
{
	return tether_range_valid_fast(ctx, range);
}

TETHER_EXPORT uint64_t tether_events_pending(const struct tether_context *ctx)
{
	return tether_events_pending_fast(ctx);
}

int tether_ring_stopped(const struct tether_context *ctx)
{
	return __atomic_load_n(&ctx->hdr->overflowed, __ATOMIC_ACQUIRE) &&
	       !tether_events_pending_fast(ctx);
}

TETHER_EXPORT int tether_next_event(struct tether_context *ctx, struct tether_event *ev)
{
	uint64_t cons = __atomic_load_n(&ctx->cons->consumer, __ATOMIC_RELAXED);
	/* pairs with the kernel's release store of producer */
	uint64_t prod = __atomic_load_n(&ctx->hdr->producer, __ATOMIC_ACQUIRE);

	if (cons == prod)
		return 0;
	*ev = ctx->events[cons & (ctx->hdr->entries - 1)];
	/* pairs with the kernel's acquire load before it reuses the slot */
	__atomic_store_n(&ctx->cons->consumer, cons + 1, __ATOMIC_RELEASE);
	return 1;
}

TETHER_EXPORT int tether_rearm(struct tether_context *ctx, uint64_t *dropped)
{
	struct tether_cmd_rearm r = { .size = sizeof(r) };
	int ret;

	ret = tether_do_ioctl(ctx->fd, TETHER_IOC_REARM, &r);
	if (!ret && dropped)
		*dropped = r.dropped;
	return ret;
}

TETHER_EXPORT int tether_get_stats_sized(struct tether_context *ctx, struct tether_stats *stats,
					 size_t stats_size)
{
	/* the kernel fills the library's struct, never the caller's memory */
	struct tether_stats mine = { .size = sizeof(mine) };
	int ret;

	ret = tether_do_ioctl(ctx->fd, TETHER_IOC_GET_STATS, &mine);
	if (ret)
		return ret;
	tether_copy_out_sized(stats, stats_size, &mine, sizeof(mine));
	return 0;
}
