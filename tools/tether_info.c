// SPDX-License-Identifier: GPL-2.0
/* tether-info: open /dev/tether through libtether and print the handshake. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tether.h"

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ TETHER_FEATURE_INFO, "info" },
	{ TETHER_FEATURE_SECURE, "secure" },
	{ TETHER_FEATURE_SECTION, "section" },
	{ TETHER_FEATURE_REQUEST, "request" },
};

int main(void)
{
	struct tether_context *ctx;
	struct tether_info info;
	unsigned long long rest;
	size_t i;
	int ret;

	ctx = tether_open();
	if (!ctx)
		return 1; /* tether_open() said why on stderr */
	ret = tether_query(ctx, &info);
	if (ret) {
		fprintf(stderr, "tether-info: query: %s\n", strerror(-ret));
		tether_close(ctx);
		return 1;
	}
	printf("/dev/%s: ABI version %u, features 0x%llx:", TETHER_DEVICE_NAME,
	       info.abi_version, (unsigned long long)info.features);
	rest = info.features;
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		if (info.features & features[i].bit)
			printf(" %s", features[i].name);
		rest &= ~features[i].bit;
	}
	if (rest)
		printf(" (unknown 0x%llx)", rest);
	printf("\nper context: %u-event ring, %u ranges, %llu MiB pinned at most\n",
	       info.ring_entries, info.max_regions,
	       (unsigned long long)(info.max_pinned_bytes >> 20));
	return tether_close(ctx) ? 1 : 0;
}
