/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libtether: the userspace side of /dev/tether.
 *
 * Conventions, as in libibverbs: calls that return a pointer return NULL and
 * set errno on failure; calls that return int return 0 or a negative errno.
 * Symbols are versioned (TETHER_1.0); see libprovider/libtether.map.
 */
#ifndef _TETHER_H
#define _TETHER_H

#include <linux/tether.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An open /dev/tether: one context bound to the calling process. */
struct tether_context;

/**
 * tether_open() - open /dev/tether and check that its ABI is usable
 *
 * Return: a context, or NULL with errno set: ENODEV when /dev/tether does
 * not exist (tether.ko is not loaded), EACCES when it cannot be opened,
 * EPROTO when the module speaks another ABI version, ENOMEM. On failure one
 * line naming the problem is written to stderr.
 */
struct tether_context *tether_open(void);

/**
 * tether_close() - release everything the context holds and free it
 * @ctx: the context; NULL is allowed and does nothing
 *
 * Return: 0, or a negative errno from close(2).
 */
int tether_close(struct tether_context *ctx);

/**
 * tether_query() - the module's handshake answer
 * @ctx: the context
 * @info: filled with the ABI version and the supported features
 *
 * Return: 0 or a negative errno.
 */
int tether_query(struct tether_context *ctx, struct tether_info *info);

/**
 * tether_fd() - the context's file descriptor, to wait on with poll/epoll
 * @ctx: the context
 *
 * Return: the descriptor; it stays owned by the context.
 */
int tether_fd(const struct tether_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* _TETHER_H */
