// SPDX-License-Identifier: GPL-2.0
/* Register buffers through libtether's cache (README example). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tether.h"

int main(void)
{
	struct ibv_device **devs = ibv_get_device_list(NULL);
	struct ibv_context *verbs = devs && devs[0] ? ibv_open_device(devs[0]) : NULL;
	struct ibv_pd *pd = verbs ? ibv_alloc_pd(verbs) : NULL;
	struct tether_context *ctx = tether_open();
	struct tether_cache *cache = ctx && pd ? tether_cache_create(ctx, pd, NULL) : NULL;
	struct tether_cache_stats st;
	struct tether_mr *mr;
	int i;

	if (!cache)
		return 1;
	mallopt(M_MMAP_THRESHOLD, 128 << 10);	/* 256 KiB blocks: mmap()ed, munmap()ed on free */
	for (i = 0; i < 3; i++) {
		char *buf = malloc(256 << 10);	/* same address each time, new pages */

		memset(buf, i, 256 << 10);
		mr = tether_cache_get(cache, buf, 256 << 10, IBV_ACCESS_LOCAL_WRITE);
		if (!mr)
			return 1;
		/* ... post work requests with mr->lkey / mr->rkey, wait for them ... */
		tether_cache_put(cache, mr);
		mr = tether_cache_get(cache, buf, 4096, IBV_ACCESS_LOCAL_WRITE); /* a hit */
		tether_cache_put(cache, mr);
		free(buf);
	}
	tether_cache_query_stats(cache, &st);
	printf("hits %llu misses %llu invalidations %llu\n", (unsigned long long)st.hits,
	       (unsigned long long)st.misses, (unsigned long long)st.invalidations);
	tether_cache_destroy(cache);
	tether_close(ctx);
	ibv_dealloc_pd(pd);
	ibv_close_device(verbs);
	ibv_free_device_list(devs);
	return 0;
}
