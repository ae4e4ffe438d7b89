// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libtether: a registration cache's configuration, from the program's
 * attributes and the TETHER_CACHE* environment.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_private.h"

/* Parse a size with an optional k/m/g suffix; false if malformed. */
static bool tcache_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	unsigned int shift = 0;

	if (*s < '0' || *s > '9') /* strtoull() would take "-1" */
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

/*
 * Apply the TETHER_CACHE* environment to what the program left to default
 * (@explicit: the attributes' comp_mask), but TETHER_CACHE=0, the kill
 * switch, everywhere; -EINVAL (and a message) if malformed.
 */
int tcache_env(struct tether_cache *c, uint32_t explicit)
{
	const char *v;
	uint64_t n;

	v = getenv("TETHER_CACHE");
	if (v) {
		if (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "passthrough")) {
			c->flags |= TETHER_CACHE_PASSTHROUGH;
		} else if (!strcmp(v, "1") || !strcmp(v, "on")) {
			/* the default: a pass-through asked for stays one */
		} else {
			fprintf(stderr, "libtether: TETHER_CACHE=%s: use 1/on or 0/off/passthrough\n", v);
			return -EINVAL;
		}
	}
	v = getenv("TETHER_CACHE_MAX_ENTRIES");
	if (v) {
		if (!tcache_parse_size(v, &n) || !n || n > UINT32_MAX) {
			fprintf(stderr, "libtether: TETHER_CACHE_MAX_ENTRIES=%s: not a count 1..%u\n",
				v, UINT32_MAX);
			return -EINVAL;
		}
		if (!(explicit & TETHER_CACHE_ATTR_MAX_ENTRIES))
			c->max_entries = n;
	}
	v = getenv("TETHER_CACHE_MAX_BYTES");
	if (v) {
		if (!tcache_parse_size(v, &n)) {
			fprintf(stderr, "libtether: TETHER_CACHE_MAX_BYTES=%s: not a size (e.g. 512m)\n", v);
			return -EINVAL;
		}
		if (!(explicit & TETHER_CACHE_ATTR_MAX_BYTES))
			c->max_bytes = n;
	}
	v = getenv("TETHER_CACHE_STATS");
	if (v) {
		if (!strcmp(v, "1") || !strcmp(v, "on")) {
			c->print_stats = true;
		} else if (!strcmp(v, "0") || !strcmp(v, "off")) {
			c->print_stats = false;
		} else {
			fprintf(stderr, "libtether: TETHER_CACHE_STATS=%s: use 1/on or 0/off\n", v);
			return -EINVAL;
		}
	}
	return 0;
}

int tcache_attr(struct tether_cache *c, const struct tether_cache_attr *attr)
{
	if (!attr)
		return 0;
	if (attr->comp_mask & ~(TETHER_CACHE_ATTR_RESERVED - 1))
		return -EOPNOTSUPP;
	if (attr->comp_mask & TETHER_CACHE_ATTR_FLAGS) {
		if (attr->flags & ~(TETHER_CACHE_PASSTHROUGH | TETHER_CACHE_UNSAFE_NO_INVALIDATION))
			return -EOPNOTSUPP;
		c->flags = attr->flags;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_MAX_ENTRIES) {
		if (!attr->max_entries)
			return -EINVAL;
		c->max_entries = attr->max_entries;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_MAX_BYTES)
		c->max_bytes = attr->max_bytes;
	if (attr->comp_mask & TETHER_CACHE_ATTR_ACCESS_POLICY) {
		if (attr->access_policy > TETHER_CACHE_ACCESS_WIDEN)
			return -EINVAL;
		c->access_policy = attr->access_policy;
		if (attr->widen_access)
			c->widen_access = attr->widen_access;
	}
	if (attr->comp_mask & TETHER_CACHE_ATTR_EVICT_CB) {
		c->evict_cb = attr->evict_cb;
		c->evict_arg = attr->evict_arg;
	}
	return 0;
}
