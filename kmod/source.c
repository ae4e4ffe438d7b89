// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the data sources a request reads from.
 *
 * DOC: Sources
 *
 * A request reads from a struct tether_source: a size and a read() that
 * copies a piece of the source into one page. tether_source_get() turns
 * the (source, source_fd) pair of TETHER_IOC_REQUEST_SUBMIT into a source
 * and takes whatever reference the source needs for the request's life;
 * tether_source_put() drops it when the request is freed. read() may be
 * called from the submitting thread or from a kernel worker that has no
 * user address space, so a source must never touch user memory.
 *
 * The only source so far is the built-in pattern: TETHER_PATTERN_SIZE
 * bytes, the byte at offset o being TETHER_PATTERN_BYTE(o), which lets
 * tests check any part of a transfer byte for byte.
 */
#include <linux/highmem.h>

#include "tether_private.h"

static int tether_pattern_read(const struct tether_source *src, u64 pos,
			       struct page *page, unsigned int offset,
			       unsigned int len)
{
	u8 *p = kmap_local_page(page);
	unsigned int i;

	for (i = 0; i < len; i++)
		p[offset + i] = TETHER_PATTERN_BYTE(pos + i);
	kunmap_local(p);
	flush_dcache_page(page);
	return 0;
}

static const struct tether_source_ops tether_pattern_ops = {
	.read = tether_pattern_read,
};

/**
 * tether_source_get() - open the source a request names
 * @src: filled in on success
 * @type: enum tether_source_type
 * @fd: the source's file descriptor, for sources that are files
 *
 * Return: 0, or -EINVAL for an unknown @type or an @fd the source does not
 * accept.
 */
int tether_source_get(struct tether_source *src, u32 type, s32 fd)
{
	switch (type) {
	case TETHER_SOURCE_PATTERN:
		if (fd)
			return -EINVAL;
		*src = (struct tether_source) {
			.ops = &tether_pattern_ops,
			.size = TETHER_PATTERN_SIZE,
		};
		return 0;
	default:
		return -EINVAL;
	}
}

/* Drop what tether_source_get() took. May sleep. */
void tether_source_put(struct tether_source *src)
{
	if (src->ops && src->ops->put)
		src->ops->put(src);
	src->ops = NULL;
}
