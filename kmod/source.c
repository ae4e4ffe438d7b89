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
 * Besides read() into one page, a source has read_buf() into a kernel
 * buffer, which a detached reader can use without holding any user page,
 * and tether_source_clone() gives that reader its own reference.
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
 *   The read takes the credentials of whoever calls it (the submitter,
 *   or the reader, which wears the submitter's).
 *
 * A section whose backing is not shmem (a disk, network or FUSE file) is
 * marked may_block: its read may wait for I/O as long as the file system
 * likes (forever, for a FUSE daemon that never answers). Such a source is
 * read in the submitter's thread only for a synchronous request, where a
 * fatal signal ends the wait as it ends read(2); an asynchronous request
 * reads it through a detached reader (see "Blocking sources" in
 * request.c). shmem (memfd and anonymous sections) and the pattern are
 * read from memory and are read directly by the worker.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/shmem_fs.h>

#include "tether_kmod.h"

static int tether_pattern_read_buf(const struct tether_source *src, u64 pos,
				   void *buf, size_t len, size_t *done)
{
	u8 *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = TETHER_PATTERN_BYTE(pos + i);
	*done = len;
	return 0;
}

static const struct tether_source_ops tether_pattern_ops = {
	.read_buf = tether_pattern_read_buf,
};

static int tether_section_src_read_buf(const struct tether_source *src,
				       u64 pos, void *buf, size_t len,
				       size_t *done)
{
	struct file *backing;
	loff_t off = pos;
	ssize_t n = 0;
	u64 length;

	backing = tether_section_backing(src->priv, &length);
	*done = 0;
	while (*done < len) {
		n = kernel_read(backing, buf + *done, len - *done, &off);
		if (n <= 0)
			break;
		*done += n;
	}
	if (*done == len)
		return 0;
	return n < 0 ? n : -EIO;
}

static void tether_section_src_put(struct tether_source *src)
{
	fput(src->priv);
}

static const struct tether_source_ops tether_section_src_ops = {
	.read_buf = tether_section_src_read_buf,
	.put = tether_section_src_put,
};

/*
 * A section descriptor as a source: hold it; -EBADF if @fd is not open,
 * -EINVAL if it is not a section's.
 */
static int tether_section_src_get(struct tether_source *src, s32 fd)
{
	struct file *filp = fget(fd);
	struct file *backing;
	u64 length;

	if (!filp)
		return -EBADF;
	backing = tether_section_backing(filp, &length);
	if (!backing) {
		fput(filp);
		return -EINVAL;
	}
	*src = (struct tether_source) {
		.ops = &tether_section_src_ops,
		.size = length,
		.priv = filp,
		.may_block = !shmem_file(backing),
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

/**
 * tether_source_read() - copy a piece of a source into a page
 * @src: the source
 * @pos: offset in the source
 * @page: the destination page (a pinned user page)
 * @offset: where in @page
 * @len: bytes, @offset + @len <= PAGE_SIZE
 *
 * Return: 0 or the source's negative errno (the request's status).
 */
int tether_source_read(const struct tether_source *src, u64 pos,
		       struct page *page, unsigned int offset, unsigned int len)
{
	u8 *p = kmap_local_page(page);
	size_t done;
	int ret;

	ret = src->ops->read_buf(src, pos, p + offset, len, &done);
	kunmap_local(p);
	flush_dcache_page(page);
	return ret;
}

/* A second hold of @src for someone who may outlive its request. */
void tether_source_clone(struct tether_source *dst,
			 const struct tether_source *src)
{
	*dst = *src;
	if (src->priv)
		get_file(src->priv);
}

/* Drop what tether_source_get() or tether_source_clone() took. May sleep. */
void tether_source_put(struct tether_source *src)
{
	if (src->ops && src->ops->put)
		src->ops->put(src);
	src->ops = NULL;
}
