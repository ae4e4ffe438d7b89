// SPDX-License-Identifier: GPL-2.0
/* Secure a buffer, free it, and read the invalidation event (README example). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tether.h"

int main(void)
{
	struct tether_context *ctx = tether_open();
	struct tether_range r;
	struct tether_event ev;
	char *buf = malloc(1 << 20);			/* big: glibc mmap()s it */

	if (!ctx || !buf || tether_secure(ctx, buf, 1 << 20, TETHER_SECURE_PIN, 42, &r))
		return 1;
	printf("secured: valid=%d\n", tether_range_valid(ctx, &r));
	free(buf);					/* glibc munmap()s it */
	if (read(tether_fd(ctx), &ev, sizeof(ev)) != sizeof(ev))
		return 1;
	printf("event: handle=%llu cookie=%llu reason=%u (unmap=%u) valid=%d\n",
	       (unsigned long long)ev.handle, (unsigned long long)ev.cookie, ev.reason,
	       TETHER_REASON_UNMAP, tether_range_valid(ctx, &r));
	tether_release(ctx, r.handle);			/* unpins */
	return tether_close(ctx);
}
