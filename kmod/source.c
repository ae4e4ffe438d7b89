// SPDX-License-Identifier: GPL-2.0
/*
 * tether: the data sources a request reads from.
 */

/**
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
 * Two sources exist:
 *
 * - the built-in pattern: TETHER_PATTERN_SIZE bytes, the byte at offset o
 *   being TETHER_PATTERN_BYTE(o), which lets tests check any part of a
 *   transfer byte for byte;
 * - a section: the request holds a reference on the section descriptor
 *   (and so on the section and its backing file) from submit until it is
 *   freed, and reads the backing file with kernel_read() into the locked
 *   page through a kernel mapping: the page cache of the section's file
 *   (shmem for an anonymous section), the very pages its views map, read
 *   at its own position, never the file's f_pos. The source's size is the
 *   section's length; a file-backed section whose file was truncated below
 *   the range since submit reads short, and the request fails with EIO.
 */
#include <linux/file.h>
#include <linux/fs.h>
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

static int tether_section_src_read(const struct tether_source *src, u64 pos,
				   struct page *page, unsigned int offset,
				   unsigned int len)
{
	struct file *backing;
	unsigned int done = 0;
	loff_t off = pos;
	u64 length;
	ssize_t n;
	u8 *p;

	backing = tether_section_backing(src->priv, &length);
	p = kmap_local_page(page);
	while (done < len) {
		n = kernel_read(backing, p + offset + done, len - done, &off);
		if (n <= 0)
			break;
		done += n;
	}
	kunmap_local(p);
	flush_dcache_page(page);
	if (done == len)
		return 0;
	return n < 0 ? n : -EIO;
}

static void tether_section_src_put(struct tether_source *src)
{
	fput(src->priv);
}

static const struct tether_source_ops tether_section_src_ops = {
	.read = tether_section_src_read,
	.put = tether_section_src_put,
};

/*
 * A section descriptor as a source: hold it; -EBADF if @fd is not open,
 * -EINVAL if it is not a section's.
 */
static int tether_section_src_get(struct tether_source *src, s32 fd)
{
	struct file *filp = fget(fd);
	u64 length;

	if (!filp)
		return -EBADF;
	if (!tether_section_backing(filp, &length)) {
		fput(filp);
		return -EINVAL;
	}
	*src = (struct tether_source) {
		.ops = &tether_section_src_ops,
		.size = length,
		.priv = filp,
	};
	return 0;
}

/**
 * tether_source_get() - open the source a request names
 * @src: filled in on success
 * @type: enum tether_source_type
 * @fd: the source's file descriptor, for sources that are files
 *
 * Return: 0, -EINVAL for an unknown @type or an @fd the source does not
 * accept (not -1 for the pattern; not a section descriptor for a section),
 * -EBADF for a section's @fd that is not open.
 */
int tether_source_get(struct tether_source *src, u32 type, s32 fd)
{
	switch (type) {
	case TETHER_SOURCE_PATTERN:
		if (fd != -1)
			return -EINVAL;
		*src = (struct tether_source) {
			.ops = &tether_pattern_ops,
			.size = TETHER_PATTERN_SIZE,
		};
		return 0;
	case TETHER_SOURCE_SECTION:
		return tether_section_src_get(src, fd);
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
