/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bench_stats.h: the order statistics the benchmarks print (medians and
 * p25-p75 of repeated samples) and the files of --out DIR, shared by
 * hit_bench.c, monitor_bench.c and numa_bench.c, and what those print
 * with (the clock, the way out on an error).
 */
#ifndef TETHER_BENCH_STATS_H
#define TETHER_BENCH_STATS_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* seconds on CLOCK_MONOTONIC */
static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "PROGRAM: message" on stderr, then exit status 1 */
static inline __attribute__((format(printf, 1, 2), noreturn))
void bench_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The @q quantile (0..1) of the @n samples at @v (sorted in place, linear
 * interpolation between neighbours), or @empty when @n is 0.
 */
static inline double bench_quantile(double *v, int n, double q, double empty)
{
	double pos;
	int i;

	if (!n)
		return empty;
	qsort(v, n, sizeof(*v), bench_cmp_double);
	pos = q * (n - 1);
	i = (int)pos;
	if (i + 1 >= n)
		return v[n - 1];
	return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

/* DIR/NAME opened for writing; the program ends, saying why, if it cannot be */
static inline FILE *bench_out_file(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

#endif
