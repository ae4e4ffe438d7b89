/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The size rule of libtether's sized calls (tether_query_sized() and the
 * like), checked for every caller's struct size from 0 to the library's
 * + SIZE_EXTRA.
 */
#ifndef _STRUCT_SIZE_H
#define _STRUCT_SIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kselftest_harness.h"

#define SIZE_CANARY 0xa5
#define SIZE_EXTRA 64

/*
 * @call fills @buf for @obj as a program whose struct is @size bytes would:
 * check that the library's first min(@size, @lib_size) bytes equal @ref
 * (the struct's leading u32 size field, if @has_size, then says how many),
 * that bytes up to @size beyond the library's struct are zeroed, and that
 * nothing past @size (the canary) was written.
 */
static inline void check_sized(struct __test_metadata *_metadata,
			       int (*call)(void *obj, void *buf, size_t size),
			       void *obj, const void *ref, size_t lib_size, bool has_size)
{
	unsigned char buf[512], want[512];
	size_t size, filled, i;
	uint32_t n;

	ASSERT_GE(sizeof(buf), lib_size + 2 * SIZE_EXTRA);
	for (size = 0; size <= lib_size + SIZE_EXTRA; size++) {
		filled = size < lib_size ? size : lib_size;
		memset(buf, SIZE_CANARY, sizeof(buf));
		memset(want, SIZE_CANARY, sizeof(want));
		memcpy(want, ref, filled);
		memset(want + filled, 0, size - filled);
		if (has_size) {
			n = filled;
			memcpy(want, &n, size < sizeof(n) ? size : sizeof(n));
		}
		ASSERT_EQ(0, call(obj, buf, size));
		for (i = 0; i < sizeof(buf) && buf[i] == want[i]; i++)
			;
		ASSERT_EQ(sizeof(buf), i)
			TH_LOG("size %zu (library %zu): byte %zu is 0x%02x, not 0x%02x",
			       size, lib_size, i, buf[i % sizeof(buf)], want[i % sizeof(buf)]);
	}
}

#endif /* _STRUCT_SIZE_H */
